//! Helpers shared by the integration tests.

use kakehashi_datadog_translate::{pb, Translation};

/// The payloads (kept, then sampled out) with every span's meta complete, as Go builds them.
pub fn full(t: &Translation) -> Vec<pb::TracerPayload> {
    t.tracer_payloads
        .iter()
        .chain(&t.sampled_out)
        .map(|tp| tp.to_full().into())
        .collect()
}
