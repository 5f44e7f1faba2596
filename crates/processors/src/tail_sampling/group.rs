//! Splitting a request into one request per trace, as otelcol's `groupSpansByTraceKey` and
//! `appendToTraces` do: each trace's part keeps its spans' resource and scope, one
//! `ResourceSpans` per incoming `ResourceSpans` and one `ScopeSpans` per incoming scope.

use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans};
use kakehashi_pdata::ExportTraceServiceRequest;
use std::collections::HashMap;

/// A trace id as the processor keys traces (16 bytes; a malformed one is its bytes, padded).
pub type TraceId = [u8; 16];

/// The id of a span's trace; shorter ids are zero-padded and longer ones cut, so that every
/// span lands in some trace (otelcol keys by pdata's fixed 16-byte id the same way).
pub fn trace_id(bytes: &[u8]) -> TraceId {
    let mut id = [0u8; 16];
    let n = bytes.len().min(16);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

/// The request's spans grouped by trace, in order of each trace's first span. Resources and
/// scopes are copied once per trace that has spans under them.
pub fn by_trace(req: ExportTraceServiceRequest) -> Vec<(TraceId, Vec<ResourceSpans>)> {
    let mut order: Vec<(TraceId, Vec<ResourceSpans>)> = Vec::new();
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    for rs in req.resource_spans {
        // Where this resource's copy sits in each trace's list (traces seen under it).
        let mut in_trace: HashMap<usize, usize> = HashMap::new();
        for ss in rs.scope_spans {
            // Where this scope's copy sits, per trace.
            let mut scope_in_trace: HashMap<usize, usize> = HashMap::new();
            for span in ss.spans {
                let id = trace_id(&span.trace_id);
                let t = *index.entry(id).or_insert_with(|| {
                    order.push((id, Vec::new()));
                    order.len() - 1
                });
                let list = &mut order[t].1;
                let r = *in_trace.entry(t).or_insert_with(|| {
                    list.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                    list.len() - 1
                });
                let scopes = &mut list[r].scope_spans;
                let s = *scope_in_trace.entry(t).or_insert_with(|| {
                    scopes.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                    scopes.len() - 1
                });
                scopes[s].spans.push(span);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::common::v1::InstrumentationScope;
    use kakehashi_pdata::proto::resource::v1::Resource;
    use kakehashi_pdata::proto::trace::v1::Span;

    fn span(tid: u8, sid: u8) -> Span {
        Span {
            trace_id: vec![tid; 16],
            span_id: vec![sid; 8],
            ..Default::default()
        }
    }

    fn scope(name: &str, spans: Vec<Span>) -> ScopeSpans {
        ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }
    }

    #[test]
    fn spans_are_grouped_by_trace_under_copies_of_their_resource_and_scope() {
        let res = |n: u32| {
            Some(Resource {
                dropped_attributes_count: n,
                ..Default::default()
            })
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: res(1),
                    scope_spans: vec![
                        scope("a", vec![span(1, 1), span(2, 2), span(1, 3)]),
                        scope("b", vec![span(2, 4)]),
                    ],
                    schema_url: String::new(),
                },
                ResourceSpans {
                    resource: res(2),
                    scope_spans: vec![scope("c", vec![span(1, 5)])],
                    schema_url: String::new(),
                },
            ],
        };
        let got = by_trace(req);
        assert_eq!(got.len(), 2);
        let (id1, t1) = &got[0];
        assert_eq!(*id1, [1; 16]);
        assert_eq!(t1.len(), 2, "two resources");
        assert_eq!(t1[0].resource, res(1));
        assert_eq!(t1[0].scope_spans.len(), 1);
        let ids = |ss: &ScopeSpans| ss.spans.iter().map(|s| s.span_id[0]).collect::<Vec<_>>();
        assert_eq!(ids(&t1[0].scope_spans[0]), vec![1, 3]);
        assert_eq!(t1[1].resource, res(2));
        assert_eq!(ids(&t1[1].scope_spans[0]), vec![5]);
        let (id2, t2) = &got[1];
        assert_eq!(*id2, [2; 16]);
        assert_eq!(t2.len(), 1);
        assert_eq!(t2[0].scope_spans.len(), 2, "scopes a and b");
        assert_eq!(ids(&t2[0].scope_spans[0]), vec![2]);
        assert_eq!(ids(&t2[0].scope_spans[1]), vec![4]);
    }

    #[test]
    fn short_and_long_ids_are_padded_or_cut() {
        assert_eq!(trace_id(&[7]), {
            let mut id = [0; 16];
            id[0] = 7;
            id
        });
        assert_eq!(trace_id(&[9; 20]), [9; 16]);
    }
}
