//! otelcol's `configoptional.Optional`: a section switched on by the mere presence of its key.

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// The newtype-struct name our decoder recognises to apply presence semantics.
pub(crate) const OPTIONAL_MARKER: &str = "__kakehashi_optional";

/// A config section such as `protocols.grpc`, `tls` or `sending_queue`.
///
/// Absent key: `None`. Present key, even with a null value (`grpc:`): `Some` with defaults.
/// `enabled: false` inside the section: `None`. A non-bool `enabled` is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Optional<T>(pub Option<T>);

impl<T> Default for Optional<T> {
    fn default() -> Self {
        Optional(None)
    }
}

impl<T> Optional<T> {
    pub fn some(v: T) -> Self {
        Optional(Some(v))
    }
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_ref()
    }
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Optional<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Optional<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a config section")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Optional(None))
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                T::deserialize(d).map(|v| Optional(Some(v)))
            }
        }
        d.deserialize_newtype_struct(OPTIONAL_MARKER, V(PhantomData))
    }
}
