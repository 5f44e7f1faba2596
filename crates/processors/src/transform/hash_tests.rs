//! Hashing in the transform processor: the hash converters, and the optional function and
//! format arguments of `replace_pattern` / `replace_all_patterns` (PII replaced by its digest).

use super::tests::{errors, run, spans, traces};
use crate::test_util::texts as pairs;

fn sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn md5(s: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

#[tokio::test]
async fn matches_are_replaced_by_their_formatted_digest() {
    let out = run(
        r#"
trace_statements:
  - 'replace_pattern(span.attributes["user.email"], "^([^@]+)@(.*)$", "$1", SHA256, "user-%s")'
  - 'replace_all_patterns(span.attributes, "value", "^5(5+)$", "$1", MD5)'
  - 'set(span.attributes["name.sha1"], SHA1(span.name)) where span.name == "SELECT users"'
  - 'set(span.attributes["name.fnv"], FNV(span.name)) where span.name == "SELECT users"'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = spans(&out);
    let attrs = pairs(&s[0].attributes);
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    // The whole match (the address) becomes the format around the digest of group 1.
    assert_eq!(get("user.email"), Some(format!("user-{}", sha256("a"))));
    assert_eq!(get("user.phone"), Some(md5("55")));
    let other = pairs(&s[1].attributes);
    assert_eq!(
        other,
        vec![
            // Python's hashlib.sha1(b"SELECT users").
            (
                "name.sha1".to_string(),
                "1c37e62202260caed286c05576c7331360500562".to_string()
            ),
            // FNV-1a 64 of "SELECT users" as Go's int64 (computed independently in Python).
            ("name.fnv".to_string(), "4929736101663913941".to_string()),
        ]
    );
}

#[test]
fn replacement_functions_and_formats_are_checked() {
    let err = errors(r#"trace_statements: ['replace_pattern(span.name, "a", "b", Concat, "%s")']"#);
    assert!(
        err.contains("replace_pattern's function must be SHA1, SHA256, SHA512, MD5, ToLowerCase or ToUpperCase, got Concat"),
        "{err}"
    );
    let err =
        errors(r#"trace_statements: ['replace_pattern(span.name, "a", "b", SHA1, "no verb")']"#);
    assert!(
        err.contains("replacementFormat must be format string containing a single %s and no other format specifiers"),
        "{err}"
    );
}
