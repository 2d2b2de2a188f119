//! Admitting one action for tests: [`Ledger::admit`] takes its claims and gives them back on a
//! refusal, in one call. The service itself admits through [`Ledger::admit_while_preparing`]
//! into claims it owns, so that a time budget can cut the admission off.

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
        self.admit_while_preparing(attempt, now, claims, std::future::ready(()))
            .await
            .0
    }
}
