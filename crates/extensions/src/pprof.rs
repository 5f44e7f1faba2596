//! The `pprof` extension: otelcol-contrib's `net/http/pprof` endpoint, serving what a process
//! without a Go runtime can serve: CPU profiles in pprof's format, so `go tool pprof
//! http://HOST:1777/debug/pprof/profile?seconds=30` works against kakehashi as against otelcol.
//! Go's runtime profiles (heap, goroutine, block, mutex, …) are answered with Go's own
//! "Unknown profile" 404 and a reason.

mod handlers;
mod profiler;

use async_trait::async_trait;
use kakehashi_component::Signal;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, Extension, ExtensionFactory,
    FactoryInfo,
};
use kakehashi_config::{AnyValue, ConfigErrors, Node, Validate};
use kakehashi_telemetry::server::HttpServer;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub use profiler::{CpuProfile, ProfileError};

/// otelcol-contrib's `pprofextension.Config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    /// `confignet.TCPAddrConfig`, squashed: where to listen.
    pub endpoint: String,
    /// `confignet.TCPAddrConfig`'s dialer settings: accepted, as otelcol does; a listener never
    /// dials.
    pub dialer: Option<AnyValue>,
    /// Go's `runtime.SetBlockProfileRate`: there is no Go runtime to profile; a value above 0
    /// is warned about at start.
    pub block_profile_fraction: i64,
    /// Go's `runtime.SetMutexProfileFraction`: as `block_profile_fraction`.
    pub mutex_profile_fraction: i64,
    /// A CPU profile of the collector's whole run, written here at shutdown.
    pub save_to_file: String,
}

impl Default for PprofConfig {
    fn default() -> Self {
        PprofConfig {
            endpoint: "localhost:1777".into(),
            dialer: None,
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

impl Validate for PprofConfig {
    fn validate(&self) -> Vec<String> {
        // otelcol validates nothing here either: a bad endpoint fails the start.
        Vec::new()
    }
}

pub struct PprofExtensionFactory;

impl FactoryInfo for PprofExtensionFactory {
    fn type_name(&self) -> &'static str {
        "pprof"
    }
    fn signals(&self) -> &'static [Signal] {
        &[]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<PprofConfig>(node, path)
    }
}

impl ExtensionFactory for PprofExtensionFactory {
    fn build(&self, ctx: &BuildContext, cfg: &AnyConfig) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(Pprof::new(
            ctx.id.to_string(),
            config_as::<PprofConfig>(cfg).clone(),
        )))
    }
}

pub struct Pprof {
    id: String,
    config: PprofConfig,
    server: tokio::sync::Mutex<Option<HttpServer>>,
    /// Cancelled at shutdown: a profile being taken for a request ends at once (Go closes its
    /// server rather than waiting for a 30 s profile).
    stop: CancellationToken,
    /// `save_to_file`'s whole-run profile, from start to shutdown.
    whole_run: Mutex<Option<(CpuProfile, PathBuf)>>,
}

impl Pprof {
    pub fn new(id: String, config: PprofConfig) -> Pprof {
        Pprof {
            id,
            config,
            server: tokio::sync::Mutex::new(None),
            stop: CancellationToken::new(),
            whole_run: Mutex::new(None),
        }
    }

    /// The bound address, once started (tests bind port 0).
    pub async fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.lock().await.as_ref().map(|s| s.local_addr)
    }

    fn warn_go_runtime_settings(&self) {
        for (key, value) in [
            ("block_profile_fraction", self.config.block_profile_fraction),
            ("mutex_profile_fraction", self.config.mutex_profile_fraction),
        ] {
            if value > 0 {
                tracing::warn!(
                    extension = %self.id,
                    "{key}: {value} has no effect: it sets the Go runtime's sampling, and \
                     kakehashi serves CPU profiles only"
                );
            }
        }
    }

    /// `save_to_file`: the file is created now (a path that cannot be written fails the start,
    /// as in otelcol) and the profile written into it at shutdown.
    async fn start_whole_run_profile(&self) -> Result<(), BuildError> {
        if self.config.save_to_file.is_empty() {
            return Ok(());
        }
        let path = PathBuf::from(&self.config.save_to_file);
        std::fs::File::create(&path).map_err(|e| {
            BuildError(format!(
                "pprof: cannot create save_to_file {}: {e}",
                path.display()
            ))
        })?;
        let profile = tokio::task::spawn_blocking(CpuProfile::start)
            .await
            .map_err(|e| BuildError(format!("pprof: cannot start the CPU profile: {e}")))?
            .map_err(|e| BuildError(format!("pprof: cannot start the CPU profile: {e}")))?;
        *self.whole_run.lock().expect("whole_run lock") = Some((profile, path));
        Ok(())
    }

    async fn save_whole_run_profile(&self) {
        let Some((profile, path)) = self.whole_run.lock().expect("whole_run lock").take() else {
            return;
        };
        let written = tokio::task::spawn_blocking(move || {
            let bytes = profile.finish()?;
            std::fs::write(&path, bytes).map_err(ProfileError::Write)?;
            Ok::<_, ProfileError>(path)
        })
        .await;
        match written {
            Ok(Ok(path)) => {
                tracing::info!(extension = %self.id, file = %path.display(), "CPU profile saved")
            }
            Ok(Err(e)) => tracing::error!(extension = %self.id, error = %e, "save_to_file failed"),
            Err(e) => tracing::error!(extension = %self.id, error = %e, "save_to_file failed"),
        }
    }
}

#[async_trait]
impl Extension for Pprof {
    async fn start(&self) -> Result<(), BuildError> {
        self.warn_go_runtime_settings();
        let router = handlers::router(self.stop.clone());
        let server = HttpServer::start(&self.config.endpoint, router)
            .await
            .map_err(BuildError)?;
        tracing::info!(extension = %self.id, endpoint = %server.local_addr, "Starting pprof extension");
        *self.server.lock().await = Some(server);
        self.start_whole_run_profile().await
    }

    async fn shutdown(&self) {
        self.stop.cancel();
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
        self.save_whole_run_profile().await;
    }
}

#[cfg(test)]
mod tests;
