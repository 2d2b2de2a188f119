//! Why the ledger refused an action, in words the audit line and the HTTP answer can carry:
//! the incident latch, the cooldown or the circuit breaker, and whether the refusal is final.

use jiff::Timestamp;

use super::admission::Attempt;
use super::{CircuitBreaker, Entry, Guard, Ledger};
use crate::duration::HumanDuration;

/// Why the ledger refused an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub guard: Guard,
    pub detail: String,
    /// When the claim that refused it lapses, if the request holding it may still give it back
    /// (it has not finished): the refusal is then not final.
    pub pending_until: Option<Timestamp>,
}

pub(super) fn latch_refusal(attempt: &Attempt<'_>, holder: &Entry) -> Refusal {
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

pub(super) fn cooldown_refusal(
    attempt: &Attempt<'_>,
    cooldown: HumanDuration,
    holder: &Entry,
) -> Refusal {
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

impl Ledger {
    pub(super) fn circuit_refusal(&self, circuit: CircuitBreaker, holders: &[Entry]) -> Refusal {
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
