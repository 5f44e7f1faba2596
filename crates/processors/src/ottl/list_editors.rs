//! The editors that build lists and flatten maps: `append`, `delete_index` and `flatten`, as
//! otelcol-contrib's `ottlfuncs` define them, and the optional (positional or named) arguments
//! they take.

use super::lexer::Tok;
use super::parser::{Parser, ValueExpr};
use super::setter::owned;
use super::value::Val;
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use std::collections::HashMap;

/// The arguments after the target, in `names`' order: each given positionally (in order) or
/// as `name = value`; `None` where absent.
pub(super) fn optional_args(
    p: &mut Parser,
    editor: &str,
    names: &[&str],
) -> Result<Vec<Option<ValueExpr>>, String> {
    let mut args: Vec<Option<ValueExpr>> = names.iter().map(|_| None).collect();
    let mut next_positional = 0;
    let mut named_seen = false;
    while p.is_op(",") {
        p.next();
        let at = match p.named_arg() {
            Some(name) => {
                named_seen = true;
                // OTTL matches names after `strcase.ToCamel`: `resolve_conflicts` and
                // `resolveConflicts` are the same argument.
                let plain = |n: &str| n.replace('_', "").to_ascii_lowercase();
                names
                    .iter()
                    .position(|n| plain(n) == plain(&name))
                    .ok_or_else(|| {
                        format!("{editor} has no argument named {name:?} (it takes {names:?})")
                    })?
            }
            None if named_seen => {
                return Err(format!(
                    "{editor}: a positional argument cannot follow a named one"
                ))
            }
            None => {
                next_positional += 1;
                next_positional - 1
            }
        };
        let Some(slot) = args.get_mut(at) else {
            return Err(format!(
                "{editor} takes at most {} arguments after its target",
                names.len()
            ));
        };
        if slot.is_some() {
            return Err(format!("{editor}: argument {:?} given twice", names[at]));
        }
        *slot = Some(if p.is_op("[") { p.list()? } else { p.value()? });
    }
    if !matches!(p.peek(), Some(Tok::Op(")"))) {
        return Err(match p.peek() {
            Some(t) => format!("expected ',' or ')' in {editor}'s arguments, found {t}"),
            None => format!("unterminated {editor}(...): expected ')'"),
        });
    }
    Ok(args)
}

/// `append(target, value, values)`: the target as a list (a scalar becomes its first item,
/// nothing an empty list), then `value`, then each of `values`. Nothing is converted: lists may
/// mix types. A list literal as `value` is appended as one nested list, as OTTL's (Go's
/// `[]any`); a map or list read from the telemetry is refused, as OTTL's `FromRaw` refuses it.
pub(super) fn append(
    target: Val,
    value: Option<Val>,
    value_is_literal_list: bool,
    values: Option<Val>,
) -> Result<AnyValue, String> {
    let mut items: Vec<AnyValue> = match target {
        Val::Nil => Vec::new(),
        Val::List(items) => items.into_owned(),
        Val::Map(_) => return Err("unsupported type of target field: \"Map\"".into()),
        scalar => vec![owned(&scalar).expect("not nil")],
    };
    // OTTL builds the result with pdata's FromRaw, which refuses its own maps and lists.
    let item = |v: &Val| -> Result<AnyValue, String> {
        if matches!(v, Val::Map(_) | Val::List(_)) {
            return Err(format!("<Invalid value type {}>", v.type_name()));
        }
        Ok(owned(v).unwrap_or_default())
    };
    match value {
        Some(Val::List(list)) if value_is_literal_list => items.push(list_value(list.into_owned())),
        Some(v) => items.push(item(&v)?),
        None => {}
    }
    match values {
        None => {}
        Some(Val::List(list)) => {
            for v in list.iter() {
                items.push(item(&Val::from_any(v))?);
            }
        }
        Some(other) => return Err(format!("values must be a list, got {}", other.type_name())),
    }
    Ok(list_value(items))
}

pub(super) fn map_value(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::KvlistValue(
            kakehashi_pdata::proto::common::v1::KeyValueList { values },
        )),
    }
}

fn list_value(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(
            kakehashi_pdata::proto::common::v1::ArrayValue { values },
        )),
    }
}

/// `delete_index(target, start[, end])`: removes `[start, end)` (`end` = `start + 1` when
/// absent), strict about bounds as OTTL.
pub(super) fn delete_index(target: Val, start: Val, end: Option<Val>) -> Result<AnyValue, String> {
    let Val::List(items) = target else {
        return Err(format!(
            "expected pcommon.Slice but got {}",
            target.type_name()
        ));
    };
    let int = |v: Val| match v {
        Val::Int(i) => Ok(i),
        other => Err(format!("expected int64 but got {}", other.type_name())),
    };
    let start = int(start)?;
    let end = match end {
        Some(e) => int(e)?,
        None => start.saturating_add(1),
    };
    let len = items.len() as i64;
    // Deleting everything is fine even from an empty list, as OTTL checks that first.
    if (start < 0 || start >= len) && !(start == 0 && end == len) {
        return Err(format!(
            "startIndex {start} out of bounds for slice of length {len}"
        ));
    }
    if end < start {
        return Err(format!(
            "endIndex {end} cannot be less than startIndex {start}"
        ));
    }
    if end > len {
        return Err(format!(
            "deletion range [{start}:{end}] out of bounds for slice of length {len}"
        ));
    }
    let mut items = items.into_owned();
    items.drain(start as usize..end as usize);
    Ok(list_value(items))
}

/// `flatten(target[, prefix[, depth[, resolveConflicts]]])`'s settings.
#[derive(Debug)]
pub(super) struct FlattenSettings {
    pub prefix: String,
    pub max_depth: i64,
    pub resolve_conflicts: bool,
}

impl FlattenSettings {
    pub fn new(
        prefix: Option<ValueExpr>,
        depth: Option<ValueExpr>,
        resolve: Option<ValueExpr>,
    ) -> Result<FlattenSettings, String> {
        let prefix = match prefix {
            None => String::new(),
            Some(ValueExpr::Str(s)) => s,
            Some(_) => return Err("flatten's prefix must be a string literal".into()),
        };
        let max_depth = match depth {
            None => i64::MAX,
            Some(ValueExpr::Int(d)) if d >= 1 => d,
            Some(ValueExpr::Int(d)) => {
                return Err(format!(
                    "invalid depth '{d}' for flatten function, must be greater than 0"
                ))
            }
            Some(_) => return Err("flatten's depth must be an integer literal".into()),
        };
        let resolve_conflicts = match resolve {
            None => false,
            Some(ValueExpr::Bool(b)) => b,
            Some(_) => return Err("flatten's resolveConflicts must be true or false".into()),
        };
        Ok(FlattenSettings {
            prefix,
            max_depth,
            resolve_conflicts,
        })
    }

    /// The flattened map: nested keys joined with `.`, list items keyed by their index, down
    /// to `max_depth` levels (deeper values kept whole). With `resolve_conflicts`, a key met
    /// again gets `.0`, `.1`, ... appended instead of replacing the first value — and list
    /// items then take their list's own key first, as OTTL's.
    pub fn apply(&self, map: Vec<KeyValue>) -> Vec<KeyValue> {
        let mut f = Flattener {
            settings: self,
            result: Vec::with_capacity(map.len()),
            conflicts: HashMap::new(),
        };
        f.map(map, self.prefix.clone(), 0);
        f.result
    }
}

struct Flattener<'s> {
    settings: &'s FlattenSettings,
    result: Vec<KeyValue>,
    /// How many times a key has been met again (OTTL's `existingKeys`).
    conflicts: HashMap<String, usize>,
}

impl Flattener<'_> {
    fn map(&mut self, map: Vec<KeyValue>, mut prefix: String, depth: i64) {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        for kv in map {
            self.value(&kv.key, kv.value.unwrap_or_default(), depth, &prefix);
        }
    }

    /// A nested list's items, keyed as OTTL keys them: the list's key and the item's index
    /// with no dot between (`a.0` then `0` gives `a.00`) — kept for identical output.
    fn list(&mut self, items: Vec<AnyValue>, prefix: &str, depth: i64) {
        for (i, item) in items.into_iter().enumerate() {
            self.value(&i.to_string(), item, depth + 1, prefix);
        }
    }

    fn value(&mut self, key: &str, v: AnyValue, depth: i64, prefix: &str) {
        use any_value::Value as V;
        let max = self.settings.max_depth;
        match v.value {
            Some(V::KvlistValue(m)) if depth < max => {
                self.map(m.values, format!("{prefix}{key}"), depth + 1)
            }
            Some(V::ArrayValue(a)) if depth < max => {
                let full = format!("{prefix}{key}");
                for (i, item) in a.values.into_iter().enumerate() {
                    match item.value {
                        Some(V::KvlistValue(m)) if depth + 1 < max => {
                            self.map(m.values, format!("{full}.{i}"), depth + 2)
                        }
                        Some(V::ArrayValue(inner)) if depth + 1 < max => {
                            self.list(inner.values, &format!("{full}.{i}"), depth + 2)
                        }
                        _ if self.settings.resolve_conflicts => self.put_resolving(&full, item),
                        _ => self.put(format!("{full}.{i}"), item),
                    }
                }
            }
            value => {
                let full = format!("{prefix}{key}");
                let v = AnyValue { value };
                if self.settings.resolve_conflicts {
                    self.put_resolving(&full, v)
                } else {
                    self.put(full, v)
                }
            }
        }
    }

    /// pcommon's `PutEmpty`: a key already there keeps its place and takes the value.
    fn put(&mut self, key: String, v: AnyValue) {
        match self.result.iter_mut().find(|kv| kv.key == key) {
            Some(existing) => existing.value = Some(v),
            None => self.result.push(KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            }),
        }
    }

    fn put_resolving(&mut self, key: &str, v: AnyValue) {
        if self.result.iter().any(|kv| kv.key == key) {
            let n = self.conflicts.entry(key.to_string()).or_insert(0);
            let new_key = format!("{key}.{n}");
            *n += 1;
            self.put(new_key, v);
        } else {
            self.conflicts.insert(key.to_string(), 0);
            self.put(key.to_string(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ottl::json::{parse, Parsed};
    use kakehashi_pdata::go_text::as_string;
    use std::borrow::Cow;

    fn map(json: &str) -> Vec<KeyValue> {
        match parse(json).unwrap() {
            Parsed::Map(kvs) => kvs,
            Parsed::List(_) => panic!("an object"),
        }
    }

    fn list(json: &str) -> Val<'static> {
        match parse(json).unwrap() {
            Parsed::List(items) => Val::List(Cow::Owned(items)),
            Parsed::Map(_) => panic!("an array"),
        }
    }

    /// `key=value` pairs in order, values as OTTL's `String` shows them.
    fn flat(json: &str, prefix: &str, depth: Option<i64>, resolve: bool) -> Vec<String> {
        let settings = FlattenSettings::new(
            Some(ValueExpr::Str(prefix.into())),
            depth.map(ValueExpr::Int),
            Some(ValueExpr::Bool(resolve)),
        )
        .unwrap();
        settings
            .apply(map(json))
            .iter()
            .map(|kv| format!("{}={}", kv.key, as_string(kv.value.as_ref())))
            .collect()
    }

    #[test]
    fn flatten_as_ottl() {
        let combination = r#"{"name":"test","address":{"street":"first","house":1234},"occupants":["user 1",{"name":"user 2"}]}"#;
        assert_eq!(
            flat(combination, "", None, false),
            [
                "name=test",
                "address.street=first",
                "address.house=1234",
                "occupants.0=user 1",
                "occupants.1.name=user 2"
            ]
        );
        assert_eq!(
            flat(combination, "app", None, false)[0..2],
            ["app.name=test", "app.address.street=first"]
        );
        // Depth counts map and list levels; what is deeper stays whole.
        assert_eq!(
            flat(r#"{"0":{"1":{"2":{"3":"value"}}}}"#, "", Some(2), false),
            [r#"0.1.2={"3":"value"}"#]
        );
        assert_eq!(
            flat(r#"{"1":{"1":[{"1":"value"}]}}"#, "", Some(1), false),
            [r#"1.1=[{"1":"value"}]"#]
        );
        // A list in a list: OTTL puts no dot between the outer index and the inner one.
        assert_eq!(
            flat(r#"{"a":[["x","y"]]}"#, "", None, false),
            ["a.00=x", "a.01=y"]
        );
        // Empty maps and lists leave nothing.
        assert_eq!(
            flat(r#"{"e":{},"l":[]}"#, "", None, false),
            Vec::<String>::new()
        );
    }

    #[test]
    fn flatten_resolving_conflicts() {
        // Without: the later value replaces the earlier in its place.
        assert_eq!(
            flat(
                r#"{"address":{"street":"first"},"address.street":"second"}"#,
                "",
                None,
                false
            ),
            ["address.street=second"]
        );
        assert_eq!(
            flat(
                r#"{"address":{"street":"first"},"address.street":"second"}"#,
                "",
                None,
                true
            ),
            ["address.street=first", "address.street.0=second"]
        );
        // List items take their list's key first, then .0, .1, ... as OTTL's.
        assert_eq!(
            flat(
                r#"{"occupants":["user 1","user 2","user 3"]}"#,
                "",
                None,
                true
            ),
            [
                "occupants=user 1",
                "occupants.0=user 2",
                "occupants.1=user 3"
            ]
        );
    }

    #[test]
    fn flatten_depth_must_be_positive() {
        for d in [0, -1] {
            let err = FlattenSettings::new(None, Some(ValueExpr::Int(d)), None).unwrap_err();
            assert!(err.contains("must be greater than 0"), "{err}");
        }
    }

    fn shown(v: AnyValue) -> String {
        as_string(Some(&v))
    }

    #[test]
    fn delete_index_as_ottl() {
        let digits = || list("[0,1,2,3,4,5,6,7,8,9]");
        let del = |start: i64, end: Option<i64>| {
            delete_index(digits(), Val::Int(start), end.map(Val::Int)).map(shown)
        };
        assert_eq!(del(3, None).unwrap(), "[0,1,2,4,5,6,7,8,9]");
        assert_eq!(del(2, Some(6)).unwrap(), "[0,1,6,7,8,9]");
        assert_eq!(del(0, Some(10)).unwrap(), "[]");
        assert_eq!(del(2, Some(2)).unwrap(), "[0,1,2,3,4,5,6,7,8,9]");
        assert!(del(10, None)
            .unwrap_err()
            .contains("startIndex 10 out of bounds"));
        assert!(del(-1, None).unwrap_err().contains("out of bounds"));
        assert!(del(5, Some(3)).unwrap_err().contains("cannot be less than"));
        assert!(del(5, Some(11))
            .unwrap_err()
            .contains("deletion range [5:11]"));
        let empty = delete_index(list("[]"), Val::Int(0), Some(Val::Int(0)));
        assert_eq!(empty.map(shown).unwrap(), "[]");
        let not_a_list = delete_index(Val::Str("x".into()), Val::Int(0), None);
        assert!(not_a_list
            .unwrap_err()
            .contains("expected pcommon.Slice but got string"));
        let not_an_int = delete_index(digits(), Val::Str("1".into()), None);
        assert!(not_an_int
            .unwrap_err()
            .contains("expected int64 but got string"));
    }

    #[test]
    fn append_as_ottl() {
        let one =
            |target: Val<'static>, v: Val<'static>| append(target, Some(v), false, None).map(shown);
        assert_eq!(one(Val::Nil, Val::Str("a".into())).unwrap(), r#"["a"]"#);
        assert_eq!(
            one(Val::Int(5), Val::Str("a".into())).unwrap(),
            r#"[5,"a"]"#
        );
        assert_eq!(one(Val::Bool(true), Val::Int(5)).unwrap(), "[true,5]");
        assert_eq!(
            one(list(r#"["x"]"#), Val::Float(2.5)).unwrap(),
            r#"["x",2.5]"#
        );
        // nil appends an empty value, as Go appends its nil.
        assert_eq!(one(Val::Nil, Val::Nil).unwrap(), "[null]");
        let map_target = one(Val::Map(Cow::Owned(map("{}"))), Val::Int(1));
        assert!(map_target
            .unwrap_err()
            .contains("unsupported type of target field"));
        let list_value = one(Val::Nil, list("[1]"));
        assert!(list_value.unwrap_err().contains("Invalid value type"));
        // value first, then values.
        let both = append(
            Val::Nil,
            Some(Val::Int(1)),
            false,
            Some(list(r#"["b",true]"#)),
        );
        assert_eq!(both.map(shown).unwrap(), r#"[1,"b",true]"#);
        // A list literal as value: one nested list.
        let nested = append(list(r#"["x"]"#), Some(list(r#"["a","b"]"#)), true, None);
        assert_eq!(nested.map(shown).unwrap(), r#"["x",["a","b"]]"#);
    }
}
