//! What a detector found: attributes in the order it set them, only those its
//! `resource_attributes` leave on (otelcol's generated `ResourceBuilder`, whose setters do
//! nothing for a disabled attribute).

use super::config::{attribute_enabled, AttributeToggles};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, ArrayValue};

pub(crate) type Attributes = Vec<(String, any_value::Value)>;

pub(crate) struct Detected<'a> {
    toggles: &'a AttributeToggles,
    known: &'a [(&'a str, bool)],
    attrs: Attributes,
}

impl<'a> Detected<'a> {
    pub fn new(toggles: &'a AttributeToggles, known: &'a [(&'a str, bool)]) -> Self {
        Detected {
            toggles,
            known,
            attrs: Vec::new(),
        }
    }

    pub fn str(&mut self, key: &str, value: impl Into<String>) {
        self.set(key, any_value::Value::StringValue(value.into()));
    }

    pub fn strings(&mut self, key: &str, values: Vec<String>) {
        let values = values
            .into_iter()
            .map(|v| AnyValue {
                value: Some(any_value::Value::StringValue(v)),
            })
            .collect();
        self.set(key, any_value::Value::ArrayValue(ArrayValue { values }));
    }

    /// An attribute outside the detector's list (tags by name), set whatever the toggles say,
    /// as otelcol writes them after the builder.
    pub fn extra(&mut self, key: String, value: impl Into<String>) {
        self.attrs
            .push((key, any_value::Value::StringValue(value.into())));
    }

    fn set(&mut self, key: &str, value: any_value::Value) {
        if !attribute_enabled(self.toggles, self.known, key) {
            return;
        }
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key.to_string(), value)),
        }
    }

    pub fn into_attributes(self) -> Attributes {
        self.attrs
    }
}
