//! W3C `tracestate` with OpenTelemetry's `ot` member (`ot=rv:…;th:…;…`), parsed and written
//! back as otelcol's `pkg/sampling` does: `ot` first (`rv`, then `th`, then its other keys),
//! the other vendors after it in their order; blank members dropped.

use super::threshold::{Randomness, Threshold};

const MAX_LENGTH: usize = 1024;
const MAX_MEMBERS: usize = 32;
const MAX_OT_LENGTH: usize = 256;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceState {
    /// `rv` as written (its case kept) and its value.
    pub rv: Option<(String, Randomness)>,
    pub th: Option<Threshold>,
    /// `th` as written until it changes.
    th_text: Option<String>,
    /// The `ot` member's other keys, in order.
    ot_rest: Vec<(String, String)>,
    /// The other vendors' members, in order.
    others: Vec<(String, String)>,
}

fn is_lc_alnum_punct(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// simple-key = lcalpha 0*255(...); multi-tenant-key = tenant-id "@" system-id.
fn valid_key(k: &str) -> bool {
    let simple = |s: &str, max: usize, first_digit_ok: bool| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= max
            && (b[0].is_ascii_lowercase() || (first_digit_ok && b[0].is_ascii_digit()))
            && b[1..].iter().all(|&c| is_lc_alnum_punct(c))
    };
    match k.split_once('@') {
        None => simple(k, 256, false),
        Some((tenant, system)) => simple(tenant, 241, true) && simple(system, 14, false),
    }
}

/// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr excludes ',' and '='.
fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

impl TraceState {
    pub fn parse(raw: &str) -> Result<TraceState, String> {
        if raw.len() > MAX_LENGTH {
            return Err("tracestate exceeds the 1024-character limit".into());
        }
        let mut ts = TraceState::default();
        // Every segment counts toward the limit, blank ones too (only the empty one after a
        // trailing comma does not), as otelcol's scanner counts them.
        let segments = raw.strip_suffix(',').unwrap_or(raw);
        for (i, member) in segments.split(',').enumerate() {
            if segments.is_empty() {
                break;
            }
            if i + 1 >= MAX_MEMBERS {
                return Err("tracestate has too many list members".into());
            }
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member
                .split_once('=')
                .filter(|(k, v)| valid_key(k) && valid_value(v))
                .ok_or_else(|| format!("invalid tracestate member {member:?}"))?;
            if key == "ot" {
                // A repeated `ot` member replaces the earlier one, as in otelcol.
                ts.rv = None;
                ts.clear_threshold();
                ts.ot_rest.clear();
                ts.parse_ot(value)?;
            } else {
                ts.others.push((key.to_string(), value.to_string()));
            }
        }
        Ok(ts)
    }

    fn parse_ot(&mut self, value: &str) -> Result<(), String> {
        if value.len() > MAX_OT_LENGTH {
            return Err("the ot tracestate value exceeds 256 characters".into());
        }
        for field in value.split(';') {
            let (k, v) = field
                .split_once(':')
                .filter(|(k, v)| {
                    let kb = k.as_bytes();
                    !kb.is_empty()
                        && kb[0].is_ascii_lowercase()
                        && kb
                            .iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && v.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
                })
                .ok_or_else(|| format!("invalid ot tracestate field {field:?}"))?;
            match k {
                "rv" => self.rv = Some((v.to_string(), Randomness::parse(v)?)),
                "th" => {
                    self.th = Some(Threshold::parse(v)?);
                    self.th_text = Some(v.to_string());
                }
                _ => self.ot_rest.push((k.to_string(), v.to_string())),
            }
        }
        Ok(())
    }

    /// The `ot` member's keys other than `rv` and `th`, in order (e.g. the older consistent
    /// samplers' `p`).
    pub fn ot_extra(&self) -> &[(String, String)] {
        &self.ot_rest
    }

    pub fn set_randomness(&mut self, r: Randomness) {
        self.rv = Some((r.rvalue(), r));
    }

    pub fn clear_threshold(&mut self) {
        self.th = None;
        self.th_text = None;
    }

    /// Lowers the sampling probability to `t`'s; refuses to raise it (an existing threshold
    /// above `t` stays: that would claim more adjusted count than the item has).
    pub fn update_threshold(&mut self, t: Threshold) -> Result<(), String> {
        if self.th.is_some_and(|old| old > t) {
            return Err("inconsistent sampling: the threshold would decrease".into());
        }
        self.th = Some(t);
        self.th_text = Some(t.tvalue());
        Ok(())
    }

    pub fn serialize(&self) -> String {
        let mut ot: Vec<String> = Vec::new();
        if let Some((text, _)) = &self.rv {
            ot.push(format!("rv:{text}"));
        }
        if let Some(th) = &self.th_text {
            ot.push(format!("th:{th}"));
        }
        ot.extend(self.ot_rest.iter().map(|(k, v)| format!("{k}:{v}")));
        let mut members: Vec<String> = Vec::new();
        if !ot.is_empty() {
            members.push(format!("ot={}", ot.join(";")));
        }
        members.extend(self.others.iter().map(|(k, v)| format!("{k}={v}")));
        members.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_order() {
        let ts = TraceState::parse(" vendor=a , ot=x:1;th:8;rv:FD70A3D70A3D71 ,,tenant@sys=b c")
            .unwrap();
        assert_eq!(ts.th, Some(Threshold(1 << 55)));
        assert_eq!(
            ts.serialize(),
            "ot=rv:FD70A3D70A3D71;th:8;x:1,vendor=a,tenant@sys=b c"
        );
        assert_eq!(TraceState::parse("").unwrap().serialize(), "");
    }

    #[test]
    fn updates() {
        let mut ts = TraceState::parse("ot=th:8").unwrap();
        assert!(
            ts.update_threshold(Threshold(0)).is_err(),
            "probability may only fall"
        );
        ts.update_threshold(Threshold::parse("c").unwrap()).unwrap();
        assert_eq!(ts.serialize(), "ot=th:c");
        let mut ts = TraceState::parse("ot=th:80000000000000").unwrap();
        ts.update_threshold(Threshold(1 << 55)).unwrap();
        assert_eq!(ts.serialize(), "ot=th:8", "re-encoded once changed");
        let mut ts = TraceState::default();
        ts.set_randomness(Randomness(0xfa402373dec16f));
        ts.update_threshold(Threshold(1 << 55)).unwrap();
        assert_eq!(ts.serialize(), "ot=rv:fa402373dec16f;th:8");
    }

    #[test]
    fn errors() {
        for bad in [
            "ot=rv:abababababababab",
            "ot=th:-1",
            "ot=th:",
            "Upper=x",
            "a=b=c",
            "novalue=",
            "ot=rv",
            &"x".repeat(1025),
            &(0..32)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
        ] {
            assert!(TraceState::parse(bad).is_err(), "{bad}");
        }
        let members: Vec<String> = (0..31).map(|i| format!("k{i}=v")).collect();
        assert!(TraceState::parse(&members.join(",")).is_ok());
        assert!(TraceState::parse(&format!("{},", members.join(","))).is_ok());
        assert!(
            TraceState::parse(&format!("{}, ", members.join(","))).is_err(),
            "blanks count"
        );
        let ts = TraceState::parse("ot=rv:00000000000001;x:1,ot=th:8").unwrap();
        assert_eq!(ts.serialize(), "ot=th:8", "the last ot member wins");
    }
}

/// The members of a W3C `tracestate` as (key, value), in order, as otel-go's
/// `trace.ParseTraceState` reads them: blank members skipped, an invalid member, more than 32
/// members or a repeated key an error.
pub fn w3c_members(raw: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in raw.split(',') {
        // Only an empty member is skipped; blanks around the key and value are allowed, a
        // member of blanks alone is invalid (otel-go's `parseMember`).
        if member.is_empty() {
            continue;
        }
        let (key, value) = member
            .split_once('=')
            .map(|(k, v)| {
                (
                    k.trim_start_matches([' ', '\t']),
                    v.trim_end_matches([' ', '\t']),
                )
            })
            .filter(|(k, v)| valid_key(k) && valid_value(v))
            .ok_or_else(|| format!("invalid tracestate member {member:?}"))?;
        if members.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate tracestate key {key:?}"));
        }
        members.push((key, value));
        if members.len() > MAX_MEMBERS {
            return Err("tracestate has too many list members".into());
        }
    }
    Ok(members)
}

#[cfg(test)]
mod w3c_tests {
    use super::w3c_members;

    #[test]
    fn members_are_read_as_otel_go_reads_them() {
        assert_eq!(
            w3c_members("a=1, b@c=x y ,,\tot=th:8").unwrap(),
            vec![("a", "1"), ("b@c", "x y"), ("ot", "th:8")]
        );
        assert_eq!(w3c_members("").unwrap(), vec![]);
        assert!(w3c_members("A=1").is_err(), "upper-case key");
        assert!(w3c_members("a=1,a=2").is_err(), "repeated key");
        assert!(w3c_members("a").is_err(), "no value");
        assert!(
            w3c_members("a=1, ,b=2").is_err(),
            "a member of blanks alone"
        );
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(w3c_members(&many.join(",")).is_err());
        assert!(w3c_members(&many[..32].join(",")).is_ok());
    }
}
