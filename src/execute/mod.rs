//! Running a plan against AWS: the only code that calls CodeDeploy, Lambda, AppConfig and ECS.
//! The delivery is claimed once (`delivery.rs`), what every action must know is read beside that
//! claim (freezes, the incident's start), then each action runs in order within its share of the
//! time budget, through the ledger's guards (`run.rs`), and the delivery is settled. The result
//! is an [`Execution`]: what happened, one result per planned action; the plan is never
//! changed.
//!
//! - [`codedeploy`], [`lambda_alias`], [`appconfig`], `ecs`: running each kind of action.
//! - [`handover`]: the aliases a `codedeploy-rollback` left to CodeDeploy, which a later
//!   `lambda-alias` action of the same request leaves alone.
//! - [`attribution`]: the attribution guard both kinds apply (undo only what began before the
//!   incident started).
//! - [`firing`]: the "still firing?" check of rules that set `require_firing`, which reads the
//!   alert from Wavefront before the ledger's guards.
//! - [`calls`]: the bookkeeping every AWS call shares.
//! - `dispatch`: the AWS clients, and which kind of action runs how.
//!
//! An action makes its AWS calls, reads included, only once the ledger admitted it (a dry run:
//! once the ledger was read and would admit it), so an action the ledger refuses calls nothing.
//! The "still firing?" read, to Wavefront, comes before the ledger, so that an action it holds
//! back has claimed nothing.

pub mod appconfig;
pub mod attribution;
pub mod calls;
pub mod codedeploy;
mod delivery;
mod dispatch;
mod ecs;
pub mod firing;
pub mod handover;
pub mod lambda_alias;
mod run;

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::time::Instant;

use crate::ledger::attribution::IncidentStart;
use crate::ledger::freeze::Freeze;
use crate::ledger::{Attempt, Claims, Guard, Ledger};
use crate::plan::Plan;
use crate::text::millis_text;
use crate::wavefront::Wavefront;
use delivery::{Delivery, Limits};
use firing::Firing;
use handover::HandedOver;
use run::Run;

pub use delivery::{AFTER_DEADLINE, Timing};
pub use dispatch::{Clients, run_action};

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

/// One outcome for several steps of one action (several deployments): failed beats executed
/// beats planned beats skipped; every detail, joined with "; ".
pub(crate) fn combine(steps: Vec<(ActionOutcome, String)>) -> (ActionOutcome, String) {
    let rank = |o: &ActionOutcome| match o {
        ActionOutcome::Failed => 3,
        ActionOutcome::Executed => 2,
        ActionOutcome::Planned => 1,
        ActionOutcome::Skipped => 0,
    };
    let outcome = steps
        .iter()
        .map(|(o, _)| *o)
        .max_by_key(rank)
        .unwrap_or(ActionOutcome::Skipped);
    let details: Vec<String> = steps.into_iter().map(|(_, d)| d).collect();
    (outcome, details.join("; "))
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

/// Runs plans against AWS, guarded by the ledger.
#[derive(Clone, Debug)]
pub struct Executor {
    clients: Clients,
    ledger: Ledger,
    timing: Timing,
    /// The longest the "still firing?" read may take ([`firing::READ_LIMIT`] by default).
    firing_limit: Duration,
}

/// What happened to one planned action.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionResult {
    pub outcome: ActionOutcome,
    /// What it did or would do, or why not.
    pub detail: String,
    /// Request ids of the AWS calls made, for AWS support and CloudTrail.
    pub aws_request_ids: Vec<String>,
    /// What in the ledger (or the attribution guard) held it back, if anything did.
    pub guard: Option<Guard>,
}

/// The request that handled a delivery first, when this one is a duplicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstHandled {
    pub request_id: String,
    /// When it claimed the delivery, in milliseconds; written as a time to the second.
    #[serde(rename = "at", serialize_with = "millis_as_text")]
    pub at_ms: i64,
}

fn millis_as_text<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&millis_text(*ms))
}

/// What running a plan did. Made only by [`Execution::planned`] and
/// [`Executor::execute_until`], so its results are always those of its plan's actions.
#[derive(Clone, Debug)]
pub struct Execution {
    /// One result per planned action, in [`Plan::actions`] order.
    pub(crate) actions: Vec<ActionResult>,
    /// What the ledger did or could not do for this request.
    pub(crate) notes: Vec<String>,
    /// Set when the delivery was handled before (or is being handled): nothing ran.
    pub(crate) duplicate_of: Option<FirstHandled>,
    /// When the claim of another request that held this one up lapses, if one did (or a
    /// duplicate's first request is still at work): the request is not done with.
    pub(crate) retry_after: Option<Timestamp>,
    /// When the incident started, and where that came from, when an action applied the
    /// attribution guard against it.
    pub(crate) incident_started: Option<IncidentStart>,
    /// Why the ledger could not do what this request needed although no action failed (an
    /// `ALERT_RESOLVED` that could not clear latches): the request fails.
    pub(crate) ledger_failure: Option<String>,
}

impl Execution {
    /// Nothing run yet: every action planned, as its plan sentence says. What plan-only
    /// `serve` and `explain` record, and where a run starts from.
    pub fn planned(plan: &Plan<'_>) -> Self {
        let actions = plan
            .actions()
            .map(|(rule, action)| ActionResult {
                outcome: ActionOutcome::Planned,
                detail: match rule.rule().require_firing {
                    Some(_) => format!("{}, if Wavefront says the alert is firing", action.plan()),
                    None => action.plan(),
                },
                aws_request_ids: Vec::new(),
                guard: None,
            })
            .collect();
        Self {
            actions,
            notes: Vec::new(),
            duplicate_of: None,
            retry_after: None,
            incident_started: None,
            ledger_failure: None,
        }
    }

    /// Whether an action failed, or the ledger could not do what the request needed.
    pub fn failed(&self) -> bool {
        self.ledger_failure.is_some()
            || self
                .actions
                .iter()
                .any(|a| a.outcome == ActionOutcome::Failed)
    }

    /// The ledger could not do what this request needed (`why`, a sentence, also kept as a
    /// note): the request fails, whatever its actions did.
    fn fail_ledger(&mut self, why: String) {
        self.notes.push(why.clone());
        self.ledger_failure = Some(why);
    }

    /// Something that may still change held an action up until `until`.
    fn hold_up(&mut self, until: Timestamp) {
        self.retry_after = Some(self.retry_after.map_or(until, |t| t.max(until)));
    }

    /// Every action that would have changed something fails, with the same reason.
    fn fail_live_actions(&mut self, plan: &Plan<'_>, detail: &str) {
        for ((rule, _), result) in plan.actions().zip(&mut self.actions) {
            if !rule.dry_run {
                result.outcome = ActionOutcome::Failed;
                detail.clone_into(&mut result.detail);
            }
        }
    }

    /// The ledger could not say what every action must know first (a freeze, the incident's
    /// start): no action runs, and dry runs say a live one would not either.
    fn block_actions(&mut self, plan: &Plan<'_>, why: &str) {
        for ((rule, _), result) in plan.actions().zip(&mut self.actions) {
            result.outcome = ActionOutcome::Failed;
            result.detail = if rule.dry_run {
                format!("{why}; a live action would not run")
            } else {
                format!("not run: {why}; nothing acts without the ledger")
            };
        }
    }
}

/// Said when a ledger call ran out of time.
const LEDGER_LATE: &str = "the ledger did not answer in time";

/// Said when a live delivery cannot be de-duplicated.
const NO_NOTIFICATION_KEY: &str = "the payload has no notificationId (nor alertId and \
                                   startedTime): a repeated delivery of it cannot be recognised";

/// How long an action's latch stays pending past the end of its request, before it lapses
/// unless the action kept it.
const PENDING_MARGIN: Duration = Duration::from_secs(60);

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
        Self {
            clients,
            ledger,
            timing: Timing::default(),
            firing_limit: firing::READ_LIMIT,
        }
    }

    /// The same executor with other overrun and grace ([`Timing`]).
    pub fn with_timing(self, timing: Timing) -> Self {
        Self { timing, ..self }
    }

    /// The same executor, its "still firing?" read bounded by `limit` (a test shortens it).
    pub fn with_firing_limit(self, limit: Duration) -> Self {
        Self {
            firing_limit: limit,
            ..self
        }
    }

    /// The overrun and grace this executor runs with: who calls it keeps its overrun back from
    /// any harder deadline (Lambda's).
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The ledger this executor's guards use; `announce` marks the events it posts there.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs every action of every matched rule of `plan`, in order, and says what happened.
    ///
    /// A delivery already handled runs nothing and is recorded as a duplicate. Every action
    /// that is not a dry run must first pass the freezes and the ledger (incident latch,
    /// cooldown, circuit breaker); it keeps its claims only if it changed something, and a
    /// request with a failed action forgets its delivery, so Wavefront's retry can act.
    /// `deadline` bounds the run: the ledger's calls before the actions must finish by then,
    /// each action gets an equal share of what is left, and one that runs out fails while the
    /// others still run; letting cut-off claims finish, giving back claims and settling the
    /// delivery afterwards may run the executor's overrun past it ([`Timing::after_deadline`],
    /// [`AFTER_DEADLINE`] by default), no more.
    ///
    /// `ALERT_RESOLVED` is a delivery too: once claimed (a duplicate does nothing), it clears
    /// the latches of an incident without a start time that were taken before it ended. When
    /// it cannot (the ledger failed or did not answer), the request fails: 502, a
    /// `ledger_failed` METRIC line, and the delivery given back so Wavefront's retry can.
    ///
    /// `cap`, when there is one, is a hard limit besides (Lambda's deadline less the time to
    /// answer): nothing runs past it, even when that leaves less than the overrun after
    /// `deadline`, or nothing at all. What is left after the deadline is shared between giving
    /// back claims and settling the delivery, which always gets some of it, unless the cap
    /// leaves nothing after the deadline.
    ///
    /// `wavefront` is the client the "still firing?" check of `require_firing` rules reads the
    /// alert with ([`firing`]); `None` when the responder has none.
    pub async fn execute_until(
        &self,
        plan: &Plan<'_>,
        now: Timestamp,
        deadline: Instant,
        cap: Option<Instant>,
        wavefront: Option<&Wavefront>,
    ) -> Execution {
        let limits = Limits::new(deadline, cap, self.timing);
        // `now` is when the request arrived; each action's claims count from when it runs.
        let began = Instant::now();
        let mut execution = Execution::planned(plan);
        let notification = plan.notification();
        if plan.live() && notification.is_none() {
            execution.notes.push(NO_NOTIFICATION_KEY.to_owned());
        }
        let prelude = tokio::time::timeout_at(limits.deadline, self.prelude(plan, now));
        let claim = async {
            match &notification {
                Some(key) => self.claim_delivery(key, plan, now, &limits).await,
                None => Delivery::Claimed,
            }
        };
        let (delivery, prelude) = tokio::join!(claim, prelude);
        if !delivery.proceed(&mut execution, plan) {
            return execution;
        }
        // After the delivery is claimed, so a duplicate ALERT_RESOLVED does nothing.
        if plan.resolving() {
            self.resolve(&mut execution, plan, notification.is_some(), now, &limits)
                .await;
        }
        let prelude =
            prelude.unwrap_or_else(|_| Err(format!("{LEDGER_LATE}, reading the freezes")));
        let kept = match prelude {
            Err(why) => {
                execution.block_actions(plan, &why);
                Vec::new()
            }
            Ok(prelude) => {
                execution.incident_started = prelude.start;
                note_freezes(&mut execution, plan, &prelude.freezes);
                // Read at most once, by the first action of a `require_firing` rule.
                let alert_id = plan.alert.id.as_deref();
                let mut firing = Firing::new(wavefront, alert_id, self.firing_limit);
                let times = (now, began, &limits);
                let run = self.run_actions(&mut execution, plan, &prelude, &mut firing, times);
                run.await
            }
        };
        let settling = self.settle(&execution, plan, notification.as_ref(), &kept, now, &limits);
        let notes = settling.await;
        execution.notes.extend(notes);
        execution
    }

    /// Reads what every action needs before it runs: the freezes (when a matched rule has an
    /// action) and the incident's start (when one applies the attribution guard and the
    /// payload does not say). A delivery records itself as the incident's first, dry run or
    /// not, since that is a fact about the incident rather than a claim, so a dry run and a
    /// live run see the same start; the Test button's is not a delivery of a firing.
    async fn prelude(&self, plan: &Plan<'_>, now: Timestamp) -> Result<Prelude, String> {
        if plan.acting().next().is_none() {
            return Ok(Prelude::default());
        }
        let attributing = plan.acting().any(|rule| rule.rule().attribution);
        let start = async {
            if !attributing {
                return Ok(None);
            }
            let record = plan.alert.reason != crate::alert::Reason::Testing;
            let start = self
                .ledger
                .incident_start(plan.alert, plan.request_id, now, record);
            start.await.map(Some)
        };
        let names = plan.acting().map(|rule| rule.rule().name.as_str());
        let (freezes, start) = tokio::join!(self.ledger.freezes_of(names, now), start);
        Ok(Prelude {
            freezes: freezes.map_err(|e| format!("the freezes could not be read ({e})"))?,
            start: start.map_err(|e| {
                format!("when the incident was first delivered could not be read ({e})")
            })?,
        })
    }

    /// Runs every planned action, in order, each within an equal share of what is left of
    /// the time budget. Returns the claims of the actions that changed something.
    async fn run_actions(
        &self,
        execution: &mut Execution,
        plan: &Plan<'_>,
        prelude: &Prelude,
        firing: &mut Firing<'_>,
        (now, began, limits): (Timestamp, Instant, &Limits),
    ) -> Vec<Claims> {
        let incident = plan.incident();
        // The claims of the actions that changed something, and when the latest claim of
        // another request that held an action up lapses.
        let mut kept = Vec::new();
        let mut held_up = None;
        // What earlier actions left to CodeDeploy, so a later one does not race it.
        let mut handed_over = HandedOver::default();
        let mut remaining = execution.actions.len();
        for ((rule_plan, action), result) in plan.actions().zip(&mut execution.actions) {
            let rule = rule_plan.rule();
            let left = limits.deadline.saturating_duration_since(Instant::now());
            let share = left / u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
            remaining = remaining.saturating_sub(1);
            let target = action.target();
            let attempt = Attempt {
                rule: &rule.name,
                target: &target,
                cooldown: rule.cooldown,
                incident: &incident,
                request_id: plan.request_id,
                // Pending until this request is done with it, and a while after.
                pending_for: limits.cap.saturating_duration_since(Instant::now()) + PENDING_MARGIN,
            };
            let elapsed = jiff::SignedDuration::try_from(began.elapsed()).unwrap_or_default();
            let run = Run {
                executor: self,
                action,
                attempt: &attempt,
                dry_run: rule_plan.dry_run,
                now: now.checked_add(elapsed).unwrap_or(now),
                since: prelude.start.filter(|_| rule.attribution),
                freeze: prelude.freezes.iter().find(|f| f.covers(&rule.name)),
                limits: *limits,
                require_firing: rule.require_firing,
            };
            let ran = run.within(share, &mut handed_over, firing).await;
            *result = ActionResult {
                outcome: ran.report.outcome,
                detail: ran.report.detail,
                aws_request_ids: ran.report.aws_request_ids,
                guard: ran.guard.or(ran.report.guard),
            };
            if let Some(until) = ran.pending_until {
                held_up = Some(held_up.map_or(until, |t: Timestamp| t.max(until)));
            }
            kept.extend(ran.kept);
        }
        if let Some(until) = held_up {
            execution.hold_up(until);
        }
        kept
    }
}

/// Says which freezes hold back an acting rule of the plan.
fn note_freezes(execution: &mut Execution, plan: &Plan<'_>, freezes: &[Freeze]) {
    for freeze in freezes {
        if plan.acting().any(|rule| freeze.covers(&rule.rule().name)) {
            execution.notes.push(format!(
                "{freeze}: actions that would change something are skipped until it ends or \
                 `{}` lifts it",
                freeze.scope.lift_command()
            ));
        }
    }
}
