//! Running the actions of a request against AWS: the only code that calls CodeDeploy and
//! Lambda. The delivery is claimed once, what every action must know is read beside that
//! claim (freezes, the incident's start), then each action runs in order within its share of
//! the time budget, through the ledger's guards ([`run`]), and the delivery is settled.
//!
//! - [`codedeploy`], [`lambda_alias`]: running each kind of action.
//! - [`handover`]: the aliases a `codedeploy-rollback` left to CodeDeploy, which a later
//!   `lambda-alias` action of the same request leaves alone.
//! - [`attribution`]: the attribution guard both kinds apply (undo only what began before the
//!   incident started).
//! - [`calls`]: the bookkeeping every AWS call shares.
//!
//! A `lambda-alias` action reads (and decides) once its incident latch is held, while the
//! ledger claims its cooldown and circuit-breaker slot, and writes only once admitted: its
//! reads change nothing, and waiting for the whole admission would add their round trips to
//! every undo.

pub mod attribution;
pub mod calls;
pub mod codedeploy;
pub mod handover;
pub mod lambda_alias;
mod run;

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::time::Instant;

use crate::actions::Action;
use crate::alert::{Alert, Reason};
use crate::decision::Decision;
use crate::ledger::attribution::IncidentStart;
use crate::ledger::freeze::Freeze;
use crate::ledger::{Attempt, Claims, Entry, Guard, Incident, Key, Ledger, notification_key};
use crate::rules::Rule;
use crate::text::plural;
use calls::Calls;
use handover::HandedOver;
use run::Run;

/// The AWS clients actions use. Built once per Lambda instance (or `serve` process); cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Clients {
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub lambda: aws_sdk_lambda::Client,
}

impl Clients {
    /// Clients from the SDK configuration ([`crate::aws::loader`]'s settings).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
        }
    }
}

/// What happened to one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Described, not executed.
    Planned,
    /// Changed something in AWS.
    Executed,
    /// Nothing to do, or not allowed to act.
    Skipped,
    /// Tried and failed.
    Failed,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Executed => "executed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// What running an action needs besides its own config.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Make only read-only calls, and say what would be done.
    pub dry_run: bool,
    /// When the request arrived.
    pub now: Timestamp,
    /// When the incident started, for the attribution guard; `None` when the rule turns the
    /// guard off.
    pub since: Option<IncidentStart>,
    /// Where the responder records the undo deployments it creates.
    pub ledger: &'a Ledger,
    pub request_id: &'a str,
}

/// Runs `action` against AWS, recording its calls in `calls` (which outlive the action if its
/// time budget cuts it off); in a dry run, only read-only calls are made. It runs after the
/// earlier actions of the same request: `handed_over` holds the Lambda aliases they left to
/// CodeDeploy to move back. A `codedeploy-rollback` adds to it; a `lambda-alias` on one of
/// them leaves it alone.
pub async fn run_action(
    action: &Action,
    clients: &Clients,
    context: &Context<'_>,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> (ActionOutcome, String) {
    match action {
        Action::CodeDeployRollback(a) => a.execute(clients, context, calls, handed_over).await,
        Action::LambdaAlias(a) => {
            let mode = (context.dry_run, context.since.as_ref());
            a.execute(&clients.lambda, mode, handed_over, calls).await
        }
    }
}

/// Runs the planned actions of decisions against AWS, guarded by the ledger.
#[derive(Clone, Debug)]
pub struct Executor {
    clients: Clients,
    ledger: Ledger,
}

/// How long an action's latch stays pending past the end of its request, before it lapses
/// unless the action kept it.
const PENDING_MARGIN: Duration = Duration::from_secs(60);

/// How long giving back a claim may take once an action has finished.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

/// How long a ledger write cut off by the time budget may still finish before its claims are
/// given back: a release sent at once could overtake it and leave it holding.
const CLAIM_GRACE: Duration = Duration::from_millis(500);

/// The least time settling the delivery gets after the last action, whatever giving back the
/// actions' claims took.
const SETTLE_TIME: Duration = Duration::from_millis(500);

/// How long [`Executor::execute_until`] may run past its deadline, letting cut-off claims finish,
/// giving them back and settling the delivery; never longer. Who calls it keeps this back
/// from any harder deadline (Lambda's), with the time to answer.
pub const AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// The deadlines of one request's run.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// When the actions (and the ledger's calls before them) must end.
    deadline: Instant,
    /// When letting cut-off claims finish and giving back claims must end.
    releases_by: Instant,
    /// When everything must end, settling the delivery included.
    cap: Instant,
}

impl Limits {
    fn new(deadline: Instant, cap: Option<Instant>) -> Self {
        // Past the deadline: letting cut-off claims finish and giving back claims end by
        // `releases_by`, so settling the delivery has time left before `cap`.
        let overrun = deadline + AFTER_DEADLINE;
        let cap = cap.map_or(overrun, |cap| cap.min(overrun));
        let deadline = deadline.min(cap);
        let releases_by = cap - SETTLE_TIME.min(cap.duration_since(deadline) / 2);
        Self {
            deadline,
            releases_by,
            cap,
        }
    }
}

/// What every action of a request needs from the ledger before it runs, read once beside the
/// delivery's claim.
#[derive(Debug, Default)]
struct Prelude {
    /// The freezes on now.
    freezes: Vec<Freeze>,
    /// When the incident started, if an action applies the attribution guard.
    start: Option<IncidentStart>,
}

impl Executor {
    pub fn new(clients: Clients, ledger: Ledger) -> Self {
        Self { clients, ledger }
    }

    /// The ledger in use.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs every action of every matched rule, in order, and records each outcome in the
    /// decision.
    ///
    /// A delivery already handled runs nothing and is recorded as a duplicate. Every action
    /// that is not a dry run must first pass the freezes and the ledger (incident latch,
    /// cooldown, circuit breaker); it keeps its claims only if it changed something, and a
    /// request with a failed action forgets its delivery, so Wavefront's retry can act.
    /// `deadline` bounds the run: the ledger's calls before the actions must finish by then,
    /// each action gets an equal share of what is left, and one that runs out fails while the
    /// others still run; letting cut-off claims finish, giving back claims and settling the
    /// delivery afterwards may run [`AFTER_DEADLINE`] past it, no more.
    ///
    /// `ALERT_RESOLVED` is a delivery too: once claimed (a duplicate does nothing), it clears
    /// the latches of an incident without a start time that were taken before it ended. When
    /// it cannot (the ledger failed or did not answer), the request fails: 502, a
    /// `ledger_failed` METRIC line, and the delivery given back so Wavefront's retry can.
    ///
    /// `cap`, when there is one, is a hard limit besides (Lambda's deadline less the time to
    /// answer): nothing runs past it, even when that leaves less than [`AFTER_DEADLINE`] after
    /// `deadline`, or nothing at all. What is left after the deadline is shared between giving
    /// back claims and settling the delivery, which always gets some of it, unless the cap
    /// leaves nothing after the deadline.
    pub async fn execute_until(
        &self,
        decision: &mut Decision<'_>,
        alert: &Alert,
        rules: &[Rule],
        now: Timestamp,
        deadline: Instant,
        cap: Option<Instant>,
    ) {
        let limits = Limits::new(deadline, cap);
        // `now` is when the request arrived; each action's claims count from when it runs.
        let began = Instant::now();
        // Ending an incident is a write: a dry run leaves the ledger as it is.
        let resolving = !decision.dry_run && alert.reason == Reason::Resolved;
        let live = decision.rules.iter().any(|r| r.matched() && !r.dry_run);
        let notification = if live || resolving {
            notification_key(alert)
        } else {
            None
        };
        let request_id = decision.request_id.clone();
        if live && notification.is_none() {
            decision.notes.push(
                "the payload has no notificationId (nor alertId and startedTime): a repeated \
                 delivery of it cannot be recognised"
                    .into(),
            );
        }
        let prelude = tokio::time::timeout_at(
            limits.deadline,
            self.prelude(decision, alert, rules, &request_id, now),
        );
        let claim = async {
            match &notification {
                Some(key) => {
                    self.claim_delivery(key, alert, &request_id, now, &limits)
                        .await
                }
                None => Delivery::Claimed,
            }
        };
        let (delivery, prelude) = tokio::join!(claim, prelude);
        if !delivery.proceed(decision, resolving) {
            return;
        }

        // After the delivery is claimed, so a duplicate ALERT_RESOLVED does nothing.
        if resolving {
            self.resolve(decision, alert, notification.is_some(), now, &limits)
                .await;
        }

        let (prelude, blocked) = match prelude {
            Ok(Ok(prelude)) => (prelude, None),
            Ok(Err(why)) => (Prelude::default(), Some(why)),
            Err(_) => (
                Prelude::default(),
                Some("the ledger did not answer in time, reading the freezes".to_owned()),
            ),
        };
        if let Some(start) = prelude.start {
            decision.incident_started = Some(start);
        }
        for freeze in &prelude.freezes {
            let covered = rules.iter().zip(&decision.rules).any(|(rule, record)| {
                record.matched() && !rule.actions.is_empty() && freeze.covers(&rule.name)
            });
            if covered {
                decision.notes.push(format!(
                    "{freeze}: actions that would change something are skipped until it ends \
                     or `{}` lifts it",
                    freeze.scope.lift_command()
                ));
            }
        }
        let kept = match blocked {
            Some(why) => {
                block_actions(decision, &why);
                Vec::new()
            }
            None => {
                self.run_actions(decision, alert, rules, &prelude, (now, began), &limits)
                    .await
            }
        };
        decision.summarize();
        self.settle(decision, notification.as_ref(), &kept, alert, now, &limits)
            .await;
    }

    /// Reads what every action needs before it runs: the freezes (when a matched rule has an
    /// action) and the incident's start (when one applies the attribution guard and the
    /// payload does not say). A delivery records itself as the incident's first, dry run or
    /// not, since that is a fact about the incident rather than a claim, so a dry run and a
    /// live run see the same start; the Test button's is not a delivery of a firing.
    async fn prelude(
        &self,
        decision: &Decision<'_>,
        alert: &Alert,
        rules: &[Rule],
        request_id: &str,
        now: Timestamp,
    ) -> Result<Prelude, String> {
        let acting = || {
            rules
                .iter()
                .zip(&decision.rules)
                .filter(|(rule, record)| record.matched() && !rule.actions.is_empty())
                .map(|(rule, _)| rule)
        };
        if acting().next().is_none() {
            return Ok(Prelude::default());
        }
        let attributing = acting().any(|rule| rule.attribution);
        let start = async {
            match attributing {
                true => {
                    let record = alert.reason != Reason::Testing;
                    let start = self.ledger.incident_start(alert, request_id, now, record);
                    start.await.map(Some)
                }
                false => Ok(None),
            }
        };
        let names = acting().map(|rule| rule.name.as_str());
        let (freezes, start) = tokio::join!(self.ledger.freezes_of(names, now), start);
        Ok(Prelude {
            freezes: freezes.map_err(|e| format!("the freezes could not be read ({e})"))?,
            start: start.map_err(|e| {
                format!("when the incident was first delivered could not be read ({e})")
            })?,
        })
    }

    /// Claims the delivery, so a duplicate runs nothing.
    async fn claim_delivery(
        &self,
        key: &Key,
        alert: &Alert,
        request_id: &str,
        now: Timestamp,
        limits: &Limits,
    ) -> Delivery {
        let claim = self.ledger.claim_notification(key, alert, request_id, now);
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
                let answer = tokio::time::timeout_at(grace_until(limits.releases_by), claim).await;
                if let Ok(Ok(Some(earlier))) = answer {
                    return Delivery::Duplicate(earlier);
                }
                let released = tokio::time::timeout_at(
                    release_until(limits.cap),
                    self.ledger.release_notification(key, request_id),
                )
                .await;
                let note = if !matches!(released, Ok(Ok(()))) {
                    Some(unsettled("the ledger did not answer in time"))
                } else if answer.is_err() {
                    Some(unsettled(
                        "its claim was still being written when time ran out, and may land \
                         after it was given back",
                    ))
                } else {
                    None
                };
                Delivery::Failed {
                    why: "the ledger did not answer in time".to_owned(),
                    note,
                }
            }
        }
    }

    /// `ALERT_RESOLVED`: clears the latches of the incident it ends; a failure fails the
    /// request (the delivery is given back, and the 502 says to send it again).
    async fn resolve(
        &self,
        decision: &mut Decision<'_>,
        alert: &Alert,
        has_key: bool,
        now: Timestamp,
        limits: &Limits,
    ) {
        let resolve = self.ledger.resolve(alert, now);
        let failure = match tokio::time::timeout_at(limits.deadline, resolve).await {
            Ok(Ok(cleared)) if !cleared.any() => None,
            Ok(Ok(cleared)) => {
                let first_seen = if cleared.first_seen {
                    " and the time of its first delivery"
                } else {
                    ""
                };
                decision.notes.push(format!(
                    "ALERT_RESOLVED ended the incident: cleared {}{first_seen}",
                    plural(cleared.latches, "incident latch")
                ));
                // Without endedTime it cannot be placed in time: it counts from when it
                // arrived. Said even when it can be de-duplicated, since a first one that
                // arrives late still clears a later firing's latches.
                if alert.ended.is_none() {
                    let note = if has_key {
                        UNANCHORED_RESOLVE
                    } else {
                        UNANCHORED_REPEATABLE_RESOLVE
                    };
                    tracing::warn!(request_id = %decision.request_id, "{note}");
                    decision.notes.push(note.to_owned());
                }
                None
            }
            Ok(Err(err)) => Some(unresolved(&err.to_string())),
            Err(_) => Some(unresolved("the ledger did not answer in time")),
        };
        if let Some(why) = failure {
            decision.fail_ledger(why);
        }
    }

    /// Runs every action of every matched rule, in order, each within an equal share of what
    /// is left of the time budget.
    async fn run_actions(
        &self,
        decision: &mut Decision<'_>,
        alert: &Alert,
        rules: &[Rule],
        prelude: &Prelude,
        (now, began): (Timestamp, Instant),
        limits: &Limits,
    ) -> Vec<Claims> {
        let request_id = decision.request_id.clone();
        let incident = Incident::of(alert);
        // The claims of the actions that changed something, and when the latest claim of
        // another request that held an action up lapses.
        let mut kept = Vec::new();
        let mut held_up = None;
        // What earlier actions left to CodeDeploy, so a later one does not race it.
        let mut handed_over = HandedOver::default();
        let mut remaining = decision
            .rules
            .iter()
            .filter(|r| r.matched())
            .map(|r| r.actions.len())
            .sum::<usize>();
        for (record, rule) in decision.rules.iter_mut().zip(rules) {
            if !record.matched() {
                continue;
            }
            let freeze = prelude.freezes.iter().find(|f| f.covers(&rule.name));
            let since = prelude.start.filter(|_| rule.attribution);
            for (action_record, action) in record.actions.iter_mut().zip(&rule.actions) {
                let left = limits.deadline.saturating_duration_since(Instant::now());
                let share = left / u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
                remaining = remaining.saturating_sub(1);
                let target = action.target();
                let attempt = Attempt {
                    rule: &rule.name,
                    target: &target,
                    cooldown: rule.cooldown,
                    incident: &incident,
                    request_id: &request_id,
                    // Pending until this request is done with it, and a while after.
                    pending_for: limits.cap.saturating_duration_since(Instant::now())
                        + PENDING_MARGIN,
                };
                let elapsed = jiff::SignedDuration::try_from(began.elapsed()).unwrap_or_default();
                let run = Run {
                    executor: self,
                    action,
                    attempt: &attempt,
                    dry_run: record.dry_run,
                    now: now.checked_add(elapsed).unwrap_or(now),
                    since,
                    freeze,
                    releases_by: limits.releases_by,
                };
                let ran = run.within(share, &mut handed_over).await;
                action_record.outcome = ran.report.outcome;
                action_record.detail = ran.report.detail;
                action_record.aws_request_ids = ran.report.aws_request_ids;
                action_record.guard = ran.guard.or(ran.report.guard);
                if let Some(until) = ran.pending_until {
                    held_up = Some(held_up.map_or(until, |t: Timestamp| t.max(until)));
                }
                kept.extend(ran.kept);
            }
        }
        if let Some(until) = held_up {
            decision.hold_up(until);
        }
        kept
    }

    /// Makes the claims of the actions that changed something last (their latches for the
    /// retention), and settles the delivery: forgotten when the request is not done with (an
    /// action failed, a freeze or another request's pending claim held one up), so Wavefront's
    /// next delivery of it can act; otherwise remembered for the retention. All at once, in
    /// its own time, whatever the actions' releases took, and never past the cap.
    async fn settle(
        &self,
        decision: &mut Decision<'_>,
        key: Option<&Key>,
        kept: &[Claims],
        alert: &Alert,
        now: Timestamp,
        limits: &Limits,
    ) {
        let request_id = &decision.request_id;
        // A delivery a freeze held back is not done with: once the freeze is lifted, a re-send
        // of it (same notificationId) must be free to act.
        let frozen = decision.rules.iter().any(|rule| {
            !rule.dry_run && rule.actions.iter().any(|a| a.guard == Some(Guard::Frozen))
        });
        let forget = decision.failed() || frozen || decision.retry().is_some();
        let settle = async {
            match key {
                None => Ok(()),
                Some(key) if forget => self.ledger.release_notification(key, request_id).await,
                Some(key) => {
                    self.ledger
                        .confirm_notification(key, alert, request_id, now)
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
                let late = "the ledger did not answer in time".to_owned();
                (
                    key.map(|_| late.clone()),
                    (!kept.is_empty()).then_some(late),
                )
            }
        };
        if let Some(why) = settled {
            decision.notes.push(unsettled(&why));
        }
        if let Some(why) = kept {
            decision.notes.push(format!(
                "the claims of an action that changed something could not be made to last \
                 ({why}): its incident latch and cooldown lapse in about a minute, after which a \
                 re-send of this incident may act again; `ledger list` shows them"
            ));
        }
    }
}

/// How claiming a delivery ended.
enum Delivery {
    /// Claimed (or there is nothing to claim it by): go on.
    Claimed,
    /// Already handled (or being handled, when it is pending), as this entry says.
    Duplicate(Entry),
    /// The ledger failed or did not answer: nothing runs.
    Failed { why: String, note: Option<String> },
}

impl Delivery {
    /// Records a duplicate or a failure in the decision; whether the actions may go on.
    fn proceed(self, decision: &mut Decision<'_>, resolving: bool) -> bool {
        match self {
            Self::Claimed => true,
            Self::Duplicate(earlier) => {
                let pending_until = earlier
                    .pending
                    .then(|| Timestamp::from_second(earlier.expires_at).ok())
                    .flatten();
                decision.mark_duplicate(&earlier.claimed_by, earlier.claimed_at, pending_until);
                false
            }
            Self::Failed { why, note } => {
                decision.notes.extend(note);
                if resolving {
                    decision.fail_ledger(unresolved(&why));
                }
                fail_live_actions(
                    decision,
                    &format!("not run: {why}; nothing acts without the ledger"),
                );
                false
            }
        }
    }
}

/// Until when a ledger write cut off by the time budget may still finish: [`CLAIM_GRACE`] from
/// now, never past `by`.
fn grace_until(by: Instant) -> Instant {
    (Instant::now() + CLAIM_GRACE).min(by)
}

/// Until when giving back claims (or settling a delivery) started now may take:
/// [`RELEASE_LIMIT`] from now, never past `by`.
fn release_until(by: Instant) -> Instant {
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

/// Every action that would have changed something fails, with the same reason.
fn fail_live_actions(decision: &mut Decision<'_>, detail: &str) {
    for rule in decision
        .rules
        .iter_mut()
        .filter(|r| r.matched() && !r.dry_run)
    {
        for action in &mut rule.actions {
            action.outcome = ActionOutcome::Failed;
            action.detail = detail.to_owned();
        }
    }
    decision.summarize();
}

/// The ledger could not say what every action must know first (a freeze, the incident's
/// start): no action runs, and dry runs say a live one would not either.
fn block_actions(decision: &mut Decision<'_>, why: &str) {
    for rule in decision.rules.iter_mut().filter(|r| r.matched()) {
        let detail = if rule.dry_run {
            format!("{why}; a live action would not run")
        } else {
            format!("not run: {why}; nothing acts without the ledger")
        };
        for action in &mut rule.actions {
            action.outcome = ActionOutcome::Failed;
            action.detail.clone_from(&detail);
        }
    }
}
