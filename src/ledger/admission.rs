//! Admission: the claims an action takes before it acts (the incident latch, the cooldown, a
//! circuit-breaker slot), in that order, each a conditional write only one caller can win;
//! and, for dry runs, reading what would refuse it without writing. The claims themselves,
//! and giving them back, are [`super::claims`]; the words of a refusal, [`super::refusal`].

use std::time::Duration;

use jiff::Timestamp;

use super::refusal::{cooldown_refusal, latch_refusal};
use super::{CircuitBreaker, Claims, Entry, Incident, Key, Ledger, LedgerError, Refusal, Store};
use crate::duration::HumanDuration;

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
    /// Takes the incident latch, then the cooldown, then a circuit-breaker slot, in that order,
    /// into claims the caller owns, giving nothing back: on a refusal or an error, `claims`
    /// holds what was taken before it. Each key is added before its conditional write is sent
    /// and removed again when the write is refused, so a caller that stops waiting (a time
    /// budget) holds every claim that may have been written, and only those. Once
    /// [`Claims::stopper`] stops it, it sends no further call: the one in flight finishes and
    /// the admission ends with [`LedgerError::Stopped`] (or its refusal, or, when that was its
    /// last call, admitted). The cooldown's claim and the breaker's read of its slots go out
    /// together; a slot is claimed only once the cooldown is held.
    pub async fn admit_into(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<Refusal>, LedgerError> {
        if let Some(refusal) = self.hold_latch(attempt, now, claims).await? {
            return Ok(Some(refusal));
        }
        // Held only after the caller stopped the admission (its time ran out): nothing more
        // is sent.
        if let Err(stopped) = claims.ensure_not_stopped() {
            return match (self.circuit, attempt.cooldown) {
                (None, None) => Ok(None),
                _ => Err(stopped),
            };
        }
        self.hold_the_rest(attempt, now, claims).await
    }

    /// Claims the incident latch.
    async fn hold_latch(
        &self,
        attempt: &Attempt<'_>,
        now: Timestamp,
        claims: &mut Claims,
    ) -> Result<Option<Refusal>, LedgerError> {
        claims.ensure_not_stopped()?;
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
        claims.ensure_not_stopped()?;
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
            claims.ensure_not_stopped()?;
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
