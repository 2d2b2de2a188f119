//! The claims one action holds while it runs, and what becomes of them once it ran: kept when
//! the action changed something (or may have), given back when it changed nothing. An
//! [`AdmissionStopper`] cuts an admission into them off before its next call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use jiff::Timestamp;

use super::admission::CIRCUIT;
use super::{Entry, Key, Ledger, LedgerError};

/// The claims one action holds while it runs. The caller owns them, and each key is recorded
/// before its conditional write is sent, so an admission cut off mid-write still knows every
/// claim it may have taken; they are written under one claim id, so giving them back never
/// takes a claim of another action of the same request.
#[derive(Debug)]
pub struct Claims {
    request_id: String,
    /// The claim id every entry is written under: `<request id>#<n>`.
    pub(super) id: String,
    /// Every key claimed, or that may have been: each is added before its write is sent.
    pub(super) keys: Vec<Key>,
    /// The pending claims taken (the latch, the cooldown), as they are rewritten when the
    /// action keeps them ([`Ledger::keep`]).
    pub(super) to_keep: Vec<Entry>,
    /// The latch's partition, when its incident has no start time (and so ends with
    /// `ALERT_RESOLVED`).
    pub(super) unstarted: Option<String>,
    /// Set by an [`AdmissionStopper`]: an admission into these claims sends no further call.
    stop: Arc<AtomicBool>,
}

/// Stops an admission into one [`Claims`] before its next call, letting the call in flight
/// finish: a caller cut off by its time budget waits for that one write to answer (so giving
/// the claims back cannot overtake it) without the admission sending new ones meanwhile.
#[derive(Clone, Debug)]
pub struct AdmissionStopper(Arc<AtomicBool>);

impl AdmissionStopper {
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
    pub fn stopper(&self) -> AdmissionStopper {
        AdmissionStopper(Arc::clone(&self.stop))
    }

    /// Fails with [`LedgerError::Stopped`] once an [`AdmissionStopper`] stopped the admission:
    /// checked before each call an admission sends.
    pub(super) fn ensure_not_stopped(&self) -> Result<(), LedgerError> {
        if self.stop.load(Ordering::SeqCst) {
            Err(LedgerError::Stopped)
        } else {
            Ok(())
        }
    }
}

impl Ledger {
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
}
