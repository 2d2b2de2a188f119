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

pub mod attribution;
pub mod dynamodb;
pub mod freeze;
pub mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

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

/// The claims one action holds while it runs. The caller owns them, and each key is recorded
/// before its conditional write is sent, so an admission cut off mid-write still knows every
/// claim it may have taken; they are written under one claim id, so giving them back never
/// takes a claim of another action of the same request.
#[derive(Debug)]
pub struct Claims {
    request_id: String,
    id: String,
    keys: Vec<Key>,
    /// Set by a [`Stopper`]: an admission into these claims sends no further call.
    stop: Arc<AtomicBool>,
}

/// Stops an admission into one [`Claims`] before its next call, letting the call in flight
/// finish: a caller cut off by its time budget waits for that one write to answer (so giving
/// the claims back cannot overtake it) without the admission sending new ones meanwhile.
#[derive(Clone, Debug)]
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// From now on, the admission sends no new call: its next one fails with
    /// [`LedgerError::Stopped`].
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Claims {
    /// No claims yet, under a claim id of their own: `<request id>#<n>`.
    pub fn new(request_id: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            request_id: request_id.to_owned(),
            id: format!("{request_id}#{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            keys: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether no claim was (or may have been) taken.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A handle that stops an admission into these claims before its next call.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.stop))
    }

    /// Fails with [`LedgerError::Stopped`] once a [`Stopper`] stopped the admission.
    fn go_on(&self) -> Result<(), LedgerError> {
        if self.stop.load(Ordering::SeqCst) {
            Err(LedgerError::Stopped)
        } else {
            Ok(())
        }
    }
}

/// Whether an action may run.
#[derive(Debug)]
pub enum Admission {
    /// Go ahead; release these claims unless the action changes something.
    Admitted(Claims),
    /// Do not act, and why.
    Refused { guard: Guard, detail: String },
}

/// One action about to run: the rule, its target and the incident.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub rule: &'a str,
    pub target: &'a str,
    pub cooldown: Option<HumanDuration>,
    pub incident: &'a Incident,
    pub request_id: &'a str,
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
            expires_at: now.as_second().saturating_add(seconds(lasts)),
            note,
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
        let entry = self.entry(
            key.clone(),
            (request_id, request_id),
            now,
            PENDING,
            format!("{} {} being handled", alert.reason, alert.label()),
        );
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

    /// Takes the incident latch, then the cooldown, then a circuit-breaker slot, in that order;
    /// on the first refusal, gives back what it took.
    pub async fn admit(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
    ) -> Result<Admission, LedgerError> {
        let mut claims = Claims::new(attempt.request_id);
        let result = self.admit_into(attempt, now, &mut claims).await;
        match result {
            Ok(None) => Ok(Admission::Admitted(claims)),
            Ok(Some((guard, detail))) => {
                self.release(claims).await?;
                Ok(Admission::Refused { guard, detail })
            }
            Err(err) => {
                // Best effort: the claims expire anyway.
                let _ = self.release(claims).await;
                Err(err)
            }
        }
    }

    /// [`Ledger::admit`] into claims the caller owns, giving nothing back: on a refusal or an
    /// error, `claims` holds what was taken before it. Each key is added before its conditional
    /// write is sent and removed again when the write is refused, so a caller that stops
    /// waiting (a time budget) holds every claim that may have been written, and only those.
    /// Once [`Claims::stopper`] stops it, it sends no further call: the one in flight finishes
    /// and the admission ends with [`LedgerError::Stopped`] (or its refusal, or, when that was
    /// its last call, admitted).
    pub async fn admit_into(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<(Guard, String)>, LedgerError> {
        self.admit_beside(attempt, now, claims, std::future::ready(()))
            .await
            .0
    }

    /// [`Ledger::admit_into`], running `beside` once the incident latch is held, while the
    /// cooldown and the circuit breaker's slot are claimed: the work an admitted action does
    /// before it acts, such as reading what it will change, off the request's way. The
    /// cooldown's claim and the breaker's read of its slots go out together; a slot is claimed
    /// only once the cooldown is held. `beside` must not change anything, since the cooldown or
    /// the breaker may still refuse; it runs to its end (never cut off by a refusal, so the
    /// connections of its calls stay usable), and its output comes back when it ran.
    pub async fn admit_beside<T>(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
        beside: impl Future<Output = T>,
    ) -> (Result<Option<(Guard, String)>, LedgerError>, Option<T>) {
        match self.hold_latch(attempt, now, claims).await {
            Ok(None) => {}
            refused_or_failed => return (refused_or_failed, None),
        }
        // Held only after the caller stopped the admission (its time ran out): nothing more
        // is sent, `beside` included.
        if let Err(stopped) = claims.go_on() {
            let verdict = match (self.circuit, attempt.cooldown) {
                (None, None) => Ok(None),
                _ => Err(stopped),
            };
            return (verdict, None);
        }
        let (verdict, output) = tokio::join!(self.hold_the_rest(attempt, now, claims), beside);
        (verdict, Some(output))
    }

    /// Claims the incident latch.
    async fn hold_latch(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<(Guard, String)>, LedgerError> {
        claims.go_on()?;
        let claimer = (attempt.request_id, claims.id.as_str());
        let latch = self.entry(
            latch_key(attempt),
            claimer,
            now,
            self.retention.get(),
            format!("{} acted on {}", attempt.rule, attempt.target),
        );
        if let Some(holder) = claim_into(&*self.store, &latch, now, &mut claims.keys).await? {
            return Ok(Some(latch_refusal(attempt, &holder)));
        }
        Ok(None)
    }

    /// With the latch held: claims the cooldown while the breaker's slots are read, then a
    /// free slot.
    async fn hold_the_rest(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<(Guard, String)>, LedgerError> {
        let slots = async {
            match self.circuit {
                Some(circuit) => Some((circuit, self.live_slots(now).await)),
                None => None,
            }
        };
        let (cooldown, slots) = tokio::join!(self.hold_cooldown(attempt, now, claims), slots);
        if let Some(refusal) = cooldown? {
            return Ok(Some(refusal));
        }
        let Some((circuit, holders)) = slots else {
            return Ok(None);
        };
        match self
            .claim_circuit_slot(circuit, holders?, attempt, now, claims)
            .await?
        {
            Ok(()) => Ok(None),
            Err(holders) => Ok(Some(self.circuit_refusal(circuit, &holders))),
        }
    }

    /// Claims the cooldown, when the rule has one.
    async fn hold_cooldown(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<(Guard, String)>, LedgerError> {
        let Some(cooldown) = attempt.cooldown else {
            return Ok(None);
        };
        claims.go_on()?;
        let entry = self.entry(
            cooldown_key(attempt),
            (attempt.request_id, claims.id.as_str()),
            now,
            cooldown.get(),
            format!("{} cooling down on {}", attempt.rule, attempt.target),
        );
        if let Some(holder) = claim_into(&*self.store, &entry, now, &mut claims.keys).await? {
            return Ok(Some(cooldown_refusal(attempt, cooldown, &holder)));
        }
        Ok(None)
    }

    /// The circuit breaker's slots taken now (one query).
    async fn live_slots(&self, now: Timestamp) -> Result<Vec<Entry>, LedgerError> {
        let slots = self.store.query(CIRCUIT).await?;
        Ok(slots.into_iter().filter(|e| e.live(now)).collect())
    }

    /// A free slot, or every holder when all are taken. Only slots free in `holders` (read
    /// just before) are tried; a slot taken meanwhile by another instance just moves the
    /// claim on to the next.
    async fn claim_circuit_slot(
        &self,
        circuit: CircuitBreaker,
        mut holders: Vec<Entry>,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Result<(), Vec<Entry>>, LedgerError> {
        for slot in 0..circuit.max_actions {
            let key = circuit_key(slot);
            if holders.iter().any(|h| h.key == key) {
                continue;
            }
            claims.go_on()?;
            let entry = self.entry(
                key,
                (attempt.request_id, claims.id.as_str()),
                now,
                circuit.window.get(),
                format!("{} acted on {}", attempt.rule, attempt.target),
            );
            match claim_into(&*self.store, &entry, now, &mut claims.keys).await? {
                None => return Ok(Ok(())),
                Some(holder) => holders.push(holder),
            }
        }
        Ok(Err(holders))
    }

    /// Gives back claims (of an action that changed nothing, was refused, or was cut off): each
    /// only if this very claim still holds it, so another action's, of this request or another,
    /// stays. Every key is tried, all at once, so one that fails or stalls (a throttled
    /// `DeleteItem`) does not leave the others held; the first error, if any, is returned.
    pub async fn release(&self, claims: Claims) -> Result<(), LedgerError> {
        self.release_keys(&claims, |_| true).await
    }

    /// Gives back only the circuit-breaker slot of claims, keeping the incident latch and the
    /// cooldown: for an action that handled its incident without changing anything itself (a
    /// `lambda-alias` left to CodeDeploy's rollback), so a re-delivery of the incident does not
    /// act, while the breaker counts only changes.
    pub async fn release_circuit_slot(&self, claims: Claims) -> Result<(), LedgerError> {
        self.release_keys(&claims, |key| key.pk == CIRCUIT).await
    }

    async fn release_keys(
        &self,
        claims: &Claims,
        which: impl Fn(&Key) -> bool,
    ) -> Result<(), LedgerError> {
        let releases = claims
            .keys
            .iter()
            .rev()
            .filter(|key| which(key))
            .map(|key| {
                self.store
                    .release(key, &claims.request_id, Some(&claims.id))
            });
        futures_util::future::join_all(releases)
            .await
            .into_iter()
            .collect()
    }

    /// For dry runs: what would stop this action, without writing anything. Every guard is
    /// read at once.
    pub async fn peek(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
    ) -> Result<Option<(Guard, String)>, LedgerError> {
        // The latch and the cooldown in one read, the breaker's slots beside it; the first that
        // holds says why.
        let latch_key = latch_key(attempt);
        let cooldown_key = attempt.cooldown.map(|_| cooldown_key(attempt));
        let keys: Vec<Key> = std::iter::once(latch_key.clone())
            .chain(cooldown_key.clone())
            .collect();
        let slots = async {
            match self.circuit {
                Some(circuit) => Some((circuit, self.store.query(CIRCUIT).await)),
                None => None,
            }
        };
        let (held, slots) = tokio::join!(self.store.get_many(&keys, now), slots);
        let held = held?;
        let holder = |key: &Key| held.iter().find(|e| &e.key == key);
        if let Some(holder) = holder(&latch_key) {
            return Ok(Some(latch_refusal(attempt, holder)));
        }
        if let (Some(cooldown), Some(key)) = (attempt.cooldown, &cooldown_key)
            && let Some(holder) = holder(key)
        {
            return Ok(Some(cooldown_refusal(attempt, cooldown, holder)));
        }
        if let Some((circuit, slots)) = slots {
            let holders: Vec<Entry> = slots?.into_iter().filter(|e| e.live(now)).collect();
            if holders.len() >= circuit.max_actions as usize {
                return Ok(Some(self.circuit_refusal(circuit, &holders)));
            }
        }
        Ok(None)
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
        let latches = self.store.query(&incident.pk()).await?;
        // Only if its claimer still holds it: one taken since by a new firing stays. Every one
        // is tried, so one that fails does not leave the others.
        let ended_here: Vec<&Entry> = latches.iter().filter(|l| l.claimed_at <= ended).collect();
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

const CIRCUIT: &str = "circuit";

fn latch_key(attempt: &Attempt<'_>) -> Key {
    Key::new(
        attempt.incident.pk(),
        format!("{}#{}", attempt.rule, attempt.target),
    )
}

fn cooldown_key(attempt: &Attempt<'_>) -> Key {
    Key::new(format!("cooldown#{}#{}", attempt.rule, attempt.target), "-")
}

fn circuit_key(slot: u32) -> Key {
    Key::new(CIRCUIT, format!("slot#{slot:04}"))
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn latch_refusal(attempt: &Attempt<'_>, holder: &Entry) -> (Guard, String) {
    let again = if attempt.incident.started.is_some() {
        "it acts again on the alert's next incident"
    } else {
        "it acts again after ALERT_RESOLVED"
    };
    (
        Guard::IncidentLatch,
        format!(
            "{} already handled {} in this incident (request {} at {}: its audit line says \
             what it did); {again}",
            attempt.rule,
            attempt.target,
            holder.claimed_by,
            holder.claimed_at()
        ),
    )
}

fn cooldown_refusal(
    attempt: &Attempt<'_>,
    cooldown: HumanDuration,
    holder: &Entry,
) -> (Guard, String) {
    (
        Guard::Cooldown,
        format!(
            "cooling down: {} handled {} at {} (request {}: its audit line says what it did); \
             cooldown {cooldown} ends at {}",
            attempt.rule,
            attempt.target,
            holder.claimed_at(),
            holder.claimed_by,
            holder.expires_at()
        ),
    )
}

/// Claims `entry`'s key, recording it in `keys` before the conditional write is sent and
/// removing it when the write is refused: a caller cut off mid-write still knows of it.
async fn claim_into(
    store: &dyn Store,
    entry: &Entry,
    now: Timestamp,
    keys: &mut Vec<Key>,
) -> Result<Option<Entry>, LedgerError> {
    keys.push(entry.key.clone());
    let result = store.claim(entry, now).await;
    // Refused: someone else holds it. A write that failed may still have been applied (no
    // answer is not a no), so its key stays, to be given back.
    if matches!(result, Ok(Some(_))) {
        keys.pop();
    }
    result
}

impl Ledger {
    fn circuit_refusal(&self, circuit: CircuitBreaker, holders: &[Entry]) -> (Guard, String) {
        let closes = holders
            .iter()
            .map(|h| h.expires_at)
            .min()
            .and_then(|s| Timestamp::from_second(s).ok())
            .map_or_else(|| "soon".to_owned(), |t| format!("at {t}"));
        // `ledger clear` reaches a table, not another process's memory.
        let reset = if self.store.in_process() {
            "or restarting the process resets it (this ledger is in memory, where `ledger clear` \
             cannot reach it)"
        } else {
            "or an operator resets it with `wavefront-responder ledger clear --circuit`"
        };
        (
            Guard::CircuitOpen,
            format!(
                "circuit open: {} actions changed something in the last {} (max_actions = {}); \
                 it closes {closes}, {reset}",
                holders.len(),
                circuit.window,
                circuit.max_actions
            ),
        )
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
        }
    }

    #[tokio::test]
    async fn the_latch_admits_once_per_incident() {
        let ledger = Ledger::in_memory(None);
        let first = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
        let now = at("2026-11-25T20:01:00Z");
        let Admission::Admitted(_) = ledger
            .admit(&attempt(&first, None, "r1"), now)
            .await
            .unwrap()
        else {
            panic!("the first action of an incident is admitted");
        };
        let Admission::Refused { guard, detail } = ledger
            .admit(&attempt(&first, None, "r2"), now)
            .await
            .unwrap()
        else {
            panic!("a second action in the same incident is refused");
        };
        assert_eq!(guard, Guard::IncidentLatch);
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
        let Admission::Admitted(claims) = ledger
            .admit(&attempt(&incident, Some("30m"), "r1"), now)
            .await
            .unwrap()
        else {
            panic!("admitted");
        };
        (ledger, incident, now, claims)
    }

    #[tokio::test]
    async fn only_the_circuit_slot_is_given_back_for_an_action_left_to_codedeploy() {
        let (ledger, incident, now, claims) = one_action_admitted().await;
        ledger.release_circuit_slot(claims).await.unwrap();
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
            Ok(Some((Guard::IncidentLatch, _)))
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
        assert!(matches!(
            ledger
                .admit(&attempt(&unknown, None, "r1"), now)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
        let Admission::Refused { detail, .. } = ledger
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
    async fn resolved_leaves_a_latch_taken_after_the_incident_ended() {
        let ledger = Ledger::in_memory(None);
        let unknown = Incident::of(&alert(Reason::Opened, None));
        let claimed = at("2026-11-25T20:01:00Z");
        assert!(matches!(
            ledger
                .admit(&attempt(&unknown, None, "r1"), claimed)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
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
            Some((Guard::IncidentLatch, _))
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
        let Admission::Admitted(_) = ledger.admit(&kept, now).await.unwrap() else {
            panic!("admitted");
        };
        // A second action of the same request on another target: admitted, then given back.
        let other = Attempt {
            target: "payments:live",
            ..attempt(&incident, None, "r1")
        };
        let Admission::Admitted(claims) = ledger.admit(&other, now).await.unwrap() else {
            panic!("admitted");
        };
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
        assert!(matches!(refusal, Some((Guard::IncidentLatch, _))));
        assert!(claims.is_empty());
        ledger.release(claims).await.unwrap();
        assert_eq!(ledger.list().await.unwrap().len(), 2);
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
        let Admission::Refused { guard, detail } = ledger
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
            Some((Guard::CircuitOpen, _))
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
                                };
                                if let Admission::Admitted(_) = ledger.admit(&attempt, now).await.unwrap() {
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
                        };
                        if let Admission::Admitted(_) = ledger.admit(&attempt, now).await.unwrap() {
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
