//! OTTL conditions into an expression tree ([`super::ast`]): `or` binds looser than `and`,
//! `not` applies to one comparison, constant or group; a comparison is `value op value` where a
//! value may be a literal, a path, an enum symbol, a converter call or `+ - * /` arithmetic over
//! them.

use super::ast::id_length;
pub(crate) use super::ast::{BoolExpr, Call, CmpOp, Func, MathOp, ValueExpr};
use super::lexer::{lex, Tok};
use super::path::{enum_value, resolve, Key, Path};
use super::ContextKind;
use regex::Regex;

pub(crate) fn parse(src: &str, kind: ContextKind) -> Result<BoolExpr, String> {
    let mut p = Parser::new(src, kind, "condition")?;
    let e = p.bool_expr()?;
    p.end("condition")?;
    Ok(e)
}

pub(super) struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    kind: ContextKind,
    /// Nesting of conditions and values, bounded so a pathological config cannot overflow the
    /// stack while it is parsed.
    depth: usize,
}

const MAX_DEPTH: usize = 64;
const MAX_TOKENS: usize = 4096;

impl Parser {
    pub(super) fn new(src: &str, kind: ContextKind, what: &str) -> Result<Parser, String> {
        let toks = lex(src)?;
        if toks.is_empty() {
            return Err(format!("empty {what}"));
        }
        // Long `a + b + c ...` chains nest as deep as they are long.
        if toks.len() > MAX_TOKENS {
            return Err(format!("a {what} of more than {MAX_TOKENS} tokens"));
        }
        Ok(Parser {
            toks,
            pos: 0,
            kind,
            depth: 0,
        })
    }

    pub(super) fn end(&self, what: &str) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t} after a complete {what}")),
        }
    }

    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    pub(super) fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    pub(super) fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    /// `name =` of a named argument, consumed; `None` (nothing consumed) otherwise.
    pub(super) fn named_arg(&mut self) -> Option<String> {
        match (self.toks.get(self.pos), self.toks.get(self.pos + 1)) {
            (Some(Tok::Ident(name)), Some(Tok::Op("="))) => {
                let name = name.clone();
                self.pos += 2;
                Some(name)
            }
            _ => None,
        }
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(i)) if i == w)
    }
    pub(super) fn expect_op(&mut self, op: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Op(o)) if o == op => Ok(()),
            Some(t) => Err(format!("expected {op:?}, found {t}")),
            None => Err(format!("expected {op:?} at the end of the condition")),
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    pub(super) fn bool_expr(&mut self) -> Result<BoolExpr, String> {
        self.nested(Self::or_terms)
    }

    fn or_terms(&mut self) -> Result<BoolExpr, String> {
        let mut terms = vec![self.term()?];
        while self.is_word("or") {
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            BoolExpr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<BoolExpr, String> {
        let mut factors = vec![self.factor()?];
        while self.is_word("and") {
            self.pos += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.remove(0)
        } else {
            BoolExpr::And(factors)
        })
    }

    fn factor(&mut self) -> Result<BoolExpr, String> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(BoolExpr::Not(Box::new(self.boolean_value()?)));
        }
        self.boolean_value()
    }

    /// A comparison, a constant, a boolean converter, or a parenthesised condition. A `(` may
    /// open either a condition or arithmetic (`(a + 1) > 2`): arithmetic is tried first.
    fn boolean_value(&mut self) -> Result<BoolExpr, String> {
        let start = self.pos;
        match self.value() {
            Ok(v) => {
                if let Some(op) = self.cmp_op() {
                    let rhs = self.value()?;
                    return Ok(BoolExpr::Compare(v, op, rhs));
                }
                match v {
                    ValueExpr::Bool(b) => Ok(BoolExpr::Const(b)),
                    ValueExpr::Call(c) if c.func.returns_bool() => Ok(BoolExpr::Call(c)),
                    ValueExpr::Call(c) => Err(format!(
                        "{:?} does not return a boolean: compare its result instead",
                        c.func
                    )),
                    _ if self.toks.get(start) == Some(&Tok::Op("(")) => {
                        self.pos = start;
                        self.group()
                    }
                    _ => Err(match self.peek() {
                        Some(Tok::Op("=")) => "'=' is not a comparison: use ==".to_string(),
                        Some(t) => format!("expected a comparison operator, found {t}"),
                        None => {
                            "a value alone is not a condition: compare it (==, !=, <, <=, >, >=)"
                                .into()
                        }
                    }),
                }
            }
            Err(e) => {
                if self.toks.get(start) == Some(&Tok::Op("(")) {
                    self.pos = start;
                    self.group()
                } else {
                    Err(e)
                }
            }
        }
    }

    fn group(&mut self) -> Result<BoolExpr, String> {
        self.expect_op("(")?;
        let e = self.bool_expr()?;
        self.expect_op(")")?;
        Ok(e)
    }

    fn cmp_op(&mut self) -> Option<CmpOp> {
        let op = match self.peek() {
            Some(Tok::Op("==")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    pub(super) fn value(&mut self) -> Result<ValueExpr, String> {
        self.nested(Self::sum)
    }

    fn sum(&mut self) -> Result<ValueExpr, String> {
        let mut lhs = self.math_term()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("+")) => MathOp::Add,
                Some(Tok::Op("-")) => MathOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.math_term()?;
            lhs = ValueExpr::Math(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn math_term(&mut self) -> Result<ValueExpr, String> {
        let mut lhs = self.math_factor()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("*")) => MathOp::Mul,
                Some(Tok::Op("/")) => MathOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.math_factor()?;
            lhs = ValueExpr::Math(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn math_factor(&mut self) -> Result<ValueExpr, String> {
        let Some(tok) = self.next() else {
            return Err("expected a value at the end of the condition".into());
        };
        Ok(match tok {
            Tok::Str(s) => ValueExpr::Str(s),
            Tok::Int(i) => ValueExpr::Int(i),
            Tok::Float(f) => ValueExpr::Float(f),
            Tok::Bytes(b) => ValueExpr::Bytes(b),
            Tok::Op("-") => match self.next() {
                Some(Tok::Int(i)) => ValueExpr::Int(-i),
                Some(Tok::Float(f)) => ValueExpr::Float(-f),
                _ => return Err("a minus sign must be followed by a number".into()),
            },
            Tok::Op("(") => {
                let v = self.value()?;
                self.expect_op(")")?;
                v
            }
            Tok::Ident(w) => match w.as_str() {
                "nil" => ValueExpr::Nil,
                "true" => ValueExpr::Bool(true),
                "false" => ValueExpr::Bool(false),
                "and" | "or" | "not" => return Err(format!("expected a value, found {w:?}")),
                _ => {
                    if self.is_op("(") {
                        return Err(format!(
                            "{w:?} is an editor; a condition can only call converters (capitalised)"
                        ));
                    }
                    ValueExpr::Path(self.path(w)?)
                }
            },
            Tok::Upper(name) => {
                if let Some(len) = id_length(&name).filter(|_| self.is_op("(")) {
                    ValueExpr::Bytes(self.id_literal(&name, len)?)
                } else if self.is_op("(") {
                    let call = ValueExpr::Call(self.call(&name)?);
                    if self.is_op("[") {
                        ValueExpr::Indexed(Box::new(call), self.keys()?)
                    } else {
                        call
                    }
                } else {
                    ValueExpr::Int(enum_value(self.kind, &name)?)
                }
            }
            Tok::Op(o) => return Err(format!("expected a value, found {o:?}")),
        })
    }

    pub(super) fn path(&mut self, first: String) -> Result<Path, String> {
        let mut segments = vec![first];
        while self.is_op(".") {
            self.pos += 1;
            match self.next() {
                Some(Tok::Ident(s)) => segments.push(s),
                Some(t) => return Err(format!("expected a path segment after '.', found {t}")),
                None => return Err("a path cannot end with '.'".into()),
            }
        }
        let keys = self.keys()?;
        resolve(self.kind, &segments, keys)
    }

    /// `["key"][0]...`, none or more.
    fn keys(&mut self) -> Result<Vec<Key>, String> {
        let mut keys = Vec::new();
        while self.is_op("[") {
            self.pos += 1;
            keys.push(match self.next() {
                Some(Tok::Str(s)) => Key::Str(s),
                Some(Tok::Int(i)) => Key::Int(i),
                Some(t) => {
                    return Err(format!(
                        "a key must be a string or an integer literal, found {t}"
                    ))
                }
                None => return Err("unterminated key: expected ']'".into()),
            });
            self.expect_op("]")?;
        }
        Ok(keys)
    }

    fn call(&mut self, name: &str) -> Result<Call, String> {
        self.expect_op("(")?;
        let mut args = Vec::new();
        if !self.is_op(")") {
            loop {
                if let Some(arg) = self.named_arg() {
                    return Err(format!(
                        "{name}: named arguments ({arg} = ...) are not supported for converters yet; pass the arguments in order"
                    ));
                }
                args.push(if self.is_op("[") {
                    self.list()?
                } else {
                    self.value()?
                });
                if self.is_op(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect_op(")")?;
        let given = args.len();
        let want = |n: usize| -> Result<(), String> {
            if given == n {
                Ok(())
            } else {
                Err(format!(
                    "{name} takes {n} argument{}, got {}",
                    if n == 1 { "" } else { "s" },
                    given
                ))
            }
        };
        let func = match name {
            "IsMatch" => {
                want(2)?;
                let Some(ValueExpr::Str(pattern)) = args.pop() else {
                    return Err("IsMatch's pattern must be a string literal".into());
                };
                let re = Regex::new(&pattern).map_err(|e| {
                    format!("the pattern supplied to IsMatch is not a valid regexp pattern: {e}")
                })?;
                Func::IsMatch(re)
            }
            "IsString" => Func::IsString,
            "Len" => Func::Len,
            "IsRootSpan" => {
                want(0)?;
                if self.kind != ContextKind::Span {
                    return Err("IsRootSpan is only available in the span context".into());
                }
                Func::IsRootSpan
            }
            "HasAttrKeyOnDatapoint" | "HasAttrOnDatapoint" => {
                if self.kind != ContextKind::Metric {
                    return Err(format!("{name} is only available in the metric context"));
                }
                let n = if name == "HasAttrKeyOnDatapoint" { 1 } else { 2 };
                want(n)?;
                let mut literals = args.drain(..).map(|a| match a {
                    ValueExpr::Str(s) => Ok(s),
                    _ => Err(format!("{name}'s arguments must be string literals")),
                });
                let key = literals.next().expect("checked count")?;
                match literals.next() {
                    Some(value) => Func::HasAttrOnDatapoint(key, value?),
                    None => Func::HasAttrKeyOnDatapoint(key),
                }
            }
            "IsInt" => Func::IsInt,
            "IsDouble" => Func::IsDouble,
            "IsBool" => Func::IsBool,
            "IsMap" => Func::IsMap,
            "IsList" => Func::IsList,
            "ToLowerCase" => Func::ToLowerCase,
            "ToUpperCase" => Func::ToUpperCase,
            "SHA1" | "SHA256" | "SHA512" | "MD5" => {
                Func::Hash(super::hash::HashFn::by_name(name).expect("listed"))
            }
            "FNV" => Func::Fnv,
            "Int" => Func::Int,
            "Double" => Func::Double,
            "Concat" => {
                want(2)?;
                let Some(ValueExpr::Str(delimiter)) = args.pop() else {
                    return Err("Concat's delimiter must be a string literal".into());
                };
                if !matches!(args[0], ValueExpr::List(_)) {
                    return Err("Concat's first argument must be a list: Concat([a, b], \"-\")".into());
                }
                Func::Concat(delimiter)
            }
            "Substring" => {
                want(3)?;
                let (Some(ValueExpr::Int(length)), Some(ValueExpr::Int(start))) =
                    (args.pop(), args.pop())
                else {
                    return Err("Substring's start and length must be integer literals".into());
                };
                if start < 0 {
                    return Err(format!("invalid start for substring function, {start} cannot be negative"));
                }
                if length <= 0 {
                    return Err(format!("invalid length for substring function, {length} cannot be negative or zero"));
                }
                Func::Substring(start as usize, length as usize)
            }
            "Split" | "TrimPrefix" | "TrimSuffix" | "HasPrefix" | "HasSuffix" | "Index"
            | "ContainsValue" => {
                want(2)?;
                match name {
                    "Split" => Func::Split,
                    "TrimPrefix" => Func::TrimPrefix,
                    "TrimSuffix" => Func::TrimSuffix,
                    "HasPrefix" => Func::HasPrefix,
                    "HasSuffix" => Func::HasSuffix,
                    "Index" => Func::Index,
                    _ => Func::ContainsValue,
                }
            }
            "Trim" => {
                let cutset = match args.len() {
                    1 => " ".to_string(),
                    2 => match args.pop() {
                        Some(ValueExpr::Str(s)) => s,
                        _ => return Err("Trim's replacement must be a string literal".into()),
                    },
                    n => return Err(format!("Trim takes 1 or 2 arguments, got {n}")),
                };
                Func::Trim(cutset)
            }
            "ExtractPatterns" => {
                want(2)?;
                let Some(ValueExpr::Str(pattern)) = args.pop() else {
                    return Err("ExtractPatterns's pattern must be a string literal".into());
                };
                let re = Regex::new(&pattern).map_err(|e| {
                    format!("the pattern supplied to ExtractPatterns is not a valid pattern: {e}")
                })?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(
                        "at least 1 named capture group must be supplied in the given regex".into(),
                    );
                }
                Func::ExtractPatterns(re)
            }
            "ParseKeyValue" => {
                if !(1..=4).contains(&args.len()) {
                    return Err(format!("ParseKeyValue takes 1 to 4 arguments, got {}", args.len()));
                }
                let mut options = args.drain(1..);
                let mut literal = |what: &str| match options.next() {
                    None => Ok(None),
                    Some(ValueExpr::Str(s)) => Ok(Some(s)),
                    Some(_) => Err(format!("ParseKeyValue's {what} must be a string literal")),
                };
                let (delimiter, pair_delimiter) = (literal("delimiter")?, literal("pair_delimiter")?);
                let ignore_malformed = match options.next() {
                    None => false,
                    Some(ValueExpr::Bool(b)) => b,
                    Some(_) => {
                        return Err(
                            "ParseKeyValue's ignore_malformed_tokens must be true or false".into(),
                        )
                    }
                };
                drop(options);
                Func::ParseKeyValue(super::key_value::KeyValueParser::new(
                    delimiter,
                    pair_delimiter,
                    ignore_malformed,
                )?)
            }
            "String" => Func::String,
            "Keys" => Func::Keys,
            "Values" => Func::Values,
            "ParseJSON" => Func::ParseJson,
            _ => {
                return Err(format!(
                    "undefined function {name:?} (kakehashi supports the converters IsMatch, IsString, IsInt, IsDouble, IsBool, IsMap, IsList, IsRootSpan, Len, ToLowerCase, ToUpperCase, Concat, Substring, Split, String, Trim, TrimPrefix, TrimSuffix, HasPrefix, HasSuffix, Index, ContainsValue, Keys, Values, ParseJSON, ParseKeyValue, ExtractPatterns, SHA1, SHA256, SHA512, MD5, FNV, Int, Double, SpanID, TraceID, HasAttrKeyOnDatapoint, HasAttrOnDatapoint)"
                ))
            }
        };
        if !matches!(
            func,
            Func::IsMatch(_)
                | Func::Concat(_)
                | Func::Substring(..)
                | Func::IsRootSpan
                | Func::HasAttrKeyOnDatapoint(_)
                | Func::HasAttrOnDatapoint(..)
                | Func::Split
                | Func::TrimPrefix
                | Func::TrimSuffix
                | Func::HasPrefix
                | Func::HasSuffix
                | Func::Index
                | Func::ContainsValue
                | Func::Trim(_)
                | Func::ExtractPatterns(_)
                | Func::ParseKeyValue(_)
        ) {
            want(1)?;
        }
        if !func.takes_lists() && args.iter().any(|a| matches!(a, ValueExpr::List(_))) {
            return Err(format!("{name} does not take a list"));
        }
        Ok(Call { func, args })
    }

    /// `SpanID(0x...)` / `TraceID(0x...)`: an id literal of exactly its length.
    fn id_literal(&mut self, name: &str, len: usize) -> Result<Vec<u8>, String> {
        self.expect_op("(")?;
        let Some(Tok::Bytes(b)) = self.next() else {
            return Err(format!(
                "{name} takes a bytes literal such as 0x{}",
                "00".repeat(len)
            ));
        };
        self.expect_op(")")?;
        if b.len() != len {
            return Err(format!("{name} needs exactly {len} bytes, got {}", b.len()));
        }
        Ok(b)
    }

    /// `[value, ...]`.
    pub(super) fn list(&mut self) -> Result<ValueExpr, String> {
        self.expect_op("[")?;
        let mut items = Vec::new();
        while !self.is_op("]") {
            items.push(self.value()?);
            if self.is_op(",") {
                self.pos += 1;
            } else if !self.is_op("]") {
                return Err(match self.peek() {
                    Some(t) => format!("expected ',' or ']' in a list, found {t}"),
                    None => "unterminated list: expected ']'".into(),
                });
            }
        }
        self.pos += 1;
        Ok(ValueExpr::List(items))
    }
}
