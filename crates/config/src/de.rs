//! The serde `Deserializer` over a [`Node`], tracking otelcol paths and positions.
//!
//! Rules (otelcol's mapstructure settings): no weak typing, unknown keys are errors, a null
//! value leaves the field's default in place, a string where a list is expected is split on
//! `,`, and [`Optional`](crate::Optional) sections are switched on by presence.

use crate::de_access::{EnumAcc, MapAcc, SeqAcc, SplitSeq};
use crate::error::{ConfigError, Location};
use crate::node::{Node, NodeKind};
use crate::optional::OPTIONAL_MARKER;
use crate::resolve::{node_go_type, node_value, Value};
use serde::de::{self, IntoDeserializer, Unexpected, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// State shared by every deserializer of one decode pass.
#[derive(Default)]
pub(crate) struct Ctx {
    /// Paths decoded as if absent: they failed in an earlier pass.
    pub skip: HashSet<String>,
    /// Unknown-key errors, deduplicated across passes.
    pub errors: RefCell<Vec<ConfigError>>,
}

impl Ctx {
    fn report(&self, e: ConfigError) {
        let mut errors = self.errors.borrow_mut();
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrKind {
    Normal,
    /// A null value reached a field that has no null: the decoder retries without the key so the
    /// default stays (mapstructure leaves fields alone on nil input).
    NullSkip,
    /// A visitor refused `visit_unit` (e.g. `Duration` from `timeout:`); becomes `NullSkip`.
    UnitRejected,
}

#[derive(Debug)]
pub(crate) struct DeError {
    /// Set by the innermost deserializer the error passes through.
    pub path: Option<String>,
    pub location: Option<Location>,
    pub message: String,
    pub kind: ErrKind,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

/// The kind of a value serde complains about, without the value itself (it may be a secret).
fn unexpected_type(u: &Unexpected) -> &'static str {
    match u {
        Unexpected::Bool(_) => "bool",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "int",
        Unexpected::Float(_) => "float64",
        Unexpected::Char(_) | Unexpected::Str(_) => "string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit | Unexpected::Option => "<nil>",
        Unexpected::Seq => "[]interface {}",
        Unexpected::Map => "map[string]interface {}",
        _ => "value",
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            path: None,
            location: None,
            message: msg.to_string(),
            kind: ErrKind::Normal,
        }
    }
    fn invalid_type(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        let mut e = Self::custom(format_args!(
            "expected {exp}, got unconvertible type '{}'",
            unexpected_type(&unexp)
        ));
        if unexp == Unexpected::Unit {
            e.kind = ErrKind::UnitRejected;
        }
        e
    }
    fn invalid_value(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        match unexp {
            Unexpected::Str(_) | Unexpected::Bytes(_) => {
                Self::custom(format_args!("invalid value: expected {exp}"))
            }
            _ => Self::custom(format_args!("invalid value: {unexp}, expected {exp}")),
        }
    }
}

pub(crate) fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}::{seg}")
    }
}

/// Deserializes one node.
#[derive(Clone)]
pub(crate) struct De<'a> {
    pub node: &'a Node,
    pub path: String,
    pub ctx: &'a Ctx,
    /// A null node decodes as an empty map (the decoded root, and an `Optional` given as `key:`).
    pub null_as_empty: bool,
    /// Hide an `enabled` key consumed by `Optional` (unless the struct has such a field).
    pub drop_enabled: bool,
}

impl<'a> De<'a> {
    pub(crate) fn root(node: &'a Node, path: &str, ctx: &'a Ctx) -> Self {
        De {
            node,
            path: path.to_owned(),
            ctx,
            null_as_empty: true,
            drop_enabled: false,
        }
    }

    pub(crate) fn child(node: &'a Node, path: String, ctx: &'a Ctx) -> Self {
        De {
            node,
            path,
            ctx,
            null_as_empty: false,
            drop_enabled: false,
        }
    }

    fn err(&self, message: String) -> DeError {
        DeError {
            path: Some(self.path.clone()),
            location: self.node.location.clone(),
            message,
            kind: ErrKind::Normal,
        }
    }

    /// `expected type 'uint32', got unconvertible type 'string'`.
    fn type_err(&self, expected: &str) -> DeError {
        self.err(format!(
            "expected type '{expected}', got unconvertible type '{}'",
            node_go_type(self.node)
        ))
    }

    fn null_skip(&self, expected: &str) -> DeError {
        let mut e = self.type_err(expected);
        e.kind = ErrKind::NullSkip;
        e
    }

    /// Gives errors from visitors (serde-derived or custom, like `Duration`) this node's path.
    fn locate<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|mut e| {
            if e.path.is_none() {
                e.path = Some(self.path.clone());
                e.location = self.node.location.clone();
            }
            if e.kind == ErrKind::UnitRejected {
                e.kind = if self.is_null() {
                    ErrKind::NullSkip
                } else {
                    ErrKind::Normal
                };
            }
            e
        })
    }

    /// Null, or an expansion that produced nothing (`${env:UNSET}`).
    fn is_null(&self) -> bool {
        node_value(self.node) == Some(Value::Null)
    }

    fn value(&self) -> Option<Value<'a>> {
        node_value(self.node)
    }

    fn int(&self, expected: &str) -> Result<i128, DeError> {
        match self.value() {
            Some(Value::Int(n)) => Ok(n),
            Some(Value::Null) => Err(self.null_skip(expected)),
            _ => Err(self.type_err(expected)),
        }
    }

    fn float(&self, expected: &str) -> Result<f64, DeError> {
        match self.value() {
            Some(Value::Float(f)) => Ok(f),
            // Lossy for huge values, as Go's int-to-float conversion is.
            Some(Value::Int(n)) => Ok(n as f64),
            Some(Value::Null) => Err(self.null_skip(expected)),
            _ => Err(self.type_err(expected)),
        }
    }

    /// Any scalar's text, as-is: a string field accepts `8080` as "8080", as otelcol does; and
    /// the retrieved text of an expansion that parsed as a map or list.
    fn text(&self, expected: &str) -> Result<&'a str, DeError> {
        if let Some(original) = &self.node.original {
            return Ok(original);
        }
        match &self.node.kind {
            NodeKind::Scalar(s) if !self.is_null() => Ok(&s.text),
            NodeKind::Scalar(_) | NodeKind::Null => Err(self.null_skip(expected)),
            _ => Err(self.type_err(expected)),
        }
    }

    fn visit_map_node<'de, V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        v: V,
    ) -> Result<V::Value, DeError> {
        let entries: &'a [(String, Option<Location>, Node)] = match &self.node.kind {
            NodeKind::Map(e) => e,
            _ if self.is_null() && self.null_as_empty => &[],
            _ if self.is_null() => return Err(self.null_skip("map")),
            _ => return Err(self.err(format!("expected a map, got '{}'", node_go_type(self.node)))),
        };
        let drop_enabled = self.drop_enabled && !fields.is_some_and(|f| f.contains(&"enabled"));
        if let Some(fields) = fields {
            for (k, kloc, _) in entries {
                let known = fields.contains(&k.as_str()) || (drop_enabled && k == "enabled");
                if !known {
                    let msg = format!("unknown key {k:?}; valid keys: {}", fields.join(", "));
                    self.ctx
                        .report(ConfigError::new(join(&self.path, k), msg).at(kloc.clone()));
                }
            }
        }
        let acc = MapAcc::new(entries, &self.path, self.ctx, fields, drop_enabled);
        let r = v.visit_map(acc);
        self.locate(r)
    }

    /// otelcol's `configoptional` presence semantics; see [`crate::Optional`].
    fn optional<'de, V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            let inner = De {
                null_as_empty: true,
                ..self.clone()
            };
            let r = v.visit_newtype_struct(inner);
            return self.locate(r);
        }
        if let Some(enabled) = self.node.get("enabled") {
            let path = join(&self.path, "enabled");
            match node_value(enabled) {
                Some(Value::Bool(false)) => return v.visit_none(),
                Some(Value::Bool(true)) => {}
                other => {
                    let (ty, text) = match (other, enabled.as_str()) {
                        (Some(val), Some(text)) => (val.go_type(), text),
                        (Some(val), None) => (val.go_type(), "<nil>"),
                        (None, _) => (node_go_type(enabled), "..."),
                    };
                    let msg = format!(
                        "unexpected type {ty} for 'enabled': got '{text}' value expected 'true' or 'false'"
                    );
                    return Err(De::child(enabled, path, self.ctx).err(msg));
                }
            }
        }
        let inner = De {
            drop_enabled: true,
            ..self.clone()
        };
        let r = v.visit_newtype_struct(inner);
        self.locate(r)
    }
}

macro_rules! de_int {
    ($($method:ident $ty:ty, $visit:ident, $name:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            let n = self.int($name)?;
            let n = <$ty>::try_from(n)
                .map_err(|_| self.err(format!("value overflows type '{}'", $name)))?;
            let r = v.$visit(n);
            self.locate(r)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Seq(items) => v.visit_seq(SeqAcc::new(items, &self.path, self.ctx)),
            NodeKind::Map(_) => return self.visit_map_node(None, v),
            _ => match self.value() {
                Some(Value::Bool(b)) => v.visit_bool(b),
                Some(Value::Int(n)) => match (i64::try_from(n), u64::try_from(n)) {
                    (Ok(i), _) => v.visit_i64(i),
                    (_, Ok(u)) => v.visit_u64(u),
                    _ => v.visit_f64(n as f64),
                },
                Some(Value::Float(f)) => v.visit_f64(f),
                Some(Value::Str(s)) => v.visit_str(s),
                Some(Value::Null) | None => v.visit_unit(),
            },
        };
        self.locate(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.value() {
            Some(Value::Bool(b)) => {
                let r = v.visit_bool(b);
                self.locate(r)
            }
            Some(Value::Null) => Err(self.null_skip("bool")),
            _ => Err(self.type_err("bool")),
        }
    }

    de_int! {
        deserialize_i8 i8, visit_i8, "int8";
        deserialize_i16 i16, visit_i16, "int16";
        deserialize_i32 i32, visit_i32, "int32";
        deserialize_i64 i64, visit_i64, "int64";
        deserialize_i128 i128, visit_i128, "int128";
        deserialize_u8 u8, visit_u8, "uint8";
        deserialize_u16 u16, visit_u16, "uint16";
        deserialize_u32 u32, visit_u32, "uint32";
        deserialize_u64 u64, visit_u64, "uint64";
        deserialize_u128 u128, visit_u128, "uint128";
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let f = self.float("float32")?;
        let r = v.visit_f32(f as f32);
        self.locate(r)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let f = self.float("float64")?;
        let r = v.visit_f64(f);
        self.locate(r)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let s = self.text("string")?;
        let r = v.visit_str(s);
        self.locate(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let s = self.text("[]uint8")?;
        let r = v.visit_bytes(s.as_bytes());
        self.locate(r)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            v.visit_none()
        } else {
            let r = v.visit_some(self.clone());
            self.locate(r)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            let r = v.visit_unit();
            self.locate(r)
        } else {
            Err(self.type_err("<nil>"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        if name == OPTIONAL_MARKER {
            return self.optional(v);
        }
        let r = v.visit_newtype_struct(self.clone());
        self.locate(r)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match (&self.node.kind, self.value()) {
            (NodeKind::Seq(items), _) => v.visit_seq(SeqAcc::new(items, &self.path, self.ctx)),
            (_, Some(Value::Null)) if self.null_as_empty => {
                v.visit_seq(SplitSeq::new("", self.clone()))
            }
            (_, Some(Value::Null)) => return Err(self.null_skip("slice")),
            // otelcol's StringToSliceHookFunc(","): `a,b` where a list is expected.
            (NodeKind::Scalar(s), Some(Value::Str(_))) => {
                v.visit_seq(SplitSeq::new(&s.text, self.clone()))
            }
            _ => {
                return Err(self.err(format!(
                    "source data must be an array or slice, got {}",
                    node_go_type(self.node)
                )))
            }
        };
        self.locate(r)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.visit_map_node(None, v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        self.visit_map_node(Some(fields), v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Scalar(s) if !self.is_null() => v.visit_enum(
                IntoDeserializer::<DeError>::into_deserializer(s.text.as_str()),
            ),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, _, value) = &entries[0];
                let de = De::child(value, join(&self.path, k), self.ctx);
                v.visit_enum(EnumAcc { variant: k, de })
            }
            _ if self.is_null() => return Err(self.null_skip("string")),
            _ => return Err(self.type_err("string")),
        };
        self.locate(r)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
}
