//! OTTL statements, `editor(arguments) [where condition]`: the part of the language the
//! `transform` processor needs. Editors: `set`, `delete_key`, `delete_matching_keys`,
//! `keep_keys`, `keep_matching_keys`, `replace_pattern`, `replace_all_patterns`, `truncate_all`,
//! `limit`, and ([`super::list_editors`]) `append`, `delete_index`, `flatten`. Their targets are checked when the configuration is loaded (a path that cannot be
//! set, or a map editor on something that is not a map, is an error then).

use super::hash::{check_format, Replacement, StringFn};
use super::lexer::Tok;
use super::list_editors::{self, optional_args, FlattenSettings};
use super::parser::{BoolExpr, Parser, ValueExpr};
use super::path::Path;
use super::setter::{is_map, map_mut, owned, set, settable, str_value, MutCtx};
use super::value::Val;
use super::{eval_bool, eval_value, ContextKind};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;

#[derive(Debug)]
enum Editor {
    Set(Path, ValueExpr),
    DeleteKey(Path, String),
    DeleteMatchingKeys(Path, Regex),
    KeepKeys(Path, Vec<String>),
    KeepMatchingKeys(Path, Regex),
    ReplacePattern(Path, Regex, Replacement),
    ReplaceAllPatterns(Path, PatternMode, Regex, Replacement),
    /// `replace_match` / `replace_all_matches`: a glob over the whole value (kept as an
    /// anchored regex), replaced by the string as it is.
    ReplaceMatch(Path, Regex, String),
    /// `merge_maps(target, source, strategy)`.
    MergeMaps(Path, ValueExpr, MergeStrategy),
    ReplaceAllMatches(Path, Regex, String),
    TruncateAll(Path, usize),
    Limit(Path, usize, Vec<String>),
    /// `append(target, value, values)`, at least one of the two.
    Append(Path, Option<ValueExpr>, Option<ValueExpr>),
    /// `delete_index(target, startIndex[, endIndex])`.
    DeleteIndex(Path, ValueExpr, Option<ValueExpr>),
    Flatten(Path, FlattenSettings),
}

/// `insert` adds missing keys, `update` changes present ones, `upsert` does both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MergeStrategy {
    Insert,
    Update,
    Upsert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternMode {
    Key,
    Value,
}

/// One parsed statement.
#[derive(Debug)]
pub struct Statement {
    editor: Editor,
    condition: Option<BoolExpr>,
    text: String,
}

impl Statement {
    pub fn parse(text: &str, kind: ContextKind) -> Result<Statement, String> {
        let parse = || -> Result<Statement, String> {
            let mut p = Parser::new(text, kind, "statement")?;
            let editor = editor(&mut p)?;
            let condition = if matches!(p.peek(), Some(Tok::Ident(w)) if w == "where") {
                p.next();
                Some(p.bool_expr()?)
            } else {
                None
            };
            p.end("statement")?;
            Ok(Statement {
                editor,
                condition,
                text: text.to_string(),
            })
        };
        parse().map_err(|e| format!("unable to parse OTTL statement {text:?}: {e}"))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Runs the statement if its `where` condition holds.
    pub fn execute(&self, ctx: &mut MutCtx) -> Result<(), String> {
        if let Some(c) = &self.condition {
            if !eval_bool(c, &ctx.view())? {
                return Ok(());
            }
        }
        match &self.editor {
            Editor::Set(target, value) => {
                let v = owned(&eval_value(value, &ctx.view())?);
                if let Some(v) = v {
                    set(target, ctx, v)?;
                }
            }
            Editor::Append(t, value, values) => {
                let list = {
                    let view = ctx.view();
                    let target = super::path::get(t, &view)?;
                    let literal = matches!(value, Some(ValueExpr::List(_)));
                    let value = value.as_ref().map(|v| eval_value(v, &view)).transpose()?;
                    let values = values.as_ref().map(|v| eval_value(v, &view)).transpose()?;
                    list_editors::append(target, value, literal, values)?
                };
                set(t, ctx, list)?;
            }
            Editor::DeleteIndex(t, start, end) => {
                let list = {
                    let view = ctx.view();
                    let target = super::path::get(t, &view)?;
                    let start = eval_value(start, &view)?;
                    let end = end.as_ref().map(|e| eval_value(e, &view)).transpose()?;
                    list_editors::delete_index(target, start, end)?
                };
                set(t, ctx, list)?;
            }
            Editor::Flatten(t, settings) if is_map(t).is_ok() => {
                let map = map_mut(t, ctx);
                let flat = settings.apply(std::mem::take(map));
                *map = flat;
            }
            Editor::Flatten(t, settings) => {
                let map = match super::path::get(t, &ctx.view())? {
                    Val::Map(kvs) => kvs.into_owned(),
                    other => {
                        return Err(format!(
                            "expected pcommon.Map but got {}",
                            other.type_name()
                        ))
                    }
                };
                let flat = settings.apply(map);
                set(t, ctx, super::list_editors::map_value(flat))?;
            }
            Editor::DeleteKey(t, key) => map_mut(t, ctx).retain(|kv| &kv.key != key),
            Editor::DeleteMatchingKeys(t, re) => map_mut(t, ctx).retain(|kv| !re.is_match(&kv.key)),
            Editor::KeepKeys(t, keys) => map_mut(t, ctx).retain(|kv| keys.contains(&kv.key)),
            Editor::KeepMatchingKeys(t, re) => map_mut(t, ctx).retain(|kv| re.is_match(&kv.key)),
            Editor::ReplacePattern(t, re, with) => {
                let replaced = match super::path::get(t, &ctx.view())? {
                    Val::Str(s) if re.is_match(&s) => Some(with.apply(re, &s)),
                    _ => None,
                };
                if let Some(r) = replaced {
                    set(t, ctx, str_value(r))?;
                }
            }
            Editor::ReplaceAllPatterns(t, PatternMode::Key, re, with) => {
                // Rebuilt as OTTL rebuilds the map: a renamed key that meets an existing one
                // keeps the first one's place and the later value.
                let map = map_mut(t, ctx);
                let mut rebuilt: Vec<KeyValue> = Vec::with_capacity(map.len());
                for mut kv in map.drain(..) {
                    if re.is_match(&kv.key) {
                        kv.key = with.apply(re, &kv.key);
                    }
                    match rebuilt.iter_mut().find(|e| e.key == kv.key) {
                        Some(existing) => existing.value = kv.value,
                        None => rebuilt.push(kv),
                    }
                }
                *map = rebuilt;
            }
            Editor::ReplaceAllPatterns(t, PatternMode::Value, re, with) => {
                for kv in map_mut(t, ctx).iter_mut() {
                    if let Some(AnyValue {
                        value: Some(any_value::Value::StringValue(s)),
                    }) = &mut kv.value
                    {
                        if re.is_match(s) {
                            *s = with.apply(re, s);
                        }
                    }
                }
            }
            Editor::MergeMaps(t, source, strategy) => {
                // Copied out first: the source may be a map of the same item.
                let source: Vec<KeyValue> = match eval_value(source, &ctx.view())? {
                    Val::Map(kvs) => kvs.to_vec(),
                    other => {
                        return Err(format!(
                            "expected pcommon.Map but got {}",
                            other.type_name()
                        ))
                    }
                };
                let target = map_mut(t, ctx);
                for kv in source {
                    match target.iter_mut().find(|e| e.key == kv.key) {
                        Some(existing) if *strategy != MergeStrategy::Insert => {
                            existing.value = kv.value
                        }
                        Some(_) => {}
                        None if *strategy != MergeStrategy::Update => target.push(kv),
                        None => {}
                    }
                }
            }
            Editor::ReplaceMatch(t, glob, with) => {
                let matched =
                    matches!(super::path::get(t, &ctx.view())?, Val::Str(s) if glob.is_match(&s));
                if matched {
                    set(t, ctx, str_value(with.clone()))?;
                }
            }
            Editor::ReplaceAllMatches(t, glob, with) => {
                for kv in map_mut(t, ctx).iter_mut() {
                    if let Some(AnyValue {
                        value: Some(any_value::Value::StringValue(s)),
                    }) = &mut kv.value
                    {
                        if glob.is_match(s) {
                            s.clone_from(with);
                        }
                    }
                }
            }
            Editor::TruncateAll(t, limit) => {
                for kv in map_mut(t, ctx).iter_mut() {
                    if let Some(AnyValue {
                        value: Some(any_value::Value::StringValue(s)),
                    }) = &mut kv.value
                    {
                        if s.len() > *limit {
                            // OTTL cuts at a byte; a Rust string is cut at the char boundary below.
                            let mut end = *limit;
                            while !s.is_char_boundary(end) {
                                end -= 1;
                            }
                            s.truncate(end);
                        }
                    }
                }
            }
            Editor::Limit(t, limit, priority) => {
                let attrs = map_mut(t, ctx);
                if attrs.len() > *limit {
                    let mut count = attrs.iter().filter(|kv| priority.contains(&kv.key)).count();
                    attrs.retain(|kv| {
                        if priority.contains(&kv.key) {
                            return true;
                        }
                        count += 1;
                        count <= *limit
                    });
                }
            }
        }
        Ok(())
    }
}

fn target(p: &mut Parser) -> Result<Path, String> {
    match p.next() {
        Some(Tok::Ident(first)) => p.path(first),
        Some(t) => Err(format!("expected a path as the target, found {t}")),
        None => Err("expected a path as the target".into()),
    }
}

fn comma(p: &mut Parser) -> Result<(), String> {
    p.expect_op(",")
}

fn string_literal(p: &mut Parser, what: &str) -> Result<String, String> {
    match p.next() {
        Some(Tok::Str(s)) => Ok(s),
        _ => Err(format!("{what} must be a string literal")),
    }
}

fn int_literal(p: &mut Parser, what: &str) -> Result<i64, String> {
    match p.next() {
        Some(Tok::Int(i)) => Ok(i),
        _ => Err(format!("{what} must be an integer literal")),
    }
}

/// `replacement[, function[, replacementFormat]]` of the regex replacing editors: the function
/// a string converter named bare (`SHA256`, `ToUpperCase`), the format a string literal with
/// one `%s`, checked as otelcol checks it (there, when the statement runs).
fn replacement(p: &mut Parser, editor: &str) -> Result<Replacement, String> {
    const FUNCTIONS: &str = "SHA1, SHA256, SHA512, MD5, ToLowerCase or ToUpperCase";
    let with = string_literal(p, &format!("{editor}'s replacement"))?;
    let mut r = Replacement {
        with,
        function: None,
        format: None,
    };
    if !p.is_op(",") {
        return Ok(r);
    }
    comma(p)?;
    r.function = match p.next() {
        Some(Tok::Upper(name)) => Some(
            StringFn::by_name(&name)
                .ok_or_else(|| format!("{editor}'s function must be {FUNCTIONS}, got {name}"))?,
        ),
        _ => return Err(format!("{editor}'s function must be {FUNCTIONS}")),
    };
    if p.is_op(",") {
        comma(p)?;
        let format = string_literal(p, &format!("{editor}'s replacementFormat"))?;
        check_format(&format)?;
        r.format = Some(format);
    }
    Ok(r)
}

fn regex(p: &mut Parser, editor: &str) -> Result<Regex, String> {
    let pattern = string_literal(p, &format!("{editor}'s pattern"))?;
    Regex::new(&pattern)
        .map_err(|e| format!("the regex pattern supplied to {editor} is not a valid pattern: {e}"))
}

/// A glob as OTTL compiles it (gobwas/glob, no separators): `*` any run of characters, `?` one
/// character, `[abc]` / `[!abc]` / `[a-z]` a class, `{a,b}` alternatives, `\` escapes; the
/// whole value must match.
fn glob(pattern: &str) -> Result<Regex, String> {
    let mut re = String::from("^(?s:");
    let mut chars = pattern.chars().peekable();
    let mut braces = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' => match chars.next() {
                Some(e) => re.push_str(&regex::escape(&e.to_string())),
                None => return Err(format!("invalid glob {pattern:?}: a trailing \\")),
            },
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' || c == '^' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                if !closed {
                    return Err(format!("invalid glob {pattern:?}: unclosed ["));
                }
                re.push(']');
            }
            '{' => {
                braces += 1;
                re.push_str("(?:");
            }
            ',' if braces > 0 => re.push('|'),
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if braces > 0 {
        return Err(format!("invalid glob {pattern:?}: unclosed {{"));
    }
    re.push_str(")$");
    Regex::new(&re).map_err(|e| format!("invalid glob {pattern:?}: {e}"))
}

fn string_list(p: &mut Parser, what: &str) -> Result<Vec<String>, String> {
    let ValueExpr::List(items) = p.list()? else {
        unreachable!("list() returns a list");
    };
    items
        .into_iter()
        .map(|i| match i {
            ValueExpr::Str(s) => Ok(s),
            _ => Err(format!("{what} must be a list of string literals")),
        })
        .collect()
}

fn editor(p: &mut Parser) -> Result<Editor, String> {
    let name = match p.next() {
        Some(Tok::Ident(n)) => n,
        Some(Tok::Upper(n)) => {
            return Err(format!(
                "{n:?} is a converter; a statement starts with an editor such as set(...)"
            ))
        }
        Some(t) => return Err(format!("expected an editor, found {t}")),
        None => return Err("empty statement".into()),
    };
    p.expect_op("(")?;
    let t = target(p)?;
    let editor = match name.as_str() {
        "set" => {
            settable(&t)?;
            comma(p)?;
            Editor::Set(t, if p.is_op("[") { p.list()? } else { p.value()? })
        }
        "append" => {
            settable(&t)?;
            let mut args = optional_args(p, "append", &["value", "values"])?.into_iter();
            let (value, values) = (args.next().flatten(), args.next().flatten());
            if value.is_none() && values.is_none() {
                return Err(
                    "at least one of the optional arguments ('value' or 'values') must be provided"
                        .into(),
                );
            }
            if values.as_ref().is_some_and(|v| !matches!(v, ValueExpr::List(_))) {
                return Err("append's values must be a list: values = [a, b]".into());
            }
            Editor::Append(t, value, values)
        }
        "delete_index" => {
            settable(&t)?;
            let mut args =
                optional_args(p, "delete_index", &["startIndex", "endIndex"])?.into_iter();
            let (start, end) = (args.next().flatten(), args.next().flatten());
            let start = start.ok_or("delete_index needs a startIndex")?;
            Editor::DeleteIndex(t, start, end)
        }
        "flatten" => {
            // An attributes map, or any settable path holding a map (`body`,
            // `attributes["nested"]`), checked when it runs.
            if is_map(&t).is_err() {
                settable(&t)?;
            }
            let mut args =
                optional_args(p, "flatten", &["prefix", "depth", "resolveConflicts"])?
                    .into_iter();
            let mut next = || args.next().flatten();
            Editor::Flatten(t, FlattenSettings::new(next(), next(), next())?)
        }
        "delete_key" => {
            is_map(&t)?;
            comma(p)?;
            Editor::DeleteKey(t, string_literal(p, "delete_key's key")?)
        }
        "delete_matching_keys" => {
            is_map(&t)?;
            comma(p)?;
            Editor::DeleteMatchingKeys(t, regex(p, "delete_matching_keys")?)
        }
        "keep_keys" => {
            is_map(&t)?;
            comma(p)?;
            Editor::KeepKeys(t, string_list(p, "keep_keys's keys")?)
        }
        "keep_matching_keys" => {
            is_map(&t)?;
            comma(p)?;
            Editor::KeepMatchingKeys(t, regex(p, "keep_matching_keys")?)
        }
        "replace_pattern" => {
            settable(&t)?;
            comma(p)?;
            let re = regex(p, "replace_pattern")?;
            comma(p)?;
            Editor::ReplacePattern(t, re, replacement(p, "replace_pattern")?)
        }
        "replace_all_patterns" => {
            is_map(&t)?;
            comma(p)?;
            let mode = match string_literal(p, "replace_all_patterns's mode")?.as_str() {
                "key" => PatternMode::Key,
                "value" => PatternMode::Value,
                other => return Err(format!("invalid mode {other}, must be key or value")),
            };
            comma(p)?;
            let re = regex(p, "replace_all_patterns")?;
            comma(p)?;
            let with = replacement(p, "replace_all_patterns")?;
            Editor::ReplaceAllPatterns(t, mode, re, with)
        }
        "merge_maps" => {
            is_map(&t)?;
            comma(p)?;
            let source = p.value()?;
            comma(p)?;
            let strategy = match string_literal(p, "merge_maps's strategy")?.as_str() {
                "insert" => MergeStrategy::Insert,
                "update" => MergeStrategy::Update,
                "upsert" => MergeStrategy::Upsert,
                other => {
                    return Err(format!(
                        "invalid value for strategy, {other:?}, must be 'insert', 'update' or 'upsert'"
                    ))
                }
            };
            Editor::MergeMaps(t, source, strategy)
        }
        "replace_match" => {
            settable(&t)?;
            comma(p)?;
            let glob = glob(&string_literal(p, "replace_match's pattern")?)?;
            comma(p)?;
            Editor::ReplaceMatch(t, glob, string_literal(p, "replace_match's replacement")?)
        }
        "replace_all_matches" => {
            is_map(&t)?;
            comma(p)?;
            let glob = glob(&string_literal(p, "replace_all_matches's pattern")?)?;
            comma(p)?;
            let with = string_literal(p, "replace_all_matches's replacement")?;
            Editor::ReplaceAllMatches(t, glob, with)
        }
        "truncate_all" => {
            is_map(&t)?;
            comma(p)?;
            let limit = int_literal(p, "truncate_all's limit")?;
            if limit < 0 {
                return Err(format!("invalid limit for truncate_all function, {limit} cannot be negative"));
            }
            Editor::TruncateAll(t, limit as usize)
        }
        "limit" => {
            is_map(&t)?;
            comma(p)?;
            let limit = int_literal(p, "limit's limit")?;
            if limit < 0 {
                return Err(format!("invalid limit for limit function, {limit} cannot be negative"));
            }
            let priority = if matches!(p.peek(), Some(Tok::Op(","))) {
                comma(p)?;
                string_list(p, "limit's priority keys")?
            } else {
                Vec::new()
            };
            if priority.len() > limit as usize {
                return Err(format!(
                    "number of priority keys can't be greater than limit ({limit})"
                ));
            }
            Editor::Limit(t, limit as usize, priority)
        }
        other => {
            return Err(format!(
                "undefined function {other:?} (kakehashi supports the editors set, delete_key, delete_matching_keys, keep_keys, keep_matching_keys, replace_pattern, replace_all_patterns, replace_match, replace_all_matches, merge_maps, truncate_all, limit, append, delete_index, flatten)"
            ))
        }
    };
    p.expect_op(")")?;
    Ok(editor)
}
