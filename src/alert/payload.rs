//! Parsing the lenient payload: the body checks (UTF-8, not empty, a JSON object), the payload
//! as rendered with every field optional, and turning it into an [`Alert`], refusing what
//! nothing can be decided without and keeping unreadable optional fields as warnings.

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::fields::{Flag, Scalar, Tags, text};
use super::time::read_time;
use super::{Alert, Reason, Severity};
use crate::text::truncate;

/// Longest name, id, reason or URL accepted.
pub const MAX_FIELD_CHARS: usize = 1024;
/// Most alert tags read.
const MAX_TAGS: usize = 64;
/// Longest alert tag read.
const MAX_TAG_CHARS: usize = 256;

/// Parses a webhook body into an alert.
pub(super) fn parse(body: &[u8]) -> Result<Alert, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|_| PayloadError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(PayloadError::Empty);
    }
    not_an_object(text)?;
    let raw: RawAlert = serde_json::from_str(text).map_err(|e| PayloadError::from_json(&e))?;
    raw.into_alert()
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
        let tags = read_tags(self.alert_tags, &mut warnings);
        let flags = [
            (self.severity_severe, Severity::Severe),
            (self.severity_warn, Severity::Warn),
            (self.severity_smoke, Severity::Smoke),
            (self.severity_info, Severity::Info),
        ];
        let severity = read_severity(self.severity, flags, &mut warnings);
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

/// Reads `alertTags`: at most [`MAX_TAGS`], each at most [`MAX_TAG_CHARS`] long; the rest is
/// dropped with a warning.
fn read_tags(tags: Option<Tags>, warnings: &mut Vec<String>) -> Vec<String> {
    let mut tags = tags.map(|t| t.0).unwrap_or_default();
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
    tags
}

/// Reads `severity`, or else the highest `severity*` flag that is true. An unreadable
/// `severity` is a warning, and the flags decide.
fn read_severity(
    severity: Option<Scalar>,
    flags: [(Option<Flag>, Severity); 4],
    warnings: &mut Vec<String>,
) -> Option<Severity> {
    match text(severity) {
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
        flags
            .into_iter()
            .find_map(|(flag, severity)| (flag.and_then(|f| f.0) == Some(true)).then_some(severity))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Alert, PayloadError> {
        Alert::parse(json.as_bytes())
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
        // same firing, which carries milliseconds the string does not. The ledger's tests check
        // that both are one incident.
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
