//! Remediation actions: the `[[rule.action]]` entries of the config, validated, and what each
//! one is going to do to which AWS resource.
//!
//! One [`Action`] enum holds every kind; each kind lives in its own file and owns its config
//! fields, its description and its execution:
//! - [`codedeploy`]: `codedeploy-rollback`, stop a deployment group's active deployments with
//!   rollback (or undo a recent success).
//! - [`lambda_alias`]: `lambda-alias`, move a Lambda alias back to a known good version.
//! - [`aws`]: the clients and the bookkeeping every AWS call shares.
//!
//! [`Executor`] runs the actions of a decision in order, each within its share of the time
//! budget, so one stuck call cannot keep the others from running or the request from answering.
//! A `lambda-alias` action reads (and decides) once its incident latch and cooldown are held,
//! while the ledger claims its circuit-breaker slot (after them, with no breaker), and writes
//! only once admitted: its reads change nothing, and waiting for the whole admission would add
//! their round trips to every undo.

pub mod aws;
pub mod codedeploy;
pub mod lambda_alias;

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use tokio::time::Instant;
use tokio::time::error::Elapsed;

use crate::alert::{Alert, Reason};
use crate::decision::{ActionOutcome, Decision, plural};
use crate::duration::HumanDuration;
use crate::ledger::{Attempt, Claims, Guard, Incident, Ledger, LedgerError, notification_key};
use crate::rules::Rule;
use aws::{Aws, Calls, Report};

/// One remediation step of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAction")]
pub enum Action {
    /// Stop the deployment group's active deployments with rollback.
    CodeDeployRollback(codedeploy::Rollback),
    /// Move a Lambda alias to a known good version.
    LambdaAlias(lambda_alias::AliasShift),
}

impl Action {
    /// The action's `type` in config, also used in records and audit lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CodeDeployRollback(_) => "codedeploy-rollback",
            Self::LambdaAlias(_) => "lambda-alias",
        }
    }

    /// The resource it acts on, short: `checkout/checkout-prod`, `checkout:live`.
    pub fn target(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.target(),
            Self::LambdaAlias(a) => a.target(),
        }
    }

    /// What the action would do, in one sentence starting with "would".
    pub fn plan(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.plan(),
            Self::LambdaAlias(a) => a.plan(),
        }
    }
}

impl Action {
    /// Runs the action against AWS, recording its calls in `calls` (which outlive the action
    /// if its time budget cuts it off); with `dry_run`, only read-only calls are made. It runs
    /// after the earlier actions of the same request: `handed_over` holds the Lambda aliases
    /// they left to CodeDeploy to move back. A `codedeploy-rollback` adds to
    /// it; a `lambda-alias` on one of them leaves it alone.
    pub async fn execute_after(
        &self,
        aws: &Aws,
        dry_run: bool,
        now: Timestamp,
        calls: &mut Calls,
        handed_over: &mut codedeploy::HandedOver,
    ) -> (ActionOutcome, String) {
        match self {
            Self::CodeDeployRollback(a) => a.execute(aws, dry_run, now, calls, handed_over).await,
            Self::LambdaAlias(a) => a.execute(&aws.lambda, dry_run, handed_over, calls).await,
        }
    }
}

/// Runs the planned actions of decisions against AWS, guarded by the ledger.
#[derive(Clone, Debug)]
pub struct Executor {
    aws: Aws,
    ledger: Ledger,
}

/// Said when claims could not be given back.
const CLAIMS_HELD: &str = "; its ledger claims could not be given back and hold until they expire";

/// Said when the circuit-breaker slot of an action that changed nothing could not be given
/// back.
const SLOT_HELD: &str = "; its circuit-breaker slot could not be given back and counts until \
                         the window passes";

/// Said when a claim cut off mid-write was given back before the write answered.
const CLAIM_IN_FLIGHT: &str = "; a ledger claim still being written when time ran out may \
                               land after it was given back, and then holds until it expires";

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

impl Executor {
    pub fn new(aws: Aws, ledger: Ledger) -> Self {
        Self { aws, ledger }
    }

    /// The ledger in use.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs every action of every matched rule, in order, and records each outcome in the
    /// decision.
    ///
    /// A delivery already handled runs nothing and is recorded as a duplicate. Every action
    /// that is not a dry run must first pass the ledger (incident latch, cooldown, circuit
    /// breaker); it keeps its claims only if it changed something, and a request with a
    /// failed action forgets its delivery, so Wavefront's retry can act. `deadline` bounds the
    /// run: the ledger's calls before the actions must finish by then, each action gets an
    /// equal share of what is left, and one that runs out fails while the others still run;
    /// letting cut-off claims finish, giving back claims and settling the delivery afterwards
    /// may run [`AFTER_DEADLINE`] past it, no more.
    ///
    /// `ALERT_RESOLVED` is a delivery too: once claimed (a duplicate does nothing), it clears
    /// the latches of an incident without a start time that were taken before it ended. When
    /// it cannot (the ledger failed or did not answer), the request fails: 502, a
    /// `ledger_failed` METRIC line, and the delivery given back so Wavefront's retry can.
    ///
    /// `cap`, when there is one, is a hard limit besides (Lambda's deadline less the time to
    /// answer): nothing runs
    /// past it, even when that leaves less than [`AFTER_DEADLINE`] after `deadline`, or nothing
    /// at all. What is left after the deadline is shared between giving back claims and
    /// settling the delivery, which always gets some of it, unless the cap leaves nothing
    /// after the deadline.
    pub async fn execute_until(
        &self,
        decision: &mut Decision<'_>,
        alert: &Alert,
        rules: &[Rule],
        now: Timestamp,
        deadline: Instant,
        cap: Option<Instant>,
    ) {
        // Past the deadline: letting cut-off claims finish and giving back claims end by
        // `releases_by`, so settling the delivery has time left before `cap`.
        let overrun = deadline + AFTER_DEADLINE;
        let cap = cap.map_or(overrun, |cap| cap.min(overrun));
        let deadline = deadline.min(cap);
        let releases_by = cap - SETTLE_TIME.min(cap.duration_since(deadline) / 2);
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
        if let Some(key) = &notification {
            let claim = self.ledger.claim_notification(key, alert, &request_id, now);
            tokio::pin!(claim);
            match tokio::time::timeout_at(deadline, claim.as_mut()).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(earlier))) => {
                    decision.mark_duplicate(&earlier.claimed_by, earlier.claimed_at);
                    return;
                }
                Ok(Err(err)) => {
                    if resolving {
                        decision.fail_ledger(unresolved(&err.to_string()));
                    }
                    fail_live_actions(
                        decision,
                        &format!("not run: {err}; nothing acts without the ledger"),
                    );
                    return;
                }
                Err(_) => {
                    // Cut off mid-claim: the claim may be on its way. Let it finish, briefly,
                    // so giving it back cannot overtake it; then give it back, so Wavefront's
                    // retry is not taken for a duplicate.
                    let answer = tokio::time::timeout_at(grace_until(releases_by), claim).await;
                    if let Ok(Ok(Some(earlier))) = answer {
                        decision.mark_duplicate(&earlier.claimed_by, earlier.claimed_at);
                        return;
                    }
                    let released = tokio::time::timeout_at(
                        release_until(cap),
                        self.ledger.release_notification(key, &request_id),
                    )
                    .await;
                    if !matches!(released, Ok(Ok(()))) {
                        decision
                            .notes
                            .push(unsettled("the ledger did not answer in time"));
                    } else if answer.is_err() {
                        decision.notes.push(unsettled(
                            "its claim was still being written when time ran out, and may land \
                             after it was given back",
                        ));
                    }
                    if resolving {
                        decision.fail_ledger(unresolved("the ledger did not answer in time"));
                    }
                    fail_live_actions(
                        decision,
                        "not run: the ledger did not answer in time; nothing acts without the \
                         ledger",
                    );
                    return;
                }
            }
        }

        // After the delivery is claimed, so a duplicate ALERT_RESOLVED does nothing.
        if resolving {
            let resolve = self.ledger.resolve(alert, now);
            let failure = match tokio::time::timeout_at(deadline, resolve).await {
                Ok(Ok(0)) => None,
                Ok(Ok(n)) => {
                    decision.notes.push(format!(
                        "ALERT_RESOLVED ended the incident: cleared {}",
                        plural(n, "incident latch")
                    ));
                    if alert.ended.is_none() && notification.is_none() {
                        let note = UNANCHORED_RESOLVE;
                        tracing::warn!(request_id = %request_id, "{note}");
                        decision.notes.push(note.to_owned());
                    }
                    None
                }
                Ok(Err(err)) => Some(unresolved(&err.to_string())),
                Err(_) => Some(unresolved("the ledger did not answer in time")),
            };
            // Failed: the delivery is given back below, and the 502 says to send it again.
            if let Some(why) = failure {
                decision.fail_ledger(why);
            }
        }

        let incident = Incident::of(alert);
        // What earlier actions left to CodeDeploy, so a later one does not race it.
        let mut handed_over = codedeploy::HandedOver::default();
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
            for (action_record, action) in record.actions.iter_mut().zip(&rule.actions) {
                let left = deadline.saturating_duration_since(Instant::now());
                let share = left / u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
                remaining = remaining.saturating_sub(1);
                let target = action.target();
                let attempt = Attempt {
                    rule: &rule.name,
                    target: &target,
                    cooldown: rule.cooldown,
                    incident: &incident,
                    request_id: &request_id,
                };
                let run = Run {
                    executor: self,
                    action,
                    attempt: &attempt,
                    dry_run: record.dry_run,
                    now,
                    releases_by,
                };
                let (report, guard) = run.within(share, &mut handed_over).await;
                action_record.outcome = report.outcome;
                action_record.detail = report.detail;
                action_record.aws_request_ids = report.aws_request_ids;
                action_record.guard = guard;
            }
        }
        decision.summarize();

        // A failed request forgets its delivery, so Wavefront's retry can act; a finished one
        // is remembered for the retention.
        if let Some(key) = &notification {
            let failed = decision.failed();
            let settle = async {
                if failed {
                    self.ledger.release_notification(key, &request_id).await
                } else {
                    self.ledger
                        .confirm_notification(key, alert, &request_id, now)
                        .await
                }
            };
            // Its own time, whatever the actions' releases took, and never past the cap.
            match tokio::time::timeout_at(release_until(cap), settle).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => decision.notes.push(unsettled(&err.to_string())),
                Err(_) => decision
                    .notes
                    .push(unsettled("the ledger did not answer in time")),
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
const UNANCHORED_RESOLVE: &str = "this ALERT_RESOLVED has no endedTime and no notificationId \
    (nor alertId and startedTime): it cleared the latches taken before it arrived, and a re-sent \
    copy would clear them again, including a later firing's; use the shipped alert target \
    template, which carries these fields";

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

/// How an admission ended: within the action's share of the time budget, after it (in the
/// grace a write in flight gets), or not at all.
enum Admitting<T> {
    InTime(T),
    Late(T),
    Unanswered,
}

/// One action run: ledger admission, the action itself, and giving back claims.
struct Run<'a> {
    executor: &'a Executor,
    action: &'a Action,
    attempt: &'a Attempt<'a>,
    dry_run: bool,
    now: Timestamp,
    /// When letting a cut-off claim finish and giving back claims must end.
    releases_by: Instant,
}

impl Run<'_> {
    async fn within(
        &self,
        share: Duration,
        handed_over: &mut codedeploy::HandedOver,
    ) -> (Report, Option<Guard>) {
        if share.is_zero() {
            return (Calls::default().out_of_time(share), None);
        }
        let started = Instant::now();
        let ledger = &self.executor.ledger;
        let mut calls = Calls::default();
        if self.dry_run {
            // Read-only: say what the ledger would do, and make the action's reads beside it.
            // A ledger that cannot be read is reported: live actions would not run.
            let peek = tokio::time::timeout(share, ledger.peek(self.attempt, self.now));
            let ahead = self.read_ahead(started + share, handed_over, &mut calls);
            let (peeked, ahead) = tokio::join!(peek, ahead);
            let refusal = match peeked {
                Ok(Ok(None)) => None,
                Ok(Ok(Some((guard, detail)))) => {
                    Some((skipped(format!("would be skipped: {detail}")), Some(guard)))
                }
                Ok(Err(err)) => Some((failed(format!("{err}; a live action would not run")), None)),
                Err(_) => {
                    let why = "the ledger did not answer in time; a live action would not run";
                    Some((failed(why.into()), None))
                }
            };
            if let Some((report, guard)) = refusal {
                return (with_reads(report, calls), guard);
            }
            let left = share.saturating_sub(started.elapsed());
            let report = self
                .run_action(share, left, handed_over, ahead, calls)
                .await;
            return (report, None);
        }
        // The claims are ours, not the admission's: cut off, it still says what it may hold.
        let mut claims = Claims::new(self.attempt.request_id);
        let stopper = claims.stopper();
        let admission = {
            // A lambda-alias action reads what it will change while the ledger claims the
            // circuit breaker's slot, once the incident is held.
            let ahead = self.read_ahead(started + share, handed_over, &mut calls);
            let admit = ledger.admit_beside(self.attempt, self.now, &mut claims, ahead);
            tokio::pin!(admit);
            match tokio::time::timeout(share, admit.as_mut()).await {
                Ok(result) => Admitting::InTime(result),
                // Cut off mid-admission: a claim may be on its way. Let that write finish,
                // briefly, so giving it back cannot overtake it, but send no new one.
                Err(_) => {
                    stopper.stop();
                    match tokio::time::timeout_at(grace_until(self.releases_by), admit).await {
                        Ok(result) => Admitting::Late(result),
                        Err(_) => Admitting::Unanswered,
                    }
                }
            }
        };
        let (report, guard) = match admission {
            Admitting::InTime((Ok(None), ahead)) => {
                let left = share.saturating_sub(started.elapsed());
                // The action's calls go into its report; none are left for `with_reads`.
                let calls = std::mem::take(&mut calls);
                let mut report = self
                    .run_action(share, left, handed_over, ahead.flatten(), calls)
                    .await;
                if report.changed {
                    // Changed something, or may have: the claims stay, so nothing acts again.
                    return (report, None);
                }
                if report.left_to_codedeploy {
                    // Left to CodeDeploy's rollback: the incident is handled, so its latch
                    // and cooldown stay (a re-delivery must not move the alias under the
                    // rollback); it changed nothing, so the breaker's slot is given back.
                    let slot = ledger.release_circuit_slot(claims);
                    self.give_back(&mut report, slot, SLOT_HELD).await;
                    return (report, None);
                }
                (report, None)
            }
            // Refused, in time or by the write that answered after the cut-off.
            Admitting::InTime((Ok(Some((guard, detail))), _))
            | Admitting::Late((Ok(Some((guard, detail))), _)) => {
                let mut report = skipped(detail);
                // Already handled (or cooling down): still see which rollbacks are under way,
                // so a later lambda-alias action of this request leaves their aliases alone.
                if let (
                    Action::CodeDeployRollback(rollback),
                    Guard::IncidentLatch | Guard::Cooldown,
                ) = (self.action, guard)
                {
                    let left = share.saturating_sub(started.elapsed());
                    let observed = tokio::time::timeout(
                        left,
                        rollback.observe(&self.executor.aws, &mut calls, handed_over),
                    )
                    .await;
                    if let Ok(note) = observed {
                        report.detail.push_str(&note);
                    }
                }
                (report, Some(guard))
            }
            // Stopped after the write in flight answered: nothing can still land.
            Admitting::Late((Err(LedgerError::Stopped), _)) => (
                failed("not run: the ledger did not answer in time".into()),
                None,
            ),
            Admitting::InTime((Err(err), _)) | Admitting::Late((Err(err), _)) => (
                failed(format!("not run: {err}; nothing acts without the ledger")),
                None,
            ),
            Admitting::Late((Ok(None), _)) => (
                failed(format!(
                    "ran out of time before acting: the ledger admitted it only after its {:.1}s \
                     of the time budget ended; its claims are given back",
                    share.as_secs_f64()
                )),
                None,
            ),
            Admitting::Unanswered => {
                let mut report = failed("not run: the ledger did not answer in time".into());
                if !claims.is_empty() {
                    report.detail.push_str(CLAIM_IN_FLIGHT);
                }
                (report, None)
            }
        };
        let mut report = with_reads(report, calls);
        // Nothing changed: give back what this action took (and only that), so a retry may
        // act and is not refused as "already acted".
        if !claims.is_empty() {
            self.give_back(&mut report, ledger.release(claims), CLAIMS_HELD)
                .await;
        }
        (report, guard)
    }

    /// The reads a `lambda-alias` action makes before it writes, until `until` (the end of its
    /// share of the time budget): they change nothing, so they may run beside the ledger's
    /// calls instead of after them. `None` for a `codedeploy-rollback`, whose reads hand
    /// aliases over to later actions as they go, and so wait for the admission.
    async fn read_ahead(
        &self,
        until: Instant,
        handed_over: &codedeploy::HandedOver,
        calls: &mut Calls,
    ) -> Option<Result<lambda_alias::Prepared, Elapsed>> {
        let Action::LambdaAlias(shift) = self.action else {
            return None;
        };
        let lambda = &self.executor.aws.lambda;
        let prepare = shift.prepare(lambda, self.dry_run, handed_over, calls);
        Some(tokio::time::timeout_at(until, prepare).await)
    }

    /// Gives claims back with `release`, in the time releases get; if they are not given back,
    /// the report says so with `held`.
    async fn give_back(
        &self,
        report: &mut Report,
        release: impl Future<Output = Result<(), LedgerError>>,
        held: &str,
    ) {
        let released = tokio::time::timeout_at(release_until(self.releases_by), release).await;
        if !matches!(released, Ok(Ok(()))) {
            report.detail.push_str(held);
        }
    }

    /// Runs the action (what [`Run::read_ahead`] did not) within `left`, what is left of its
    /// `share` of the time budget, recording its calls in `calls`.
    async fn run_action(
        &self,
        share: Duration,
        left: Duration,
        handed_over: &mut codedeploy::HandedOver,
        ahead: Option<Result<lambda_alias::Prepared, Elapsed>>,
        mut calls: Calls,
    ) -> Report {
        let prepared = match ahead {
            // Cut off while reading: nothing was written.
            Some(Err(_)) => return calls.out_of_time(share),
            // Decided without a write: nothing more to send, however little time is left.
            Some(Ok(lambda_alias::Prepared::Decided(outcome, detail))) => {
                return calls.report(outcome, detail);
            }
            Some(Ok(prepared)) => Some(prepared),
            None => None,
        };
        if left.is_zero() {
            return calls.out_of_time(left);
        }
        let handed_before = handed_over.len();
        let aws = &self.executor.aws;
        let run = async {
            match (self.action, prepared) {
                (Action::LambdaAlias(shift), Some(prepared)) => {
                    shift.apply(&aws.lambda, prepared, &mut calls).await
                }
                _ => {
                    self.action
                        .execute_after(aws, self.dry_run, self.now, &mut calls, handed_over)
                        .await
                }
            }
        };
        let result = tokio::time::timeout(left, run).await;
        match result {
            Ok((outcome, detail)) => calls.report(outcome, detail),
            Err(_) => {
                let report = calls.out_of_time(left);
                // Cut off before it changed anything (a stop not yet sent, or found
                // completed): no rollback of its own is under way, so what it handed over to
                // one is withdrawn and later actions may still act. Rollbacks it found under
                // way keep their aliases.
                if !report.changed {
                    handed_over.withdraw_ours_since(handed_before);
                }
                report
            }
        }
    }
}

/// `report`, with the request ids of the reads its action made before it stopped short of
/// acting: refused, failed or cut off in the ledger, or a dry run the ledger would refuse.
fn with_reads(mut report: Report, calls: Calls) -> Report {
    let mut ids = calls.into_request_ids();
    ids.append(&mut report.aws_request_ids);
    report.aws_request_ids = ids;
    report
}

fn skipped(detail: String) -> Report {
    Calls::default().report(ActionOutcome::Skipped, detail)
}

fn failed(detail: String) -> Report {
    Calls::default().report(ActionOutcome::Failed, detail)
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

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.target())
    }
}

/// The action table as written; [`Action`] is built from it after validation.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum RawAction {
    CodedeployRollback(RawCodeDeploy),
    LambdaAlias(RawLambdaAlias),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeDeploy {
    application: String,
    deployment_group: String,
    redeploy_within: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLambdaAlias {
    function: String,
    alias: String,
    to_version: Option<VersionText>,
    to_alias: Option<String>,
    drop_canary: Option<bool>,
}

/// `to_version` may be written as `"7"` or `7`.
struct VersionText(String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(deserializer) {
            Ok(Either::Text(text)) => Ok(Self(text)),
            Ok(Either::Number(n)) => Ok(Self(n.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "to_version must be a published version number, like \"7\"",
            )),
        }
    }
}

impl TryFrom<RawAction> for Action {
    type Error = String;

    fn try_from(raw: RawAction) -> Result<Self, String> {
        match raw {
            RawAction::CodedeployRollback(r) => {
                codedeploy::Rollback::new(r.application, r.deployment_group, r.redeploy_within)
                    .map(Self::CodeDeployRollback)
            }
            RawAction::LambdaAlias(r) => {
                let destination = match (r.to_version, r.to_alias, r.drop_canary) {
                    (Some(v), None, None | Some(false)) => {
                        lambda_alias::Destination::version(&v.0)?
                    }
                    (None, Some(a), None | Some(false)) => lambda_alias::Destination::alias(&a)?,
                    (None, None, Some(true)) => lambda_alias::Destination::DropCanary,
                    _ => {
                        return Err("a lambda-alias action needs exactly one destination: \
                             to_version = \"41\", to_alias = \"stable\", or drop_canary = true"
                            .into());
                    }
                };
                lambda_alias::AliasShift::new(r.function, r.alias, destination)
                    .map(Self::LambdaAlias)
            }
        }
    }
}

/// Checks a name is non-empty and within a length AWS accepts.
fn check_name(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} cannot be empty"));
    }
    if value.len() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if value.trim() != value {
        return Err(format!(
            "{field} \"{value}\" has leading or trailing spaces"
        ));
    }
    Ok(())
}
