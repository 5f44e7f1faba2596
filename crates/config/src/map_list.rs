//! `configopaque.MapList`: secret name/value pairs (HTTP headers, gRPC metadata) written either
//! as a map or, since otelcol v0.130, as a list of `{name, value}` entries.

use crate::secret::Secret;
use serde::de::{Error, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// The pairs by name. A list naming one key twice is otelcol's error
/// (`duplicate keys in map-style list: [...]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapList(BTreeMap<String, Secret>);

impl MapList {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Secret)> {
        self.0.iter()
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }
    /// Sets a pair, replacing the value of an existing name.
    pub fn insert(&mut self, name: String, value: Secret) {
        self.0.insert(name, value);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl std::ops::Index<&str> for MapList {
    type Output = Secret;
    fn index(&self, name: &str) -> &Secret {
        &self.0[name]
    }
}

impl<'a> IntoIterator for &'a MapList {
    type Item = (&'a String, &'a Secret);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Secret>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<(String, Secret)> for MapList {
    fn from_iter<I: IntoIterator<Item = (String, Secret)>>(iter: I) -> Self {
        MapList(iter.into_iter().collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    name: String,
    value: Secret,
}

impl<'de> Deserialize<'de> for MapList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map, or a list of {name, value} entries")
            }
            fn visit_unit<E: Error>(self) -> Result<MapList, E> {
                Ok(MapList::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MapList, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, Secret>()? {
                    out.insert(k, v);
                }
                Ok(MapList(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<MapList, A::Error> {
                let mut out = BTreeMap::new();
                let mut duplicates = Vec::new();
                while let Some(p) = s.next_element::<Pair>()? {
                    if out.insert(p.name.clone(), p.value).is_some() {
                        duplicates.push(p.name);
                    }
                }
                if duplicates.is_empty() {
                    return Ok(MapList(out));
                }
                duplicates.sort();
                duplicates.dedup();
                Err(A::Error::custom(format!(
                    "duplicate keys in map-style list: [{}]",
                    duplicates.join(" ")
                )))
            }
        }
        d.deserialize_any(V)
    }
}
