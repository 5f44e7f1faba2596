//! A YAML value of any type, for fields such as the attributes processor's `value`.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Typed as YAML resolves it (and as otelcol's whole-value `${env:..}` expansion types it).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<AnyValue>),
    /// Keys in document order.
    Map(Vec<(String, AnyValue)>),
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<AnyValue, E> {
                Ok(AnyValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<AnyValue, E> {
                Ok(AnyValue::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<AnyValue, E> {
                Ok(AnyValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AnyValue, E> {
                Ok(AnyValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AnyValue, E> {
                i64::try_from(v)
                    .map(AnyValue::Int)
                    .map_err(|_| E::custom(format!("integer {v} does not fit in int64")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AnyValue, E> {
                Ok(AnyValue::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyValue, E> {
                Ok(AnyValue::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<AnyValue, E> {
                Ok(AnyValue::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<AnyValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(AnyValue::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<AnyValue, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, AnyValue>()? {
                    out.push((k, v));
                }
                Ok(AnyValue::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}
