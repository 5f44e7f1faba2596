//! One OTLP span → one Datadog span (agent `OtelSpanToDDSpan`, V2 receiver). The order of the
//! steps matters: meta keys are "first writer wins", so span attributes beat the env/version
//! fallbacks, which beat resource attributes; scope attributes overwrite.

use crate::attributes::{copy_resource_meta, copy_scope_attributes, copy_span_attributes};
use crate::events_links::{hex_fixed, marshal_events, marshal_links};
use crate::model;
use crate::naming::{self, kind_name, kind_of};
use crate::registry::{self, Attrs, KeySet};
use crate::shared_meta::Sharing;
use crate::status::{is_error, status_code_name, status_to_error};
use crate::tracestate;
use crate::TranslateConfig;
use kakehashi_pdata::proto::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use kakehashi_pdata::proto::trace::v1::span::SpanKind;
use kakehashi_pdata::proto::trace::v1::Span;

/// The client's sampling rate of a span (`_sample_rate`).
pub const SAMPLE_RATE: &str = "_sample_rate";

/// Whether the first attribute named `key` holds a number (pcommon `Map.Get`, then its type).
fn has_numeric_attribute(attrs: &[KeyValue], key: &str) -> bool {
    matches!(
        registry::get(attrs, key).and_then(|v| v.value.as_ref()),
        Some(Value::IntValue(_) | Value::DoubleValue(_))
    )
}

/// Big-endian u64 of the last 8 bytes of a 16-byte trace id (short ids are zero-padded on the
/// right, like Go's fixed-size array).
pub fn trace_id_to_u64(id: &[u8]) -> u64 {
    let mut b = [0u8; 16];
    let n = id.len().min(16);
    b[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
}

/// Big-endian u64 of an 8-byte span id (empty ⇒ 0).
pub fn span_id_to_u64(id: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes(b)
}

/// Converts one span. `res` are the resource attributes with their key filter and
/// `res_meta` the same mapped to meta entries, both made once per resource; `scope` is the
/// instrumentation scope.
pub(crate) fn convert(
    otel: &Span,
    res: KeySet<'_>,
    res_meta: &mut Sharing,
    scope: Option<&InstrumentationScope>,
    cfg: &TranslateConfig,
) -> model::Span {
    let attrs = Attrs::with_resource(&otel.attributes, res);
    let kind = kind_of(otel.kind);
    let status = otel.status.as_ref();
    let scope_name = scope.map_or("", |s| s.name.as_str());
    let scope_version = scope.map_or("", |s| s.version.as_str());
    let top_level_by_kind = cfg.compute_top_level_by_span_kind;

    let (name, resource) = if cfg.uses_v2_naming() {
        (
            naming::operation_name_v2(otel.kind, attrs),
            naming::resource_v2(otel.kind, &otel.name, attrs),
        )
    } else {
        (
            naming::operation_name_v1(
                otel.kind,
                &otel.name,
                scope_name,
                attrs,
                cfg.span_name_as_resource_name,
                &cfg.span_name_remappings,
            )
            .into(),
            naming::resource_v1(&otel.name, attrs),
        )
    };
    let mut dd = model::Span {
        service: naming::service(attrs),
        name,
        resource,
        trace_id: trace_id_to_u64(&otel.trace_id),
        span_id: span_id_to_u64(&otel.span_id),
        parent_id: span_id_to_u64(&otel.parent_span_id),
        start: otel.start_time_unix_nano as i64,
        duration: (otel.end_time_unix_nano as i64).wrapping_sub(otel.start_time_unix_nano as i64),
        error: i32::from(is_error(status)),
        meta: model::map_with_capacity(otel.attributes.len() + res_meta.copied().len() + 8),
        // Numeric attributes become metrics, plus up to three of ours: sized once.
        metrics: model::map_with_capacity(
            otel.attributes
                .iter()
                .filter(|kv| {
                    matches!(
                        kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Value::IntValue(_) | Value::DoubleValue(_))
                    )
                })
                .count()
                + 3,
        ),
        r#type: naming::span_type(otel.kind, attrs),
    };

    dd.meta
        .insert("span.kind".into(), kind_name(otel.kind).into());
    if let Some(code) = attrs.int(registry::HTTP_STATUS_CODE) {
        if code >= 0 {
            dd.metrics.insert("http.status_code".into(), code as f64);
        }
    }
    // Before the span's own attributes, which cannot overwrite it (first writer wins); as
    // the agent, not normalized. The stats read it too (their gRPC status dimension).
    let grpc_status = attrs.guarded_str(registry::GRPC_STATUS_CODE);
    if !grpc_status.is_empty() {
        dd.meta
            .insert("rpc.grpc.status_code".into(), grpc_status.into());
    }
    if top_level_by_kind
        && (otel.parent_span_id.is_empty()
            || otel.parent_span_id.iter().all(|b| *b == 0)
            || matches!(kind, SpanKind::Server | SpanKind::Consumer))
    {
        dd.metrics.insert("_top_level".into(), 1.0);
    }
    if attrs.int(registry::DD_MEASURED) == Some(1)
        || (top_level_by_kind && matches!(kind, SpanKind::Client | SpanKind::Producer))
    {
        dd.metrics.insert("_dd.measured".into(), 1.0);
    }
    let stats_only = cfg.stats_only.as_deref();
    let whole = stats_only.is_none();
    if whole && !otel.trace_state.is_empty() {
        dd.meta
            .insert("w3c.tracestate".into(), otel.trace_state.as_str().into());
    }

    // The head-sampling rate a consistent probability sampler left in the tracestate, unless
    // the span states its own `_sample_rate` (copied as a metric below); the agent weighs the
    // trace's APM stats and its error sampler by it.
    if !otel.trace_state.is_empty() && !has_numeric_attribute(&otel.attributes, SAMPLE_RATE) {
        if let Some(p) = tracestate::sampling_probability(&otel.trace_state) {
            dd.metrics.insert(SAMPLE_RATE.into(), p);
        }
    }
    copy_span_attributes(&mut dd, &otel.attributes, stats_only);

    if whole {
        dd.meta
            .insert("otel.trace_id".into(), hex_fixed(&otel.trace_id, 16).into());
    }
    if !dd.meta.contains_key("version") {
        let version = attrs.str(registry::VERSION, true);
        if !version.is_empty() {
            dd.meta.insert("version".into(), version.into());
        }
    }
    if whole && !otel.events.is_empty() {
        dd.meta
            .insert("events".into(), marshal_events(&otel.events).into());
    }
    if whole && otel.events.iter().any(|e| e.name == "exception") {
        dd.meta.insert(
            model::Str::const_new("_dd.span_events.has_exception"),
            "true".into(),
        );
    }
    if whole && !otel.links.is_empty() {
        dd.meta
            .insert("_dd.span_links".into(), marshal_links(&otel.links).into());
    }
    // The scope under its current name and its old one (the agent's scope convention).
    if whole && !scope_name.is_empty() {
        dd.meta.insert("otel.scope.name".into(), scope_name.into());
        dd.meta
            .insert("otel.library.name".into(), scope_name.into());
    }
    if whole && !scope_version.is_empty() {
        dd.meta
            .insert("otel.scope.version".into(), scope_version.into());
        dd.meta
            .insert("otel.library.version".into(), scope_version.into());
    }
    if whole {
        dd.meta
            .insert("otel.status_code".into(), status_code_name(status).into());
        if let Some(s) = status.filter(|s| !s.message.is_empty()) {
            dd.meta
                .insert("otel.status_description".into(), s.message.as_str().into());
        }
    }
    if ["error.msg", "error.type", "error.stack"]
        .iter()
        .any(|k| !dd.meta.contains_key(*k))
    {
        dd.error = status_to_error(status, &mut dd.meta);
    }
    if !dd.meta.contains_key("env") {
        let env = attrs.str(registry::ENV, true);
        if !env.is_empty() {
            dd.meta.insert("env".into(), env.into());
        }
    }

    copy_resource_meta(&mut dd, res_meta.copied());
    res_meta.apply_to(&mut dd, &otel.attributes);
    if let Some(scope) = scope {
        copy_scope_attributes(&mut dd, &scope.attributes);
        for kv in &scope.attributes {
            res_meta.written(&kv.key);
        }
    }
    if !dd.meta.contains_key("db.name") {
        let ns = attrs.str(registry::DB_NAMESPACE, false);
        if !ns.is_empty() {
            dd.meta.insert("db.name".into(), ns.into());
        }
    }
    dd
}
