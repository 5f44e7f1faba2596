//! `ParseJSON`: JSON text straight into pdata values, as OTTL builds them — keys in document
//! order (a repeated key keeps its first place and takes the later value, as `Map.PutEmpty`),
//! every number the nearest double, `null` an empty value. Only an object or an array is a
//! result; a scalar at the top is an error, as OTTL's.
//!
//! One deliberate difference: the whole document is read. otelcol-contrib's streaming parser
//! does not consume a `null` that is not the last member of its object or array, and then
//! loses the members after it or fails; an empty key `""` ends its object there too.

use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What the top level of a parsed document is.
pub(crate) enum Parsed {
    Map(Vec<KeyValue>),
    List(Vec<AnyValue>),
}

pub(crate) fn parse(text: &str) -> Result<Parsed, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    // Text after the value is ignored, as OTTL's streaming parser does.
    let value = de
        .deserialize_any(ValueVisitor)
        .map_err(|e| e.to_string())?;
    match value.value {
        Some(any_value::Value::KvlistValue(m)) => Ok(Parsed::Map(m.values)),
        Some(any_value::Value::ArrayValue(a)) => Ok(Parsed::List(a.values)),
        other => Err(format!(
            "could not convert parsed value of type {:?} to JSON object",
            match other {
                None => "Empty",
                Some(any_value::Value::StringValue(_)) => "Str",
                Some(any_value::Value::BoolValue(_)) => "Bool",
                _ => "Double",
            }
        )),
    }
}

struct ValueVisitor;

fn value(v: any_value::Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue { value: None })
    }

    fn visit_bool<E>(self, b: bool) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::BoolValue(b)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::DoubleValue(i as f64)))
    }

    fn visit_u64<E>(self, u: u64) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::DoubleValue(u as f64)))
    }

    fn visit_f64<E>(self, f: f64) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::DoubleValue(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::StringValue(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<AnyValue, E> {
        Ok(value(any_value::Value::StringValue(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut values = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed)? {
            values.push(v);
        }
        Ok(value(any_value::Value::ArrayValue(ArrayValue { values })))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        let mut values: Vec<KeyValue> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(Seed)?;
            match values.iter_mut().find(|kv| kv.key == key) {
                Some(existing) => existing.value = Some(v),
                None => values.push(KeyValue {
                    key,
                    value: Some(v),
                    ..Default::default()
                }),
            }
        }
        Ok(value(any_value::Value::KvlistValue(KeyValueList {
            values,
        })))
    }
}

/// Nested values go through the same visitor.
struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = AnyValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::go_text::as_string;

    fn render(p: Parsed) -> String {
        let v = match p {
            Parsed::Map(values) => any_value::Value::KvlistValue(KeyValueList { values }),
            Parsed::List(values) => any_value::Value::ArrayValue(ArrayValue { values }),
        };
        as_string(Some(&value(v)))
    }

    #[test]
    /// Also where otelcol differs (a `null` before other members): every member is kept.
    fn objects_keep_document_order_and_numbers_are_doubles() {
        let Parsed::Map(kvs) =
            parse(r#"{"b": 1, "a": {"n": null, "x": [1.5, "s", true]}, "b": 2}"#).unwrap()
        else {
            panic!("an object is a map");
        };
        let keys: Vec<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"], "first place kept for a repeated key");
        assert_eq!(
            kvs[0].value,
            Some(value(any_value::Value::DoubleValue(2.0))),
            "the later value wins; an integer is a double"
        );
        let Some(any_value::Value::KvlistValue(inner)) = &kvs[1].value.as_ref().unwrap().value
        else {
            panic!("nested object");
        };
        assert_eq!(
            inner.values[0].value,
            Some(AnyValue { value: None }),
            "null is empty"
        );
    }

    #[test]
    fn numbers_are_the_nearest_double() {
        // serde_json's default float parser is 1 ULP off on these; Go's is exact.
        for (text, want) in [
            ("[555.80658428042563]", 555.806_584_280_425_7),
            ("[6.7507387495536e-10]", 6.750_738_749_553_6e-10),
        ] {
            let Parsed::List(items) = parse(text).unwrap() else {
                panic!("an array");
            };
            assert_eq!(
                items[0].value,
                Some(any_value::Value::DoubleValue(want)),
                "{text}"
            );
        }
    }

    #[test]
    fn arrays_are_lists_and_scalars_are_errors() {
        assert_eq!(render(parse("[[1],[2,3],[]]").unwrap()), "[[1],[2,3],[]]");
        for scalar in ["1", "\"s\"", "true", "null"] {
            let err = parse(scalar).err().expect("a scalar is refused");
            assert!(err.contains("could not convert parsed value"), "{err}");
        }
        assert!(parse("{\"a\": ").is_err());
        assert!(parse("").is_err());
        assert!(
            matches!(parse("{} x"), Ok(Parsed::Map(m)) if m.is_empty()),
            "text after the value is ignored, as OTTL's"
        );
    }
}
