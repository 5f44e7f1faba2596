//! Azure's Instance Metadata Service: the compute document, asked as otelcol's Azure clients
//! ask it (`Metadata: true`; the API version otelcol pins).

use crate::{non_empty, Env};

/// Overrides the IMDS address (Go's client has it hard-coded): for tests, and for proxies in
/// front of IMDS.
pub const ENDPOINT_VAR: &str = "KAKEHASHI_AZURE_METADATA_ENDPOINT";
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
pub const COMPUTE_PATH: &str = "/metadata/instance/compute?api-version=2020-09-01&format=json";
pub const HEADERS: [(&str, &str); 1] = [("Metadata", "true")];

/// The service's base URL.
pub fn endpoint(env: Env<'_>) -> String {
    non_empty(env, ENDPOINT_VAR).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// The compute document's URL at `endpoint`.
pub fn compute_url(endpoint: &str) -> String {
    format!("{}{COMPUTE_PATH}", endpoint.trim_end_matches('/'))
}

/// The value of `key` in a JSON object, compared without case (Go's `encoding/json` matches
/// `vmId` to a field tagged `vmID`), when it is a string.
pub fn field(obj: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
        .to_string()
}
