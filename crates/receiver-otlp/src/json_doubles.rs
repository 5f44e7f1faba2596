//! OTLP/JSON doubles written as strings, the non-finite ones included.
//!
//! Go's pdata reads every double field with `strconv.ParseFloat` when it holds a string, so
//! `"NaN"`, `"Infinity"` and `"-Infinity"` (what protojson writes for non-finite values, e.g. an
//! otelcol `otlphttp` exporter with `encoding: json` forwarding a NaN gauge) are accepted, as is
//! `"2.5"`. `serde_json::Value` holds only finite numbers and opentelemetry-proto's serde reads
//! numbers only, so the JSON pre-pass rewrites each such string to a number: a finite value as
//! itself, a non-finite one as one of three marker values that [`Doubles::restore`] turns back
//! into NaN / ±Inf after the typed decode ([`Markers`]). If a request does carry a marker as a
//! real value, the decode is redone with the next candidate set, so a real value is never
//! mistaken for a marker.

use kakehashi_pdata::doubles::{for_each_double_mut, Markers};
use kakehashi_pdata::Payload;
use serde_json::{Number, Value};

/// One attempt's markers, and what the pre-pass saw.
pub(crate) struct Doubles {
    markers: Markers,
    /// A marker was written: [`Doubles::restore`] must run.
    used: bool,
    /// A real value equals a marker: this attempt cannot tell them apart.
    collided: bool,
}

impl Doubles {
    /// The marker sets to try, in order.
    pub(crate) fn attempts() -> impl Iterator<Item = Doubles> {
        Markers::CANDIDATES.into_iter().map(|markers| Doubles {
            markers,
            used: false,
            collided: false,
        })
    }

    /// Whether this attempt's result is ambiguous and the next marker set must be tried.
    pub(crate) fn collided(&self) -> bool {
        self.used && self.collided
    }

    /// Rewrites the value of double field `key` (`kakehashi_pdata::doubles::is_double_key`) in
    /// place. Objects and other types are left to the typed decode, except for `asDouble`, whose
    /// errors that decode would swallow (it is read through a flattened oneof).
    pub(crate) fn rewrite(&mut self, key: &str, v: &mut Value) -> Result<(), String> {
        match v {
            Value::Array(items) if key == "explicitBounds" => {
                for item in items {
                    self.rewrite_scalar(key, item)?;
                }
                Ok(())
            }
            Value::String(_) | Value::Number(_) => self.rewrite_scalar(key, v),
            _ if key == "asDouble" => Err(format!("invalid asDouble: {v} is not a number")),
            _ => Ok(()),
        }
    }

    fn rewrite_scalar(&mut self, key: &str, v: &mut Value) -> Result<(), String> {
        let f = match v {
            Value::Number(n) => {
                self.collided |= n.as_f64().is_some_and(|x| self.markers.is_marker(x));
                return Ok(());
            }
            Value::String(s) => {
                parse_go_float(s).ok_or_else(|| format!("invalid {key}: {s:?} is not a number"))?
            }
            // Anything else is the typed decode's to report.
            _ => return Ok(()),
        };
        let stored = self.markers.mark(f);
        self.used |= !f.is_finite();
        self.collided |= f.is_finite() && self.markers.is_marker(f);
        // Every marker and every finite f64 is a valid JSON number.
        if let Some(n) = Number::from_f64(stored) {
            *v = Value::Number(n);
        }
        Ok(())
    }

    /// Turns the markers in the decoded payload back into NaN / ±Inf.
    pub(crate) fn restore(&self, p: &mut Payload) {
        if self.used {
            for_each_double_mut(p, &mut |x| {
                if let Some(nf) = self.markers.unmark(*x) {
                    *x = nf;
                }
            });
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms JSON clients write: decimal numbers and
/// (any case, optional sign) `NaN`, `Inf`, `Infinity`. Like Go, a finite number too large for
/// a float64 is an error, not an infinity.
fn parse_go_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return None;
        }
    }
    Some(f)
}
