//! Go's trace-agent normalization (`pkg/trace/traceutil/normalize`), ported byte for byte.
//! libdatadog's `normalize_service` uses the full-tag rules (it strips leading digits) and its
//! name normalizer drops repeated dots, so both are re-implemented here with Go's semantics.

use crate::model::Str;
use std::borrow::Cow;
/// Maximum service length in bytes.
pub const MAX_SERVICE_LEN: usize = 100;
/// Maximum operation name length in bytes.
pub const MAX_NAME_LEN: usize = 100;
/// Maximum span type length in bytes.
pub const MAX_TYPE_LEN: usize = 100;
/// Maximum resource length in bytes.
pub const MAX_RESOURCE_LEN: usize = 5000;
/// Maximum number of characters in a normalized tag.
pub const MAX_TAG_LEN: usize = 200;
/// Name used when an operation name is empty or invalid.
pub const DEFAULT_SPAN_NAME: &str = "unnamed_operation";
/// Service used when a service is empty or invalid and no language is known.
pub const DEFAULT_SERVICE_NAME: &str = "unnamed-service";

/// The longest prefix of `s` of at most `limit` bytes that ends on a character boundary
/// (Go's `TruncateUTF8`).
pub fn truncate_utf8(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Go's `NormalizeTag`: a full `key:value` tag; leading non-letters are removed.
pub fn normalize_tag(v: &str) -> String {
    normalize(v, true)
}

/// Go's `NormalizeTagValue`: a tag value; leading digits are kept and a leading illegal run
/// becomes `_` (so `"  ENV "` gives `"_env"`).
pub fn normalize_tag_value(v: &str) -> String {
    normalize(v, false)
}

fn normalize(v: &str, remove_digit_start_char: bool) -> String {
    if is_normalized_ascii(v.as_bytes(), remove_digit_start_char) {
        return v.to_string();
    }
    slow_normalize(v, remove_digit_start_char)
}

/// Go's `isNormalizedASCIITag` fast path: most tags (env, service) are already normal, and
/// checking is far cheaper than rebuilding. Same answer as [`slow_normalize`] (tested below).
fn is_normalized_ascii(tag: &[u8], check_start_char: bool) -> bool {
    let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b":./-".contains(&b);
    if tag.len() > MAX_TAG_LEN {
        return false;
    }
    let mut i = 0;
    if check_start_char {
        match tag.first() {
            None => return true,
            Some(&b) if b.is_ascii_lowercase() || b == b':' => i = 1,
            Some(_) => return false,
        }
    }
    while i < tag.len() {
        let b = tag[i];
        if b == b'_' {
            // An underscore is kept only when a valid non-underscore character follows.
            i += 1;
            if i == tag.len() || !valid(tag[i]) {
                return false;
            }
        } else if !valid(b) {
            return false;
        }
        i += 1;
    }
    true
}

fn slow_normalize(v: &str, remove_digit_start_char: bool) -> String {
    if v.is_empty() {
        return String::new();
    }
    let mut tag = v.as_bytes().to_vec();
    // Bytes before `trim` are dropped; `cuts` are runs of illegal characters, replaced by one `_`.
    let mut trim = 0;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut chars = 0;
    let mut end = 0;
    for (i, c) in v.char_indices() {
        let jump = c.len_utf8();
        end = i + jump;
        if c.is_ascii_lowercase() || c == ':' {
            chars += 1;
        } else if c.is_ascii_uppercase() {
            tag[i] += b'a' - b'A';
            chars += 1;
        } else {
            let mut c = c;
            if c.is_uppercase() {
                // Lowercase only when the width stays the same (Go's rule, e.g. U+017F).
                if let Some(low) = c.to_lowercase().next() {
                    if low.len_utf8() == jump {
                        low.encode_utf8(&mut tag[i..i + jump]);
                        c = low;
                    }
                }
            }
            if c.is_alphabetic() {
                chars += 1;
            } else if remove_digit_start_char && chars == 0 {
                trim = i + jump;
            } else if c.is_numeric() || c == '.' || c == '/' || c == '-' {
                chars += 1;
            } else {
                chars += 1;
                match cuts.last_mut() {
                    Some(last) if last.1 >= i => last.1 += jump,
                    _ => cuts.push((i, i + jump)),
                }
            }
        }
        if i + jump >= 2 * MAX_TAG_LEN || chars >= MAX_TAG_LEN {
            break;
        }
    }
    let mut tag: Vec<u8> = tag[trim..end].to_vec();
    let mut delta = trim;
    for (cut_start, cut_end) in cuts {
        let start = cut_start - delta;
        let stop = cut_end - delta;
        if stop >= tag.len() {
            // A run of illegal characters at the end is dropped entirely.
            tag.truncate(start);
            break;
        }
        tag[start] = b'_';
        if stop - start == 1 {
            continue;
        }
        tag.drain(start + 1..stop);
        delta += cut_end - cut_start - 1;
    }
    // Only ASCII bytes were rewritten and only whole characters removed.
    String::from_utf8(tag).unwrap_or_default()
}

/// Go's `NormalizeName`: empty or without any ASCII letter ⇒ `unnamed_operation`.
pub fn normalize_name(name: &str) -> String {
    if name.is_empty() {
        return DEFAULT_SPAN_NAME.to_string();
    }
    let name = truncate_utf8(name, MAX_NAME_LEN).as_bytes();
    let Some(first) = name.iter().position(u8::is_ascii_alphabetic) else {
        return DEFAULT_SPAN_NAME.to_string();
    };
    let mut res: Vec<u8> = Vec::with_capacity(name.len());
    for &b in &name[first..] {
        // `res` is never empty here: the first byte is a letter.
        let last = *res.last().unwrap_or(&b'a');
        if b.is_ascii_alphanumeric() {
            res.push(b);
        } else if b == b'.' {
            if last == b'_' {
                // An underscore right before a period becomes the period.
                if let Some(l) = res.last_mut() {
                    *l = b'.';
                }
            } else {
                res.push(b'.');
            }
        } else if last != b'.' && last != b'_' {
            res.push(b'_');
        }
    }
    if res.last() == Some(&b'_') {
        res.pop();
    }
    String::from_utf8(res).unwrap_or_default()
}

/// Go's `NormalizeService(svc, lang)`: truncate to 100 bytes, NormalizeTagValue, fall back to
/// `unnamed-<lang>-service` / `unnamed-service` when empty.
pub fn normalize_service(svc: &str, lang: &str) -> String {
    let fallback = || {
        if lang.is_empty() {
            DEFAULT_SERVICE_NAME.to_string()
        } else {
            format!("unnamed-{lang}-service")
        }
    };
    if svc.is_empty() {
        return fallback();
    }
    let s = normalize_tag_value(truncate_utf8(svc, MAX_SERVICE_LEN));
    if s.is_empty() {
        fallback()
    } else {
        s
    }
}

/// Go's `NormalizePeerService`: like a service but an invalid value becomes `""`.
pub fn normalize_peer_service(svc: &str) -> String {
    normalize_tag_value(truncate_utf8(svc, MAX_SERVICE_LEN))
}

// In-place forms for the span normalizer, with the same results as the functions above. Nearly
// every service, name and env is already normal; leaving those alone saves an allocation per
// value and span.

/// [`normalize_service`] in place.
pub(crate) fn normalize_service_in_place(svc: &mut Str, lang: &str) {
    let normal = !svc.is_empty()
        && svc.len() <= MAX_SERVICE_LEN
        && is_normalized_ascii(svc.as_bytes(), false);
    if !normal {
        *svc = normalize_service(svc, lang).into();
    }
}

/// [`normalize_peer_service`] in place.
pub(crate) fn normalize_peer_service_in_place(svc: &mut Str) {
    if svc.len() > MAX_SERVICE_LEN || !is_normalized_ascii(svc.as_bytes(), false) {
        *svc = normalize_peer_service(svc).into();
    }
}

/// [`normalize_tag_value`] that borrows a value that is already normal (nearly all).
pub(crate) fn normalize_tag_value_cow(value: Cow<'_, str>) -> Cow<'_, str> {
    if is_normalized_ascii(value.as_bytes(), false) {
        value
    } else {
        normalize_tag_value(&value).into()
    }
}

/// [`normalize_tag_value`] in place.
pub(crate) fn normalize_tag_value_in_place(value: &mut Str) {
    if !is_normalized_ascii(value.as_bytes(), false) {
        *value = normalize_tag_value(value).into();
    }
}

/// [`normalize_name`] in place.
pub(crate) fn normalize_name_in_place(name: &mut Str) {
    if !is_normalized_name(name.as_bytes()) {
        *name = normalize_name(name).into();
    }
}

/// A name [`normalize_name`] returns unchanged: an ASCII letter first, then letters, digits,
/// `.` and single `_` not next to a `.`, no trailing `_`, at most [`MAX_NAME_LEN`] bytes.
fn is_normalized_name(name: &[u8]) -> bool {
    let (Some(first), Some(last)) = (name.first(), name.last()) else {
        return false;
    };
    name.len() <= MAX_NAME_LEN
        && first.is_ascii_alphabetic()
        && *last != b'_'
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'_')
        && !name
            .windows(2)
            .any(|w| matches!(w, [b'_', b'_' | b'.'] | [b'.', b'_']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("bad-name"), "bad_name");
        assert_eq!(normalize_name("&&&&&&&_test-name-"), "test_name");
        assert_eq!(normalize_name("&***"), "unnamed_operation");
        assert_eq!(normalize_name(""), "unnamed_operation");
        assert_eq!(normalize_name("%$^"), "unnamed_operation");
        assert_eq!(normalize_name("Internal"), "Internal");
        assert_eq!(normalize_name("a_.b"), "a.b");
        assert_eq!(normalize_name("a..b"), "a..b");
        assert_eq!(normalize_name(&"a".repeat(101)), "a".repeat(100));
        assert_eq!(
            normalize_name("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.client"),
            "go.opentelemetry.io_contrib_instrumentation_net_http_otelhttp.client"
        );
        assert_eq!(
            normalize_name(&"Too-Long-.".repeat(20)),
            "Too_Long.".repeat(10)
        );
    }

    /// Every string of at most 4 letters from `alphabet`, the empty one included.
    fn strings_up_to_4(alphabet: &[&str]) -> Vec<String> {
        let mut cases: Vec<String> = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = cases
                .iter()
                .flat_map(|c| alphabet.iter().map(move |a| format!("{c}{a}")))
                .collect();
            cases.extend(next);
        }
        cases.sort();
        cases.dedup();
        cases
    }

    #[test]
    fn fast_path_agrees_with_the_full_normalizer() {
        // Every string over a small alphabet up to length 4, plus some long ones: whenever the
        // fast path says "already normal", the full normalizer must return the input unchanged.
        let mut cases = strings_up_to_4(&["a", "z", "0", ":", ".", "/", "-", "_", "A", " ", "é"]);
        cases.extend([
            "a".repeat(200),
            "a".repeat(201),
            format!("{}_", "a".repeat(199)),
        ]);
        let mut fast_hits = 0;
        for c in &cases {
            for start in [true, false] {
                if is_normalized_ascii(c.as_bytes(), start) {
                    fast_hits += 1;
                    assert_eq!(&slow_normalize(c, start), c, "{c:?} start={start}");
                }
            }
        }
        assert!(fast_hits > 1000, "the fast path is taken for plain tags");
    }

    #[test]
    fn in_place_forms_agree_with_the_functions() {
        // Every string over a small alphabet up to length 4, plus long ones around the limits.
        let mut cases = strings_up_to_4(&["a", "Z", "0", ":", ".", "-", "_", " ", "é"]);
        for n in [99, 100, 101, 199, 200, 201] {
            cases.push("a".repeat(n));
            cases.push(format!("{}_", "a".repeat(n - 1)));
        }
        let mut unchanged = 0;
        for c in &cases {
            for lang in ["", "go"] {
                let mut m = Str::from(c.as_str());
                normalize_service_in_place(&mut m, lang);
                assert_eq!(m, normalize_service(c, lang), "service {c:?} lang {lang:?}");
            }
            let mut m = Str::from(c.as_str());
            normalize_peer_service_in_place(&mut m);
            assert_eq!(m, normalize_peer_service(c), "peer service {c:?}");
            let mut m = Str::from(c.as_str());
            normalize_tag_value_in_place(&mut m);
            assert_eq!(m, normalize_tag_value(c), "tag value {c:?}");
            let cow = normalize_tag_value_cow(Cow::Borrowed(c));
            assert_eq!(cow, normalize_tag_value(c), "tag value (borrowed) {c:?}");
            let mut m = Str::from(c.as_str());
            normalize_name_in_place(&mut m);
            assert_eq!(m, normalize_name(c), "name {c:?}");
            if is_normalized_name(c.as_bytes()) {
                unchanged += 1;
            }
        }
        assert!(
            unchanged > 200,
            "the name fast path is taken for plain names"
        );
        assert!(is_normalized_name(b"http.server.request"));
        assert!(is_normalized_name(b"postgresql.query"));
    }

    #[test]
    fn tags() {
        assert_eq!(normalize_tag("TestCAPSandSuch"), "testcapsandsuch");
        assert_eq!(
            normalize_tag("Test Conversion Of Weird !@#$%^&**() Characters"),
            "test_conversion_of_weird_characters"
        );
        assert_eq!(normalize_tag("1love"), "love");
        assert_eq!(normalize_tag("fun:ky@tag/2"), "fun:ky_tag/2");
        assert_eq!(
            normalize_tag("contiguous_____underscores"),
            "contiguous_underscores"
        );
        assert_eq!(normalize_tag("foo_"), "foo");
        assert_eq!(normalize_tag("#test_starting_hash"), "test_starting_hash");
        assert_eq!(normalize_tag(" spaces   "), "spaces");
        assert_eq!(normalize_tag("ünicöde:metäl"), "ünicöde:metäl");
        assert_eq!(
            normalize_tag("Data🐨dog🐶 繋がっ⛰てて"),
            "data_dog_繋がっ_てて"
        );
        assert_eq!(normalize_tag("_env"), "env");
        assert_eq!(normalize_tag(&"a".repeat(300)), "a".repeat(200));
    }

    #[test]
    fn tag_values() {
        assert_eq!(normalize_tag_value("  ENV "), "_env");
        assert_eq!(normalize_tag_value("  V1 "), "_v1");
        assert_eq!(normalize_tag_value("123svc"), "123svc");
        assert_eq!(normalize_tag_value("prod-127"), "prod-127");
        assert_eq!(normalize_tag_value(""), "");
    }

    #[test]
    fn services() {
        assert_eq!(normalize_service("", ""), "unnamed-service");
        assert_eq!(normalize_service("", "go"), "unnamed-go-service");
        assert_eq!(normalize_service("%$^", ""), "unnamed-service");
        assert_eq!(normalize_service(&"a".repeat(101), ""), "a".repeat(100));
        // Differs from libdatadog, which strips the leading digits.
        assert_eq!(normalize_service("123svc", ""), "123svc");
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("abc", 5), "abc");
    }
}
