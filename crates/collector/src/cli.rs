//! Command line, as otelcol's: `--config` (repeatable), `--set`, `--feature-gates`, subcommands.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kakehashi",
    version,
    about = "An OpenTelemetry Collector for the OTLP → Datadog path, configured with otelcol's YAML"
)]
pub struct Cli {
    /// Config file path or URI (`file:`, `env:`, `yaml:`); repeatable, merged in order.
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config: Vec<String>,
    /// Override a config value: `--set=processors.batch.timeout=2s` (applied after every file).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Feature gates to toggle: `+gate` or `gate` enables, `-gate` disables; comma-separated.
    #[arg(
        long = "feature-gates",
        global = true,
        value_name = "GATES",
        value_delimiter = ','
    )]
    pub feature_gates: Vec<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validates the config without running the collector.
    Validate,
    /// Lists the built-in components.
    Components,
}

impl Cli {
    /// Enabled gates after applying `+`/`-` in order.
    pub fn enabled_gates(&self) -> std::collections::BTreeSet<String> {
        // Gates that are Beta in otelcol-contrib, hence on unless switched off with `-name`.
        let mut set: std::collections::BTreeSet<String> = [
            "datadog.EnableOperationAndResourceNameV2",
            "datadog.EnableReceiveResourceSpansV2",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        for g in self
            .feature_gates
            .iter()
            .map(|g| g.trim())
            .filter(|g| !g.is_empty())
        {
            if let Some(name) = g.strip_prefix('-') {
                set.remove(name);
            } else {
                set.insert(g.trim_start_matches('+').to_owned());
            }
        }
        set
    }
}
