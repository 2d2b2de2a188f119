//! The Wavefront alert model: what an alert target's body template renders, parsed leniently.
//!
//! Wavefront has no fixed webhook schema: the body is whatever the target's Mustache template
//! produced. So every field is optional, unknown fields are ignored, scalars may arrive as
//! strings, numbers or booleans, and times come as `09/12/2020 21:47:39 +0000` (older
//! documentation: `... 0000`), as empty strings, or as `*Epoch`/`*EpochMillis` numbers. Only a
//! name and a reason are required, because nothing can be decided without them. Fields that are
//! present but unreadable are ignored and reported as warnings in the decision record.

mod fields;
mod payload;
mod reason;
mod severity;
mod time;

use jiff::Timestamp;

pub use payload::{MAX_FIELD_CHARS, PayloadError};
pub use reason::Reason;
pub use severity::Severity;
pub use time::parse_wavefront_time;

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

impl Alert {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        payload::parse(body)
    }

    /// The alert's name for display: name plus id when known.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("\"{}\" (id {id})", self.name),
            None => format!("\"{}\"", self.name),
        }
    }
}
