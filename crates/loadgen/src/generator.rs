//! Realistic OTLP trace batches.
//!
//! A batch is generated once per *template*: a few services (HTTP server and client spans, DB
//! spans, messaging and internal spans, 10–30 attributes each, ~5% errors with an `exception`
//! event, ~10% of spans with an event), grouped by resource and scope the way an SDK would send
//! them. The template is encoded once; [`crate::template`] then re-stamps ids and timestamps in
//! the encoded bytes for every request, so the per-request cost is a `memcpy` plus a few patches.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

mod catalog;
mod spans;

use catalog::*;

/// Fewest attributes a generated span carries.
pub const MIN_ATTRIBUTES: usize = 10;
/// Most attributes a generated span carries.
pub const MAX_ATTRIBUTES: usize = 30;
/// Fewest spans in a generated trace (the last trace of a batch may be shorter).
pub const MIN_TRACE_SPANS: usize = 3;
/// Most spans in a generated trace.
pub const MAX_TRACE_SPANS: usize = 8;
/// Share of spans with an ERROR status (each carries an `exception` event).
pub const ERROR_RATE: f64 = 0.05;
/// Share of non-error spans carrying an ordinary event.
pub const EVENT_RATE: f64 = 0.05;

/// One generated span before encoding: the span itself (ids are placeholders), where it lives and
/// how it relates to the other spans of the batch.
#[derive(Debug, Clone)]
pub struct DraftSpan {
    pub service: usize,
    pub scope: (&'static str, &'static str),
    /// Index of the parent in the batch's draft list.
    pub parent: Option<usize>,
    /// Index of the trace within the batch (0-based).
    pub trace: u32,
    /// Start relative to "now" (negative: spans have already ended when sent).
    pub start_offset_ns: i64,
    pub duration_ns: u64,
    /// Event time relative to the span start.
    pub event_offset_ns: Option<u64>,
    pub span: Span,
}

/// A generated batch: the message with placeholder ids, plus the drafts' relations.
#[derive(Debug, Clone)]
pub struct DraftBatch {
    /// `span_id` of each span is `draft index + 1` (big endian), `trace_id` is `trace + 1`;
    /// timestamps are relative offsets shifted by [`PLACEHOLDER_NOW_NS`].
    pub request: ExportTraceServiceRequest,
    pub drafts: Vec<DraftSpan>,
    pub traces: u32,
}

/// The "now" used for the placeholder timestamps of an unstamped template.
pub const PLACEHOLDER_NOW_NS: u64 = 1_700_000_000_000_000_000;

/// Builds draft batches; deterministic for a given seed and variant.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    region: (&'static str, &'static str),
    pod_suffixes: Vec<String>,
}

impl Generator {
    /// A generator whose output depends only on `seed` and `variant`.
    pub fn new(seed: u64, variant: u64) -> Self {
        let rng = StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(variant.wrapping_add(1))));
        // The deployment (pods, region) depends on the seed only, so every variant of a run
        // describes the same fleet.
        let mut fleet = StdRng::seed_from_u64(splitmix64(seed));
        let region = *REGIONS.choose(&mut fleet).expect("non-empty");
        let pod_suffixes = SERVICES
            .iter()
            .map(|_| {
                format!(
                    "{:08x}-{:05x}",
                    fleet.random::<u32>(),
                    fleet.random_range(0..0xfffffu32)
                )
            })
            .collect();
        Generator {
            rng,
            region,
            pod_suffixes,
        }
    }

    /// A batch of exactly `spans` spans (traces of 3–8 spans; the last one may be shorter).
    pub fn batch(&mut self, spans: usize) -> DraftBatch {
        let mut drafts: Vec<DraftSpan> = Vec::with_capacity(spans);
        let mut trace = 0u32;
        while drafts.len() < spans {
            let want = self.rng.random_range(MIN_TRACE_SPANS..=MAX_TRACE_SPANS);
            let size = want.min(spans - drafts.len());
            self.trace(trace, size, &mut drafts);
            trace += 1;
        }
        // Placeholder ids identify each draft in the encoded bytes (see `template`).
        for (i, d) in drafts.iter_mut().enumerate() {
            d.span.span_id = (i as u64 + 1).to_be_bytes().to_vec();
            d.span.trace_id = u128::from(d.trace + 1).to_be_bytes().to_vec();
            let start = PLACEHOLDER_NOW_NS.wrapping_add_signed(d.start_offset_ns);
            d.span.start_time_unix_nano = start;
            d.span.end_time_unix_nano = start + d.duration_ns;
            if let (Some(off), Some(ev)) = (d.event_offset_ns, d.span.events.first_mut()) {
                ev.time_unix_nano = start + off;
            }
        }
        let parents: Vec<Option<usize>> = drafts.iter().map(|d| d.parent).collect();
        for (i, p) in parents.iter().enumerate() {
            if let Some(p) = p {
                drafts[i].span.parent_span_id = (*p as u64 + 1).to_be_bytes().to_vec();
            }
        }
        let request = self.group(&drafts);
        DraftBatch {
            request,
            drafts,
            traces: trace,
        }
    }

    fn group(&self, drafts: &[DraftSpan]) -> ExportTraceServiceRequest {
        let mut by_service: BTreeMap<usize, BTreeMap<(&str, &str), Vec<Span>>> = BTreeMap::new();
        for d in drafts {
            by_service
                .entry(d.service)
                .or_default()
                .entry(d.scope)
                .or_default()
                .push(d.span.clone());
        }
        let resource_spans = by_service
            .into_iter()
            .map(|(service, scopes)| ResourceSpans {
                resource: Some(self.resource(service)),
                scope_spans: scopes
                    .into_iter()
                    .map(|((name, version), spans)| ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: name.to_string(),
                            version: version.to_string(),
                            ..Default::default()
                        }),
                        spans,
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: "https://opentelemetry.io/schemas/1.34.0".to_string(),
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    fn resource(&self, service: usize) -> Resource {
        let s = &SERVICES[service];
        let pod = format!("{}-{}", s.name, self.pod_suffixes[service]);
        let node = format!(
            "ip-10-0-{}-{}.{}.compute.internal",
            service + 1,
            17 * service + 3,
            self.region.0
        );
        let attributes = vec![
            kv_str("service.name", s.name),
            kv_str("service.version", s.version),
            kv_str("service.namespace", "shop"),
            kv_str("service.instance.id", &pod),
            kv_str("deployment.environment.name", "production"),
            kv_str("host.name", &node),
            kv_str("host.arch", "amd64"),
            kv_str("os.type", "linux"),
            kv_str("k8s.pod.name", &pod),
            kv_str("k8s.namespace.name", "shop"),
            kv_str("k8s.deployment.name", s.name),
            kv_str("k8s.node.name", &node),
            kv_str("k8s.cluster.name", "prod-1"),
            kv_str("cloud.provider", "aws"),
            kv_str("cloud.platform", "aws_eks"),
            kv_str("cloud.region", self.region.0),
            kv_str("cloud.availability_zone", self.region.1),
            kv_str("telemetry.sdk.name", "opentelemetry"),
            kv_str("telemetry.sdk.language", s.lang.sdk_language),
            kv_str("telemetry.sdk.version", s.lang.sdk_version),
            kv_int("process.pid", 1),
        ];
        Resource {
            attributes,
            ..Default::default()
        }
    }

    /// Appends one trace of `size` spans to `out`.
    fn trace(&mut self, trace: u32, size: usize, out: &mut Vec<DraftSpan>) {
        let first = out.len();
        let entry = if self.rng.random_bool(0.7) {
            0
        } else {
            self.rng.random_range(1..SERVICES.len())
        };
        let duration = self.log_uniform(5_000_000, 400_000_000);
        let end_gap = self.rng.random_range(1_000_000..50_000_000u64);
        let start = -((duration + end_gap) as i64);
        let root = self.server_span(entry, trace, None, start, duration);
        out.push(root);
        // Spans that can have children: servers, internals (and consumers).
        let mut containers = vec![first];
        while out.len() - first < size {
            let parent = *containers.choose(&mut self.rng).expect("non-empty");
            let (p_service, p_start, p_dur) = {
                let p = &out[parent];
                (p.service, p.start_offset_ns, p.duration_ns)
            };
            let c_start = p_start + self.rng.random_range(0..=p_dur * 6 / 10) as i64;
            let room = (p_start + p_dur as i64 - c_start).max(2_000) as u64;
            let c_dur = self.rng.random_range(room / 20 + 1..=room);
            let left = size - (out.len() - first);
            let pick = self.rng.random_range(0..100);
            if left >= 2 && pick < 35 {
                let callee =
                    (p_service + self.rng.random_range(1..SERVICES.len())) % SERVICES.len();
                let client = self.client_span(p_service, callee, trace, parent, c_start, c_dur);
                let client_index = out.len();
                out.push(client);
                let skew = (c_dur / 20).clamp(1, 500_000);
                let server = self.server_span(
                    callee,
                    trace,
                    Some(client_index),
                    c_start + skew as i64,
                    c_dur.saturating_sub(2 * skew).max(1_000),
                );
                containers.push(out.len());
                out.push(server);
            } else if pick < 70 {
                out.push(self.db_span(p_service, trace, parent, c_start, c_dur));
            } else if pick < 88 {
                containers.push(out.len());
                out.push(self.internal_span(p_service, trace, parent, c_start, c_dur));
            } else {
                out.push(self.producer_span(
                    p_service,
                    trace,
                    parent,
                    c_start,
                    c_dur.min(5_000_000),
                ));
            }
        }
    }

    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let x: f64 = self.rng.random_range((lo as f64).ln()..(hi as f64).ln());
        x.exp() as u64
    }

    #[allow(clippy::too_many_arguments)]
    fn draft(
        &mut self,
        service: usize,
        scope: (&'static str, &'static str),
        trace: u32,
        parent: Option<usize>,
        start: i64,
        duration: u64,
        name: String,
        kind: SpanKind,
        mut attributes: Vec<KeyValue>,
        error: Option<(&'static str, String)>,
    ) -> DraftSpan {
        self.fill_attributes(&mut attributes);
        let mut span = Span {
            name,
            kind: kind as i32,
            attributes,
            // W3C "sampled" plus the OTLP has-is-remote bit (and is-remote for server spans whose
            // parent lives in another process).
            flags: if kind == SpanKind::Server && parent.is_some() {
                0x301
            } else {
                0x101
            },
            ..Default::default()
        };
        let mut event_offset_ns = None;
        if let Some((exception_type, message)) = error {
            span.status = Some(Status {
                message: message.clone(),
                code: StatusCode::Error as i32,
            });
            span.events.push(exception_event(
                exception_type,
                &message,
                SERVICES[service].lang,
            ));
            event_offset_ns = Some(duration * 9 / 10);
        } else if self.rng.random_bool(EVENT_RATE) {
            span.events.push(self.plain_event(kind));
            event_offset_ns = Some(self.rng.random_range(0..=duration));
        }
        DraftSpan {
            service,
            scope,
            parent,
            trace,
            start_offset_ns: start,
            duration_ns: duration,
            event_offset_ns,
            span,
        }
    }

    /// Tops `attrs` up with application attributes to a random count in 10..=30.
    fn fill_attributes(&mut self, attrs: &mut Vec<KeyValue>) {
        let target = self
            .rng
            .random_range(MIN_ATTRIBUTES..=MAX_ATTRIBUTES)
            .max(attrs.len());
        let mut extras: Vec<usize> = (0..EXTRA_KEYS).collect();
        extras.shuffle(&mut self.rng);
        for i in extras {
            if attrs.len() >= target {
                break;
            }
            attrs.push(self.extra_attribute(i));
        }
    }

    fn extra_attribute(&mut self, i: usize) -> KeyValue {
        let r = &mut self.rng;
        match i {
            0 => kv_int("thread.id", r.random_range(1..200)),
            1 => kv_str("thread.name", &format!("worker-{}", r.random_range(1..32))),
            2 => kv_str(
                "enduser.id",
                &format!("user-{}", r.random_range(1000..99999)),
            ),
            3 => kv_str("session.id", &format!("{:016x}", r.random::<u64>())),
            4 => kv_str(
                "app.tenant.id",
                pick(r, &["acme", "globex", "initech", "umbrella"]),
            ),
            5 => kv_str("app.request.id", &format!("{:032x}", r.random::<u128>())),
            6 => kv_bool("app.feature_flag.new_checkout", r.random_bool(0.5)),
            7 => kv_bool("app.cache.hit", r.random_bool(0.7)),
            8 => kv_int("app.items.count", r.random_range(1..12)),
            9 => kv_double(
                "app.order.amount",
                f64::from(r.random_range(100..50_000u32)) / 100.0,
            ),
            10 => kv_str("app.currency", pick(r, &["EUR", "USD", "JPY", "GBP"])),
            11 => kv_str("app.user.tier", pick(r, &["free", "plus", "enterprise"])),
            12 => kv_str("app.release.channel", "stable"),
            13 => kv_int("app.retry.count", r.random_range(0..3)),
            14 => kv_str("app.build.sha", &format!("{:040x}", r.random::<u128>())),
            15 => kv_int("app.queue.depth", r.random_range(0..500)),
            16 => kv_int("app.payload.bytes", r.random_range(64..65536)),
            17 => kv_str("app.experiment.variant", pick(r, &["control", "b", "c"])),
            18 => kv_int("app.shard", r.random_range(0..64)),
            19 => kv_str("app.locale", pick(r, &["en-US", "de-DE", "ja-JP", "fr-FR"])),
            20 => kv_str("app.product.id", "OLJCESPC7Z"),
            21 => kv_str(
                "app.order.id",
                &format!("ord-{}", r.random_range(10_000..999_999)),
            ),
            22 => kv_double("app.latency.budget_ms", 250.0),
            23 => kv_str("app.payment.method", pick(r, &["card", "paypal", "sepa"])),
            24 => kv_bool("app.synthetic", false),
            _ => kv_str("app.component", "shop"),
        }
    }
}

const EXTRA_KEYS: usize = 26;

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
