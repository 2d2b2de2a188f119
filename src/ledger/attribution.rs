//! What the attribution guard needs from the ledger: when an incident started, for payloads that
//! do not say (the first delivery the ledger saw of it), and which CodeDeploy deployments are
//! this responder's own undos (recorded before they are created, so none is ever taken for a
//! release because of its description alone).
//!
//! Entries: `incident#<alert>#-` / `first-seen` (claimed once per incident, so every later
//! delivery reads the first one's time; `ALERT_RESOLVED` clears it with the incident's latches),
//! and `undo` / `<deployment id undone>` (for the retention).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{Entry, Incident, Key, Ledger, LedgerError};
use crate::alert::Alert;

/// The sort key of an incident's first-seen entry; latches' sort keys hold a `#`, this none.
pub(super) const FIRST_SEEN: &str = "first-seen";

/// The ledger partition of the undo deployments this responder created.
const UNDO_PK: &str = "undo";

/// How long an undo is remembered, at the least: longer than any `redeploy_within` (at most
/// 7d), so a success that is our own undo is never taken for a release inside its window.
const UNDO_KEPT: Duration = Duration::from_secs(8 * 86_400);

/// Whether `entry` records one of the responder's own undo deployments.
pub fn is_undo(entry: &Entry) -> bool {
    entry.key.pk == UNDO_PK
}

/// Where an incident's start time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// The alert's `startedTime` (or `startedEpochMillis`).
    StartedTime,
    /// The payload has none: the first delivery of this incident the ledger recorded.
    FirstDelivery,
    /// The payload has none and this is the incident's first delivery: this request's time.
    ThisRequest,
}

/// When the incident started: a change that began at or after it may be the fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentStart {
    #[serde(serialize_with = "as_text")]
    pub at: Timestamp,
    pub from: StartSource,
}

fn as_text<S: serde::Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{at:.0}"))
}

impl IncidentStart {
    /// The alert's own start time, when the payload has one.
    pub fn of(alert: &Alert) -> Option<Self> {
        alert.started.map(|at| Self {
            at,
            from: StartSource::StartedTime,
        })
    }
}

impl fmt::Display for IncidentStart {
    /// What the start is, for sentences: `the alert started firing (20:41:07Z)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.strftime("%Y-%m-%dT%H:%M:%SZ");
        match self.from {
            StartSource::StartedTime => write!(f, "the alert started firing ({at})"),
            StartSource::FirstDelivery => {
                write!(
                    f,
                    "the incident's first delivery ({at}; the payload has no startedTime)"
                )
            }
            StartSource::ThisRequest => write!(
                f,
                "this first delivery of the incident ({at}; the payload has no startedTime)"
            ),
        }
    }
}

impl Ledger {
    /// When `alert`'s incident started: its `startedTime`, else the first delivery of it the
    /// ledger recorded, else `now`. With `record`, a first delivery records itself (a
    /// conditional write, so concurrent first deliveries agree on one time); without (dry
    /// runs), the ledger is only read.
    pub async fn incident_start(
        &self,
        alert: &Alert,
        request_id: &str,
        now: Timestamp,
        record: bool,
    ) -> Result<IncidentStart, LedgerError> {
        if let Some(start) = IncidentStart::of(alert) {
            return Ok(start);
        }
        let key = Key::new(Incident::of(alert).pk(), FIRST_SEEN);
        let earlier = if record {
            let entry = self.entry(
                key,
                (request_id, request_id),
                now,
                self.retention.get(),
                format!("{} first delivered", alert.label()),
            );
            self.store.claim(&entry, now).await?
        } else {
            self.get(&key, now).await?
        };
        Ok(
            match earlier.and_then(|e| Timestamp::from_millisecond(e.claimed_at).ok()) {
                Some(at) => IncidentStart {
                    at,
                    from: StartSource::FirstDelivery,
                },
                None => IncidentStart {
                    at: now,
                    from: StartSource::ThisRequest,
                },
            },
        )
    }

    /// Records that this responder is about to create a deployment undoing `undone`, so that
    /// deployment is recognised as its own (never stopped, never undone) for the retention, and
    /// for at least 8 days whatever the retention: longer than any `redeploy_within`.
    pub async fn record_undo(
        &self,
        undone: &str,
        request_id: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let entry: Entry = self.entry(
            Key::new(UNDO_PK, undone),
            (request_id, request_id),
            now,
            self.retention.get().max(UNDO_KEPT),
            format!("undo of {undone} created"),
        );
        self.store.put(&entry).await
    }

    /// The deployments this responder recorded undoing, by the id of the deployment undone.
    pub async fn undos(&self, now: Timestamp) -> Result<HashSet<String>, LedgerError> {
        let entries = self.store.query(UNDO_PK).await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.live(now))
            .map(|e| e.key.sk)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn alert(started: bool) -> Alert {
        let body = if started {
            r#"{"name":"checkout errors","reason":"ALERT_OPENED","alertId":"42",
                "startedTime":"12/03/2026 16:00:00 +0000"}"#
        } else {
            r#"{"name":"checkout errors","reason":"ALERT_OPENED","alertId":"42"}"#
        };
        Alert::parse(body.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn the_start_is_the_alerts_else_the_first_delivery_recorded() {
        let ledger = Ledger::in_memory(None);
        let first = at("2026-12-03T16:05:00Z");
        let later = at("2026-12-03T16:09:00Z");
        let start = ledger
            .incident_start(&alert(true), "req-1", later, true)
            .await
            .unwrap();
        assert_eq!(start.at, at("2026-12-03T16:00:00Z"));
        assert_eq!(start.from, StartSource::StartedTime);

        // A dry run reads, and records nothing.
        let dry = ledger
            .incident_start(&alert(false), "req-1", first, false)
            .await;
        assert_eq!(dry.unwrap().from, StartSource::ThisRequest);
        let start = ledger
            .incident_start(&alert(false), "req-2", first, true)
            .await
            .unwrap();
        assert_eq!((start.at, start.from), (first, StartSource::ThisRequest));
        let again = ledger
            .incident_start(&alert(false), "req-3", later, true)
            .await
            .unwrap();
        assert_eq!((again.at, again.from), (first, StartSource::FirstDelivery));
        assert_eq!(
            again.to_string(),
            "the incident's first delivery (2026-12-03T16:05:00Z; the payload has no \
             startedTime)"
        );
        let dry = ledger
            .incident_start(&alert(false), "req-4", later, false)
            .await;
        assert_eq!(dry.unwrap(), again);
    }

    #[tokio::test]
    async fn undos_are_remembered_by_the_deployment_they_undo() {
        let ledger = Ledger::in_memory(None);
        let now = at("2026-12-03T16:00:00Z");
        assert!(ledger.undos(now).await.unwrap().is_empty());
        ledger.record_undo("d-BAD", "req-1", now).await.unwrap();
        let undos = ledger.undos(now).await.unwrap();
        assert!(undos.contains("d-BAD"), "{undos:?}");
        // Kept past the default retention (7d) for as long as any redeploy_within.
        let after_a_week = at("2026-12-10T17:00:00Z");
        assert!(ledger.undos(after_a_week).await.unwrap().contains("d-BAD"));
        let after_eight_days = at("2026-12-11T16:00:00Z");
        assert!(ledger.undos(after_eight_days).await.unwrap().is_empty());
        // `ledger clear` keeps them.
        ledger.clear(false).await.unwrap();
        assert!(ledger.undos(now).await.unwrap().contains("d-BAD"));
    }
}
