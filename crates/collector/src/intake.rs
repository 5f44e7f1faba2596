//! `kakehashi intake`: the local Datadog-compatible intake and trace explorer, standalone.

use crate::cli::IntakeArgs;
use kakehashi_intake::IntakeConfig;

pub async fn run(args: &IntakeArgs) -> Result<(), String> {
    kakehashi_telemetry::logs::init(&kakehashi_telemetry::config::LogsConfig::default(), &[])?;
    if args.count_only {
        return run_sink(args).await;
    }
    let config = IntakeConfig {
        listen: args.listen,
        data_dir: args.data.clone(),
        max_age: args.max_age,
        max_bytes: args.max_size_mib.saturating_mul(1 << 20),
        ..IntakeConfig::default()
    };
    eprintln!(
        "kakehashi intake: explorer at http://{}/ , data in {}",
        args.listen,
        args.data.display()
    );
    eprintln!(
        "  point the datadog exporter here: traces::endpoint and metrics::endpoint = http://{}",
        args.listen
    );
    kakehashi_intake::run(config, async {
        let signal = crate::run::wait_for_signal().await;
        tracing::info!(signal, "intake stopping");
    })
    .await
}

/// `kakehashi intake --count-only`.
async fn run_sink(args: &IntakeArgs) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("intake: cannot listen on {}: {e}", args.listen))?;
    eprintln!(
        "kakehashi intake --count-only: counting at http://{}/counts (nothing is stored)",
        args.listen
    );
    kakehashi_intake::run_sink_on(listener, kakehashi_intake::SinkConfig::default(), async {
        let signal = crate::run::wait_for_signal().await;
        tracing::info!(signal, "sink stopping");
    })
    .await
}
