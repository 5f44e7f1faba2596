//! `sample-app`: the OpenTelemetry-instrumented demo service, standalone (e.g. in the container).
//!
//! Traces go over OTLP/gRPC where the standard `OTEL_*` variables say (default
//! `http://localhost:4317`). SIGTERM/SIGINT: stop accepting, finish in-flight requests, flush
//! spans, exit 0 — within 10 s. The bound address is logged on stderr (`sample-app listening
//! addr=...`), useful with `--listen 127.0.0.1:0`.

use clap::Parser;
use kakehashi_sample_app::{run, SampleConfig, DEFAULT_LISTEN};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sample-app",
    version,
    about = "OpenTelemetry-instrumented sample HTTP service"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SAMPLE_APP_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// OTLP/gRPC endpoint; overrides OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT when given.
    #[arg(long)]
    otlp_endpoint: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sample-app: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = SampleConfig {
        listen: args.listen,
        otlp_endpoint: args.otlp_endpoint,
        // Of the 10 s promised, leave one for the runtime to stop and the process to exit.
        shutdown_timeout: SHUTDOWN_BUDGET,
    };
    let result = runtime.block_on(async {
        // Install the handlers before anything else, so that an early signal is not fatal.
        let shutdown = shutdown_signal();
        run(config, shutdown).await
    });
    // Do not wait for a flush that `run` already gave up on.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample-app: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Draining in-flight requests plus flushing spans.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(9);

/// Installs the SIGTERM/SIGINT handlers now; the future completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                }
                (term, int) => {
                    if let Err(e) = term.as_ref().and(int.as_ref()) {
                        tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; falling back to Ctrl-C only");
                    }
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("SIGINT received");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received");
        }
    }
}
