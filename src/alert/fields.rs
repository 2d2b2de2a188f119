//! The field readers behind the lenient payload: scalars that may arrive as strings, numbers
//! or booleans, boolean flags that may arrive as strings, and tags that may arrive as a list or
//! as one comma-separated string.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// A non-empty, trimmed string from a scalar field.
pub(super) fn text(value: Option<Scalar>) -> Option<String> {
    value
        .and_then(|s| s.0)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A string, number or boolean, read as text; `null` is absent.
pub(super) struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                // Epochs rendered as 1.6E12 still read as whole numbers.
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Scalar(Some((v as i64).to_string())))
                } else {
                    Ok(Scalar(Some(v.to_string())))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A boolean, or the strings `"true"`/`"false"`; anything else is unknown.
pub(super) struct Flag(pub(super) Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let scalar = Scalar::deserialize(deserializer)?;
        Ok(Flag(scalar.0.and_then(
            |s| match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
        )))
    }
}

/// `alertTags`: a list of strings, or one string of comma-separated tags (`[a, b]` or `a,b`).
pub(super) struct Tags(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of tags")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tags, A::Error> {
                let mut tags = Vec::new();
                while let Some(tag) = seq.next_element::<Scalar>()? {
                    if let Some(tag) = tag.0.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
                    {
                        tags.push(tag);
                    }
                }
                Ok(Tags(tags))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tags, E> {
                let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
                Ok(Tags(
                    inner
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tags, E> {
                Ok(Tags(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Tags, E> {
                Ok(Tags(Vec::new()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                // Not a shape Wavefront renders; drain it so the error points at the field.
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Err(de::Error::custom("alertTags must be a list of strings"))
            }
        }
        deserializer.deserialize_any(TagsVisitor)
    }
}
