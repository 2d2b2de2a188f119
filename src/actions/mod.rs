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

pub mod aws;
pub mod codedeploy;
pub mod lambda_alias;

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use tokio::time::Instant;

use crate::alert::Alert;
use crate::decision::{ActionOutcome, Decision, plural};
use crate::duration::HumanDuration;
use crate::ledger::{Admission, Attempt, Guard, Incident, Ledger, notification_key};
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
    /// if its time budget cuts it off). With `dry_run`, only read-only calls are made.
    pub async fn execute(
        &self,
        aws: &Aws,
        dry_run: bool,
        now: Timestamp,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        match self {
            Self::CodeDeployRollback(a) => a.execute(aws, dry_run, now, calls).await,
            Self::LambdaAlias(a) => a.execute(&aws.lambda, dry_run, calls).await,
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

/// How long giving back a claim may take once an action has finished.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

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
    /// giving back claims and settling the delivery afterwards may run [`RELEASE_LIMIT`]
    /// past it, no more.
    pub async fn execute(
        &self,
        decision: &mut Decision<'_>,
        alert: &Alert,
        rules: &[Rule],
        now: Timestamp,
        deadline: Instant,
    ) {
        // Ending an incident is a write: a dry run leaves the ledger as it is.
        if !decision.dry_run {
            match tokio::time::timeout_at(deadline, self.ledger.resolve(alert)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => decision.notes.push(format!(
                    "ALERT_RESOLVED ended the incident: cleared {}",
                    plural(n, "incident latch")
                )),
                Ok(Err(err)) => decision.notes.push(format!(
                    "ALERT_RESOLVED could not clear incident latches: {err}"
                )),
                Err(_) => decision.notes.push(
                    "ALERT_RESOLVED could not clear incident latches: the ledger did not answer \
                     in time"
                        .into(),
                ),
            }
        }
        let live = decision.rules.iter().any(|r| r.matched && !r.dry_run);
        let notification = if live { notification_key(alert) } else { None };
        if live && notification.is_none() {
            decision.notes.push(
                "the payload has no notificationId (nor alertId and startedTime): a repeated \
                 delivery of it cannot be recognised"
                    .into(),
            );
        }
        if let Some(key) = &notification {
            let claim = self
                .ledger
                .claim_notification(key, alert, &decision.request_id, now);
            match tokio::time::timeout_at(deadline, claim).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(earlier))) => {
                    decision.mark_duplicate(&earlier.claimed_by, earlier.claimed_at);
                    return;
                }
                Ok(Err(err)) => {
                    fail_live_actions(
                        decision,
                        &format!("not run: {err}; nothing acts without the ledger"),
                    );
                    return;
                }
                Err(_) => {
                    // Cut off mid-claim: the claim may have been written. Give it back, so
                    // Wavefront's retry is not taken for a duplicate.
                    let released = tokio::time::timeout(
                        RELEASE_LIMIT,
                        self.ledger.release_notification(key, &decision.request_id),
                    )
                    .await;
                    if !matches!(released, Ok(Ok(()))) {
                        decision
                            .notes
                            .push(unsettled("the ledger did not answer in time"));
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

        let incident = Incident::of(alert);
        let request_id = decision.request_id.clone();
        let mut remaining = decision
            .rules
            .iter()
            .filter(|r| r.matched)
            .map(|r| r.actions.len())
            .sum::<usize>();
        for (record, rule) in decision.rules.iter_mut().zip(rules) {
            if !record.matched {
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
                };
                let (report, guard) = run.within(share).await;
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
            match tokio::time::timeout_at(deadline + RELEASE_LIMIT, settle).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => decision.notes.push(unsettled(&err.to_string())),
                Err(_) => decision
                    .notes
                    .push(unsettled("the ledger did not answer in time")),
            }
        }
    }
}

/// Said when a delivery's ledger entry could be neither confirmed nor given back.
fn unsettled(why: &str) -> String {
    format!(
        "this delivery's ledger entry could not be settled ({why}); a repeat within 15 minutes \
         is answered as a duplicate"
    )
}

/// One action run: ledger admission, the action itself, and giving back claims.
struct Run<'a> {
    executor: &'a Executor,
    action: &'a Action,
    attempt: &'a Attempt<'a>,
    dry_run: bool,
    now: Timestamp,
}

impl Run<'_> {
    async fn within(&self, share: Duration) -> (Report, Option<Guard>) {
        if share.is_zero() {
            return (Calls::default().out_of_time(share), None);
        }
        let started = Instant::now();
        let ledger = &self.executor.ledger;
        if self.dry_run {
            // Read-only: say what the ledger would do, then make the action's read calls. A
            // ledger that cannot be read is reported: live actions would not run.
            match tokio::time::timeout(share, ledger.peek(self.attempt, self.now)).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some((guard, detail)))) => {
                    return (skipped(format!("would be skipped: {detail}")), Some(guard));
                }
                Ok(Err(err)) => {
                    return (failed(format!("{err}; a live action would not run")), None);
                }
                Err(_) => {
                    let why = "the ledger did not answer in time; a live action would not run";
                    return (failed(why.into()), None);
                }
            }
            let left = share.saturating_sub(started.elapsed());
            let report = self.run_action(left).await;
            return (report, None);
        }
        let admission = tokio::time::timeout(share, ledger.admit(self.attempt, self.now)).await;
        let claims = match admission {
            Ok(Ok(Admission::Admitted(claims))) => claims,
            Ok(Ok(Admission::Refused { guard, detail })) => return (skipped(detail), Some(guard)),
            Ok(Err(err)) => {
                return (
                    failed(format!("not run: {err}; nothing acts without the ledger")),
                    None,
                );
            }
            Err(_) => {
                // Cut off mid-admission: which claims it took is unknown; give back whatever
                // this request holds, so a retry is not refused as "already acted".
                let mut report = failed("not run: the ledger did not answer in time".into());
                let released =
                    tokio::time::timeout(RELEASE_LIMIT, ledger.release_attempt(self.attempt)).await;
                if !matches!(released, Ok(Ok(()))) {
                    report.detail.push_str(CLAIMS_HELD);
                }
                return (report, None);
            }
        };
        let left = share.saturating_sub(started.elapsed());
        let mut report = self.run_action(left).await;
        if !report.changed {
            // Nothing changed: give the claims back, so a retry may act.
            let released = tokio::time::timeout(
                RELEASE_LIMIT,
                ledger.release(claims, self.attempt.request_id),
            )
            .await;
            if !matches!(released, Ok(Ok(()))) {
                report.detail.push_str(CLAIMS_HELD);
            }
        }
        (report, None)
    }

    async fn run_action(&self, left: Duration) -> Report {
        let mut calls = Calls::default();
        if left.is_zero() {
            return calls.out_of_time(left);
        }
        let result = tokio::time::timeout(
            left,
            self.action
                .execute(&self.executor.aws, self.dry_run, self.now, &mut calls),
        )
        .await;
        match result {
            Ok((outcome, detail)) => calls.report(outcome, detail),
            Err(_) => calls.out_of_time(left),
        }
    }
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
        .filter(|r| r.matched && !r.dry_run)
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
