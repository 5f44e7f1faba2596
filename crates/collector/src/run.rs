//! Load → validate → build → start → wait for a signal → shut down in order.

use crate::cli::{Cli, Command};
use crate::components;
use kakehashi_config::{load, ConfigSource, ProcessEnv};
use kakehashi_pipeline::{resolve, BuildOptions, Topology};
use kakehashi_telemetry::Telemetry;
use std::sync::Arc;

pub async fn main(cli: Cli) -> Result<(), String> {
    let factories = components::factories();
    if let Some(Command::Components) = cli.command {
        print!("{}", components::describe(&factories));
        return Ok(());
    }
    if cli.config.is_empty() {
        return Err("at least one config flag must be provided".into());
    }
    let sources: Vec<ConfigSource> = cli
        .config
        .iter()
        .map(|c| ConfigSource::parse_arg(c))
        .collect();
    let root =
        load(&sources, &cli.set, &ProcessEnv).map_err(|e| format!("failed to get config: {e}"))?;
    let resolved =
        resolve(&root, &factories).map_err(|e| format!("invalid configuration:\n{e}"))?;

    let validating = matches!(cli.command, Some(Command::Validate));
    if !validating {
        kakehashi_telemetry::logs::init(&resolved.service.telemetry.logs);
    }
    let telemetry = Telemetry::new();
    let opts = BuildOptions {
        feature_gates: Arc::new(cli.enabled_gates()),
        ..BuildOptions::default()
    };
    let mut topology = Topology::build(&resolved, &factories, &telemetry, &opts)
        .map_err(|errs| format!("failed to build pipelines:\n{}", errs.join("\n")))?;
    if validating {
        return Ok(());
    }

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Starting kakehashi");
    let metrics_server = match resolved.service.telemetry.metrics.prometheus_endpoint() {
        Some(endpoint) => Some(
            kakehashi_telemetry::server::serve_metrics(&endpoint, telemetry.clone())
                .await
                .map_err(|e| format!("failed to start telemetry: {e}"))?,
        ),
        None => None,
    };
    if let Err(e) = topology.start().await {
        topology.shutdown(opts.drain_deadline).await;
        return Err(e);
    }
    tracing::info!("Everything is ready. Begin running and processing data.");

    let signal = wait_for_signal().await;
    tracing::info!(signal = signal, "Received signal from OS");
    tracing::info!("Starting shutdown...");
    topology.shutdown(opts.drain_deadline).await;
    if let Some(s) = metrics_server {
        s.shutdown().await;
    }
    tracing::info!("Shutdown complete.");
    Ok(())
}

/// Waits for SIGTERM or SIGINT and names it as otelcol logs it.
async fn wait_for_signal() -> &'static str {
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
