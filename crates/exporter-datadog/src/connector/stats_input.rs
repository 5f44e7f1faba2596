//! Which translated spans the connector's stats see, and how they are marked: Go's connector
//! feeds its concentrator differently from the exporter's embedded agent
//! (`OTLPTracesToConcentratorInputsWithObfuscation` against the agent's per-chunk processing):
//!
//! * top-level is decided across the whole request, not per ResourceSpans: a span whose parent
//!   is anywhere in the request with the same service is not top-level (`GetTopLevelOTelSpans`,
//!   span ids indexed request-wide). With `compute_top_level_by_span_kind` both paths use the
//!   span kinds, already applied by the translation;
//! * `ignore_resources` leaves out each span whose resource is exactly one of the entries,
//!   not the whole trace of a root matching a regular expression.

use kakehashi_datadog_translate::model::IdMap;
use kakehashi_datadog_translate::{TranslatedPayload, Translation};

/// Applies both rules to everything the translation produced (kept and sampled out alike).
pub(crate) fn prepare(t: &mut Translation, ignore_resources: &[String], top_level_by_kind: bool) {
    let payloads = || t.tracer_payloads.iter().chain(&t.sampled_out);
    if !top_level_by_kind {
        let service_by_id: IdMap<String> = payloads()
            .flat_map(spans)
            .map(|s| (s.span_id, s.service.to_string()))
            .collect();
        for p in t.tracer_payloads.iter_mut().chain(&mut t.sampled_out) {
            for s in p.payload.chunks.iter_mut().flat_map(|c| &mut c.spans) {
                let top = s.parent_id == 0
                    || service_by_id
                        .get(&s.parent_id)
                        .is_none_or(|parent| parent.as_str() != s.service.as_str());
                if top {
                    s.metrics.insert("_top_level".into(), 1.0);
                } else {
                    s.metrics.remove("_top_level");
                }
            }
        }
    }
    if !ignore_resources.is_empty() {
        for p in t.tracer_payloads.iter_mut().chain(&mut t.sampled_out) {
            for c in &mut p.payload.chunks {
                c.spans
                    .retain(|s| !ignore_resources.iter().any(|r| *r == s.resource.as_str()));
            }
        }
    }
}

fn spans(p: &TranslatedPayload) -> impl Iterator<Item = &kakehashi_datadog_translate::model::Span> {
    p.payload.chunks.iter().flat_map(|c| &c.spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_datadog_translate::model;

    fn dd_span(id: u64, parent: u64, service: &str) -> model::Span {
        model::Span {
            trace_id: 1,
            span_id: id,
            parent_id: parent,
            service: service.into(),
            ..Default::default()
        }
    }

    fn translation(payloads: Vec<Vec<model::Span>>) -> Translation {
        Translation {
            tracer_payloads: payloads
                .into_iter()
                .map(|spans| {
                    model::TracerPayload {
                        chunks: vec![model::TraceChunk {
                            spans,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }
                    .into()
                })
                .collect(),
            sampled_out: Vec::new(),
            dropped: Default::default(),
            languages: Default::default(),
            hosts: Default::default(),
            attribute_hosts: Default::default(),
            fargate_tasks: Default::default(),
        }
    }

    fn top_level(t: &Translation) -> Vec<(u64, bool)> {
        t.tracer_payloads
            .iter()
            .flat_map(spans)
            .map(|s| (s.span_id, s.has_top_level()))
            .collect()
    }

    #[test]
    fn a_parent_in_another_resource_of_the_request_counts() {
        // Span 2's parent 1 (same service) arrived in another ResourceSpans, as after a batch
        // processor joined two SDK exports; the agent path marked it top-level in its chunk.
        let mut child = dd_span(2, 1, "web");
        child.metrics.insert("_top_level".into(), 1.0);
        let mut t = translation(vec![
            vec![dd_span(1, 0, "web"), dd_span(3, 1, "db")],
            vec![child, dd_span(4, 99, "web")],
        ]);
        prepare(&mut t, &[], false);
        assert_eq!(
            top_level(&t),
            vec![(1, true), (3, true), (2, false), (4, true)]
        );
        // By span kind, the translation's marks stand.
        let mut t = translation(vec![vec![dd_span(2, 1, "web")]]);
        t.tracer_payloads[0].payload.chunks[0].spans[0]
            .metrics
            .insert("_top_level".into(), 1.0);
        prepare(&mut t, &[], true);
        assert_eq!(top_level(&t), vec![(2, true)]);
    }

    #[test]
    fn ignored_resources_drop_only_their_spans_and_only_exactly() {
        let mut spans = vec![
            dd_span(1, 0, "web"),
            dd_span(2, 1, "web"),
            dd_span(3, 1, "web"),
        ];
        spans[0].resource = "GET /health".into();
        spans[1].resource = "SELECT 1".into();
        spans[2].resource = "GET /healthz".into();
        let mut t = translation(vec![spans]);
        prepare(&mut t, &["GET /health".to_string()], false);
        let left: Vec<u64> = t.tracer_payloads.iter().flat_map(spans_of).collect();
        assert_eq!(left, vec![2, 3]);
        // The child of the ignored root stays a child: the index includes ignored spans.
        assert!(!t.tracer_payloads[0].payload.chunks[0].spans[0].has_top_level());
    }

    fn spans_of(p: &TranslatedPayload) -> Vec<u64> {
        spans(p).map(|s| s.span_id).collect()
    }
}
