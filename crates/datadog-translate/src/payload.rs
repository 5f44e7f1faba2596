//! One ResourceSpans → one TracerPayload, as the OTLP receiver builds it (V2 path, §1.4):
//! spans grouped into chunks by 64-bit trace id, chunk priority and `_dd.p.dm`, and the
//! resource-derived payload fields (hostname, env, container id and tags, language).

use crate::attributes::{resource_meta, SAMPLING_PRIORITY_KEY};
use crate::container_tags::{container_tags, flatten, CONTAINER_TAGS_KEY};
use crate::hostname::{source_from_attributes, Source};
use crate::model;
use crate::normalize::normalize_tag_value;
use crate::registry::{first_as_string, KeySet};
use crate::shared_meta::{SharedMeta, Sharing};
use crate::span::{convert, trace_id_to_u64};
use crate::TranslateConfig;
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use std::collections::HashMap;

/// The payload, the resource meta its spans share, and the hostname the receiver reported for
/// it ("" for Fargate).
pub(crate) struct Received {
    pub payload: model::TracerPayload,
    pub shared: SharedMeta,
    pub hostname: String,
    /// What the resource attributes identified (`None`: the fallback hostname was used).
    pub source: Option<Source>,
}

/// `AutoKeep`: the receiver's decision with a 100% probabilistic rate.
const PRIORITY_AUTO_KEEP: i32 = 1;

pub(crate) fn receive(rs: &ResourceSpans, cfg: &TranslateConfig) -> Received {
    let res: &[_] = rs
        .resource
        .as_ref()
        .map_or(&[], |r| r.attributes.as_slice());

    // Chunks in order of first appearance of their trace id. (Go groups them in a map, so its
    // chunk order is random; a stable order makes payloads reproducible.)
    let mut index = model::IdMap::<usize>::default();
    let mut chunks: Vec<(Vec<model::Span>, Option<i32>)> = Vec::new();
    let mut res_meta = Sharing::new(resource_meta(res), cfg.shares_resource_meta());
    let res_keys = KeySet::new(res);
    for ss in &rs.scope_spans {
        for otel in &ss.spans {
            let trace_id = trace_id_to_u64(&otel.trace_id);
            let i = *index.entry(trace_id).or_insert_with(|| {
                chunks.push((Vec::new(), None));
                chunks.len() - 1
            });
            let dd = convert(otel, res_keys, &mut res_meta, ss.scope.as_ref(), cfg);
            if let Some(p) = dd.metrics.get(SAMPLING_PRIORITY_KEY) {
                // Go stores it as a SamplingPriority (int8).
                chunks[i].1 = Some(*p as i64 as i8 as i32);
            }
            chunks[i].0.push(dd);
        }
    }
    let shared = res_meta.finish(chunks.iter_mut().flat_map(|(spans, _)| spans.iter_mut()));
    let chunks = chunks
        .into_iter()
        .map(|(mut spans, user_priority)| {
            let priority = user_priority.unwrap_or(PRIORITY_AUTO_KEEP);
            if priority > 0 {
                let mechanism = if user_priority.is_some() { "-4" } else { "-9" };
                spans[0].meta.insert("_dd.p.dm".into(), mechanism.into());
            }
            model::TraceChunk {
                priority,
                origin: String::new(),
                spans,
                tags: HashMap::from([("_dd.otlp_sr".to_string(), "1.00".to_string())]),
                dropped_trace: false,
            }
        })
        .collect();

    let source = source_from_attributes(res);
    let (hostname, fargate_tag) = match &source {
        Some(Source::Hostname(h)) => (h.clone(), None),
        Some(Source::Fargate(arn)) => (String::new(), Some(format!("task_arn:{arn}"))),
        None => (cfg.fallback_hostname.clone(), None),
    };
    let mut tags = HashMap::new();
    let ctags = flatten(&container_tags(res), fargate_tag.as_deref());
    if !ctags.is_empty() {
        tags.insert(CONTAINER_TAGS_KEY.to_string(), ctags);
    }
    let norm = |keys: &[&str]| normalize_tag_value(&first_as_string(res, keys));
    let payload = model::TracerPayload {
        container_id: norm(&["container.id", "k8s.pod.uid"]),
        language_name: norm(&["telemetry.sdk.language"]),
        tracer_version: format!("otlp-{}", norm(&["telemetry.sdk.version"])),
        chunks,
        tags,
        env: norm(&["deployment.environment.name", "deployment.environment"]),
        hostname: hostname.clone(),
        ..Default::default()
    };
    Received {
        payload,
        shared,
        hostname,
        source,
    }
}
