//! The Wavefront alert model: what an alert target's body template renders, parsed leniently.
//!
//! Wavefront has no fixed webhook schema: the body is whatever the target's Mustache template
//! produced. So every field is optional, unknown fields are ignored, scalars may arrive as
//! strings, numbers or booleans, and times come as `09/12/2020 21:47:39 +0000` (older
//! documentation: `... 0000`), as empty strings, or as `*Epoch`/`*EpochMillis` numbers. Only a
//! name and a reason are required, because nothing can be decided without them. Fields that are
//! present but unreadable are ignored and reported as warnings in the decision record.

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::text::truncate;

/// Longest name, id, reason or URL accepted.
pub const MAX_FIELD_CHARS: usize = 1024;
/// Most alert tags read.
const MAX_TAGS: usize = 64;
/// Longest alert tag read.
const MAX_TAG_CHARS: usize = 256;

/// Why Wavefront sent a notification (`reason` in the payload).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Opened,
    Updated,
    Resolved,
    Maintenance,
    Snoozed,
    Invalid,
    NoLongerInvalid,
    /// Wavefront's Test button on an alert target. Always handled as a dry run.
    Testing,
    Retriggered,
    NoData,
    NoDataResolved,
    NoDataMaintenance,
    SeverityUpdate,
    NotificationPreview,
    /// A reason this version does not know. Kept verbatim so the record can show it.
    Other(Box<str>),
}

const KNOWN_REASONS: [(&str, Reason); 14] = [
    ("ALERT_OPENED", Reason::Opened),
    ("ALERT_UPDATED", Reason::Updated),
    ("ALERT_RESOLVED", Reason::Resolved),
    ("ALERT_MAINTENANCE", Reason::Maintenance),
    ("ALERT_SNOOZED", Reason::Snoozed),
    ("ALERT_INVALID", Reason::Invalid),
    ("ALERT_NO_LONGER_INVALID", Reason::NoLongerInvalid),
    ("ALERT_TESTING", Reason::Testing),
    ("ALERT_RETRIGGERED", Reason::Retriggered),
    ("ALERT_NO_DATA", Reason::NoData),
    ("ALERT_NO_DATA_RESOLVED", Reason::NoDataResolved),
    ("ALERT_NO_DATA_MAINTENANCE", Reason::NoDataMaintenance),
    ("ALERT_SEVERITY_UPDATE", Reason::SeverityUpdate),
    ("ALERT_NOTIFICATION_PREVIEW", Reason::NotificationPreview),
];

impl Reason {
    /// Every reason Wavefront documents, in its own spelling.
    pub fn known() -> impl Iterator<Item = &'static str> {
        KNOWN_REASONS.iter().map(|(name, _)| *name)
    }

    /// Parses a known reason (case-insensitive); anything else is [`Reason::Other`].
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        KNOWN_REASONS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map_or_else(|| Self::Other(text.into()), |(_, reason)| reason.clone())
    }

    /// Parses only reasons Wavefront documents; used for config, where a typo must be an error.
    pub fn parse_known(text: &str) -> Option<Self> {
        match Self::parse(text) {
            Self::Other(_) => None,
            known => Some(known),
        }
    }

    /// The reason as Wavefront spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(text) => text,
            known => KNOWN_REASONS
                .iter()
                .find(|(_, reason)| reason == known)
                .map_or("", |(name, _)| name),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alert severity, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Smoke,
    Warn,
    Severe,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [Self::Info, Self::Smoke, Self::Warn, Self::Severe];

    /// Parses `INFO`, `SMOKE`, `WARN` or `SEVERE`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The severity as Wavefront spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Smoke => "SMOKE",
            Self::Warn => "WARN",
            Self::Severe => "SEVERE",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert notification, as far as the payload told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// `alertId`: the alert's stable id.
    pub id: Option<String>,
    /// `notificationId`: unique per notification; repeats mean a re-send.
    pub notification_id: Option<String>,
    /// `name`: the alert's name, which rules match on.
    pub name: String,
    /// `reason`: why this notification was sent.
    pub reason: Reason,
    /// `severity`, or the highest of the `severity*` booleans.
    pub severity: Option<Severity>,
    /// `alertTags`.
    pub tags: Vec<String>,
    /// `url`: the alert in Wavefront's UI.
    pub url: Option<String>,
    /// `createdTime` / `createdEpochMillis`.
    pub created: Option<Timestamp>,
    /// `startedTime` / `startedEpochMillis`: when this firing started.
    pub started: Option<Timestamp>,
    /// `sinceTime` / `sinceEpochMillis`.
    pub since: Option<Timestamp>,
    /// `endedTime` / `endedEpochMillis`.
    pub ended: Option<Timestamp>,
    /// `snoozedUntilTime` / `snoozedUntilEpochMillis`.
    pub snoozed_until: Option<Timestamp>,
    /// Fields that were present but could not be read, and were ignored.
    pub warnings: Vec<String>,
}

/// Why a payload cannot be used. Messages say what is wrong and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// The body is not JSON.
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is JSON, but a field has a shape no template renders (an object where the name
    /// belongs, the same key twice...).
    #[error("unusable payload at line {line} column {column}: {message}")]
    Shape {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is not valid UTF-8.
    #[error("the body is not UTF-8 text; send the alert as JSON")]
    NotUtf8,
    /// An empty body.
    #[error("the body is empty; the alert target's body template must render a JSON object")]
    Empty,
    /// A field longer than any alert template renders.
    #[error("{field} is {chars} characters long; the limit is {MAX_FIELD_CHARS}")]
    TooLong { field: &'static str, chars: usize },
    /// No `name`, or an empty one.
    #[error("alert has no name; the alert target template must render \"name\": \"{{{{name}}}}\"")]
    NoName,
    /// No `reason`, or an empty one.
    #[error(
        "alert has no reason; the alert target template must render \"reason\": \"{{{{reason}}}}\""
    )]
    NoReason,
}

impl PayloadError {
    fn from_json(err: &serde_json::Error) -> Self {
        let full = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        let (line, column) = (err.line(), err.column());
        match err.classify() {
            serde_json::error::Category::Data => Self::Shape {
                line,
                column,
                message,
            },
            _ => Self::Syntax {
                line,
                column,
                message,
            },
        }
    }
}

impl Alert {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let text = std::str::from_utf8(body).map_err(|_| PayloadError::NotUtf8)?;
        if text.trim().is_empty() {
            return Err(PayloadError::Empty);
        }
        not_an_object(text)?;
        let raw: RawAlert = serde_json::from_str(text).map_err(|e| PayloadError::from_json(&e))?;
        raw.into_alert()
    }

    /// The alert's name for display: name plus id when known.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("\"{}\" (id {id})", self.name),
            None => format!("\"{}\"", self.name),
        }
    }
}

/// Refuses JSON that is valid but not an object. Serde reads a struct from an array too (its
/// fields in order), so without this `[...]` with the right elements would be an alert.
fn not_an_object(text: &str) -> Result<(), PayloadError> {
    let start = text
        .find(|c: char| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .unwrap_or(0);
    let got = match text.as_bytes().get(start) {
        Some(b'{') | None => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
    };
    // Broken JSON is reported as such, where it breaks.
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| PayloadError::from_json(&e))?;
    let before = &text[..start];
    Err(PayloadError::Shape {
        line: before.matches('\n').count() + 1,
        column: start - before.rfind('\n').map_or(0, |i| i + 1) + 1,
        message: format!("the body must be a JSON object (got {got})"),
    })
}

/// Parses a Wavefront time string: `09/12/2020 21:47:39 +0000` or the older `... 0000`.
pub fn parse_wavefront_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = Timestamp::strptime("%m/%d/%Y %H:%M:%S %z", text) {
        return Some(ts);
    }
    // The 2018 documentation shows the offset without its sign.
    let (head, offset) = text.rsplit_once(' ')?;
    if offset.len() == 4 && offset.bytes().all(|b| b.is_ascii_digit()) {
        return Timestamp::strptime("%m/%d/%Y %H:%M:%S %z", format!("{head} +{offset}")).ok();
    }
    None
}

/// Reads an epoch number: milliseconds, or seconds when it is too small to be milliseconds.
fn epoch_to_timestamp(value: i64) -> Option<Timestamp> {
    // 10^11 ms is March 1973; 10^11 s is the year 5138. Anything below is seconds.
    if value.unsigned_abs() < 100_000_000_000 {
        Timestamp::from_second(value).ok()
    } else {
        Timestamp::from_millisecond(value).ok()
    }
}

/// The payload as rendered: every field optional and loosely typed.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    alert_id: Option<Scalar>,
    notification_id: Option<Scalar>,
    name: Option<Scalar>,
    reason: Option<Scalar>,
    severity: Option<Scalar>,
    severity_smoke: Option<Flag>,
    severity_info: Option<Flag>,
    severity_warn: Option<Flag>,
    severity_severe: Option<Flag>,
    alert_tags: Option<Tags>,
    url: Option<Scalar>,
    created_time: Option<Scalar>,
    started_time: Option<Scalar>,
    since_time: Option<Scalar>,
    ended_time: Option<Scalar>,
    snoozed_until_time: Option<Scalar>,
    created_epoch: Option<Scalar>,
    started_epoch: Option<Scalar>,
    since_epoch: Option<Scalar>,
    ended_epoch: Option<Scalar>,
    snoozed_until_epoch: Option<Scalar>,
    created_epoch_millis: Option<Scalar>,
    started_epoch_millis: Option<Scalar>,
    since_epoch_millis: Option<Scalar>,
    ended_epoch_millis: Option<Scalar>,
    snoozed_until_epoch_millis: Option<Scalar>,
}

impl RawAlert {
    fn into_alert(self) -> Result<Alert, PayloadError> {
        let mut warnings = Vec::new();
        let name = bounded("name", text(self.name))?.ok_or(PayloadError::NoName)?;
        let reason = bounded("reason", text(self.reason))?
            .map(|r| Reason::parse(&r))
            .ok_or(PayloadError::NoReason)?;
        let id = bounded("alertId", text(self.alert_id))?;
        let notification_id = bounded("notificationId", text(self.notification_id))?;
        let url = bounded("url", text(self.url))?;
        let mut tags = self.alert_tags.map(|t| t.0).unwrap_or_default();
        if tags.len() > MAX_TAGS {
            warnings.push(format!(
                "{} alert tags; only the first {MAX_TAGS} are read",
                tags.len()
            ));
            tags.truncate(MAX_TAGS);
        }
        tags.retain(|tag| {
            let keep = tag.chars().count() <= MAX_TAG_CHARS;
            if !keep {
                warnings.push(format!(
                    "alert tag \"{}...\" is over {MAX_TAG_CHARS} characters; ignored",
                    truncate(tag, 32)
                ));
            }
            keep
        });
        let severity = match text(self.severity) {
            Some(s) => Severity::parse(&s).or_else(|| {
                warnings.push(format!(
                    "severity \"{}\" is not INFO, SMOKE, WARN or SEVERE; ignored",
                    truncate(&s, 64)
                ));
                None
            }),
            None => None,
        }
        .or_else(|| {
            [
                (self.severity_severe, Severity::Severe),
                (self.severity_warn, Severity::Warn),
                (self.severity_smoke, Severity::Smoke),
                (self.severity_info, Severity::Info),
            ]
            .into_iter()
            .find_map(|(flag, severity)| (flag.and_then(|f| f.0) == Some(true)).then_some(severity))
        });
        let mut time = |field: &str, string: Option<Scalar>, epochs: [Option<Scalar>; 2]| {
            read_time(field, string, epochs, &mut warnings)
        };
        let created = time(
            "created",
            self.created_time,
            [self.created_epoch_millis, self.created_epoch],
        );
        // In whole seconds, as `startedTime` is written: the incident is the alert id and its
        // start, so a template that sends `startedEpochMillis` and one that sends `startedTime`
        // must name the same incident.
        let started = time(
            "started",
            self.started_time,
            [self.started_epoch_millis, self.started_epoch],
        )
        .and_then(|t| Timestamp::from_second(t.as_second()).ok());
        let since = time(
            "since",
            self.since_time,
            [self.since_epoch_millis, self.since_epoch],
        );
        let ended = time(
            "ended",
            self.ended_time,
            [self.ended_epoch_millis, self.ended_epoch],
        );
        let snoozed_until = time(
            "snoozedUntil",
            self.snoozed_until_time,
            [self.snoozed_until_epoch_millis, self.snoozed_until_epoch],
        );
        Ok(Alert {
            id,
            notification_id,
            name,
            reason,
            severity,
            tags,
            url,
            created,
            started,
            since,
            ended,
            snoozed_until,
            warnings,
        })
    }
}

/// Epoch fields win over the formatted string: they carry the exact instant.
fn read_time(
    field: &str,
    string: Option<Scalar>,
    epochs: [Option<Scalar>; 2],
    warnings: &mut Vec<String>,
) -> Option<Timestamp> {
    for (epoch, suffix) in epochs.into_iter().zip(["EpochMillis", "Epoch"]) {
        if let Some(value) = text(epoch) {
            match value.parse::<i64>().ok().and_then(epoch_to_timestamp) {
                Some(ts) => return Some(ts),
                None => warnings.push(format!(
                    "{field}{suffix} \"{}\" is not an epoch number; ignored",
                    truncate(&value, 64)
                )),
            }
        }
    }
    let value = text(string)?;
    let parsed = parse_wavefront_time(&value);
    if parsed.is_none() {
        warnings.push(format!(
            "{field}Time \"{}\" is not a Wavefront time like \"09/12/2020 21:47:39 +0000\"; ignored",
            truncate(&value, 64)
        ));
    }
    parsed
}

/// A non-empty, trimmed string from a scalar field.
fn text(value: Option<Scalar>) -> Option<String> {
    value
        .and_then(|s| s.0)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Refuses values longer than any alert template renders, so records and audit lines stay
/// small whatever a caller sends.
fn bounded(field: &'static str, value: Option<String>) -> Result<Option<String>, PayloadError> {
    match value {
        Some(v) if v.chars().count() > MAX_FIELD_CHARS => Err(PayloadError::TooLong {
            field,
            chars: v.chars().count(),
        }),
        other => Ok(other),
    }
}

/// A string, number or boolean, read as text; `null` is absent.
struct Scalar(Option<String>);

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
struct Flag(Option<bool>);

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
struct Tags(Vec<String>);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Alert, PayloadError> {
        Alert::parse(json.as_bytes())
    }

    #[test]
    fn reasons_round_trip_and_unknown_ones_are_kept() {
        for name in Reason::known() {
            assert_eq!(Reason::parse(name).as_str(), name);
            assert!(Reason::parse_known(name).is_some());
        }
        assert_eq!(Reason::parse("alert_opened"), Reason::Opened);
        assert_eq!(Reason::parse("ALERT_FUTURE").as_str(), "ALERT_FUTURE");
        assert_eq!(Reason::parse_known("ALERT_OPEN"), None);
    }

    #[test]
    fn both_documented_time_formats_parse() {
        let signed = parse_wavefront_time("09/12/2020 21:47:39 +0000").unwrap();
        assert_eq!(signed.to_string(), "2020-09-12T21:47:39Z");
        let unsigned = parse_wavefront_time("09/12/2016 21:47:39 0000").unwrap();
        assert_eq!(unsigned.to_string(), "2016-09-12T21:47:39Z");
        let offset = parse_wavefront_time("09/12/2020 23:47:39 +0200").unwrap();
        assert_eq!(offset, signed);
        assert_eq!(parse_wavefront_time(""), None);
        assert_eq!(parse_wavefront_time("yesterday"), None);
    }

    #[test]
    fn epoch_fields_take_milliseconds_or_seconds() {
        let alert = parse(
            r#"{"name":"a","reason":"ALERT_OPENED","startedEpochMillis":1599947259000,
                "createdEpoch":"1599947259","endedEpochMillis":""}"#,
        )
        .unwrap();
        assert_eq!(alert.started.unwrap().to_string(), "2020-09-12T21:47:39Z");
        assert_eq!(alert.created, alert.started);
        assert_eq!(alert.ended, None);
        assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
    }

    #[test]
    fn one_firing_has_one_start_whether_by_string_or_by_epoch() {
        // The shipped template's startedTime, and another template's startedEpochMillis of the
        // same firing, which carries milliseconds the string does not.
        let by_string = parse(
            r#"{"name":"a","reason":"ALERT_OPENED","alertId":"1",
                "startedTime":"09/12/2020 21:47:39 +0000"}"#,
        )
        .unwrap();
        let by_epoch = parse(
            r#"{"name":"a","reason":"ALERT_OPENED","alertId":"1",
                "startedEpochMillis":1599947259734}"#,
        )
        .unwrap();
        assert_eq!(by_string.started, by_epoch.started);
        assert_eq!(
            crate::ledger::Incident::of(&by_string),
            crate::ledger::Incident::of(&by_epoch)
        );
    }

    #[test]
    fn scalars_may_be_numbers_and_flags_may_be_strings() {
        let alert = parse(
            r#"{"alertId":1460761882996,"name":"n","reason":"ALERT_OPENED",
                "severitySevere":"true","severityWarn":false}"#,
        )
        .unwrap();
        assert_eq!(alert.id.as_deref(), Some("1460761882996"));
        assert_eq!(alert.severity, Some(Severity::Severe));
    }

    #[test]
    fn explicit_severity_wins_over_flags() {
        let alert = parse(
            r#"{"name":"n","reason":"ALERT_OPENED","severity":"warn","severitySevere":true}"#,
        )
        .unwrap();
        assert_eq!(alert.severity, Some(Severity::Warn));
    }

    #[test]
    fn tags_come_as_a_list_or_as_one_string() {
        let list =
            parse(r#"{"name":"n","reason":"ALERT_OPENED","alertTags":["a"," b ",""]}"#).unwrap();
        assert_eq!(list.tags, ["a", "b"]);
        let text =
            parse(r#"{"name":"n","reason":"ALERT_OPENED","alertTags":"[prod, mysql]"}"#).unwrap();
        assert_eq!(text.tags, ["prod", "mysql"]);
    }

    #[test]
    fn unreadable_optional_fields_become_warnings() {
        let alert =
            parse(r#"{"name":"n","reason":"ALERT_OPENED","severity":"LOUD","startedTime":"soon"}"#)
                .unwrap();
        assert_eq!(alert.severity, None);
        assert_eq!(alert.started, None);
        assert_eq!(alert.warnings.len(), 2, "{:?}", alert.warnings);
        assert!(alert.warnings[1].contains("startedTime \"soon\""));
    }

    #[test]
    fn name_and_reason_are_required() {
        assert_eq!(
            parse(r#"{"reason":"ALERT_OPENED"}"#),
            Err(PayloadError::NoName)
        );
        assert_eq!(
            parse(r#"{"name":"  ","reason":"ALERT_OPENED"}"#),
            Err(PayloadError::NoName)
        );
        assert_eq!(parse(r#"{"name":"n"}"#), Err(PayloadError::NoReason));
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse("{\n  \"name\": \"n\",\n  \"reason\" \"x\"\n}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 3 column 12: expected `:`"
        );
    }

    #[test]
    fn wrong_shapes_and_duplicate_keys_are_unusable() {
        let err = parse(r#"{"name":{"a":1},"reason":"ALERT_OPENED"}"#).unwrap_err();
        assert!(matches!(err, PayloadError::Shape { .. }), "{err}");
        let err = parse(r#"{"name":"a","name":"b","reason":"ALERT_OPENED"}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field `name`"), "{err}");
        let err = parse("[1,2]").unwrap_err();
        assert!(matches!(err, PayloadError::Shape { .. }), "{err}");
    }

    #[test]
    fn only_a_json_object_is_an_alert() {
        // Serde would read a struct from an array of its fields in order: 26 of them here,
        // name and reason included.
        let mut fields = vec!["null"; 26];
        fields[2] = "\"checkout API error rate high\"";
        fields[3] = "\"ALERT_OPENED\"";
        let array = format!("[{}]", fields.join(","));
        for (body, got) in [
            (array.as_str(), "an array"),
            ("[1]", "an array"),
            ("[]", "an array"),
            ("\"ALERT_OPENED\"", "a string"),
            ("42", "a number"),
            ("-1.5", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "unusable payload at line 1 column 1: the body must be a JSON object (got {got})"
                ),
                "{body}"
            );
        }
        let err = parse("\n  [1]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unusable payload at line 2 column 3: the body must be a JSON object (got an array)"
        );
        // Broken JSON is still a syntax error, where it breaks.
        let err = parse("[1,").unwrap_err();
        assert!(matches!(err, PayloadError::Syntax { .. }), "{err}");
    }

    #[test]
    fn empty_bodies_and_huge_fields_are_refused() {
        assert_eq!(parse(" \n"), Err(PayloadError::Empty));
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let err = parse(&format!(r#"{{"name":"{long}","reason":"ALERT_OPENED"}}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "name is 1025 characters long; the limit is 1024"
        );
        let tags: Vec<String> = (0..70).map(|i| format!("\"t{i}\"")).collect();
        let alert = parse(&format!(
            r#"{{"name":"n","reason":"ALERT_OPENED","alertTags":[{}, "{}"]}}"#,
            tags.join(","),
            "y".repeat(300)
        ))
        .unwrap();
        assert_eq!(alert.tags.len(), 64);
        assert_eq!(
            alert.warnings,
            ["71 alert tags; only the first 64 are read"]
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(
            Alert::parse(b"{\"name\":\"\xff\"}"),
            Err(PayloadError::NotUtf8)
        );
    }
}
