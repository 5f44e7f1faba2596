//! Sharing resource attributes between a payload's spans must not change a single span: for
//! generated requests whose resources, spans and scopes use the same keys in every combination
//! (keys the agent steps read by name, repeated keys, empty values, oversized keys and values,
//! more attributes than can be shared), the translation with sharing, completed with
//! `TranslatedPayload::to_full`, equals the translation that copies the resource into each span
//! as Go does.

mod common;
#[path = "common/generate.rs"]
mod generate;

use common::full;
use generate::{request, Rng};
use kakehashi_datadog_translate::{translate_at, TranslateConfig};

const NOW: i64 = 1_700_000_000_000_000_000;

#[test]
fn sharing_resource_attributes_changes_no_span() {
    // The configurations that change which steps run: V2 and V1 naming, top-level spans by
    // kind, a resource filter.
    let configs: Vec<TranslateConfig> = (0..4)
        .map(|mode| TranslateConfig {
            fallback_hostname: "fallback".into(),
            span_name_as_resource_name: mode == 1,
            compute_top_level_by_span_kind: mode == 2,
            ignore_resources: if mode == 3 {
                vec![regex::Regex::new("^op1").unwrap()]
            } else {
                Vec::new()
            },
            ..TranslateConfig::default()
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut shared_entries, mut spans) = (0usize, 0usize);
    for case in 0..800 {
        let req = request(&mut rng);
        let shared_cfg = &configs[case % configs.len()];
        let copied_cfg = &TranslateConfig {
            share_resource_meta: false,
            ..shared_cfg.clone()
        };
        let shared = translate_at(&req, shared_cfg, NOW);
        let copied = translate_at(&req, copied_cfg, NOW);
        assert!(copied
            .tracer_payloads
            .iter()
            .chain(&copied.sampled_out)
            .all(|tp| tp.shared.is_empty()));
        assert_eq!(full(&shared), full(&copied), "case {case}: {req:?}");
        assert_eq!(shared.dropped, copied.dropped, "case {case}");
        for tp in shared.tracer_payloads.iter().chain(&shared.sampled_out) {
            let n = tp
                .payload
                .chunks
                .iter()
                .map(|c| c.spans.len())
                .sum::<usize>();
            spans += n;
            shared_entries += n * tp.shared.entries().len();
            // No span holds a shared key itself.
            for s in tp.payload.chunks.iter().flat_map(|c| &c.spans) {
                for (k, _) in tp.shared.entries() {
                    assert!(!s.meta.contains_key(k), "case {case}: {k} in a span");
                }
            }
        }
    }
    // The generator must exercise sharing, not only the copies.
    assert!(
        shared_entries > spans,
        "{shared_entries} shared entries over {spans} spans"
    );
}
