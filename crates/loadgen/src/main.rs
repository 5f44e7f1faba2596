//! The `loadgen` binary; see the `kakehashi_loadgen` crate docs.

use clap::Parser;
use kakehashi_loadgen::cli::{resolve_loopback, Cli, Command};
use kakehashi_loadgen::send::SendSettings;
use kakehashi_loadgen::{decode, send, template::MAX_SEED};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Send(args) => {
            let addr = match resolve_loopback(&args.endpoint) {
                Ok(addr) => addr,
                Err(e) => {
                    eprintln!("loadgen: error: {e}");
                    return ExitCode::from(2);
                }
            };
            let seed = args
                .seed
                .unwrap_or_else(|| rand::random_range(1..=MAX_SEED));
            let settings = SendSettings {
                endpoint: args.endpoint,
                addr,
                protocol: args.protocol,
                compression: args.compression,
                rate: args.rate,
                batch_size: args.batch_size,
                connections: args.connections,
                duration: args.duration,
                max_spans: args.max_spans,
                seed,
                retry_for: args.retry_for,
            };
            let runtime = runtime();
            let report = match runtime.block_on(send::run(settings)) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("loadgen: error: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            // Do not wait for abandoned requests.
            runtime.shutdown_background();
            eprintln!("{}", report.summary());
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serialises")
                );
            }
        }
        Command::Decode(args) => {
            let report = decode::run(args.batch_size, args.duration);
            eprintln!("{}", report.summary());
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serialises")
                );
            }
        }
    }
    ExitCode::SUCCESS
}

/// The send runtime: `LOADGEN_THREADS` worker threads (default 1, a current-thread runtime,
/// which costs the least CPU per span; more only helps with gzip at very high rates).
fn runtime() -> tokio::runtime::Runtime {
    let threads: usize = std::env::var("LOADGEN_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}
