//! The incident ledger: what has been handled and done, so repeated deliveries, concurrent
//! Lambda instances and noisy alerts never act twice.
//!
//! Four kinds of claim, each a conditional write that only one caller can win:
//! - **notification** (`notification#<id>`): a delivery already handled is a duplicate.
//!   Wavefront's `notificationId` names it; without one, the alert id, reason and start time.
//! - **incident latch** (`incident#<alert>#<started>`, one entry per rule and target): a rule
//!   acts on a target at most once per incident. An incident is the alert id and its
//!   `startedTime`; when the payload has no start time it lasts until an `ALERT_RESOLVED` that
//!   ended after the latch was taken clears it.
//! - **cooldown** (`cooldown#<rule>#<target>`, when the rule sets `cooldown`): after acting, the
//!   rule leaves that target alone for that long, whatever the incident.
//! - **circuit breaker** (`circuit`, one slot per allowed action): at most `max_actions`
//!   changes across all rules in a sliding `window`; a slot is free again once its action is
//!   older than the window.
//!
//! Claims are taken before acting. Only actions that changed something, or may have, keep
//! theirs: a claim whose action was skipped or failed is released, so a retry can act; a
//! release names the claim it gives back, so it never takes another action's. Dry runs write
//! nothing; they only read what would stop them. Every entry expires (a DynamoDB TTL
//! attribute), and an expired entry counts as absent even before DynamoDB deletes it.
//!
//! Besides claims, the ledger keeps what every instance must see: [`freeze`]s set by people on
//! call, what the attribution guard needs ([`attribution`]: when an incident without a
//! start time was first delivered, and which deployments are this responder's own undos), and
//! which Wavefront events a delivery already posted (`event.rs`).
//!
//! The logic is written once, here, over a small [`Store`] with two implementations:
//! [`memory`] (the default, for `serve` and tests) and [`dynamodb`] (for Lambda, where
//! instances share state).

mod admission;
pub mod attribution;
mod claims;
pub mod dynamodb;
mod event;
pub mod freeze;
mod key;
pub mod memory;
mod refusal;
#[cfg(any(test, feature = "test-support"))]
mod test_support;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

pub use admission::Attempt;
use admission::{CIRCUIT, expiry};
pub use claims::{AdmissionStopper, Claims};
pub use event::Announcement;
pub use key::Key;
#[cfg(test)]
use key::MAX_SK_BYTES;
use key::{MAX_PK_BYTES, bounded};
pub use refusal::Refusal;
#[cfg(any(test, feature = "test-support"))]
pub use test_support::Admission;

use crate::alert::{Alert, Reason};
use crate::duration::HumanDuration;

/// A boxed future, so [`Store`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    /// When it was claimed, in milliseconds since the epoch.
    pub claimed_at: i64,
    /// The request that claimed it.
    pub claimed_by: String,
    /// Which claim of that request wrote it: one admission (`<request id>#<n>`), or the
    /// request itself for its delivery. Releases name it, so giving back one action's claims
    /// never takes another's of the same request.
    pub claim_id: String,
    /// When it stops counting, in seconds since the epoch (the DynamoDB TTL attribute).
    pub expires_at: i64,
    /// What it stands for, for `ledger list`.
    pub note: String,
    /// Whether the request that claimed it may still give it back: a delivery being handled,
    /// or the latch and cooldown of an action not done yet. A refusal by it is not final.
    pub pending: bool,
}

impl Entry {
    /// Whether the entry still counts at `now`.
    pub fn live(&self, now: Timestamp) -> bool {
        self.expires_at > now.as_second()
    }

    fn claimed_at(&self) -> String {
        crate::text::millis_text(self.claimed_at)
    }

    fn expires_at(&self) -> String {
        Timestamp::from_second(self.expires_at)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.expires_at.to_string())
    }
}

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {operation} failed: {message}")]
    Store {
        operation: &'static str,
        message: String,
    },
    /// An admission was stopped (see [`AdmissionStopper`]) before it sent its next call.
    #[error("ledger admission stopped before its next call: the time budget ran out")]
    Stopped,
}

/// The storage the ledger needs: conditional claims and conditional releases.
pub trait Store: Send + Sync + fmt::Debug {
    /// Writes `entry` unless a live entry holds its key; returns that holder when refused.
    fn claim<'a>(
        &'a self,
        entry: &'a Entry,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Entry>, LedgerError>>;

    /// Rewrites `entry` (a new expiry) if its claimer still holds it; otherwise leaves the
    /// entry as it is.
    fn renew<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// Deletes the entry at `key` if `claimed_by` still holds it and, when `claim_id` is
    /// given, through that very claim.
    fn release<'a>(
        &'a self,
        key: &'a Key,
        claimed_by: &'a str,
        claim_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// The live entries at `keys` (at most 100 keys, all read at once), in no given order.
    fn get_many<'a>(
        &'a self,
        keys: &'a [Key],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>>;

    /// Every entry (live or not) under a partition key.
    fn query<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>>;

    /// Every entry, for operators.
    fn scan(&self) -> BoxFuture<'_, Result<Vec<Entry>, LedgerError>>;

    /// Writes `entry` whoever holds its key (an operator's freeze, a record of an undo).
    fn put<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// Deletes the entry at `key`, whoever holds it.
    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), LedgerError>>;

    /// Where the entries live, for messages: `in memory`, `DynamoDB table t`.
    fn describe(&self) -> String;

    /// Whether the entries live inside this process (and go with it), out of reach of the
    /// `ledger` commands.
    fn in_process(&self) -> bool;
}

/// The sort key of the entry that says when an incident without a start time was last resolved.
const RESOLVED: &str = "resolved";

/// What an `ALERT_RESOLVED` cleared of its incident.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Incident latches.
    pub latches: usize,
    /// When the incident was first delivered (for a payload without a start time).
    pub first_seen: bool,
}

impl Cleared {
    /// Whether anything was cleared.
    pub fn any(&self) -> bool {
        self.latches > 0 || self.first_seen
    }
}

/// The circuit breaker's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub max_actions: u32,
    pub window: HumanDuration,
}

/// What stopped an action: one of the ledger's claims, a freeze recorded in it, the
/// attribution guard (what would be undone began after the incident started), or the "still
/// firing?" check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The rule already handled this target in this incident (acted, or left it to a
    /// rollback of its own under way).
    IncidentLatch,
    /// The rule acted on this target too recently.
    Cooldown,
    /// Too many actions across all rules in the window.
    CircuitOpen,
    /// People on call froze the responder (`wavefront-responder freeze`).
    Frozen,
    /// What the action would undo began at or after the incident started: it may be the fix.
    Attribution,
    /// The rule sets `require_firing`, and Wavefront did not say the alert is still firing
    /// (snoozed, in maintenance, not firing, or its status could not be read).
    NotFiring,
}

/// An incident: one firing of one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    alert: String,
    /// `startedTime` in milliseconds, when the payload had one.
    started: Option<i64>,
}

impl Incident {
    /// The incident an alert belongs to: its id (or, lacking one, its name) and start time.
    pub fn of(alert: &Alert) -> Self {
        Self {
            alert: alert.id.clone().unwrap_or_else(|| alert.name.clone()),
            started: alert.started.map(|t| t.as_millisecond()),
        }
    }

    fn pk(&self) -> String {
        let pk = match self.started {
            Some(ms) => format!("incident#{}#{ms}", self.alert),
            None => format!("incident#{}#-", self.alert),
        };
        // Queried as it is written: bounded as every key is.
        bounded(pk, MAX_PK_BYTES)
    }
}

/// A delivery's identity for de-duplication, if the payload gives one.
pub fn notification_key(alert: &Alert) -> Option<Key> {
    if let Some(id) = &alert.notification_id {
        return Some(Key::new(format!("notification#{id}"), "-"));
    }
    let alert_id = alert.id.as_ref()?;
    let started = alert.started?;
    Some(Key::new(
        format!(
            "notification#{alert_id}#{}#{}",
            alert.reason,
            started.as_millisecond()
        ),
        "-",
    ))
}

/// The ledger.
#[derive(Clone, Debug)]
pub struct Ledger {
    store: Arc<dyn Store>,
    retention: HumanDuration,
    circuit: Option<CircuitBreaker>,
}

/// How long a delivery being handled is claimed before its claim lapses: far longer than any
/// request runs (Lambda stops one after 15 minutes at most), short enough that a handler that
/// died does not block Wavefront's retry for long.
pub const PENDING: Duration = Duration::from_secs(15 * 60);

/// How long entries are kept by default: notifications and incident latches.
pub const DEFAULT_RETENTION: HumanDuration = HumanDuration::new(Duration::from_secs(7 * 24 * 3600));

impl Ledger {
    pub fn new(
        store: Arc<dyn Store>,
        retention: HumanDuration,
        circuit: Option<CircuitBreaker>,
    ) -> Self {
        Self {
            store,
            retention,
            circuit,
        }
    }

    /// An in-memory ledger with the default retention and the given breaker.
    pub fn in_memory(circuit: Option<CircuitBreaker>) -> Self {
        Self::new(
            Arc::new(memory::MemoryStore::default()),
            DEFAULT_RETENTION,
            circuit,
        )
    }

    /// Where the entries live.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    fn entry(
        &self,
        key: Key,
        (request_id, claim_id): (&str, &str),
        now: Timestamp,
        lasts: Duration,
        note: String,
    ) -> Entry {
        Entry {
            key,
            claimed_at: now.as_millisecond(),
            claimed_by: request_id.to_owned(),
            claim_id: claim_id.to_owned(),
            expires_at: expiry(now, lasts),
            note,
            pending: false,
        }
    }

    /// Claims a delivery while it is handled. `Some(earlier)` means it was already handled (or
    /// is being handled): a duplicate. The claim lasts [`PENDING`] until
    /// [`Ledger::confirm_notification`] makes it last the retention, so a handler that dies
    /// mid-request blocks Wavefront's retry for minutes, not days.
    pub async fn claim_notification(
        &self,
        key: &Key,
        alert: &Alert,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<Entry>, LedgerError> {
        let entry = Entry {
            pending: true,
            ..self.entry(
                key.clone(),
                (request_id, request_id),
                now,
                PENDING,
                format!("{} {} being handled", alert.reason, alert.label()),
            )
        };
        self.store.claim(&entry, now).await
    }

    /// Remembers a handled delivery for the retention.
    pub async fn confirm_notification(
        &self,
        key: &Key,
        alert: &Alert,
        request_id: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let entry = self.entry(
            key.clone(),
            (request_id, request_id),
            now,
            self.retention.get(),
            format!("{} {} handled", alert.reason, alert.label()),
        );
        self.store.renew(&entry).await
    }

    /// Forgets a delivery, so a retry of it can act.
    pub async fn release_notification(
        &self,
        key: &Key,
        request_id: &str,
    ) -> Result<(), LedgerError> {
        self.store.release(key, request_id, None).await
    }

    /// `ALERT_RESOLVED`: ends an incident that had no start time, so the next firing may act.
    /// Incidents with a start time need nothing: the next firing has a new one. Only latches
    /// claimed at or before the incident ended are cleared: the alert's `endedTime` when the
    /// payload has one, else `now` (when the notification arrived). So a late or re-sent
    /// `ALERT_RESOLVED` leaves the latch of a newer firing alone. The incident's first-seen
    /// entry goes with its latches: the next firing is a new incident. Returns what was cleared.
    pub async fn resolve(&self, alert: &Alert, now: Timestamp) -> Result<Cleared, LedgerError> {
        if alert.reason != Reason::Resolved {
            return Ok(Cleared::default());
        }
        let ended = alert.ended.unwrap_or(now).as_millisecond();
        let incident = Incident {
            alert: Incident::of(alert).alert,
            started: None,
        };
        // When it ended, written before its latches are looked for, for a latch whose write is
        // still on its way: the action that claimed it does not keep it past this
        // (`Ledger::keep`). Written first, so no latch can be kept between the look and it.
        let marker = Entry {
            claimed_at: ended,
            ..self.entry(
                Key::new(incident.pk(), RESOLVED),
                ("resolved", "resolved"),
                now,
                self.retention.get(),
                format!("{} resolved", alert.label()),
            )
        };
        self.store.put(&marker).await?;
        let latches = self.store.query(&incident.pk()).await?;
        // Only if its claimer still holds it: one taken since by a new firing stays. Every one
        // is tried, so one that fails does not leave the others.
        let ended_here: Vec<Entry> = latches
            .into_iter()
            .filter(|l| l.claimed_at <= ended && l.key.sk != RESOLVED)
            .collect();
        let first_seen = ended_here
            .iter()
            .any(|l| l.key.sk == attribution::FIRST_SEEN);
        let cleared = Cleared {
            latches: ended_here.len() - usize::from(first_seen),
            first_seen,
        };
        let releases: Vec<_> = ended_here
            .iter()
            .map(|latch| self.store.release(&latch.key, &latch.claimed_by, None))
            .collect();
        futures_util::future::join_all(releases)
            .await
            .into_iter()
            .collect::<Result<(), _>>()?;
        Ok(cleared)
    }

    /// Every entry, oldest first, for `ledger list`.
    pub async fn list(&self) -> Result<Vec<Entry>, LedgerError> {
        let mut entries = self.store.scan().await?;
        entries.sort_by(|a, b| (a.claimed_at, &a.key).cmp(&(b.claimed_at, &b.key)));
        Ok(entries)
    }

    /// Deletes entries for `ledger clear`: everything but the records of the responder's own
    /// undo deployments (forgetting them could let a later alert take an undo for a release
    /// and undo it), or only the circuit breaker's slots. How many were deleted.
    pub async fn clear(&self, only_circuit: bool) -> Result<usize, LedgerError> {
        let entries = if only_circuit {
            self.store.query(CIRCUIT).await?
        } else {
            self.store.scan().await?
        };
        let mut deleted = 0;
        for entry in entries.iter().filter(|e| !attribution::is_undo(e)) {
            self.store.delete(&entry.key).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The live entry at `key`, if any.
    async fn get(&self, key: &Key, now: Timestamp) -> Result<Option<Entry>, LedgerError> {
        let keys = std::slice::from_ref(key);
        Ok(self.store.get_many(keys, now).await?.into_iter().next())
    }

    /// Whether the entries live inside this process, and go with it.
    pub fn in_process(&self) -> bool {
        self.store.in_process()
    }
}

#[cfg(test)]
mod tests;
