//! The expression tree OTTL conditions and values parse into (`parser.rs` builds it): boolean
//! expressions, values, comparison and arithmetic operators, and the converters a value may
//! call.

use super::path::{Key, Path};
use regex::Regex;

#[derive(Debug)]
pub(crate) enum BoolExpr {
    Or(Vec<BoolExpr>),
    And(Vec<BoolExpr>),
    Not(Box<BoolExpr>),
    Const(bool),
    Compare(ValueExpr, CmpOp, ValueExpr),
    Call(Call),
}

#[derive(Debug)]
pub(crate) enum ValueExpr {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Path(Path),
    Call(Call),
    Math(Box<ValueExpr>, MathOp, Box<ValueExpr>),
    /// `[a, b]`.
    List(Vec<ValueExpr>),
    /// A converter's result indexed: `Split(attributes["path"], "/")[1]`.
    Indexed(Box<ValueExpr>, Vec<Key>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub func: Func,
    pub args: Vec<ValueExpr>,
}

/// The converters a condition may call. `IsMatch`'s pattern is compiled once, here.
#[derive(Debug)]
pub(crate) enum Func {
    IsMatch(Regex),
    IsString,
    IsInt,
    IsDouble,
    IsBool,
    IsMap,
    IsList,
    ToLowerCase,
    ToUpperCase,
    /// A string's length in bytes, a list's or a map's number of items.
    Len,
    /// The lowercase hex digest of a string (`SHA1`, `SHA256`, `SHA512`, `MD5`).
    Hash(super::hash::HashFn),
    /// FNV-1a 64 of a string, as an int.
    Fnv,
    /// A value as an int / a double (`nil` when it cannot be one).
    Int,
    Double,
    /// Whether the span has no parent.
    IsRootSpan,
    /// Metric context: whether a data point has the attribute (with this string value).
    HasAttrKeyOnDatapoint(String),
    HasAttrOnDatapoint(String, String),
    /// `Concat([values], delimiter)`: the delimiter, the list being the one argument kept.
    Concat(String),
    /// `Substring(target, start, length)`, in bytes.
    Substring(usize, usize),
    /// `Split(target, delimiter)`: Go's `strings.Split`, a list of strings.
    Split,
    /// `String(value)`: OTTL's string form of any value (JSON for maps and lists, hex for
    /// bytes); `nil` stays `nil`.
    String,
    /// `Trim(target[, cutset])`: every leading and trailing character of the cutset (a
    /// literal, `" "` when absent), as Go's `strings.Trim`.
    Trim(String),
    TrimPrefix,
    TrimSuffix,
    HasPrefix,
    HasSuffix,
    /// `Index(target, value)`: a substring's byte offset, or a list item's position; -1 when
    /// absent.
    Index,
    /// `ContainsValue(list, item)`.
    ContainsValue,
    /// A map's keys / values as a list, in the map's order.
    Keys,
    Values,
    /// `ParseJSON(target)`: a JSON object as a map, an array as a list; numbers are doubles.
    ParseJson,
    /// `ExtractPatterns(target, pattern)`: the named groups of the first match as a map of
    /// strings (a group that took no part is ""); no match, an empty map.
    ExtractPatterns(Regex),
    /// `ParseKeyValue(target[, delimiter[, pair_delimiter[, ignore_malformed_tokens]]])`.
    ParseKeyValue(super::key_value::KeyValueParser),
}

impl Func {
    pub(super) fn returns_bool(&self) -> bool {
        matches!(
            self,
            Func::IsMatch(_)
                | Func::IsString
                | Func::IsInt
                | Func::IsDouble
                | Func::IsBool
                | Func::IsMap
                | Func::IsList
                | Func::IsRootSpan
                | Func::HasAttrKeyOnDatapoint(_)
                | Func::HasAttrOnDatapoint(..)
                | Func::HasPrefix
                | Func::HasSuffix
                | Func::ContainsValue
        )
    }

    /// Functions whose arguments may be list literals (`[a, b]`).
    pub(super) fn takes_lists(&self) -> bool {
        matches!(
            self,
            Func::Concat(_) | Func::Index | Func::ContainsValue | Func::String | Func::Len
        )
    }
}

pub(super) fn id_length(converter: &str) -> Option<usize> {
    match converter {
        "SpanID" => Some(8),
        "TraceID" => Some(16),
        _ => None,
    }
}
