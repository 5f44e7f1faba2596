//! serde access types for [`De`]: maps, lists, comma-split strings and enums.

use crate::de::{join, Ctx, De, DeError};
use crate::error::Location;
use crate::node::{Node, NodeKind, Scalar, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// A map's entries, hiding unknown keys (already reported), `Optional`'s `enabled` and skipped paths.
pub(crate) struct MapAcc<'a> {
    entries: std::slice::Iter<'a, (String, Option<Location>, Node)>,
    path: &'a str,
    ctx: &'a Ctx,
    fields: Option<&'static [&'static str]>,
    drop_enabled: bool,
    pending: Option<(&'a Node, String)>,
}

impl<'a> MapAcc<'a> {
    pub(crate) fn new(
        entries: &'a [(String, Option<Location>, Node)],
        path: &'a str,
        ctx: &'a Ctx,
        fields: Option<&'static [&'static str]>,
        drop_enabled: bool,
    ) -> Self {
        MapAcc {
            entries: entries.iter(),
            path,
            ctx,
            fields,
            drop_enabled,
            pending: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAcc<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for (k, kloc, v) in self.entries.by_ref() {
            if self.drop_enabled && k == "enabled" {
                continue;
            }
            if self.fields.is_some_and(|f| !f.contains(&k.as_str())) {
                continue;
            }
            let path = join(self.path, k);
            if self.ctx.skip.contains(&path) {
                continue;
            }
            let key = seed.deserialize(IntoDeserializer::<DeError>::into_deserializer(k.as_str()));
            let key = key.map_err(|mut e| {
                e.path.get_or_insert_with(|| path.clone());
                e.location = e.location.or_else(|| kloc.clone());
                e
            })?;
            self.pending = Some((v, path));
            return Ok(Some(key));
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        match self.pending.take() {
            Some((node, path)) => seed.deserialize(De::child(node, path, self.ctx)),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

/// A list's elements; paths are `<path>::<index>` with the index in the source list.
pub(crate) struct SeqAcc<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    path: &'a str,
    ctx: &'a Ctx,
}

impl<'a> SeqAcc<'a> {
    pub(crate) fn new(items: &'a [Node], path: &'a str, ctx: &'a Ctx) -> Self {
        SeqAcc {
            items: items.iter().enumerate(),
            path,
            ctx,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqAcc<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        for (i, node) in self.items.by_ref() {
            let path = join(self.path, &i.to_string());
            if !self.ctx.skip.contains(&path) {
                return seed.deserialize(De::child(node, path, self.ctx)).map(Some);
            }
        }
        Ok(None)
    }
}

/// A string given where a list is expected, split on `,` into string elements (`""` is empty).
pub(crate) struct SplitSeq<'a> {
    parts: std::iter::Enumerate<std::vec::IntoIter<Node>>,
    path: String,
    ctx: &'a Ctx,
}

impl<'a> SplitSeq<'a> {
    pub(crate) fn new(text: &str, de: De<'a>) -> Self {
        let parts: Vec<Node> = if text.is_empty() {
            Vec::new()
        } else {
            text.split(',')
                .map(|p| {
                    let scalar = Scalar::new(p.to_owned(), ScalarStyle::Quoted);
                    Node::new(NodeKind::Scalar(scalar), de.node.location.clone())
                })
                .collect()
        };
        SplitSeq {
            parts: parts.into_iter().enumerate(),
            path: de.path,
            ctx: de.ctx,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SplitSeq<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, node)) = self.parts.next() else {
            return Ok(None);
        };
        seed.deserialize(De::child(&node, join(&self.path, &i.to_string()), self.ctx))
            .map(Some)
    }
}

/// `{variant: value}` for an enum variant with data.
pub(crate) struct EnumAcc<'a> {
    pub variant: &'a str,
    pub de: De<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAcc<'a> {
    type Error = DeError;
    type Variant = De<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De<'a>), DeError> {
        let v = seed.deserialize(IntoDeserializer::<DeError>::into_deserializer(self.variant))?;
        Ok((v, self.de))
    }
}

impl<'de> de::VariantAccess<'de> for De<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, v)
    }
}
