//! `loadgen send`: connection workers, the rate schedule, retries and the tally.

use crate::cli::{Compression, Protocol};
use crate::report::{round, Latency, SendReport};
use crate::template::Template;
use crate::transport::{Client, Outcome};
use bytes::Bytes;
use hdrhistogram::Histogram;
use kakehashi_telemetry::process::process_cpu_seconds;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests (and their retries) may take once sending stops.
pub const GRACE: Duration = Duration::from_secs(10);
/// Distinct templates per run; requests cycle through them.
pub const TEMPLATE_VARIANTS: u64 = 8;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Validated settings of a `send` run.
#[derive(Debug, Clone)]
pub struct SendSettings {
    pub endpoint: String,
    pub addr: SocketAddr,
    pub protocol: Protocol,
    pub compression: Compression,
    pub rate: u64,
    pub batch_size: u64,
    pub connections: u64,
    pub duration: Duration,
    pub max_spans: Option<u64>,
    pub seed: u64,
    pub retry_for: Duration,
}

/// Builds the templates of a run (also used by `decode` and the benches).
pub fn templates(seed: u64, batch_size: u64, variants: u64) -> Vec<Template> {
    (0..variants)
        .map(|v| {
            Template::new(&crate::generator::Generator::new(seed, v).batch(batch_size as usize))
        })
        .collect()
}

#[derive(Debug)]
struct Tally {
    sent_spans: u64,
    requests: u64,
    accepted_spans: u64,
    refused_spans: u64,
    failed_spans: u64,
    ok_requests: u64,
    refused_requests: u64,
    failed_requests: u64,
    retried_requests: u64,
    last_seq: u64,
    errors: BTreeMap<String, u64>,
    /// Microseconds.
    latency: Histogram<u64>,
}

struct Shared {
    settings: SendSettings,
    templates: Vec<Template>,
    next_seq: AtomicU64,
    next_trace: AtomicU64,
    next_request: AtomicU64,
    start: tokio::time::Instant,
    stop: CancellationToken,
    tally: Mutex<Tally>,
}

impl Shared {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the next span sequences: `(first_seq, count)`, or `None` once `--max-spans` is
    /// exhausted.
    fn claim_spans(&self) -> Option<(u64, u64)> {
        let batch = self.settings.batch_size;
        let Some(max) = self.settings.max_spans else {
            return Some((self.next_seq.fetch_add(batch, Ordering::Relaxed), batch));
        };
        let mut cur = self.next_seq.load(Ordering::Relaxed);
        loop {
            let remaining = (max + 1).saturating_sub(cur);
            if remaining == 0 {
                return None;
            }
            let n = remaining.min(batch);
            match self.next_seq.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((cur, n)),
                Err(actual) => cur = actual,
            }
        }
    }

    fn record_error(&self, key: &str) {
        let mut t = self.tally();
        match t.errors.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                t.errors.insert(key.to_string(), 1);
            }
        }
    }
}

/// Runs the load and returns the report. Stops after `duration`, at `max_spans`, or on
/// Ctrl-C/SIGTERM; then waits up to [`GRACE`] for in-flight requests (a second signal cuts the
/// grace short). Requests still unanswered count as failed (`grace timeout`).
pub async fn run(settings: SendSettings) -> anyhow::Result<SendReport> {
    let templates = templates(settings.seed, settings.batch_size, TEMPLATE_VARIANTS);
    let mut clients = Vec::new();
    for _ in 0..settings.connections {
        clients.push(Client::new(
            settings.protocol,
            settings.addr,
            settings.compression,
        )?);
    }
    let cpu_start = process_cpu_seconds();
    let shared = Arc::new(Shared {
        templates,
        next_seq: AtomicU64::new(1),
        next_trace: AtomicU64::new(1),
        next_request: AtomicU64::new(0),
        start: tokio::time::Instant::now(),
        stop: CancellationToken::new(),
        tally: Mutex::new(Tally {
            sent_spans: 0,
            requests: 0,
            accepted_spans: 0,
            refused_spans: 0,
            failed_spans: 0,
            ok_requests: 0,
            refused_requests: 0,
            failed_requests: 0,
            retried_requests: 0,
            last_seq: 0,
            errors: BTreeMap::new(),
            // 1 µs .. 60 s, 3 significant digits; longer latencies saturate.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        }),
        settings,
    });
    let mut workers = JoinSet::new();
    for client in clients {
        workers.spawn(worker(shared.clone(), client));
    }

    let mut signals = Signals::new()?;
    tokio::select! {
        _ = tokio::time::sleep(shared.settings.duration) => {}
        _ = shared.stop.cancelled() => {}
        _ = signals.recv() => eprintln!("loadgen: interrupted, waiting up to {}s for in-flight requests", GRACE.as_secs()),
    }
    shared.stop.cancel();
    tokio::select! {
        _ = async { while workers.join_next().await.is_some() {} } => {}
        _ = tokio::time::sleep(GRACE) => eprintln!("loadgen: grace period over, abandoning in-flight requests"),
        _ = signals.recv() => eprintln!("loadgen: interrupted again, abandoning in-flight requests"),
    }
    workers.abort_all();
    let elapsed = shared.start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_start;
    Ok(report(&shared, elapsed, cpu))
}

fn report(shared: &Shared, elapsed: f64, cpu: f64) -> SendReport {
    let s = &shared.settings;
    let mut t = shared.tally();
    // Requests still in flight when the grace period ended.
    let pending_requests = t.requests - t.ok_requests - t.refused_requests - t.failed_requests;
    if pending_requests > 0 {
        let pending_spans = t.sent_spans - t.accepted_spans - t.refused_spans - t.failed_spans;
        t.failed_requests += pending_requests;
        t.failed_spans += pending_spans;
        *t.errors.entry("grace timeout".to_string()).or_default() += pending_requests;
    }
    let ms = |us: u64| round(us as f64 / 1000.0, 3);
    let latency = if t.latency.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: ms(t.latency.value_at_quantile(0.50)),
            p90: ms(t.latency.value_at_quantile(0.90)),
            p99: ms(t.latency.value_at_quantile(0.99)),
            max: ms(t.latency.max()),
        }
    };
    SendReport {
        mode: "send",
        protocol: s.protocol.as_str(),
        endpoint: s.endpoint.clone(),
        seed: s.seed,
        batch_size: s.batch_size,
        connections: s.connections,
        offered_rate: s.rate,
        duration_s: round(elapsed, 3),
        sent_spans: t.sent_spans,
        accepted_spans: t.accepted_spans,
        refused_spans: t.refused_spans,
        failed_spans: t.failed_spans,
        requests: t.requests,
        ok_requests: t.ok_requests,
        refused_requests: t.refused_requests,
        failed_requests: t.failed_requests,
        retried_requests: t.retried_requests,
        achieved_rate: if elapsed > 0.0 {
            round(t.accepted_spans as f64 / elapsed, 1)
        } else {
            0.0
        },
        latency_ms: latency,
        first_span_seq: u64::from(t.sent_spans > 0),
        last_span_seq: t.last_seq,
        errors: t.errors.clone(),
        loadgen_cpu_s: round(cpu, 3),
        request_bytes: shared
            .templates
            .first()
            .map_or(0, |t| t.encoded_len() as u64),
    }
}

async fn worker(shared: Arc<Shared>, mut client: Client) {
    let s = &shared.settings;
    // Shared schedule: request k is due at start + k * batch / rate, whichever connection takes
    // it; a connection that is late sends at once (MissedTickBehavior::Burst semantics).
    let interval =
        (s.rate > 0).then(|| Duration::from_secs_f64(s.batch_size as f64 / s.rate as f64));
    let mut rebuilt: Option<Template> = None;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        if let Some(interval) = interval {
            let k = shared.next_request.fetch_add(1, Ordering::Relaxed);
            let due = shared.start + interval.mul_f64(k as f64);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shared.stop.cancelled() => return,
            }
        }
        let Some((first_seq, n)) = shared.claim_spans() else {
            shared.stop.cancel();
            return;
        };
        let template = if n == s.batch_size {
            let variant = ((first_seq - 1) / s.batch_size) % shared.templates.len() as u64;
            &shared.templates[variant as usize]
        } else {
            // The short last request of a --max-spans run.
            let batch =
                crate::generator::Generator::new(s.seed, TEMPLATE_VARIANTS).batch(n as usize);
            rebuilt.insert(Template::new(&batch))
        };
        let first_trace = shared
            .next_trace
            .fetch_add(template.traces(), Ordering::Relaxed);
        let encoded = template.stamp(s.seed, first_seq, first_trace, now_ns());
        let body = client.prepare(encoded);
        {
            let mut t = shared.tally();
            t.requests += 1;
            t.sent_spans += n;
            t.last_seq = t.last_seq.max(first_seq + n - 1);
        }
        let (outcome, latency, retried) = send_with_retry(&shared, &mut client, body).await;
        let mut t = shared.tally();
        t.retried_requests += u64::from(retried);
        match outcome {
            Outcome::Accepted { rejected_spans } => {
                let rejected = rejected_spans.min(n);
                t.ok_requests += 1;
                t.accepted_spans += n - rejected;
                t.refused_spans += rejected;
                if rejected > 0 {
                    *t.errors.entry("partial_success".to_string()).or_default() += 1;
                }
                let us = latency.as_micros().max(1) as u64;
                t.latency.saturating_record(us);
            }
            Outcome::Refused(_) => {
                t.refused_requests += 1;
                t.refused_spans += n;
            }
            Outcome::Failed(_) => {
                t.failed_requests += 1;
                t.failed_spans += n;
            }
        }
    }
}

/// Sends `body` until accepted, or until `--retry-for` has passed since the first attempt.
/// Returns the final outcome, the latency of the last attempt and whether it was resent.
async fn send_with_retry(
    shared: &Shared,
    client: &mut Client,
    body: Bytes,
) -> (Outcome, Duration, bool) {
    let retry_for = shared.settings.retry_for;
    let first = Instant::now();
    let mut backoff = BACKOFF_MIN;
    let mut retried = false;
    loop {
        let t = Instant::now();
        let outcome = client.send(body.clone()).await;
        let latency = t.elapsed();
        let key = match &outcome {
            Outcome::Accepted { .. } => return (outcome, latency, retried),
            Outcome::Refused(k) | Outcome::Failed(k) => k,
        };
        shared.record_error(key);
        if retry_for.is_zero() || first.elapsed().saturating_add(backoff) > retry_for {
            return (outcome, latency, retried);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        retried = true;
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Ctrl-C and SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
