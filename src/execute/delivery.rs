//! The delivery's part of a run: claiming it before any action (a duplicate runs nothing),
//! ending the incident an `ALERT_RESOLVED` closes, and settling it afterwards (remembered when
//! done with, forgotten so Wavefront's retry can act when not), within the run's deadlines.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::{Execution, Executor, FirstHandled, LEDGER_LATE};
use crate::ledger::{Claims, Entry, Guard, Key};
use crate::plan::Plan;
use crate::text::plural;

/// How long giving back a claim may take once an action has finished.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

/// How long a ledger write cut off by the time budget may still finish before its claims are
/// given back: a release sent at once could overtake it and leave it holding.
const CLAIM_GRACE: Duration = Duration::from_millis(500);

/// The least time settling the delivery gets after the last action, whatever giving back the
/// actions' claims took.
const SETTLE_TIME: Duration = Duration::from_millis(500);

/// How long [`Executor::execute_until`] may run past its deadline, letting cut-off claims finish,
/// giving them back and settling the delivery, unless [`Timing`] says otherwise; never longer.
/// Who calls it keeps the executor's overrun ([`Executor::timing`]) back from any harder
/// deadline (Lambda's), with the time to answer.
pub const AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// How far a run may go past its deadline, and how long a cut-off ledger write gets: the
/// defaults are the service's; a test widens them, so that a write it delays lands in the
/// window it means whatever the machine's load.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// [`AFTER_DEADLINE`] by default.
    pub after_deadline: Duration,
    /// How long a ledger write cut off by the time budget may still finish (0.5 s).
    pub claim_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            after_deadline: AFTER_DEADLINE,
            claim_grace: CLAIM_GRACE,
        }
    }
}

/// The deadlines of one request's run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// When the actions (and the ledger's calls before them) must end.
    pub deadline: Instant,
    /// When letting cut-off claims finish and giving back claims must end.
    pub releases_by: Instant,
    /// When everything must end, settling the delivery included.
    pub cap: Instant,
    /// How long a cut-off ledger write may still finish.
    claim_grace: Duration,
}

impl Limits {
    pub fn new(deadline: Instant, cap: Option<Instant>, timing: Timing) -> Self {
        // Past the deadline: letting cut-off claims finish and giving back claims end by
        // `releases_by`, so settling the delivery has time left before `cap`.
        let overrun = deadline + timing.after_deadline;
        let cap = cap.map_or(overrun, |cap| cap.min(overrun));
        let deadline = deadline.min(cap);
        let releases_by = cap - SETTLE_TIME.min(cap.duration_since(deadline) / 2);
        Self {
            deadline,
            releases_by,
            cap,
            claim_grace: timing.claim_grace,
        }
    }

    /// Until when a ledger write cut off by the time budget may still finish: the claim grace
    /// from now, never past `releases_by`.
    pub fn grace_until(&self) -> Instant {
        (Instant::now() + self.claim_grace).min(self.releases_by)
    }
}

impl Executor {
    /// Claims the delivery, so a duplicate runs nothing.
    pub(super) async fn claim_delivery(
        &self,
        key: &Key,
        plan: &Plan<'_>,
        now: Timestamp,
        limits: &Limits,
    ) -> Delivery {
        let request_id = plan.request_id;
        let claim = self
            .ledger
            .claim_notification(key, plan.alert, request_id, now);
        tokio::pin!(claim);
        match tokio::time::timeout_at(limits.deadline, claim.as_mut()).await {
            Ok(Ok(None)) => Delivery::Claimed,
            Ok(Ok(Some(earlier))) => Delivery::Duplicate(earlier),
            Ok(Err(err)) => Delivery::Failed {
                why: err.to_string(),
                note: None,
            },
            Err(_) => {
                // Cut off mid-claim: the claim may be on its way. Let it finish, briefly, so
                // giving it back cannot overtake it; then give it back, so Wavefront's retry
                // is not taken for a duplicate.
                let answer = tokio::time::timeout_at(limits.grace_until(), claim).await;
                if let Ok(Ok(Some(earlier))) = answer {
                    return Delivery::Duplicate(earlier);
                }
                let released = tokio::time::timeout_at(
                    release_until(limits.cap),
                    self.ledger.release_notification(key, request_id),
                )
                .await;
                let note = if !matches!(released, Ok(Ok(()))) {
                    Some(unsettled(LEDGER_LATE))
                } else if answer.is_err() {
                    Some(unsettled(
                        "its claim was still being written when time ran out, and may land \
                         after it was given back",
                    ))
                } else {
                    None
                };
                Delivery::Failed {
                    why: LEDGER_LATE.to_owned(),
                    note,
                }
            }
        }
    }

    /// `ALERT_RESOLVED`: clears the latches of the incident it ends; a failure fails the
    /// request (the delivery is given back, and the 502 says to send it again).
    pub(super) async fn resolve(
        &self,
        execution: &mut Execution,
        plan: &Plan<'_>,
        has_key: bool,
        now: Timestamp,
        limits: &Limits,
    ) {
        let resolve = self.ledger.resolve(plan.alert, now);
        let failure = match tokio::time::timeout_at(limits.deadline, resolve).await {
            Ok(Ok(cleared)) if !cleared.any() => None,
            Ok(Ok(cleared)) => {
                let first_seen = if cleared.first_seen {
                    " and the time of its first delivery"
                } else {
                    ""
                };
                execution.notes.push(format!(
                    "ALERT_RESOLVED ended the incident: cleared {}{first_seen}",
                    plural(cleared.latches, "incident latch")
                ));
                // Without endedTime it cannot be placed in time: it counts from when it
                // arrived. Said even when it can be de-duplicated, since a first one that
                // arrives late still clears a later firing's latches.
                if plan.alert.ended.is_none() {
                    let note = if has_key {
                        UNANCHORED_RESOLVE
                    } else {
                        UNANCHORED_REPEATABLE_RESOLVE
                    };
                    tracing::warn!(request_id = %plan.request_id, "{note}");
                    execution.notes.push(note.to_owned());
                }
                None
            }
            Ok(Err(err)) => Some(unresolved(&err.to_string())),
            Err(_) => Some(unresolved(LEDGER_LATE)),
        };
        if let Some(why) = failure {
            execution.fail_ledger(why);
        }
    }

    /// Makes the claims of the actions that changed something last (their latches for the
    /// retention), and settles the delivery: forgotten when the request is not done with (an
    /// action failed, a freeze or another request's pending claim held one up), so Wavefront's
    /// next delivery of it can act; otherwise remembered for the retention. All at once, in
    /// its own time, whatever the actions' releases took, and never past the cap. Returns
    /// what the record must say of what could not be done.
    pub(super) async fn settle(
        &self,
        execution: &Execution,
        plan: &Plan<'_>,
        key: Option<&Key>,
        kept: &[Claims],
        now: Timestamp,
        limits: &Limits,
    ) -> Vec<String> {
        let request_id = plan.request_id;
        // A delivery a freeze or the "still firing?" check held back is not done with: once the
        // freeze is lifted, or the alert fires unsnoozed (or Wavefront answers), a re-send of
        // it (same notificationId) must be free to act.
        let held = plan
            .actions()
            .zip(&execution.actions)
            .any(|((rule, _), result)| {
                !rule.dry_run && matches!(result.guard, Some(Guard::Frozen | Guard::NotFiring))
            });
        let forget = execution.failed() || held || execution.retry_after.is_some();
        let settle = async {
            match key {
                None => Ok(()),
                Some(key) if forget => self.ledger.release_notification(key, request_id).await,
                Some(key) => {
                    self.ledger
                        .confirm_notification(key, plan.alert, request_id, now)
                        .await
                }
            }
        };
        let keep = futures_util::future::join_all(kept.iter().map(|c| self.ledger.keep(c, now)));
        let both = tokio::time::timeout_at(release_until(limits.cap), async {
            tokio::join!(settle, keep)
        });
        let (settled, kept) = match both.await {
            Ok((settled, kept)) => (settled.err().map(|e| e.to_string()), first_error(kept)),
            Err(_) => {
                let late = LEDGER_LATE.to_owned();
                (
                    key.map(|_| late.clone()),
                    (!kept.is_empty()).then_some(late),
                )
            }
        };
        let mut notes = Vec::new();
        if let Some(why) = settled {
            notes.push(unsettled(&why));
        }
        if let Some(why) = kept {
            notes.push(format!(
                "the claims of an action that changed something could not be made to last \
                 ({why}): its incident latch and cooldown lapse in about a minute, after which a \
                 re-send of this incident may act again; `ledger list` shows them"
            ));
        }
        notes
    }
}

/// How claiming a delivery ended.
pub(super) enum Delivery {
    /// Claimed (or there is nothing to claim it by): go on.
    Claimed,
    /// Already handled (or being handled, when it is pending), as this entry says.
    Duplicate(Entry),
    /// The ledger failed or did not answer: nothing runs.
    Failed { why: String, note: Option<String> },
}

impl Delivery {
    /// Records a duplicate or a failure in the execution; whether the actions may go on.
    pub(super) fn proceed(self, execution: &mut Execution, plan: &Plan<'_>) -> bool {
        match self {
            Self::Claimed => true,
            Self::Duplicate(earlier) => {
                let pending_until = earlier
                    .pending
                    .then(|| Timestamp::from_second(earlier.expires_at).ok())
                    .flatten();
                execution.duplicate_of = Some(FirstHandled {
                    request_id: earlier.claimed_by,
                    at_ms: earlier.claimed_at,
                });
                execution.retry_after = pending_until;
                false
            }
            Self::Failed { why, note } => {
                execution.notes.extend(note);
                if plan.resolving() {
                    execution.fail_ledger(unresolved(&why));
                }
                let detail = format!("not run: {why}; nothing acts without the ledger");
                execution.fail_live_actions(plan, &detail);
                false
            }
        }
    }
}

/// Until when giving back claims (or settling a delivery) started now may take:
/// [`RELEASE_LIMIT`] from now, never past `by`.
pub(super) fn release_until(by: Instant) -> Instant {
    (Instant::now() + RELEASE_LIMIT).min(by)
}

/// Said (and logged) when an `ALERT_RESOLVED` that can be neither de-duplicated nor placed in
/// time cleared latches.
const UNANCHORED_REPEATABLE_RESOLVE: &str = "this ALERT_RESOLVED has no endedTime and no \
    notificationId (nor alertId and startedTime): it cleared the latches taken before it arrived, \
    and a re-sent copy would clear them again, including a later firing's; use the shipped alert \
    target template, which carries these fields";

/// Said (and logged) when an `ALERT_RESOLVED` without `endedTime`, though de-duplicated, cleared
/// latches: it could not be placed in time.
const UNANCHORED_RESOLVE: &str = "this ALERT_RESOLVED has no endedTime, so it could not be \
    anchored in time: it cleared the latches taken before it arrived, which, had it arrived late, \
    would include a later firing's; use the shipped alert target template, which carries \
    endedTime";

/// The first error of `results`, as a sentence.
fn first_error(results: Vec<Result<(), crate::ledger::LedgerError>>) -> Option<String> {
    results
        .into_iter()
        .find_map(Result::err)
        .map(|e| e.to_string())
}

/// Said when `ALERT_RESOLVED` could not end an incident.
fn unresolved(why: &str) -> String {
    format!("ALERT_RESOLVED could not clear incident latches: {why}")
}

/// Said when a delivery's ledger entry could be neither confirmed nor given back.
fn unsettled(why: &str) -> String {
    format!(
        "this delivery's ledger entry could not be settled ({why}); a repeat within 15 minutes \
         is answered as a duplicate"
    )
}
