//! Tokens of an OTTL condition.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A lower-case or mixed-case name: a path segment or a keyword (`and`, `nil`, ...).
    Ident(String),
    /// An all-upper-case name (an enum symbol) or a capitalised one (a converter).
    Upper(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    Op(&'static str),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Upper(s) => write!(f, "{s}"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Int(i) => write!(f, "{i}"),
            Tok::Float(x) => write!(f, "{x}"),
            Tok::Bytes(b) => write!(f, "0x{}", hex::encode(b)),
            Tok::Op(o) => write!(f, "{o}"),
        }
    }
}

// "=" after the operators it begins: only a named argument (`append(t, value = 1)`).
const OPS: [&str; 19] = [
    "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",", ".", "{", "}",
    "=",
];

pub(crate) fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' {
            let (s, next) = string(src, i)?;
            out.push(Tok::Str(s));
            i = next;
        } else if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            let end = scan(b, i + 2, |c| c.is_ascii_hexdigit());
            let digits = &src[i + 2..end];
            let bytes = hex::decode(digits).map_err(|_| {
                format!("invalid bytes literal 0x{digits}: needs pairs of hex digits")
            })?;
            out.push(Tok::Bytes(bytes));
            i = end;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let (tok, next) = number(src, i)?;
            out.push(tok);
            i = next;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end = scan(b, i, |c| c.is_ascii_alphanumeric() || c == b'_');
            let word = src[i..end].to_string();
            out.push(if c.is_ascii_uppercase() {
                Tok::Upper(word)
            } else {
                Tok::Ident(word)
            });
            i = end;
        } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character {ch:?} at offset {i}"));
        }
    }
    Ok(out)
}

fn scan(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), String> {
    let b = src.as_bytes();
    let mut end = scan(b, start, |c| c.is_ascii_digit());
    let mut float = false;
    if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        end = scan(b, end + 1, |c| c.is_ascii_digit());
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            float = true;
            end = scan(b, j, |c| c.is_ascii_digit());
        }
    }
    let text = &src[start..end];
    let tok = if float {
        Tok::Float(text.parse().map_err(|_| format!("invalid number {text}"))?)
    } else {
        Tok::Int(
            text.parse()
                .map_err(|_| format!("integer {text} does not fit in 64 bits"))?,
        )
    };
    Ok((tok, end))
}

/// A double-quoted string with Go's escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\xHH` below 0x80,
/// `\uXXXX`, ...).
fn string(src: &str, start: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\\' => {
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| "unterminated string literal".to_string())?;
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\'' => out.push('\''),
                    'x' => {
                        let hex: String = (0..2)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let b = u8::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|b| hex.len() == 2 && b.is_ascii())
                            .ok_or_else(|| format!("invalid escape \\x{hex} in string literal"))?;
                        out.push(char::from(b));
                    }
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == n)
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                format!("invalid escape \\{e}{hex} in string literal")
                            })?;
                        out.push(ch);
                    }
                    other => return Err(format!("invalid escape \\{other} in string literal")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated string literal".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = lex(r#"attributes["http.target"] == "/he\"alth" and kind != SPAN_KIND_SERVER"#)
            .unwrap();
        assert_eq!(
            t,
            vec![
                Tok::Ident("attributes".into()),
                Tok::Op("["),
                Tok::Str("http.target".into()),
                Tok::Op("]"),
                Tok::Op("=="),
                Tok::Str("/he\"alth".into()),
                Tok::Ident("and".into()),
                Tok::Ident("kind".into()),
                Tok::Op("!="),
                Tok::Upper("SPAN_KIND_SERVER".into()),
            ]
        );
        assert_eq!(
            lex("1.5e3 42 0x0aFF .5").unwrap(),
            vec![
                Tok::Float(1500.0),
                Tok::Int(42),
                Tok::Bytes(vec![0x0a, 0xff]),
                Tok::Float(0.5)
            ]
        );
        assert_eq!(lex(r#""\u00e9\t""#).unwrap(), vec![Tok::Str("é\t".into())]);
        assert_eq!(lex(r#""\x41\'""#).unwrap(), vec![Tok::Str("A'".into())]);
    }

    #[test]
    fn errors() {
        assert!(lex(r#""open"#).unwrap_err().contains("unterminated"));
        assert!(lex("a ; b")
            .unwrap_err()
            .contains("unexpected character ';'"));
        assert!(lex("0xabc").unwrap_err().contains("hex digits"));
        assert!(lex("99999999999999999999").unwrap_err().contains("64 bits"));
        assert!(lex(r#""\q""#).unwrap_err().contains("invalid escape"));
    }
}
