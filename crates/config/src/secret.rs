//! A config value that must never be shown: API keys, auth headers, passwords.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret string. `Debug` and `Display` print `[REDACTED]`; the only way to the value is
/// [`Secret::expose`], so every place that reads it is greppable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("0123456789abcdef");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "[REDACTED] [REDACTED] Some([REDACTED])"
        );
        assert_eq!(s.expose(), "0123456789abcdef");
    }
}
