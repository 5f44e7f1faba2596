//! The `env` detector: `OTEL_RESOURCE_ATTRIBUTES` (or the older `OTEL_RESOURCE`), read as otelcol
//! reads it: `key=value` pairs separated by commas, values URL-query-decoded (`%2C` is a comma,
//! `+` a space); any text that is not such a pair makes the whole variable an error.

use regex::Regex;
use std::sync::OnceLock;

pub(crate) fn detect(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let raw = get("OTEL_RESOURCE_ATTRIBUTES")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            get("OTEL_RESOURCE")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        });
    match raw {
        None => Ok(Vec::new()),
        Some(s) => parse(&s),
    }
}

fn pair_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\s*([[:ascii:]]{1,256}?)\s*=\s*([[:ascii:]]{0,256}?)\s*(?:,|$)")
            .expect("valid regex")
    })
}

fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut prev = 0;
    for caps in pair_regex().captures_iter(s) {
        let whole = caps.get(0).expect("match");
        if whole.start() > prev {
            return Err(format!(
                "invalid resource format, invalid text: {:?}",
                &s[prev..whole.start()]
            ));
        }
        let value = query_unescape(&caps[2]).map_err(|e| {
            format!(
                "invalid resource format in attribute: {:?}, err: {e}",
                whole.as_str()
            )
        })?;
        // A key given twice: the later value, in the first one's place (pcommon's PutStr).
        match out.iter_mut().find(|(k, _)| k == &caps[1]) {
            Some(existing) => existing.1 = value,
            None => out.push((caps[1].to_string(), value)),
        }
        prev = whole.end();
    }
    if out.is_empty() {
        return Err(format!("invalid resource format: {s:?}"));
    }
    if prev != s.len() {
        return Err(format!(
            "invalid resource format, invalid text: {:?}",
            &s[prev..]
        ));
    }
    Ok(out)
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape is an error.
fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let end = (i + 3).min(s.len());
                    return Err(format!("invalid URL escape {:?}", &s[i..end]));
                };
                out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the decoded value is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn pairs_decoded_and_trimmed() {
        let got = detect(env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            " service.name = checkout , deployment.environment=prod,team=a%2Cb+c,empty=",
        )]))
        .unwrap();
        let want = [
            ("service.name", "checkout"),
            ("deployment.environment", "prod"),
            ("team", "a,b c"),
            ("empty", ""),
        ];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
    }

    #[test]
    fn older_variable_and_absence() {
        assert_eq!(detect(env(&[])).unwrap(), vec![]);
        assert_eq!(
            detect(env(&[
                ("OTEL_RESOURCE_ATTRIBUTES", "  "),
                ("OTEL_RESOURCE", "a=b")
            ]))
            .unwrap(),
            vec![("a".to_string(), "b".to_string())]
        );
    }

    #[test]
    fn malformed_is_an_error() {
        for (raw, want) in [
            ("novalue", "invalid resource format"),
            ("a=b,garbage", "invalid text"),
            ("a=%zz", "invalid URL escape"),
            ("a=%c3", "not UTF-8"),
        ] {
            let e = detect(env(&[("OTEL_RESOURCE_ATTRIBUTES", raw)])).unwrap_err();
            assert!(e.contains(want), "{raw}: {e}");
        }
    }
}
