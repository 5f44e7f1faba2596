//! The `file_storage` extension (otelcol-contrib's `extension/storage/filestorage`): durable
//! storage in a local directory for components that ask for it — today the persistent sending
//! queue of exporters (`sending_queue::storage: file_storage`).
//!
//! Each (component, signal) gets its own SQLite database file named as otelcol names its bbolt
//! files, `<kind>_<type>_<name>_<signal>`, plus a `.sqlite` suffix: the formats differ, and the
//! suffix keeps a directory shared with (or migrated from) otelcol from having its files misread
//! and set aside as damaged. See [`config`] for how each key maps onto SQLite.

pub mod config;
mod queue_db;

pub use config::{CompactionConfig, FileStorageConfig};

use async_trait::async_trait;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, Extension, ExtensionFactory,
    FactoryInfo, QueueStore, Signal, Storage,
};
use kakehashi_config::{ComponentId, ConfigErrors, Kind, Node};
use queue_db::{OpenOptions, QueueDb};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct FileStorageExtensionFactory;

impl FactoryInfo for FileStorageExtensionFactory {
    fn type_name(&self) -> &'static str {
        "file_storage"
    }
    fn signals(&self) -> &'static [Signal] {
        &[]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<FileStorageConfig>(node, path)
    }
}

impl ExtensionFactory for FileStorageExtensionFactory {
    fn build(&self, ctx: &BuildContext, cfg: &AnyConfig) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(FileStorage {
            id: ctx.id.clone(),
            config: config_as::<FileStorageConfig>(cfg).clone(),
        }))
    }
    fn provides_storage(&self) -> bool {
        true
    }
}

pub struct FileStorage {
    id: ComponentId,
    config: FileStorageConfig,
}

impl FileStorage {
    pub fn new(id: ComponentId, config: FileStorageConfig) -> Self {
        FileStorage { id, config }
    }

    /// The database file of one component and signal.
    pub fn queue_path(&self, kind: Kind, owner: &ComponentId, signal: Signal) -> PathBuf {
        Path::new(&self.config.directory).join(file_name(kind, owner, signal))
    }

    fn create_directories(&self) -> Result<(), String> {
        let mode = self.config.permissions().unwrap_or(0o750);
        for dir in self.config.directories() {
            if Path::new(dir).is_dir() {
                continue;
            }
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
            builder
                .create(dir)
                .map_err(|e| format!("failed to create directory {dir}: {e}"))?;
        }
        Ok(())
    }

    /// otelcol's `cleanup_on_start`: removes leftover `tempdb*` compaction files.
    fn cleanup_compaction_directory(&self) {
        let dir = &self.config.compaction.directory;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("tempdb") {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "Cannot remove a temporary compaction file.");
                }
            }
        }
    }
}

/// `<kind>_<type>_<name>_<signal>.sqlite`, the name sanitized as otelcol does.
fn file_name(kind: Kind, owner: &ComponentId, signal: Signal) -> String {
    format!(
        "{}_{}_{}_{}.sqlite",
        kind.singular(),
        owner.type_name(),
        sanitize(owner.name().unwrap_or("")),
        signal
    )
}

/// Keeps `A-Z a-z 0-9 . - _`; every other character (and `~` itself, so a sanitized name never
/// equals a name that needed no sanitizing) becomes `~` plus its code point in hex.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            out.push(c);
        } else {
            out.push_str(&format!("~{:04X}", c as u32));
        }
    }
    out
}

#[async_trait]
impl Extension for FileStorage {
    async fn start(&self) -> Result<(), BuildError> {
        if self.config.create_directory {
            self.create_directories().map_err(BuildError)?;
        }
        if self.config.compaction.cleanup_on_start {
            self.cleanup_compaction_directory();
        }
        tracing::info!(extension = %self.id, directory = %self.config.directory, fsync = self.config.fsync, "Starting file_storage extension");
        Ok(())
    }

    async fn shutdown(&self) {}

    fn storage(self: Arc<Self>) -> Option<Arc<dyn Storage>> {
        Some(self)
    }
}

impl Storage for FileStorage {
    fn open_queue(
        &self,
        kind: Kind,
        owner: &ComponentId,
        signal: Signal,
    ) -> Result<Arc<dyn QueueStore>, String> {
        let path = self.queue_path(kind, owner, signal);
        let opts = OpenOptions {
            fsync: self.config.fsync,
            timeout: self.config.timeout.get(),
            compaction: self.config.compaction.clone(),
        };
        Ok(Arc::new(QueueDb::open(&path, &opts)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_otelcol() {
        let id = |s| ComponentId::parse(s).unwrap();
        assert_eq!(
            file_name(Kind::Exporter, &id("otlp"), Signal::Traces),
            "exporter_otlp__traces.sqlite"
        );
        assert_eq!(
            file_name(Kind::Exporter, &id("datadog/prod"), Signal::Metrics),
            "exporter_datadog_prod_metrics.sqlite"
        );
        assert_eq!(
            file_name(Kind::Exporter, &id("otlp_http/a/b"), Signal::Logs),
            "exporter_otlp_http_a~002Fb_logs.sqlite"
        );
        assert_eq!(sanitize("x~y:é"), "x~007Ey~003A~00E9");
    }

    #[tokio::test]
    async fn create_directory_with_permissions() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let ext = Arc::new(FileStorage::new(
            ComponentId::parse("file_storage").unwrap(),
            FileStorageConfig {
                directory: dir.to_str().unwrap().into(),
                create_directory: true,
                directory_permissions: "0700".into(),
                ..Default::default()
            },
        ));
        ext.start().await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let storage = ext.clone().storage().expect("a storage extension");
        let owner = ComponentId::parse("otlp").unwrap();
        let q = storage
            .open_queue(Kind::Exporter, &owner, Signal::Traces)
            .unwrap();
        q.push(1, 1, b"x").unwrap();
        assert!(dir.join("exporter_otlp__traces.sqlite").exists());
    }
}
