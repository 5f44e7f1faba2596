//! Command-line interface (see the crate docs for the full contract).

use crate::template::MAX_SEED;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// OTLP trace load generator for benchmarking collectors on loopback.
///
/// Sends realistic spans (HTTP server/client, DB, messaging and internal spans with 10-30
/// attributes, ~5% errors with exception events) over OTLP/gRPC or OTLP/HTTP, at a fixed rate or
/// as fast as the collector accepts, and reports what was accepted, refused and failed.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send spans to a collector on this machine and report the outcome.
    Send(SendArgs),
    /// Measure the decode-only limit: prost-decode the same requests in a loop, in this process.
    Decode(DecodeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (`TraceService/Export`), one HTTP/2 connection per `--connections`.
    Grpc,
    /// OTLP/HTTP protobuf (`POST /v1/traces`), one HTTP/1.1 client per `--connections`.
    Http,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    /// gzip: tonic's gzip (level 6) for gRPC, flate2 level 1 for HTTP (cheap for the loadgen).
    Gzip,
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Collector address as host:port; the host must resolve to a loopback address.
    #[arg(long)]
    pub endpoint: String,
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Offered load in spans per second over all connections; 0 = as fast as the collector
    /// accepts. A fixed shared schedule: request k is due at start + k * batch / rate, and a
    /// late connection sends at once (burst catch-up), so a slow collector shows up as latency
    /// or refusals, not as a lower offered load.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Spans per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
    /// Concurrent in-flight requests, each on its own HTTP/2 connection (grpc) or client (http).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// How long to send (e.g. 10s, 500ms, 2m); in-flight requests then get a 10 s grace.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after sending this many spans (the last request may be smaller than a batch).
    #[arg(long)]
    pub max_spans: Option<u64>,
    /// Seed (0..2^24) for the generated data and the ids: span_id = (seed << 40) | sequence.
    /// Default: random.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED))]
    pub seed: Option<u64>,
    /// Resend a refused or failed request (100 ms..1 s backoff) until accepted or this long has
    /// passed since it was first sent; 0 = no retries.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// Print exactly one JSON report object on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// Spans per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
    /// How long to decode.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Print exactly one JSON report object on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Parses `10s`, `500ms`, `1.5s`, `2m`, `1h`, `250us`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (expected e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Resolves `endpoint` (host:port) and refuses anything that is not loopback: this tool must
/// only ever target 127.0.0.1, ::1 or localhost. Prefers an IPv4 address.
pub fn resolve_loopback(endpoint: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = endpoint
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve endpoint {endpoint:?} (expected host:port): {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("endpoint {endpoint:?} resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "endpoint {endpoint:?} resolves to {bad}, which is not a loopback address; \
             loadgen only targets 127.0.0.1, ::1 or localhost"
        ));
    }
    Ok(*addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn loopback_only() {
        assert!(resolve_loopback("127.0.0.1:4317").is_ok());
        assert!(resolve_loopback("[::1]:4317").is_ok());
        assert!(resolve_loopback("localhost:4317")
            .unwrap()
            .ip()
            .is_loopback());
        assert!(resolve_loopback("10.1.2.3:4317").is_err());
        assert!(resolve_loopback("0.0.0.0:4317").is_err());
        assert!(resolve_loopback("127.0.0.1").is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
