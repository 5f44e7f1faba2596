//! The text of an OTLP/JSON body, made acceptable to `serde_json` the way Go's reader takes it:
//! invalid UTF-8 and lone UTF-16 surrogate escapes (`"\ud800"`, which browser SDKs produce when
//! they cut a string inside a surrogate pair) become U+FFFD instead of failing the whole request.
//! The protobuf path does the same for invalid UTF-8 (docs/compatibility.md).

use std::borrow::Cow;

/// `body` unchanged when it is valid UTF-8 without lone surrogate escapes (no copy), else a
/// repaired copy.
pub(crate) fn lenient(body: &[u8]) -> Cow<'_, [u8]> {
    let text = match String::from_utf8_lossy(body) {
        Cow::Borrowed(_) => Cow::Borrowed(body),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    };
    match replace_lone_surrogates(&text) {
        Some(fixed) => Cow::Owned(fixed),
        None => text,
    }
}

/// The 4 hex digits after `\u` at `at` (the backslash), as a number.
fn escape_at(b: &[u8], at: usize) -> Option<u16> {
    if b.get(at + 1) != Some(&b'u') {
        return None;
    }
    let hex = std::str::from_utf8(b.get(at + 2..at + 6)?).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

const LEADING: std::ops::RangeInclusive<u16> = 0xD800..=0xDBFF;
const TRAILING: std::ops::RangeInclusive<u16> = 0xDC00..=0xDFFF;

/// A copy with each unpaired surrogate escape written as `\ufffd`, or `None` when there is
/// none. A backslash only occurs inside JSON strings, and `\\` is skipped as a pair, so an
/// escaped backslash followed by `ud800` is left alone.
fn replace_lone_surrogates(b: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(b, i) else {
            i += 2; // any other escape, `\\` included
            continue;
        };
        let paired =
            LEADING.contains(&unit) && escape_at(b, i + 6).is_some_and(|u| TRAILING.contains(&u));
        if paired {
            i += 12;
        } else if LEADING.contains(&unit) || TRAILING.contains(&unit) {
            let o = out.get_or_insert_with(|| Vec::with_capacity(b.len()));
            o.extend_from_slice(&b[copied..i]);
            o.extend_from_slice(br"\ufffd");
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
    }
    out.map(|mut o| {
        o.extend_from_slice(&b[copied..]);
        o
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(s: &str) -> String {
        String::from_utf8(lenient(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn valid_text_is_not_copied() {
        let body = br#"{"name":"caf\u00e9 \ud83d\ude00 \\ud800 \n"}"#;
        assert!(matches!(lenient(body), Cow::Borrowed(_)));
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        assert_eq!(fixed(r#"["\ud800"]"#), r#"["\ufffd"]"#);
        assert_eq!(fixed(r#"["\uDC00x"]"#), r#"["\ufffdx"]"#);
        assert_eq!(
            fixed(r#"["a\ud83d\ud83d\ude00"]"#),
            r#"["a\ufffd\ud83d\ude00"]"#
        );
        assert_eq!(
            fixed(r#"["\ud83d"] ["\\ud800"]"#),
            r#"["\ufffd"] ["\\ud800"]"#
        );
        for s in [r#"["\ud800"]"#, r#"["\ud83d\u0041"]"#, r#"["x\udfff"]"#] {
            let v: Vec<String> = serde_json::from_slice(&lenient(s.as_bytes())).unwrap();
            assert!(v[0].contains('\u{FFFD}'), "{s}: {v:?}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        let v: Vec<String> = serde_json::from_slice(&lenient(b"[\"a\xff\xfeb\"]")).unwrap();
        assert_eq!(v, ["a\u{FFFD}\u{FFFD}b"]);
    }

    #[test]
    fn truncated_escapes_are_left_to_the_parser() {
        for s in [r#"["\ud8"#, r#"["\ud800\u"#, r#"["\"#] {
            assert!(serde_json::from_slice::<Vec<String>>(&lenient(s.as_bytes())).is_err());
        }
    }
}
