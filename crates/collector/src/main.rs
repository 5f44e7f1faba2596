//! `kakehashi`: an OpenTelemetry Collector for the OTLP → Datadog path.

mod cli;
mod components;
mod demo;
mod intake;
mod memory;
mod run;

use clap::Parser;
use std::process::ExitCode;

/// See the `mimalloc` dependency in Cargo.toml for why (docs/performance.md has the numbers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    memory::disable_transparent_huge_pages();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run::main(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::from(1)
        }
    }
}
