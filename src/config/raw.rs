//! The shapes of the TOML file as serde reads it, before validation. Unknown keys are errors
//! (`deny_unknown_fields`), and values keep their spans so problems can point at them.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use crate::actions::Action;
use crate::alert::{Reason, Severity};
use crate::duration::HumanDuration;
use crate::plan::rules::{NamePattern, OnWavefrontError};
use crate::secret::SecretRef;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub dry_run: bool,
    pub triggers: Option<Spanned<Vec<KnownReason>>>,
    pub time_budget: Option<Spanned<HumanDuration>>,
    pub auth: Spanned<RawAuth>,
    #[serde(default)]
    pub ledger: RawLedger,
    pub circuit_breaker: Option<Spanned<RawCircuitBreaker>>,
    pub wavefront: Option<Spanned<RawWavefront>>,
    pub notify: Option<Spanned<RawNotify>>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<RawRule>>,
}

/// `[ledger]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLedger {
    pub table: Option<Spanned<String>>,
    pub retention: Option<Spanned<HumanDuration>>,
}

/// `[circuit_breaker]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCircuitBreaker {
    pub enabled: Option<bool>,
    pub max_actions: Option<Spanned<u32>>,
    pub window: Option<Spanned<HumanDuration>>,
}

/// `[wavefront]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWavefront {
    pub url: Spanned<String>,
    pub api_token: Spanned<SecretRef>,
}

/// `[notify]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub sns_topic: Spanned<String>,
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[auth]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(default)]
    pub tokens: Vec<Spanned<SecretRef>>,
    #[serde(default)]
    pub signing_secrets: Vec<Spanned<SecretRef>>,
    #[serde(default = "default_token_header")]
    pub token_header: Spanned<String>,
    pub signature_tolerance: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub insecure_allow_literal_secrets: bool,
}

fn default_token_header() -> Spanned<String> {
    Spanned::new(0..0, "Authorization".to_owned())
}

/// One `[[rule]]`, its `[[rule.action]]` tables already parsed into actions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: Spanned<String>,
    pub alert: Option<OneOrMany<NamePattern>>,
    pub alert_id: Option<OneOrMany<IdText>>,
    pub severity: Option<OneOrMany<ConfigSeverity>>,
    pub tags: Option<Spanned<Vec<String>>>,
    pub triggers: Option<Spanned<Vec<KnownReason>>>,
    #[serde(default)]
    pub dry_run: bool,
    pub cooldown: Option<Spanned<String>>,
    #[serde(default = "yes")]
    pub attribution: bool,
    pub require_firing: Option<Spanned<bool>>,
    pub on_wavefront_error: Option<Spanned<KnownOnError>>,
    #[serde(default)]
    pub action: Vec<Action>,
}

fn yes() -> bool {
    true
}

/// A value written either alone or as a list: `alert = "x"` or `alert = ["x", "y"]`.
pub(super) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::<E>::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list matches nothing; remove the key instead",
                    ));
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NamePattern::parse(&text).map_err(de::Error::custom)
    }
}

/// A reason Wavefront documents; typos are errors.
pub(super) struct KnownReason(pub Reason);

impl<'de> Deserialize<'de> for KnownReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Reason::parse_known(&text).map(KnownReason).ok_or_else(|| {
            de::Error::custom(format!(
                "\"{text}\" is not a Wavefront alert reason; use one of {}",
                Reason::known().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// A rule's `on_wavefront_error`; typos are errors.
pub(super) struct KnownOnError(pub OnWavefrontError);

impl<'de> Deserialize<'de> for KnownOnError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "skip" => Ok(KnownOnError(OnWavefrontError::Skip)),
            "act" => Ok(KnownOnError(OnWavefrontError::Act)),
            _ => Err(de::Error::custom(format!(
                "\"{text}\" is not an on_wavefront_error; use \"skip\" (the default: leave \
                 the target alone when Wavefront cannot say the alert is firing) or \"act\""
            ))),
        }
    }
}

/// A severity as written in a rule; typos are errors.
pub(super) struct ConfigSeverity(pub Severity);

impl<'de> Deserialize<'de> for ConfigSeverity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::parse(&text).map(ConfigSeverity).ok_or_else(|| {
            de::Error::custom(format!(
                "\"{text}\" is not a severity; use INFO, SMOKE, WARN or SEVERE"
            ))
        })
    }
}

/// An alert id, written as a string or a number.
pub(super) struct IdText(pub String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = IdText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an alert id such as \"1460761882996\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdText, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("an alert id cannot be empty"));
                }
                Ok(IdText(v.trim().to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}
