//! APM stats of traces sampled by their client: each span weighs 1/rate, as the agent's
//! concentrator weighs it.

use super::*;

/// A trace sampled by its client at r counts 1/r per span, as the agent's concentrator
/// weighs it (hits, errors, top-level hits, duration; not the latency sketches), apart from
/// the unweighted traces of the same group.
#[test]
fn client_sampled_traces_weigh_one_over_their_rate() {
    let mut agg = StatsAggregator::new(settings());
    let mut root = span("web", "http.request", Kind::TopLevel, 100, true);
    root.span_id = 1;
    root.parent_id = 0;
    root.metrics.insert(SAMPLE_RATE_KEY.to_string(), 0.25);
    let mut sampled = tracer_payload("prod", "", vec![root]);
    // A second chunk of the same payload, not sampled by its client.
    let mut plain_root = span("web", "http.request", Kind::TopLevel, 300, false);
    plain_root.trace_id = 2;
    plain_root.parent_id = 0;
    sampled.chunks.push(pb::TraceChunk {
        priority: 1,
        spans: vec![plain_root],
        ..Default::default()
    });
    agg.add_pb(&sampled, t0());
    let out = agg.flush(t0(), true);
    let groups: Vec<_> = out.iter().flat_map(grouped).collect();
    assert_eq!(groups.len(), 2, "one entry per weight: {groups:?}");
    let weighted = groups.iter().find(|g| g.errors > 0).unwrap();
    assert_eq!(
        (
            weighted.hits,
            weighted.errors,
            weighted.top_level_hits,
            weighted.duration
        ),
        (4, 4, 4, 400)
    );
    assert_eq!(
        sketch_count(&weighted.error_summary),
        1.0,
        "sketches unweighted"
    );
    let plain = groups.iter().find(|g| g.errors == 0).unwrap();
    assert_eq!((plain.hits, plain.duration), (1, 300));
    // A weight with a fraction rounds to either neighbour, right on average.
    let mut total = 0;
    for _ in 0..400 {
        let mut agg = StatsAggregator::new(settings());
        let mut root = span("web", "http.request", Kind::TopLevel, 100, false);
        root.parent_id = 0;
        root.metrics.insert(SAMPLE_RATE_KEY.to_string(), 0.4);
        agg.add_pb(&tracer_payload("prod", "", vec![root]), t0());
        let hits = grouped(&agg.flush(t0(), true)[0])[0].hits;
        assert!(
            hits == 2 || hits == 3,
            "1/0.4 = 2.5 gives 2 or 3, not {hits}"
        );
        total += hits;
    }
    assert!((900..=1100).contains(&total), "400 × 2.5 ≈ {total}");
    // A tiny rate saturates the counts instead of wrapping them.
    let mut agg = StatsAggregator::new(settings());
    for id in 0..5 {
        let mut root = span("web", "http.request", Kind::TopLevel, 100, false);
        root.trace_id = id + 10;
        root.parent_id = 0;
        root.metrics
            .insert(SAMPLE_RATE_KEY.to_string(), 2f64.powi(-62));
        agg.add_pb(&tracer_payload("prod", "", vec![root]), t0());
    }
    let g = grouped(&agg.flush(t0(), true)[0])[0].clone();
    assert_eq!((g.hits, g.duration), (u64::MAX, u64::MAX));
    // Rates outside (0, 1] weigh 1.
    for rate in [0.0, 1.5, -1.0] {
        let mut agg = StatsAggregator::new(settings());
        let mut root = span("web", "http.request", Kind::TopLevel, 100, false);
        root.parent_id = 0;
        root.metrics.insert(SAMPLE_RATE_KEY.to_string(), rate);
        agg.add_pb(&tracer_payload("prod", "", vec![root]), t0());
        let out = agg.flush(t0(), true);
        assert_eq!(grouped(&out[0])[0].hits, 1, "rate {rate}");
    }
}
