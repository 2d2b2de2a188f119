//! Admitting one action for tests: [`Ledger::admit`] takes its claims and gives them back on a
//! refusal, in one call. The service itself admits through [`Ledger::admit_into`] into claims
//! it owns, so that a time budget can cut the admission off.

use jiff::Timestamp;

use super::{Attempt, Claims, Ledger, LedgerError, Refusal};

/// Whether an action may run.
#[derive(Debug)]
pub enum Admission {
    /// Go ahead; release these claims unless the action changes something.
    Admitted(Claims),
    /// Do not act, and why.
    Refused(Refusal),
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
}
