//! Load → validate → build → start → wait for a signal → shut down in order.

use crate::cli::{Cli, Command};
use crate::components;
use kakehashi_config::{load, ConfigSource, RecordingProcessEnv};
use kakehashi_pipeline::FeatureGates;
use kakehashi_pipeline::{resolve, BuildOptions, Topology};
use kakehashi_telemetry::Telemetry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub async fn main(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Some(Command::Components) => {
            print!("{}", components::describe(&components::factories()));
            return Ok(());
        }
        Some(Command::Intake(args)) => return crate::intake::run(args).await,
        Some(Command::Demo(args)) => return crate::demo::run(args, cli.gates()).await,
        Some(Command::Validate) | None => {}
    }
    // otelcol counts `--set` values as config sources (`yaml:` URIs) of their own.
    if cli.config.is_empty() && cli.set.is_empty() {
        return Err("at least one config flag must be provided".into());
    }
    let sources: Vec<ConfigSource> = cli
        .config
        .iter()
        .map(|c| ConfigSource::parse_arg(c))
        .collect();
    let validating = matches!(cli.command, Some(Command::Validate));
    let collector = Collector::build(&sources, &cli.set, cli.gates(), !validating)?;
    if validating {
        return Ok(());
    }
    for warning in cli.gate_warnings() {
        tracing::warn!("{warning}");
    }
    let mut stop = collector.run_until(wait_for_stop()).await?;
    // SIGHUP: as otelcol, the running service is shut down and a new one is built from the
    // config sources read again; a config that no longer builds ends the process. The log
    // output keeps its first settings (it is process-wide).
    while stop == Stop::Reload {
        let collector = Collector::build(&sources, &cli.set, cli.gates(), false)
            .map_err(|e| format!("failed to setup configuration components: {e}"))?;
        stop = collector.run_until(wait_for_stop()).await?;
    }
    Ok(())
}

/// Why a running collector stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Shut down for good; the reason as otelcol logs the signal.
    Shutdown(&'static str),
    /// SIGHUP: rebuild from the configuration.
    Reload,
}

/// A collector built from its configuration, ready to start.
pub struct Collector {
    topology: Topology,
    telemetry: Telemetry,
    metrics_endpoint: Option<String>,
    drain_deadline: Duration,
}

impl Collector {
    /// Loads, validates and builds every component; nothing listens yet. With `init_logs`, the
    /// process's log output is set up from `service::telemetry::logs` first (it is global, so
    /// the first collector of a process decides it).
    pub fn build(
        sources: &[ConfigSource],
        set: &[String],
        gates: FeatureGates,
        init_logs: bool,
    ) -> Result<Collector, String> {
        let factories = components::factories();
        let env = RecordingProcessEnv::default();
        let root = load(sources, set, &env).map_err(|e| format!("failed to get config: {e}"))?;
        let resolved =
            resolve(&root, &factories).map_err(|e| format!("invalid configuration:\n{e}"))?;
        let own_resource = &resolved.service.telemetry.resource;
        if init_logs {
            let resource = kakehashi_telemetry::resource::attributes(
                own_resource,
                kakehashi_telemetry::resource::instance_id(),
            );
            kakehashi_telemetry::logs::init(&resolved.service.telemetry.logs, &resource)
                .map_err(|e| format!("failed to get logger: {e}"))?;
        }
        // Warnings otelcol logs while loading; ours wait until the log output is configured.
        for name in env.unset() {
            tracing::warn!(
                name = %name,
                "Configuration references unset environment variable"
            );
        }
        for warning in resolved.deprecated_alias_warnings(&factories) {
            tracing::warn!("{warning}");
        }
        let telemetry = Telemetry::with_level(resolved.service.telemetry.metrics.level)
            .with_resource(kakehashi_telemetry::resource::labels(
                own_resource,
                kakehashi_telemetry::resource::instance_id(),
            ));
        let opts = BuildOptions {
            feature_gates: Arc::new(gates.enabled),
            disabled_gates: Arc::new(gates.disabled),
            known_gates: crate::cli::KNOWN_GATES.to_vec(),
            ..BuildOptions::default()
        };
        let topology = Topology::build(&resolved, &factories, &telemetry, &opts)
            .map_err(|errs| format!("failed to build pipelines:\n{}", errs.join("\n")))?;
        Ok(Collector {
            topology,
            telemetry,
            metrics_endpoint: resolved.service.telemetry.metrics.prometheus_endpoint(),
            drain_deadline: opts.drain_deadline,
        })
    }

    /// Starts everything, runs until `shutdown` completes (it names the reason, as otelcol logs
    /// the signal), then shuts down in order: receivers, processors, exporters.
    pub async fn run(self, shutdown: impl Future<Output = &'static str>) -> Result<(), String> {
        self.run_until(async { Stop::Shutdown(shutdown.await) })
            .await
            .map(|_| ())
    }

    /// [`Collector::run`], stopping when `stop` says why: for good, or to reload.
    pub async fn run_until(self, stop: impl Future<Output = Stop>) -> Result<Stop, String> {
        let Collector {
            mut topology,
            telemetry,
            metrics_endpoint,
            drain_deadline,
        } = self;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "Starting kakehashi");
        let metrics_server = match metrics_endpoint {
            Some(endpoint) => Some(
                kakehashi_telemetry::server::serve_metrics(&endpoint, telemetry.clone())
                    .await
                    .map_err(|e| format!("failed to start telemetry: {e}"))?,
            ),
            None => None,
        };
        if let Err(e) = topology.start().await {
            topology.shutdown(drain_deadline).await;
            if let Some(s) = metrics_server {
                s.shutdown().await;
            }
            return Err(e);
        }
        tracing::info!("Everything is ready. Begin running and processing data.");

        let why = stop.await;
        match why {
            Stop::Shutdown(signal) => {
                tracing::info!(signal = signal, "Received signal from OS");
                tracing::info!("Starting shutdown...");
            }
            Stop::Reload => {
                tracing::info!(signal = "hangup", "Received signal from OS");
                tracing::warn!("Config updated, restart service");
            }
        }
        topology.shutdown(drain_deadline).await;
        if let Some(s) = metrics_server {
            s.shutdown().await;
        }
        if why != Stop::Reload {
            tracing::info!("Shutdown complete.");
        }
        Ok(why)
    }
}

/// Waits for SIGTERM or SIGINT (shut down) or SIGHUP (reload, which otelcol always listens
/// for: without a handler the signal would end the process with no drain).
pub async fn wait_for_stop() -> Stop {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        tokio::select! {
            s = wait_for_signal() => Stop::Shutdown(s),
            _ = hup.recv() => Stop::Reload,
        }
    }
    #[cfg(not(unix))]
    {
        Stop::Shutdown(wait_for_signal().await)
    }
}

/// Waits for SIGTERM or SIGINT and names it as otelcol logs it.
pub async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => "terminated",
            _ = int.recv() => "interrupt",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}
