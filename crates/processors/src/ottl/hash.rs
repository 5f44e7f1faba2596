//! OTTL's hash converters (`SHA1`, `SHA256`, `SHA512`, `MD5`: the lowercase hex digest of a
//! string; `FNV`: FNV-1a 64 as an int), and the optional function argument of `replace_pattern`
//! and `replace_all_patterns` (any of those string converters, or `ToLowerCase` /
//! `ToUpperCase`), applied to what replaces each match.

use sha2::Digest;

/// A converter from one string to its lowercase hex digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashFn {
    Sha1,
    Sha256,
    Sha512,
    Md5,
}

impl HashFn {
    /// The converter of that OTTL name.
    pub(crate) fn by_name(name: &str) -> Option<HashFn> {
        Some(match name {
            "SHA1" => HashFn::Sha1,
            "SHA256" => HashFn::Sha256,
            "SHA512" => HashFn::Sha512,
            "MD5" => HashFn::Md5,
            _ => return None,
        })
    }

    pub(crate) fn hex(self, s: &str) -> String {
        let b = s.as_bytes();
        match self {
            HashFn::Sha1 => hex::encode(sha1::Sha1::digest(b)),
            HashFn::Sha256 => hex::encode(sha2::Sha256::digest(b)),
            HashFn::Sha512 => hex::encode(sha2::Sha512::digest(b)),
            HashFn::Md5 => hex::encode(md5::Md5::digest(b)),
        }
    }
}

/// Go's `hash/fnv` `New64a` sum, as OTTL's `FNV` returns it (the bits as an int64).
pub(crate) fn fnv1a_64(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// A converter from one string to a string, as the replacing editors' `function` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringFn {
    Hash(HashFn),
    Lower,
    Upper,
}

impl StringFn {
    pub(crate) fn by_name(name: &str) -> Option<StringFn> {
        match name {
            "ToLowerCase" => Some(StringFn::Lower),
            "ToUpperCase" => Some(StringFn::Upper),
            _ => HashFn::by_name(name).map(StringFn::Hash),
        }
    }

    fn apply(self, s: &str) -> String {
        match self {
            StringFn::Hash(h) => h.hex(s),
            StringFn::Lower => s.to_lowercase(),
            StringFn::Upper => s.to_uppercase(),
        }
    }
}

/// otelcol's check of `replacementFormat` (`validFormatString`): a `%s` and no other verb.
pub(crate) fn check_format(format: &str) -> Result<(), String> {
    let other_verb = format
        .match_indices('%')
        .any(|(i, _)| format.as_bytes().get(i + 1) != Some(&b's'));
    if !format.contains("%s") || other_verb {
        return Err(
            "replacementFormat must be format string containing a single %s and no other format specifiers"
                .into(),
        );
    }
    Ok(())
}

/// Go's `fmt.Sprintf(format, value)` for a format [`check_format`] accepted: the first `%s` is
/// the value, any further one `%!s(MISSING)`.
fn sprintf(format: &str, value: &str) -> String {
    let mut parts = format.split("%s");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for (i, part) in parts.enumerate() {
        out.push_str(if i == 0 { value } else { "%!s(MISSING)" });
        out.push_str(part);
    }
    out
}

/// What replaces a match in `replace_pattern` / `replace_all_patterns`: the replacement with
/// the match's groups expanded, then optionally passed through a converter and put into a
/// format (otelcol runs Go's `Sprintf` with the converted value as its one argument).
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    pub with: String,
    pub function: Option<StringFn>,
    pub format: Option<String>,
}

impl Replacement {
    /// `text` with every match of `re` replaced. With a hash function, as otelcol: for each match
    /// of the original text, the expanded replacement is hashed and formatted, and every
    /// occurrence of the matched text in the result so far is replaced by it.
    pub(crate) fn apply(&self, re: &regex::Regex, text: &str) -> String {
        let Some(function) = self.function else {
            return re.replace_all(text, self.with.as_str()).into_owned();
        };
        let mut out = text.to_owned();
        for caps in re.captures_iter(text) {
            let mut expanded = String::new();
            caps.expand(&self.with, &mut expanded);
            let converted = function.apply(&expanded);
            let value = match &self.format {
                Some(f) => sprintf(f, &converted),
                None => converted,
            };
            out = out.replace(&caps[0], &value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_the_known_ones() {
        // FIPS 180 / RFC 1321 test vectors for "abc".
        assert_eq!(
            HashFn::Sha1.hex("abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(HashFn::Md5.hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert!(HashFn::Sha512.hex("abc").starts_with("ddaf35a193617aba"));
        assert_eq!(
            HashFn::Sha256.hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Go: fnv.New64a().Write([]byte("hello")).Sum64() = 0xa430d84680aabd0b.
        assert_eq!(fnv1a_64("hello"), 0xa430d84680aabd0b_u64 as i64);
        assert_eq!(fnv1a_64(""), 0xcbf29ce484222325_u64 as i64);
    }

    #[test]
    fn a_hashed_replacement_replaces_each_match() {
        let re = regex::Regex::new(r"user=(\w+)").unwrap();
        let r = Replacement {
            with: "$1".into(),
            function: Some(StringFn::Hash(HashFn::Md5)),
            format: Some("user=%s".into()),
        };
        assert_eq!(
            r.apply(&re, "a user=abc b user=abc c"),
            format!("a user={0} b user={0} c", HashFn::Md5.hex("abc"))
        );
        let plain = Replacement {
            with: "user=***".into(),
            function: None,
            format: None,
        };
        assert_eq!(plain.apply(&re, "x user=abc"), "x user=***");
        let upper = Replacement {
            with: "$1".into(),
            function: Some(StringFn::Upper),
            format: Some("<%s>%s".into()),
        };
        assert_eq!(upper.apply(&re, "x user=abc"), "x <ABC>%!s(MISSING)");
    }

    #[test]
    fn formats_are_checked_as_otelcol_checks_them() {
        for ok in ["%s", "user-%s", "%s%s", "a %s b"] {
            assert_eq!(check_format(ok), Ok(()), "{ok}");
        }
        for bad in ["user-", "%d", "%s %d", "%%s", "%s %"] {
            assert!(check_format(bad).is_err(), "{bad}");
        }
    }
}
