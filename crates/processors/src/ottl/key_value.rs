//! `ParseKeyValue(target[, delimiter[, pair_delimiter[, ignore_malformed_tokens]]])`: text such
//! as `name=app level="a b"` into a map of strings, as otelcol-contrib's `parseutils` splits it
//! (quotes keep delimiters inside a value and are stripped; a backslash escapes a quote).

use kakehashi_pdata::proto::common::v1::KeyValue;

#[derive(Debug)]
pub(crate) struct KeyValueParser {
    delimiter: String,
    pair_delimiter: String,
    ignore_malformed: bool,
}

impl KeyValueParser {
    /// `None`s take OTTL's defaults (`=` and a space).
    pub fn new(
        delimiter: Option<String>,
        pair_delimiter: Option<String>,
        ignore_malformed: bool,
    ) -> Result<KeyValueParser, String> {
        let delimiter = delimiter.unwrap_or_else(|| "=".into());
        let pair_delimiter = pair_delimiter.unwrap_or_else(|| " ".into());
        if delimiter.is_empty() {
            return Err("delimiter cannot be set to an empty string".into());
        }
        if pair_delimiter.is_empty() {
            return Err("pair delimiter cannot be set to an empty string".into());
        }
        if delimiter == pair_delimiter {
            return Err(format!(
                "pair delimiter {pair_delimiter:?} cannot be equal to delimiter {delimiter:?}"
            ));
        }
        Ok(KeyValueParser {
            delimiter,
            pair_delimiter,
            ignore_malformed,
        })
    }

    /// The pairs in their order; a key met again keeps its place and takes the later value.
    pub fn parse(&self, source: &str) -> Result<Vec<KeyValue>, String> {
        if source.is_empty() {
            return Err("cannot parse from empty target".into());
        }
        let mut pairs = split_respecting_quotes(source, &self.pair_delimiter)
            .map_err(|e| format!("splitting source {source:?} into pairs failed: {e}"))?;
        if self.ignore_malformed {
            let d = self.delimiter.as_str();
            pairs.retain(|p| {
                p.matches(d).count() == 1
                    && p.split_once(d)
                        .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
            });
        }
        let mut out: Vec<KeyValue> = Vec::with_capacity(pairs.len());
        let mut malformed = Vec::new();
        for pair in &pairs {
            let Some((key, value)) = pair.split_once(self.delimiter.as_str()) else {
                malformed.push(format!("cannot split {pair:?} into 2 items, got 1 item(s)"));
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let value = Some(super::setter::str_value(value.to_string()));
            match out.iter_mut().find(|kv| kv.key == key) {
                Some(existing) => existing.value = value,
                None => out.push(KeyValue {
                    key: key.to_string(),
                    value,
                    ..Default::default()
                }),
            }
        }
        if !malformed.is_empty() {
            return Err(format!(
                "failed to split pairs into key-values: {}",
                malformed.join("; ")
            ));
        }
        Ok(out)
    }
}

/// Splits on `delimiter` outside quotes (`"` or `'`, stripped; a backslash before a quote keeps
/// it); empty pieces (leading, trailing or repeated delimiters) are dropped.
fn split_respecting_quotes(input: &str, delimiter: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        if quote.is_none() && rest.starts_with(delimiter) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            rest = &rest[delimiter.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if escaped {
            escaped = false;
        } else {
            match quote {
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    continue;
                }
                Some(q) if q == c => {
                    quote = None;
                    continue;
                }
                _ => escaped = c == '\\',
            }
        }
        current.push(c);
    }
    if quote.is_some() {
        return Err("never reached the end of a quoted value".into());
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::go_text::as_string;

    fn pairs(p: &KeyValueParser, s: &str) -> Vec<(String, String)> {
        p.parse(s)
            .unwrap()
            .iter()
            .map(|kv| (kv.key.clone(), as_string(kv.value.as_ref())))
            .collect()
    }

    fn owned(want: &[(&str, &str)]) -> Vec<(String, String)> {
        want.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn splits_as_otelcol() {
        let default = KeyValueParser::new(None, None, false).unwrap();
        assert_eq!(
            pairs(
                &default,
                r#"name=test  level="warn  now" msg='it''s' k=v=w"#
            ),
            owned(&[
                ("name", "test"),
                ("level", "warn  now"),
                ("msg", "its"),
                ("k", "v=w")
            ])
        );
        // A backslash keeps a quote (and itself); a repeated key takes the later value.
        assert_eq!(
            pairs(&default, r#"a=\"x b=1 a=2"#),
            owned(&[("a", r#"2"#), ("b", "1")])
        );
        assert_eq!(pairs(&default, r#"q=\"x"#), owned(&[("q", r#"\"x"#)]));
        let custom = KeyValueParser::new(Some(":".into()), Some("|".into()), false).unwrap();
        assert_eq!(
            pairs(&custom, "|a: 1 || b:2|"),
            owned(&[("a", "1"), ("b", "2")])
        );
    }

    #[test]
    fn malformed_input() {
        let default = KeyValueParser::new(None, None, false).unwrap();
        let err = default.parse("a=1 broken b=2").unwrap_err();
        assert!(
            err.contains(r#"cannot split "broken" into 2 items"#),
            "{err}"
        );
        assert!(default.parse("").unwrap_err().contains("empty target"));
        let err = default.parse(r#"a="open"#).unwrap_err();
        assert!(
            err.contains("never reached the end of a quoted value"),
            "{err}"
        );
        let lenient = KeyValueParser::new(None, None, true).unwrap();
        assert_eq!(
            pairs(&lenient, "a=1 broken =x y= b=2 c=d=e"),
            owned(&[("a", "1"), ("b", "2")])
        );
        for (d, p, want) in [
            (Some(""), None, "delimiter cannot be set to an empty string"),
            (
                None,
                Some(""),
                "pair delimiter cannot be set to an empty string",
            ),
            (Some(" "), None, "cannot be equal to delimiter"),
        ] {
            let err =
                KeyValueParser::new(d.map(String::from), p.map(String::from), false).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }
}
