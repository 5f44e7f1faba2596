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
    /// Runs a local Datadog-compatible intake with a trace explorer (no Datadog account needed).
    Intake(IntakeArgs),
    /// Runs the whole seed system on this machine: intake, collector, sample app and traffic.
    Demo(DemoArgs),
}

/// `kakehashi intake`.
#[derive(Debug, clap::Args)]
pub struct IntakeArgs {
    /// Where the intake listens (the exporter's `traces.endpoint` / `metrics.endpoint`, and the
    /// explorer in a browser).
    #[arg(long, default_value = kakehashi_intake::DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    /// Directory of the SQLite database; created if missing, kept across restarts.
    #[arg(long, default_value = "kakehashi-intake-data")]
    pub data: std::path::PathBuf,
    /// Data received longer ago than this is removed (Go duration: `24h`, `90m`).
    #[arg(long, default_value = "24h", value_parser = go_duration)]
    pub max_age: std::time::Duration,
    /// The database is kept under this many MiB by removing the oldest traces.
    #[arg(long, default_value_t = 1024)]
    pub max_size_mib: u64,
    /// Decode and count what arrives (spans, unique span ids, bytes, stats), store nothing and
    /// serve no explorer: the sink for benchmarks and fault tests. Counters at `GET /counts`,
    /// fault injection at `POST /control`.
    #[arg(long)]
    pub count_only: bool,
}

/// `kakehashi demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port of the intake and its trace explorer.
    #[arg(long, default_value_t = 8126)]
    pub intake_port: u16,
    /// Port of the collector's OTLP/gRPC receiver.
    #[arg(long, default_value_t = 4317)]
    pub otlp_port: u16,
    /// Port of the sample app (the seed's web service).
    #[arg(long, default_value_t = 8080)]
    pub app_port: u16,
    /// Port of the collector's Prometheus self-metrics.
    #[arg(long, default_value_t = 8888)]
    pub metrics_port: u16,
    /// Directory of the intake's database (default: a fresh temporary directory).
    #[arg(long)]
    pub data: Option<std::path::PathBuf>,
    /// Requests per second the traffic generator sends to the sample app (0: none).
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Prints the collector configuration the demo runs, then exits.
    #[arg(long)]
    pub print_config: bool,
}

fn go_duration(s: &str) -> Result<std::time::Duration, String> {
    kakehashi_config::parse_go_duration(s)
}

/// The feature gates whose setting changes what kakehashi does.
const HONOURED_GATES: &[&str] = &[
    kakehashi_exporter_datadog::exporter::DISABLE_APM_STATS_GATE,
    kakehashi_exporter_datadog::exporter::OPERATION_AND_RESOURCE_NAME_V2_GATE,
];

/// Every gate kakehashi knows, with what it does here (zpages' featurez lists them).
pub const KNOWN_GATES: &[(&str, &str)] = &[
    (
        kakehashi_exporter_datadog::exporter::DISABLE_APM_STATS_GATE,
        "the datadog exporter computes no APM stats (leave them to the datadog connector)",
    ),
    (
        kakehashi_exporter_datadog::exporter::OPERATION_AND_RESOURCE_NAME_V2_GATE,
        "Datadog operation and resource names by the V2 rules (on unless switched off, as in otelcol-contrib)",
    ),
    (
        ALWAYS_ON_GATE,
        "the Datadog translation reads each ResourceSpans' own resource (always on in kakehashi)",
    ),
];

/// On in otelcol-contrib and always on here: only the V2 receive path is implemented.
const ALWAYS_ON_GATE: &str = "datadog.EnableReceiveResourceSpansV2";

impl Cli {
    /// Warnings for `--feature-gates` that change nothing here: unknown to kakehashi (otelcol
    /// has many more gates; an unknown name is its error, a gate of a component we do not ship
    /// would be silently irrelevant), or switching off behaviour kakehashi always has.
    pub fn gate_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in self
            .feature_gates
            .iter()
            .map(|g| g.trim())
            .filter(|g| !g.is_empty())
        {
            let (off, name) = match g.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, g.trim_start_matches('+')),
            };
            if name == ALWAYS_ON_GATE {
                if off {
                    out.push(format!(
                        "feature gate {name:?} cannot be disabled: kakehashi implements only its enabled behaviour"
                    ));
                }
            } else if !HONOURED_GATES.contains(&name) {
                out.push(format!(
                    "feature gate {name:?} is not known to kakehashi and has no effect"
                ));
            }
        }
        out
    }

    /// Enabled gates after applying `+`/`-` in order, and those switched off explicitly.
    pub fn gates(&self) -> kakehashi_pipeline::FeatureGates {
        let mut disabled = std::collections::BTreeSet::new();
        for g in self.feature_gates.iter().map(|g| g.trim()) {
            if let Some(name) = g.strip_prefix('-') {
                disabled.insert(name.to_owned());
            } else {
                disabled.remove(g.trim_start_matches('+'));
            }
        }
        kakehashi_pipeline::FeatureGates {
            enabled: self.enabled_gates(),
            disabled,
        }
    }

    /// Enabled gates after applying `+`/`-` in order.
    pub fn enabled_gates(&self) -> std::collections::BTreeSet<String> {
        // Gates that are Beta in otelcol-contrib, hence on unless switched off with `-name`.
        let mut set: std::collections::BTreeSet<String> = [
            kakehashi_exporter_datadog::exporter::OPERATION_AND_RESOURCE_NAME_V2_GATE,
            ALWAYS_ON_GATE,
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
            match g.strip_prefix('-') {
                // Only its enabled behaviour exists (a warning says so).
                Some(ALWAYS_ON_GATE) => {}
                Some(name) => {
                    set.remove(name);
                }
                None => {
                    set.insert(g.trim_start_matches('+').to_owned());
                }
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(gates: &str) -> Cli {
        Cli::try_parse_from(["kakehashi", "--config", "c.yaml", "--feature-gates", gates])
            .expect("valid flags")
    }

    #[test]
    fn gates_that_change_nothing_are_warned_about() {
        let c = cli("+exporter.datadogexporter.DisableAPMStats,-datadog.EnableOperationAndResourceNameV2,confmap.enableMergeAppendOption,-datadog.EnableReceiveResourceSpansV2");
        let enabled = c.enabled_gates();
        assert!(enabled.contains("exporter.datadogexporter.DisableAPMStats"));
        assert!(!enabled.contains("datadog.EnableOperationAndResourceNameV2"));
        assert!(
            enabled.contains("datadog.EnableReceiveResourceSpansV2"),
            "always on"
        );
        assert_eq!(
            c.gate_warnings(),
            vec![
                r#"feature gate "confmap.enableMergeAppendOption" is not known to kakehashi and has no effect"#.to_string(),
                r#"feature gate "datadog.EnableReceiveResourceSpansV2" cannot be disabled: kakehashi implements only its enabled behaviour"#.to_string(),
            ]
        );
        assert!(cli("+datadog.EnableReceiveResourceSpansV2")
            .gate_warnings()
            .is_empty());
        let gates = cli("+z,-a,+b,-b,-c").gates();
        assert_eq!(
            gates.disabled.into_iter().collect::<Vec<_>>(),
            vec!["a".to_string(), "b".to_string(), "c".to_string()],
            "the last word counts: b was switched off last"
        );
        assert!(!cli("+z,-b,+b").gates().disabled.contains("b"));
    }
}
