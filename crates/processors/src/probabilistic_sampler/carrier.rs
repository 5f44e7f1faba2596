//! Where an item's sampling state lives: a span's `tracestate`, or a log record's
//! `sampling.threshold` / `sampling.randomness` attributes.

use kakehashi_pdata::attrs::{put, str_value};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::sampling::TraceState;
use kakehashi_pdata::sampling::{Randomness, Threshold};

/// An item's sampling state: a span's `tracestate` or a log record's `sampling.*` attributes.
pub(super) trait Carrier {
    fn threshold(&self) -> Option<Threshold>;
    fn randomness(&self) -> Option<Randomness>;
    fn set_randomness(&mut self, r: Randomness);
    fn clear_threshold(&mut self);
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String>;
}

impl Carrier for TraceState {
    fn threshold(&self) -> Option<Threshold> {
        self.th
    }
    fn randomness(&self) -> Option<Randomness> {
        self.rv.as_ref().map(|(_, r)| *r)
    }
    fn set_randomness(&mut self, r: Randomness) {
        TraceState::set_randomness(self, r)
    }
    fn clear_threshold(&mut self) {
        TraceState::clear_threshold(self)
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String> {
        TraceState::update_threshold(self, t)
    }
}

/// A log record's `sampling.threshold` / `sampling.randomness` string attributes.
pub(super) struct LogCarrier<'a> {
    attrs: &'a mut Vec<KeyValue>,
    pub(super) th: Option<Threshold>,
    pub(super) rv: Option<Randomness>,
}

impl<'a> LogCarrier<'a> {
    pub(super) fn parse(attrs: &'a mut Vec<KeyValue>) -> Result<LogCarrier<'a>, String> {
        let mut errs = Vec::new();
        let th = match str_value(attrs, "sampling.threshold") {
            "" => None,
            t => Threshold::parse(t).map_err(|e| errs.push(e)).ok(),
        };
        let rv = match str_value(attrs, "sampling.randomness") {
            "" => None,
            r => Randomness::parse(r).map_err(|e| errs.push(e)).ok(),
        };
        if errs.is_empty() {
            Ok(LogCarrier { attrs, th, rv })
        } else {
            Err(errs.join("; "))
        }
    }
}

impl Carrier for LogCarrier<'_> {
    fn threshold(&self) -> Option<Threshold> {
        self.th
    }
    fn randomness(&self) -> Option<Randomness> {
        self.rv
    }
    fn set_randomness(&mut self, r: Randomness) {
        self.rv = Some(r);
        put(
            self.attrs,
            "sampling.randomness",
            Value::StringValue(r.rvalue()),
        );
    }
    fn clear_threshold(&mut self) {
        self.th = None;
        self.attrs.retain(|kv| kv.key != "sampling.threshold");
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String> {
        if self.th.is_some_and(|old| t < old) {
            return Err("inconsistent sampling: the threshold would decrease".into());
        }
        self.th = Some(t);
        put(
            self.attrs,
            "sampling.threshold",
            Value::StringValue(t.tvalue()),
        );
        Ok(())
    }
}
