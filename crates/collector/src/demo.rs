//! `kakehashi demo`: the seed system on one machine, in one process.
//!
//! ```text
//! traffic ──HTTP──► sample-app ──OTLP/gRPC──► collector (otlp → resource → batch/datadog → datadog)
//!                                                 ──/api/v0.2/traces, /stats──► intake ◄── browser
//! ```
//!
//! Everything listens on 127.0.0.1. Ctrl-C (or SIGTERM) stops the parts in the order that loses
//! nothing: traffic, then the app (which flushes its spans to the collector), then the collector
//! (which flushes its batch to the intake), then the intake.

use crate::cli::DemoArgs;
use crate::run::{wait_for_signal, Collector};
use kakehashi_config::ConfigSource;
use kakehashi_intake::IntakeConfig;
use kakehashi_pipeline::FeatureGates;
use kakehashi_sample_app::SampleConfig;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const CONFIG_TEMPLATE: &str = include_str!("demo/collector.yaml");

/// Not a Datadog key: the local intake accepts any; the exporter only checks it is hex.
const DEMO_API_KEY: &str = "0000000000000000000000000000d3e0";

/// The collector configuration the demo runs, with its ports filled in.
pub fn collector_config(args: &DemoArgs) -> String {
    CONFIG_TEMPLATE
        .replace("{otlp_port}", &args.otlp_port.to_string())
        .replace("{intake_port}", &args.intake_port.to_string())
        .replace("{metrics_port}", &args.metrics_port.to_string())
        .replace("{api_key}", DEMO_API_KEY)
}

pub async fn run(args: &DemoArgs, gates: FeatureGates) -> Result<(), String> {
    let config = collector_config(args);
    if args.print_config {
        print!("{config}");
        return Ok(());
    }
    // A fresh directory unless one was given; removed when the demo ends.
    let (data_dir, _tmp) = match &args.data {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("kakehashi-demo-")
                .tempdir()
                .map_err(|e| format!("demo: cannot create a data directory: {e}"))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let intake_listener = bind("intake", args.intake_port).await?;
    let app_listener = bind("sample app", args.app_port).await?;
    let collector = Collector::build(
        &[ConfigSource::Inline {
            name: "demo".into(),
            yaml: config,
        }],
        &[],
        gates,
        true,
    )?;

    let stops = Stops::default();
    let mut parts: Vec<(&'static str, JoinHandle<Result<(), String>>)> = Vec::new();
    let intake_config = IntakeConfig {
        data_dir: data_dir.clone(),
        ..IntakeConfig::default()
    };
    parts.push((
        "intake",
        tokio::spawn(kakehashi_intake::run_on(
            intake_listener,
            intake_config,
            stops.intake.signal(),
        )),
    ));
    let collector_stop = stops.collector.signal();
    parts.push((
        "collector",
        tokio::spawn(collector.run(async move {
            collector_stop.await;
            "demo stopping"
        })),
    ));
    let app_config = SampleConfig {
        otlp_endpoint: Some(format!("http://127.0.0.1:{}", args.otlp_port)),
        ..SampleConfig::default()
    };
    parts.push((
        "sample app",
        tokio::spawn(kakehashi_sample_app::run_on(
            app_listener,
            app_config,
            stops.app.signal(),
        )),
    ));
    let app_url = format!("http://127.0.0.1:{}", args.app_port);
    if args.rate > 0.0 {
        let (url, rate, stop) = (app_url.clone(), args.rate, stops.traffic.signal());
        parts.push((
            "traffic",
            tokio::spawn(async move {
                let stats = kakehashi_sample_app::generate_traffic(&url, rate, stop).await?;
                tracing::info!(?stats, "traffic generator stopped");
                Ok(())
            }),
        ));
    }
    print_banner(args, &data_dir, &app_url);

    // Run until a signal, or until a part stops on its own (a port taken, say).
    let early = tokio::select! {
        s = wait_for_signal() => { tracing::info!(signal = s, "demo stopping"); None }
        (name, result) = first_to_end(&mut parts) => Some((name, result)),
    };
    stops.stop_all_in_order(&mut parts).await;
    match early {
        Some((name, Err(e))) => Err(format!("demo: the {name} stopped: {e}")),
        Some((name, Ok(()))) => Err(format!("demo: the {name} stopped unexpectedly")),
        None => Ok(()),
    }
}

async fn bind(what: &str, port: u16) -> Result<TcpListener, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr).await.map_err(|e| {
        format!(
            "demo: cannot listen on {addr} for the {what}: {e} (choose another port with --help)"
        )
    })
}

fn print_banner(args: &DemoArgs, data_dir: &std::path::Path, app_url: &str) {
    let intake = format!("http://127.0.0.1:{}", args.intake_port);
    println!();
    println!("  kakehashi demo — the seed system on this machine");
    println!();
    println!("  trace explorer   {intake}/");
    println!("  sample app       {app_url}/health  (also /slow, /users/42, /fail)");
    println!(
        "  collector        OTLP/gRPC 127.0.0.1:{}, metrics http://127.0.0.1:{}/metrics",
        args.otlp_port, args.metrics_port
    );
    println!("  intake data      {}", data_dir.display());
    if args.rate > 0.0 {
        println!(
            "  traffic          {} requests/s to the sample app",
            args.rate
        );
    }
    println!();
    println!("  Ctrl-C stops everything (spans in flight are flushed first).");
    println!();
}

/// Waits for the first part to end and takes it out of the list.
async fn first_to_end(
    parts: &mut Vec<(&'static str, JoinHandle<Result<(), String>>)>,
) -> (&'static str, Result<(), String>) {
    let (result, index) = {
        let (r, i, _rest) = futures::future::select_all(parts.iter_mut().map(|(_, h)| h)).await;
        (flatten(r), i)
    };
    (parts.remove(index).0, result)
}

fn flatten(r: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), String> {
    r.map_err(|e| e.to_string()).and_then(|r| r)
}

/// One stop switch per part.
#[derive(Default)]
struct Stops {
    traffic: Stop,
    app: Stop,
    collector: Stop,
    intake: Stop,
}

impl Stops {
    /// Stops the parts in data-flow order, each after the one upstream of it has finished.
    async fn stop_all_in_order(
        &self,
        parts: &mut Vec<(&'static str, JoinHandle<Result<(), String>>)>,
    ) {
        for (name, stop) in [
            ("traffic", &self.traffic),
            ("sample app", &self.app),
            ("collector", &self.collector),
            ("intake", &self.intake),
        ] {
            stop.fire();
            if let Some(i) = parts.iter().position(|(n, _)| *n == name) {
                let (_, handle) = parts.remove(i);
                if let Err(e) = flatten(handle.await) {
                    tracing::warn!(part = name, error = %e, "demo part ended with an error");
                }
            }
        }
    }
}

/// A one-shot signal that any number of futures can wait for.
struct Stop(watch::Sender<bool>);

impl Default for Stop {
    fn default() -> Self {
        Stop(watch::channel(false).0)
    }
}

impl Stop {
    fn fire(&self) {
        self.0.send_replace(true);
    }

    fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Building spawns the exporters' queue workers, hence a runtime.
    #[tokio::test]
    async fn demo_config_is_the_seed_pipeline_pointed_at_the_intake() {
        let args = DemoArgs {
            intake_port: 18126,
            otlp_port: 14317,
            app_port: 18080,
            metrics_port: 18888,
            data: None::<std::path::PathBuf>,
            rate: 1.0,
            print_config: false,
        };
        let yaml = collector_config(&args);
        assert!(
            !yaml.contains("_port}") && !yaml.contains("{api_key}"),
            "{yaml}"
        );
        assert!(yaml.contains("endpoint: 127.0.0.1:14317"));
        assert!(yaml.contains("endpoint: http://127.0.0.1:18126"));
        assert!(yaml.contains("processors: [resource, batch/datadog]"));
        // It builds: every key known, the key accepted, the pipeline valid.
        Collector::build(
            &[ConfigSource::Inline {
                name: "demo".into(),
                yaml,
            }],
            &[],
            FeatureGates::default(),
            false,
        )
        .map(|_| ())
        .unwrap();
    }
}
