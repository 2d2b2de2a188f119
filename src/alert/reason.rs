//! Why Wavefront sent a notification: the `reason` field, in Wavefront's own spelling, with
//! reasons this version does not know kept verbatim.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
