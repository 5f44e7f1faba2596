//! The ECS task metadata endpoint, as the ECS agent announces it to every container.

use crate::Env;

/// The endpoint from the environment (v4 before v3), as otelcol accepts it: an absolute URI
/// (or path). `None` outside ECS.
pub fn endpoint(env: Env<'_>) -> Option<String> {
    [
        "ECS_CONTAINER_METADATA_URI_V4",
        "ECS_CONTAINER_METADATA_URI",
    ]
    .into_iter()
    .filter_map(env)
    .map(|v| v.trim().to_string())
    .find(|v| v.contains("://") || v.starts_with('/'))
}
