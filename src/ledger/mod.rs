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
//! call, and what the attribution guard needs ([`attribution`]: when an incident without a
//! start time was first delivered, and which deployments are this responder's own undos).
//!
//! The logic is written once, here, over a small [`Store`] with two implementations:
//! [`memory`] (the default, for `serve` and tests) and [`dynamodb`] (for Lambda, where
//! instances share state).

mod admission;
pub mod attribution;
pub mod dynamodb;
pub mod freeze;
pub mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

pub use admission::{Admission, Attempt, Claims, Refusal, Stopper};
use admission::{CIRCUIT, expiry};

use crate::alert::{Alert, Reason};
use crate::duration::HumanDuration;

/// A boxed future, so [`Store`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an entry lives: a partition key and a sort key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sk == "-" {
            f.write_str(&self.pk)
        } else {
            write!(f, "{} {}", self.pk, self.sk)
        }
    }
}

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
        Timestamp::from_millisecond(self.claimed_at)
            .map(|t| format!("{t:.0}"))
            .unwrap_or_else(|_| self.claimed_at.to_string())
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
    /// An admission was stopped (see [`Stopper`]) before it sent its next call.
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

/// What stopped an action: one of the ledger's claims, a freeze recorded in it, or the
/// attribution guard (what would be undone began after the incident started).
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
        match self.started {
            Some(ms) => format!("incident#{}#{ms}", self.alert),
            None => format!("incident#{}#-", self.alert),
        }
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
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn alert(reason: Reason, started: Option<&str>) -> Alert {
        let mut alert =
            Alert::parse(br#"{"name":"checkout errors","reason":"ALERT_OPENED","alertId":"42"}"#)
                .unwrap();
        alert.reason = reason;
        alert.started = started.map(at);
        alert
    }

    fn attempt<'a>(
        incident: &'a Incident,
        cooldown: Option<&str>,
        request_id: &'a str,
    ) -> Attempt<'a> {
        Attempt {
            rule: "checkout-errors",
            target: "checkout:live",
            cooldown: cooldown.and_then(|c| HumanDuration::parse(c).ok()),
            incident,
            request_id,
            pending_for: Duration::from_secs(60),
        }
    }

    /// Admits `attempt` at `now`, which the test expects to be admitted.
    async fn admitted(ledger: &Ledger, attempt: &Attempt<'_>, now: Timestamp) -> Claims {
        match ledger.admit(attempt, now).await.unwrap() {
            Admission::Admitted(claims) => claims,
            Admission::Refused(refusal) => panic!("refused: {}", refusal.detail),
        }
    }

    #[tokio::test]
    async fn a_latch_its_action_never_kept_lapses() {
        // Admitted, then never kept nor given back: the request died, or its release was lost.
        let ledger = Ledger::in_memory(None);
        let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let admitted = ledger.admit(&attempt(&incident, None, "r1"), now).await;
        assert!(matches!(admitted.unwrap(), Admission::Admitted(_)));
        // It lapses once the time its request could still run is over, not after the retention.
        let after = at("2026-11-25T20:02:00Z");
        let again = ledger.admit(&attempt(&incident, None, "r2"), after).await;
        assert!(matches!(again.unwrap(), Admission::Admitted(_)));
    }

    #[tokio::test]
    async fn a_cooldown_its_action_never_kept_lapses_as_its_latch_does() {
        // Admitted with a 30-minute cooldown, then never kept nor given back.
        let ledger = Ledger::in_memory(None);
        let first = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        admitted(&ledger, &attempt(&first, Some("30m"), "r1"), now).await;
        // The next firing, two minutes later: the cooldown lapsed with the latch, a minute
        // after its request could no longer run, not after the 30 minutes.
        let next = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:02:30Z")));
        let after = at("2026-11-25T20:03:00Z");
        admitted(&ledger, &attempt(&next, Some("30m"), "r2"), after).await;
    }

    #[tokio::test]
    async fn the_latch_admits_once_per_incident() {
        let ledger = Ledger::in_memory(None);
        let first = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let claims = admitted(&ledger, &attempt(&first, None, "r1"), now).await;
        // While r1 is not done, its latch is pending: a refusal by it is not final.
        let Admission::Refused(pending) = ledger
            .admit(&attempt(&first, None, "r2"), now)
            .await
            .unwrap()
        else {
            panic!("a second action in the same incident is refused");
        };
        assert_eq!(pending.guard, Guard::IncidentLatch);
        assert_eq!(pending.pending_until, Some(at("2026-11-25T20:02:00Z")));
        assert!(
            pending.detail.starts_with(
                "request r1 is handling checkout:live for checkout-errors right now (since \
                 2026-11-25T20:01:00Z)"
            ),
            "{}",
            pending.detail
        );
        // Kept, once the action changed something: for the retention, and final.
        ledger.keep(&claims, now).await.unwrap();
        let later = at("2026-11-25T20:30:00Z");
        let Admission::Refused(Refusal {
            guard,
            detail,
            pending_until,
        }) = ledger
            .admit(&attempt(&first, None, "r3"), later)
            .await
            .unwrap()
        else {
            panic!("a second action in the same incident is refused");
        };
        assert_eq!((guard, pending_until), (Guard::IncidentLatch, None));
        assert_eq!(
            detail,
            "checkout-errors already handled checkout:live in this incident (request r1 at \
             2026-11-25T20:01:00Z: its audit line says what it did); it acts again on the \
             alert's next incident"
        );
        let next = Incident::of(&alert(Reason::Opened, Some("2026-11-25T21:00:00Z")));
        assert!(matches!(
            ledger
                .admit(&attempt(&next, None, "r3"), now)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn a_stopped_admission_sends_nothing_more() {
        let ledger = Ledger::in_memory(None);
        let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let mut claims = Claims::new("r1");
        claims.stopper().stop();
        let stopped = ledger
            .admit_into(&attempt(&incident, Some("30m"), "r1"), now, &mut claims)
            .await;
        assert!(matches!(stopped, Err(LedgerError::Stopped)), "{stopped:?}");
        assert!(claims.is_empty());
        assert!(ledger.list().await.unwrap().is_empty());
    }

    /// A ledger whose breaker allows one action, and the claims that action took (incident
    /// latch, 30m cooldown, the breaker's slot) as request `r1` at 20:01.
    async fn one_action_admitted() -> (Ledger, Incident, Timestamp, Claims) {
        let ledger = Ledger::in_memory(Some(CircuitBreaker {
            max_actions: 1,
            window: HumanDuration::parse("1h").unwrap(),
        }));
        let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let claims = admitted(&ledger, &attempt(&incident, Some("30m"), "r1"), now).await;
        (ledger, incident, now, claims)
    }

    #[tokio::test]
    async fn only_the_circuit_slot_is_given_back_for_an_action_left_to_codedeploy() {
        let (ledger, incident, now, claims) = one_action_admitted().await;
        ledger.release_circuit_slot(&claims).await.unwrap();
        let left: Vec<String> = ledger
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.key.pk)
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|pk| pk != CIRCUIT), "{left:?}");
        // The incident stays handled; the breaker's one slot is free for another change.
        assert!(matches!(
            ledger
                .peek(&attempt(&incident, Some("30m"), "r2"), now)
                .await,
            Ok(Some(Refusal {
                guard: Guard::IncidentLatch,
                ..
            }))
        ));
    }

    #[tokio::test]
    async fn released_claims_let_a_retry_act() {
        let (ledger, incident, now, claims) = one_action_admitted().await;
        ledger.release(claims).await.unwrap();
        assert!(ledger.list().await.unwrap().is_empty());
        assert!(matches!(
            ledger
                .admit(&attempt(&incident, Some("30m"), "r2"), now)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn resolved_ends_an_incident_without_a_start_time() {
        let ledger = Ledger::in_memory(None);
        let unknown = Incident::of(&alert(Reason::Opened, None));
        let now = at("2026-11-25T20:01:00Z");
        // The action acted: its claims are kept.
        let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), now).await;
        ledger.keep(&claims, now).await.unwrap();
        let Admission::Refused(Refusal { detail, .. }) = ledger
            .admit(&attempt(&unknown, None, "r2"), now)
            .await
            .unwrap()
        else {
            panic!("refused until resolved");
        };
        assert!(
            detail.ends_with("it acts again after ALERT_RESOLVED"),
            "{detail}"
        );
        assert_eq!(
            ledger
                .resolve(&alert(Reason::Resolved, None), now)
                .await
                .unwrap(),
            Cleared {
                latches: 1,
                first_seen: false
            }
        );
        // The incident's first delivery, recorded for the attribution guard, goes with it.
        ledger
            .incident_start(&alert(Reason::Opened, None), "r3", now, true)
            .await
            .unwrap();
        let cleared = ledger.resolve(&alert(Reason::Resolved, None), now).await;
        assert!(cleared.unwrap().first_seen);
        let next = ledger
            .incident_start(&alert(Reason::Opened, None), "r4", now, true)
            .await
            .unwrap();
        assert_eq!(next.from, attribution::StartSource::ThisRequest);
        assert!(matches!(
            ledger
                .admit(&attempt(&unknown, None, "r3"), now)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn a_latch_that_lands_after_its_incident_was_resolved_is_not_kept() {
        let ledger = Ledger::in_memory(None);
        let unknown = Incident::of(&alert(Reason::Opened, None));
        // ALERT_RESOLVED is handled at 20:02, while the latch the opening request claimed at
        // 20:01 is still on its way: the resolve does not see it.
        let resolved = ledger
            .resolve(&alert(Reason::Resolved, None), at("2026-11-25T20:02:00Z"))
            .await
            .unwrap();
        assert_eq!(resolved.latches, 0);
        let claimed = at("2026-11-25T20:01:00Z");
        let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), claimed).await;
        // Its action changed something, but the incident it belongs to is over: the latch is
        // not kept for the retention, and lapses.
        ledger.keep(&claims, claimed).await.unwrap();
        let next_firing = at("2026-11-25T20:30:00Z");
        let admitted = ledger
            .admit(&attempt(&unknown, None, "r2"), next_firing)
            .await;
        assert!(matches!(admitted.unwrap(), Admission::Admitted(_)));
    }

    #[tokio::test]
    async fn resolved_leaves_a_latch_taken_after_the_incident_ended() {
        let ledger = Ledger::in_memory(None);
        let unknown = Incident::of(&alert(Reason::Opened, None));
        let claimed = at("2026-11-25T20:01:00Z");
        // The action acted: its claims are kept.
        let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), claimed).await;
        ledger.keep(&claims, claimed).await.unwrap();
        // A late ALERT_RESOLVED of an earlier firing: ended before this latch was taken.
        let mut late = alert(Reason::Resolved, None);
        late.ended = Some(at("2026-11-25T20:00:00Z"));
        let after = at("2026-11-25T20:09:00Z");
        assert_eq!(ledger.resolve(&late, after).await.unwrap().latches, 0);
        // Without an end time, the time it arrived counts: before the latch, nothing.
        let resolved = alert(Reason::Resolved, None);
        let before = at("2026-11-25T20:00:59Z");
        assert_eq!(ledger.resolve(&resolved, before).await.unwrap().latches, 0);
        assert!(matches!(
            ledger
                .peek(&attempt(&unknown, None, "r2"), after)
                .await
                .unwrap(),
            Some(Refusal {
                guard: Guard::IncidentLatch,
                ..
            })
        ));
        // This firing's own end clears it.
        let mut ended = alert(Reason::Resolved, None);
        ended.ended = Some(at("2026-11-25T20:05:00Z"));
        assert_eq!(ledger.resolve(&ended, after).await.unwrap().latches, 1);
        assert_eq!(
            ledger
                .peek(&attempt(&unknown, None, "r2"), after)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn releasing_one_action_leaves_the_claims_of_another_of_the_same_request() {
        let ledger = Ledger::in_memory(Some(CircuitBreaker {
            max_actions: 5,
            window: HumanDuration::parse("1h").unwrap(),
        }));
        let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let kept = attempt(&incident, None, "r1");
        let _ = admitted(&ledger, &kept, now).await;
        // A second action of the same request on another target: admitted, then given back.
        let other = Attempt {
            target: "payments:live",
            ..attempt(&incident, None, "r1")
        };
        let claims = admitted(&ledger, &other, now).await;
        assert_eq!(ledger.list().await.unwrap().len(), 4);
        ledger.release(claims).await.unwrap();
        let left = ledger.list().await.unwrap();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(
            left.iter()
                .all(|e| e.note == "checkout-errors acted on checkout:live")
        );
        // A third action of the same request on the first one's target is refused by its
        // latch, and gives back nothing of it.
        let again = attempt(&incident, None, "r1");
        let mut claims = Claims::new("r1");
        let refusal = ledger.admit_into(&again, now, &mut claims).await.unwrap();
        assert!(matches!(
            refusal,
            Some(Refusal {
                guard: Guard::IncidentLatch,
                ..
            })
        ));
        assert!(claims.is_empty());
        ledger.release(claims).await.unwrap();
        assert_eq!(ledger.list().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_lowered_max_actions_counts_every_slot_still_taken() {
        let store: Arc<dyn Store> = Arc::new(memory::MemoryStore::default());
        let breaker = |max_actions| {
            Some(CircuitBreaker {
                max_actions,
                window: HumanDuration::parse("1h").unwrap(),
            })
        };
        let now = at("2026-11-25T20:00:00Z");
        // Five actions while the limit was 5, slots 0 to 4; the first two then gave theirs
        // back, leaving slots 2 to 4 taken.
        let before = Ledger::new(Arc::clone(&store), DEFAULT_RETENTION, breaker(5));
        let mut taken = Vec::new();
        for n in 0..5 {
            let incident = Incident::of(&alert(
                Reason::Opened,
                Some(&format!("2026-11-25T19:0{n}:00Z")),
            ));
            let Admission::Admitted(claims) = before
                .admit(&attempt(&incident, None, &format!("r{n}")), now)
                .await
                .unwrap()
            else {
                panic!("admitted");
            };
            before.keep(&claims, now).await.unwrap();
            taken.push(claims);
        }
        for claims in taken.drain(..2) {
            before.release(claims).await.unwrap();
        }
        // Redeployed with 2: slots 0 and 1 are free, yet three slots past the limit are taken.
        // Live admission counts them all, as the dry run does: the circuit is open.
        let after = Ledger::new(store, DEFAULT_RETENTION, breaker(2));
        let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T19:30:00Z")));
        let live = after.admit(&attempt(&incident, None, "r9"), now).await;
        let Admission::Refused(refusal) = live.unwrap() else {
            panic!("refused");
        };
        assert_eq!(refusal.guard, Guard::CircuitOpen);
        assert!(
            refusal.detail.starts_with("circuit open: 3 actions"),
            "{}",
            refusal.detail
        );
        let dry = after.peek(&attempt(&incident, None, "r10"), now).await;
        assert_eq!(dry.unwrap().map(|r| r.guard), Some(Guard::CircuitOpen));
    }

    #[tokio::test]
    async fn the_circuit_opens_after_max_actions_and_closes_with_the_window() {
        let ledger = Ledger::in_memory(Some(CircuitBreaker {
            max_actions: 2,
            window: HumanDuration::parse("1h").unwrap(),
        }));
        let now = at("2026-11-25T20:00:00Z");
        for n in 0..2 {
            let incident = Incident::of(&alert(
                Reason::Opened,
                Some(&format!("2026-11-25T19:0{n}:00Z")),
            ));
            assert!(matches!(
                ledger
                    .admit(&attempt(&incident, None, "r"), now)
                    .await
                    .unwrap(),
                Admission::Admitted(_)
            ));
        }
        let third = Incident::of(&alert(Reason::Opened, Some("2026-11-25T19:05:00Z")));
        let Admission::Refused(Refusal { guard, detail, .. }) = ledger
            .admit(&attempt(&third, None, "r"), now)
            .await
            .unwrap()
        else {
            panic!("the circuit is open");
        };
        assert_eq!(guard, Guard::CircuitOpen);
        assert!(detail.starts_with("circuit open: 2 actions changed something in the last 1h (max_actions = 2); it closes at 2026-11-25T21:00:00Z"), "{detail}");
        // `ledger clear` cannot reach a process's memory: the advice says what works.
        assert!(
            detail.ends_with(
                "or restarting the process resets it (this ledger is in memory, where `ledger \
                 clear` cannot reach it)"
            ),
            "{detail}"
        );
        // The refused attempt gave its latch back.
        assert!(matches!(
            ledger.peek(&attempt(&third, None, "r"), now).await.unwrap(),
            Some(Refusal {
                guard: Guard::CircuitOpen,
                ..
            })
        ));
        let later = at("2026-11-25T21:00:01Z");
        assert!(matches!(
            ledger
                .admit(&attempt(&third, None, "r"), later)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn notifications_are_claimed_once() {
        let ledger = Ledger::in_memory(None);
        let alert = alert(Reason::Opened, Some("2026-11-25T20:00:00Z"));
        let key = notification_key(&alert).unwrap();
        assert_eq!(key.pk, "notification#42#ALERT_OPENED#1795636800000");
        let now = at("2026-11-25T20:01:00Z");
        assert_eq!(
            ledger
                .claim_notification(&key, &alert, "r1", now)
                .await
                .unwrap(),
            None
        );
        let earlier = ledger
            .claim_notification(&key, &alert, "r2", now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(earlier.claimed_by, "r1");
        ledger.release_notification(&key, "r1").await.unwrap();
        assert_eq!(
            ledger
                .claim_notification(&key, &alert, "r3", now)
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn without_a_notification_id_or_start_time_there_is_no_key() {
        let mut a = alert(Reason::Opened, None);
        assert_eq!(notification_key(&a), None);
        a.notification_id = Some("n-1".into());
        assert_eq!(notification_key(&a).unwrap().pk, "notification#n-1");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Event {
            /// A triggering notification (OPENED, UPDATED or RETRIGGERED) of incident `n`.
            Fire { n: u8, known_start: bool },
            /// ALERT_RESOLVED of incident `n`.
            Resolve { n: u8, known_start: bool },
            /// Time passes.
            Wait { minutes: u16 },
        }

        fn event() -> impl Strategy<Value = Event> {
            prop_oneof![
                4 => (0u8..3, any::<bool>()).prop_map(|(n, known_start)| Event::Fire { n, known_start }),
                1 => (0u8..3, any::<bool>()).prop_map(|(n, known_start)| Event::Resolve { n, known_start }),
                2 => (0u16..90).prop_map(|minutes| Event::Wait { minutes }),
            ]
        }

        fn the_alert(reason: Reason, n: u8, known_start: bool) -> Alert {
            let mut alert = alert(reason, None);
            if known_start {
                alert.started = Some(
                    at("2026-11-25T12:00:00Z") + jiff::SignedDuration::from_hours(i64::from(n)),
                );
            }
            alert
        }

        fn run<T>(future: impl Future<Output = T>) -> T {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(future)
        }

        proptest! {
            /// Any interleaving of notifications acts at most once per incident, and never
            /// inside the cooldown.
            #[test]
            fn at_most_once_per_incident_and_never_inside_the_cooldown(
                events in proptest::collection::vec(event(), 1..60),
                cooldown_minutes in proptest::option::of(1u16..120),
            ) {
                let cooldown = cooldown_minutes.map(|m| HumanDuration::new(Duration::from_secs(u64::from(m) * 60)));
                let acted = run(async {
                    let ledger = Ledger::in_memory(None);
                    let mut now = at("2026-11-25T12:00:00Z");
                    // Actions: (time, known-start incident n, or the resolve segment).
                    let mut acted: Vec<(Timestamp, Option<u8>, usize)> = Vec::new();
                    let mut segment = 0usize;
                    for (i, event) in events.iter().enumerate() {
                        match *event {
                            Event::Wait { minutes } => now += jiff::SignedDuration::from_mins(i64::from(minutes)),
                            Event::Resolve { n, known_start } => {
                                // Any ALERT_RESOLVED ends the alert's current incident, so
                                // incidents without a start time start a new segment.
                                ledger.resolve(&the_alert(Reason::Resolved, n, known_start), now).await.unwrap();
                                segment += 1;
                            }
                            Event::Fire { n, known_start } => {
                                let incident = Incident::of(&the_alert(Reason::Opened, n, known_start));
                                let request = format!("r{i}");
                                let attempt = Attempt {
                                    rule: "checkout-errors",
                                    target: "checkout:live",
                                    cooldown,
                                    incident: &incident,
                                    request_id: &request,
                                    pending_for: Duration::from_secs(60),
                                };
                                // An action that acts keeps its claims.
                                if let Admission::Admitted(claims) = ledger.admit(&attempt, now).await.unwrap() {
                                    ledger.keep(&claims, now).await.unwrap();
                                    acted.push((now, known_start.then_some(n), segment));
                                }
                            }
                        }
                    }
                    acted
                });
                for n in 0u8..3 {
                    let per_incident = acted.iter().filter(|a| a.1 == Some(n)).count();
                    prop_assert!(per_incident <= 1, "incident {} acted {} times: {:?}", n, per_incident, acted);
                }
                let mut unknown: Vec<usize> = acted.iter().filter(|a| a.1.is_none()).map(|a| a.2).collect();
                let before = unknown.len();
                unknown.dedup();
                prop_assert_eq!(before, unknown.len(), "an incident without a start time acted twice before ALERT_RESOLVED: {:?}", acted);
                if let Some(cooldown) = cooldown {
                    for pair in acted.windows(2) {
                        let gap = pair[1].0.duration_since(pair[0].0);
                        prop_assert!(gap.unsigned_abs() >= cooldown.get(), "acted {:?} apart inside a {} cooldown: {:?}", gap, cooldown, acted);
                    }
                }
            }

            /// In any window, at most `max_actions` actions are admitted.
            #[test]
            fn the_circuit_breaker_never_admits_more_than_max_actions_in_any_window(
                gaps in proptest::collection::vec(0u16..40, 1..40),
                max_actions in 1u32..6,
                window_minutes in 1u16..120,
            ) {
                let window = HumanDuration::new(Duration::from_secs(u64::from(window_minutes) * 60));
                let acted = run(async {
                    let ledger = Ledger::in_memory(Some(CircuitBreaker { max_actions, window }));
                    let mut now = at("2026-11-25T12:00:00Z");
                    let mut acted = Vec::new();
                    for (i, gap) in gaps.iter().enumerate() {
                        now += jiff::SignedDuration::from_mins(i64::from(*gap));
                        // A new incident each time, so only the breaker can refuse.
                        let mut alert = alert(Reason::Opened, None);
                        alert.started = Some(now);
                        let incident = Incident::of(&alert);
                        let request = format!("r{i}");
                        let attempt = Attempt {
                            rule: "r",
                            target: "t",
                            cooldown: None,
                            incident: &incident,
                            request_id: &request,
                            pending_for: Duration::from_secs(60),
                        };
                        if let Admission::Admitted(claims) = ledger.admit(&attempt, now).await.unwrap() {
                            ledger.keep(&claims, now).await.unwrap();
                            acted.push(now);
                        }
                    }
                    acted
                });
                for (i, t) in acted.iter().enumerate() {
                    let in_window = acted[..=i]
                        .iter()
                        .filter(|earlier| t.duration_since(**earlier).unsigned_abs() < window.get())
                        .count();
                    prop_assert!(in_window <= max_actions as usize, "{} actions within {} before {}: {:?}", in_window, window, t, acted);
                }
                // And it is not stuck shut: the first action is always admitted.
                prop_assert!(!acted.is_empty());
            }
        }
    }
}
