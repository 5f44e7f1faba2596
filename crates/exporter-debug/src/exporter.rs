//! The running `debug` exporter: formats a batch and writes it to the log or to outputs.

use crate::config::{DebugConfig, Verbosity};
use crate::sampler::Sampler;
use crate::text;
use kakehashi_component::{Batch, BuildError, ExportError, Exporter};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

enum Sink {
    Stdout,
    Stderr,
    File(Mutex<File>),
}

pub struct DebugExporter {
    verbosity: Verbosity,
    /// `None`: the collector's own log (`tracing`).
    outputs: Option<Vec<Sink>>,
    sampler: Sampler,
}

impl DebugExporter {
    pub fn new(cfg: &DebugConfig) -> Result<Self, BuildError> {
        let verbosity = cfg.verbosity()?;
        let outputs = if cfg.use_internal_logger {
            None
        } else {
            let paths: Vec<&str> = if cfg.output_paths.is_empty() {
                vec!["stdout"]
            } else {
                cfg.output_paths.iter().map(String::as_str).collect()
            };
            let mut sinks = Vec::new();
            for p in paths {
                sinks.push(match p {
                    "stdout" => Sink::Stdout,
                    "stderr" => Sink::Stderr,
                    path => {
                        let f = OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)
                            .map_err(|e| {
                                BuildError(format!("failed to open output path {path:?}: {e}"))
                            })?;
                        Sink::File(Mutex::new(f))
                    }
                });
            }
            Some(sinks)
        };
        Ok(DebugExporter {
            verbosity,
            outputs,
            sampler: Sampler::new(cfg.sampling_initial, cfg.sampling_thereafter),
        })
    }

    /// One log entry: `message` plus zap-console-style `fields` (may be empty). Through the
    /// collector's logger, `basic` logs its counts as structured fields.
    fn emit(&self, message: &str, fields: &str, basic: Option<&text::Basic>) {
        if !self.sampler.allow(message) {
            return;
        }
        match &self.outputs {
            None => match basic {
                Some(b) => b.log(),
                None => tracing::info!(
                    target: kakehashi_telemetry::sampling::DATA_OUTPUT_TARGET,
                    "{message}"
                ),
            },
            Some(sinks) => {
                // zap's console encoder without time and level: message, tab, fields.
                let line = if fields.is_empty() {
                    format!("{message}\n")
                } else {
                    format!("{message}\t{fields}\n")
                };
                for s in sinks {
                    // Output errors must not fail the pipeline: debug output is best effort.
                    let _ = match s {
                        Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
                        Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                        Sink::File(f) => f
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .write_all(line.as_bytes()),
                    };
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        let basic = text::basic(&batch.payload);
        self.emit(basic.message, &basic.fields(), Some(&basic));
        let dump = match self.verbosity {
            Verbosity::Basic => return Ok(()),
            Verbosity::Normal => text::normal(&batch.payload),
            Verbosity::Detailed => text::detailed(&batch.payload),
        };
        if !dump.is_empty() {
            self.emit(dump.trim_end_matches('\n'), "", None);
        }
        Ok(())
    }
}
