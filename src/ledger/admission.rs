//! Admission: the claims an action takes before it acts (the incident latch, the cooldown, a
//! circuit-breaker slot), in that order, each a conditional write only one caller can win;
//! giving them back when the action changed nothing; and, for dry runs, reading what would
//! refuse it without writing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use super::{CircuitBreaker, Entry, Guard, Incident, Key, Ledger, LedgerError, Store};
use crate::duration::HumanDuration;

/// The claims one action holds while it runs. The caller owns them, and each key is recorded
/// before its conditional write is sent, so an admission cut off mid-write still knows every
/// claim it may have taken; they are written under one claim id, so giving them back never
/// takes a claim of another action of the same request.
#[derive(Debug)]
pub struct Claims {
    request_id: String,
    id: String,
    keys: Vec<Key>,
    /// The pending claims taken (the latch, the cooldown), as they are rewritten when the
    /// action keeps them ([`Ledger::keep`]).
    to_keep: Vec<Entry>,
    /// The latch's partition, when its incident has no start time (and so ends with
    /// `ALERT_RESOLVED`).
    unstarted: Option<String>,
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
            to_keep: Vec::new(),
            unstarted: None,
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
    Refused(Refusal),
}

/// Why the ledger refused an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub guard: Guard,
    pub detail: String,
    /// When the claim that refused it lapses, if the request holding it may still give it back
    /// (it has not finished): the refusal is then not final.
    pub pending_until: Option<Timestamp>,
}

/// One action about to run: the rule, its target and the incident.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub rule: &'a str,
    pub target: &'a str,
    pub cooldown: Option<HumanDuration>,
    pub incident: &'a Incident,
    pub request_id: &'a str,
    /// How long its latch stays pending before it lapses, unless the action keeps it: longer
    /// than the request can still run.
    pub pending_for: Duration,
}

impl Ledger {
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
            Ok(Some(refusal)) => {
                self.release(claims).await?;
                Ok(Admission::Refused(refusal))
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
    ) -> Result<Option<Refusal>, LedgerError> {
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
    ) -> (Result<Option<Refusal>, LedgerError>, Option<T>) {
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
    ) -> Result<Option<Refusal>, LedgerError> {
        claims.go_on()?;
        let claimer = (attempt.request_id, claims.id.as_str());
        // Pending: it lapses soon, unless the action keeps it for the retention. A claim that
        // lands after it was given back, or outlives a request that died, holds for minutes,
        // not for the retention.
        let kept = self.entry(
            latch_key(attempt),
            claimer,
            now,
            self.retention.get(),
            format!("{} acted on {}", attempt.rule, attempt.target),
        );
        let latch = Entry {
            pending: true,
            expires_at: expiry(now, attempt.pending_for),
            ..kept.clone()
        };
        if let Some(holder) = claim_into(&*self.store, &latch, now, &mut claims.keys).await? {
            return Ok(Some(latch_refusal(attempt, &holder)));
        }
        if attempt.incident.started.is_none() {
            claims.unstarted = Some(latch.key.pk.clone());
        }
        claims.to_keep.push(kept);
        Ok(None)
    }

    /// With the latch held: claims the cooldown while the breaker's slots are read, then a
    /// free slot.
    async fn hold_the_rest(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<Refusal>, LedgerError> {
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
    ) -> Result<Option<Refusal>, LedgerError> {
        let Some(cooldown) = attempt.cooldown else {
            return Ok(None);
        };
        claims.go_on()?;
        let kept = self.entry(
            cooldown_key(attempt),
            (attempt.request_id, claims.id.as_str()),
            now,
            cooldown.get(),
            format!("{} cooling down on {}", attempt.rule, attempt.target),
        );
        // Pending too, like the latch, and lapsing as soon (or at its end, if that is sooner):
        // one claimed by a request that died, or whose release was overtaken, must not hold
        // every later delivery up for the whole cooldown.
        let entry = Entry {
            pending: true,
            expires_at: kept.expires_at.min(expiry(now, attempt.pending_for)),
            ..kept.clone()
        };
        if let Some(holder) = claim_into(&*self.store, &entry, now, &mut claims.keys).await? {
            return Ok(Some(cooldown_refusal(attempt, cooldown, &holder)));
        }
        claims.to_keep.push(kept);
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
        // Every live slot counts, those past `max_actions` too (left by a higher limit before
        // the config lowered it), as the dry run counts them.
        if holders.len() >= circuit.max_actions as usize {
            return Ok(Err(holders));
        }
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

    /// Keeps the claims of an action that changed something (or left its target to a rollback of
    /// its own): its latch, pending until now, holds for the retention, and its cooldown for its
    /// whole length, neither pending any more. Each only if this very claim still holds it; all
    /// at once.
    ///
    /// The latch of an incident without a start time is not kept if an `ALERT_RESOLVED` ended
    /// that incident after the latch was claimed (its write may have landed after the resolve
    /// looked): it lapses, so the next firing is free to act.
    pub async fn keep(&self, claims: &Claims, now: Timestamp) -> Result<(), LedgerError> {
        let resolved_since = match &claims.unstarted {
            Some(pk) => {
                let marker = Key::new(pk.clone(), super::RESOLVED);
                let marker = self.get(&marker, now).await?;
                marker.map(|m| m.claimed_at)
            }
            None => None,
        };
        let renewals = claims
            .to_keep
            .iter()
            .filter(|entry| {
                let ended_since = resolved_since.is_some_and(|ended| ended > entry.claimed_at);
                !(ended_since && Some(&entry.key.pk) == claims.unstarted.as_ref())
            })
            .map(|entry| self.store.renew(entry));
        futures_util::future::join_all(renewals)
            .await
            .into_iter()
            .collect()
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
    pub async fn release_circuit_slot(&self, claims: &Claims) -> Result<(), LedgerError> {
        self.release_keys(claims, |key| key.pk == CIRCUIT).await
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
    ) -> Result<Option<Refusal>, LedgerError> {
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
}

pub(super) const CIRCUIT: &str = "circuit";

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

fn latch_refusal(attempt: &Attempt<'_>, holder: &Entry) -> Refusal {
    if holder.pending {
        return pending_refusal(Guard::IncidentLatch, attempt, holder, "is handling");
    }
    let again = if attempt.incident.started.is_some() {
        "it acts again on the alert's next incident"
    } else {
        "it acts again after ALERT_RESOLVED"
    };
    Refusal {
        guard: Guard::IncidentLatch,
        detail: format!(
            "{} already handled {} in this incident (request {} at {}: its audit line says \
             what it did); {again}",
            attempt.rule,
            attempt.target,
            holder.claimed_by,
            holder.claimed_at()
        ),
        pending_until: None,
    }
}

fn cooldown_refusal(attempt: &Attempt<'_>, cooldown: HumanDuration, holder: &Entry) -> Refusal {
    if holder.pending {
        return pending_refusal(Guard::Cooldown, attempt, holder, "is acting on");
    }
    Refusal {
        guard: Guard::Cooldown,
        detail: format!(
            "cooling down: {} handled {} at {} (request {}: its audit line says what it did); \
             cooldown {cooldown} ends at {}",
            attempt.rule,
            attempt.target,
            holder.claimed_at(),
            holder.claimed_by,
            holder.expires_at()
        ),
        pending_until: None,
    }
}

/// A refusal by a claim whose request has not finished: it may still give the claim back, so
/// the refusal is not final.
fn pending_refusal(guard: Guard, attempt: &Attempt<'_>, holder: &Entry, doing: &str) -> Refusal {
    let until = Timestamp::from_second(holder.expires_at).ok();
    Refusal {
        guard,
        detail: format!(
            "request {} {doing} {} for {} right now (since {}); if it changes nothing it gives \
             its claim back, so this delivery is not done with: it is answered 503, for a later \
             delivery to act",
            holder.claimed_by,
            attempt.target,
            attempt.rule,
            holder.claimed_at()
        ),
        pending_until: until,
    }
}

/// `lasts` from `now`, in whole seconds rounded up: a claim never lapses early.
pub(super) fn expiry(now: Timestamp, lasts: Duration) -> i64 {
    let nanos = now.as_nanosecond() + i128::try_from(lasts.as_nanos()).unwrap_or(i128::MAX / 2);
    let seconds = nanos.div_euclid(1_000_000_000) + i128::from(nanos.rem_euclid(1_000_000_000) > 0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
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
    fn circuit_refusal(&self, circuit: CircuitBreaker, holders: &[Entry]) -> Refusal {
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
        Refusal {
            guard: Guard::CircuitOpen,
            detail: format!(
                "circuit open: {} actions changed something in the last {} (max_actions = {}); \
                 it closes {closes}, {reset}",
                holders.len(),
                circuit.window,
                circuit.max_actions
            ),
            pending_until: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_lapses_at_a_whole_second_never_early() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let minute = Duration::from_secs(60);
        let ends = |now: &str| Timestamp::from_second(expiry(at(now), minute)).unwrap();
        assert_eq!(ends("2026-11-25T20:00:00.250Z"), at("2026-11-25T20:01:01Z"));
        assert_eq!(ends("2026-11-25T20:00:00Z"), at("2026-11-25T20:01:00Z"));
    }
}
