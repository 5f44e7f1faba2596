//! `loadgen`: an OTLP trace load generator for benchmarking collectors on this machine.
//!
//! ```text
//! loadgen send --endpoint 127.0.0.1:4317 --protocol grpc|http [--compression none|gzip]
//!              [--rate SPANS_PER_SEC] [--batch-size 100] [--connections 4] [--duration 10s]
//!              [--max-spans N] [--seed N] [--retry-for DURATION] [--json]
//! loadgen decode [--batch-size 100] [--duration 5s] [--json]
//! ```
//!
//! # `send`
//! - `--endpoint` is `host:port` and must resolve to loopback only (127.0.0.1, ::1, localhost);
//!   anything else exits with status 2. gRPC calls `TraceService/Export`; HTTP posts
//!   `application/x-protobuf` to `/v1/traces`.
//! - `--connections N` workers each keep one request in flight on their own HTTP/2 connection
//!   (gRPC) or HTTP/1.1 client (HTTP).
//! - `--rate R` (spans/s, 0 = as fast as accepted) is a fixed shared schedule: request `k` is due
//!   at `start + k·batch/R`, taken by whichever connection is free; a late connection sends at
//!   once (tokio's `MissedTickBehavior::Burst` semantics), so a collector that slows down shows
//!   as latency and refusals while the offered load stays put — up to the limit of `N` requests
//!   in flight. Compare `offered_rate` with `achieved_rate`.
//! - It stops after `--duration` or `--max-spans`, waits up to 10 s for in-flight requests
//!   (and their retries), then reports; Ctrl-C or SIGTERM stops it the same way (a second
//!   signal skips the grace period). Requests still unanswered count as failed (`grace timeout`).
//! - Outcomes: accepted = gRPC OK / HTTP 2xx (a `partial_success.rejected_spans` counts those
//!   spans as refused); refused = a gRPC status or HTTP non-2xx (`errors` key: `UNAVAILABLE`,
//!   `http 503`, ...); failed = transport errors (`connection refused`, `connection reset`,
//!   `timeout` — 10 s per attempt). `--retry-for D` resends a refused/failed request with
//!   100 ms..1 s exponential backoff until accepted or `D` has passed since its first attempt;
//!   `errors` counts every failed attempt, the span and request counters the final outcome.
//! - Latency percentiles (hdrhistogram) are over the accepted attempt of ok requests.
//! - Ids: `span_id = (seed << 40) | sequence` with the sequence counting every span of the run
//!   from 1 (`first_span_seq`..=`last_span_seq`), so a sink can check that it received each
//!   span exactly once; `trace_id` is derived from the seed and a trace counter.
//! - `--compression gzip`: tonic's gzip (level 6, not configurable) for gRPC, flate2 level 1
//!   for HTTP.
//! - gRPC goes through tonic's `Grpc` client on the same path and framing as the generated
//!   `TraceServiceClient`, with a pass-through codec for the pre-encoded request (the generated
//!   client would need a deep clone of the batch per call).
//! - The runtime is single-threaded by default (the least CPU per span); `LOADGEN_THREADS=N`
//!   selects a multi-threaded one.
//!
//! With `--json`, exactly one JSON object goes to stdout (see [`report::SendReport`]); a
//! human-readable summary always goes to stderr.
//!
//! # `decode`
//! Prost-decodes the same requests (same generator and batch size) in a loop on one thread and
//! reports spans per CPU-second (process CPU time from `/proc/self/stat`) — the decode-only
//! limit a collector cannot beat ([`report::DecodeReport`]).
//!
//! # Data
//! See [`generator`]: six services in four SDK languages, traces of 3–8 spans (HTTP server →
//! internal / HTTP client → server / PostgreSQL and Redis / Kafka producer) with valid parent
//! links inside a request, 10–30 attributes per span, ~5% ERROR spans with an `exception` event
//! and ~5% more spans with an ordinary event. Templates are built and encoded once; a request
//! is a copy with ids and timestamps patched in ([`template`]), so the generator costs far less
//! than the collector under test.
//!
//! # Cost
//! Measured against `kakehashi` (OTLP → nop) on the shared 2-core machine, batch 100
//! (~83 KB, ~830 bytes per span): at max rate ~1.9 µs of loadgen CPU per span over gRPC and
//! ~1.0 µs over HTTP, most of it kernel time writing to the loopback socket; gzip adds about
//! 6 µs/span over gRPC (tonic, level 6) and 2 µs/span over HTTP (level 1). At a fixed
//! 20k spans/s over gRPC it is ~4 µs/span (per-request wake-ups dominate).

pub mod cli;
pub mod decode;
pub mod generator;
pub mod report;
pub mod send;
pub mod template;
pub mod transport;
