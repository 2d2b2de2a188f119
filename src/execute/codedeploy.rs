//! Running a `codedeploy-rollback` ([`crate::actions::codedeploy::Rollback`]): undo a CodeDeploy
//! release.
//!
//! - Active deployments of the group (`Created`, `Queued`, `InProgress`, `Baking`, `Ready`) are
//!   stopped with `StopDeployment(autoRollbackEnabled = true)`, so CodeDeploy redeploys the
//!   previous revision. A deployment that is itself a rollback is never stopped, nor one created
//!   at or after the incident started (the attribution guard: it may be the fix).
//! - With nothing active and `redeploy_within` set, a deployment that *succeeded* inside that
//!   window is undone by a new deployment: for the Lambda compute platform an AppSpec that moves
//!   the alias from the version now live back to the one before; for the other platforms the
//!   revision that was live before. A success created at or after the incident started is not
//!   undone, and the responder's own undos (recorded in the ledger before they are created, and
//!   described `wavefront-responder: undo <id>`) are never stopped or undone.
//! - A deployment that completes while we stop it (`DeploymentAlreadyCompletedException`) is a
//!   race, not a failure: it is re-read and reported as it ended. Found stopped after our own
//!   `StopDeployment` was retried, it may be our own earlier attempt's work: the action then
//!   keeps its ledger claims.
//! - When CodeDeploy is left to move a Lambda alias back (a stopped Lambda deployment's rollback,
//!   or our undo deployment), the alias is recorded in [`HandedOver`] before the call that
//!   starts it is sent, so a later `lambda-alias` action of the same request leaves it to
//!   CodeDeploy rather than racing it, even when that call's answer is lost or time runs out.
//!   It is withdrawn only when no rollback can be under way: AWS refused every attempt of the
//!   call, the deployment turned out completed, or the action was cut off before the call was
//!   sent. Found stopped by someone else, it stays handed over to the rollback that may follow.
//!
//! Deciding (which deployment is a rollback, whether a success is inside the window, the AppSpec
//! to deploy) is pure code; the `execute` path makes the calls.

use std::collections::HashSet;
use std::fmt::Write as _;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{
    AlarmConfiguration, AppSpecContent, AutoRollbackConfiguration, ComputePlatform,
    DeploymentCreator, DeploymentGroupInfo, DeploymentInfo, DeploymentStatus, LambdaFunctionInfo,
    RevisionLocation, RevisionLocationType,
};
use jiff::Timestamp;

use super::calls::{CallFailure, Calls};
use super::handover::HandedOver;
use super::{ActionOutcome, Clients, Context, attribution};
use crate::actions::codedeploy::{Rollback, UNDO_MARKER};
use crate::duration::HumanDuration;
use crate::ledger::Guard;

/// Statuses of a deployment that can still be stopped.
pub const ACTIVE: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

/// `BatchGetDeployments` takes at most this many ids.
const BATCH: usize = 25;

impl Rollback {
    /// Runs the rollback, recording its AWS calls in `calls`, and in `handed_over` the Lambda
    /// aliases it leaves CodeDeploy to move back. With `dry_run`, only read-only calls are
    /// made and the sentence says what would have happened.
    pub async fn execute(
        &self,
        clients: &Clients,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> (ActionOutcome, String) {
        match self.run(clients, context, calls, handed_over).await {
            Ok(step) => step,
            Err(failure) => (ActionOutcome::Failed, failure.message),
        }
    }

    async fn run(
        &self,
        clients: &Clients,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let client = &clients.codedeploy;
        let (routine, active): (Vec<_>, Vec<_>) = self
            .active_deployments(client, calls)
            .await?
            .into_iter()
            .partition(|d| not_a_release(d).is_some());
        // Deployments CodeDeploy makes by itself are not releases: said, never stopped, and
        // they do not keep a recent success from being undone.
        let routine: Vec<(ActionOutcome, String)> = routine
            .iter()
            .map(|d| {
                let id = d.deployment_id().unwrap_or("(unknown id)");
                let by = not_a_release(d).unwrap_or_default();
                let detail = format!("{id}, created by {by}, is not a release; it is left alone");
                (ActionOutcome::Skipped, detail)
            })
            .collect();
        let (outcome, detail) = self
            .releases(clients, &active, context, calls, handed_over)
            .await?;
        let mut steps = routine;
        steps.push((outcome, detail));
        Ok(combine(steps))
    }

    /// [`Rollback::run`] on the active deployments that are releases.
    async fn releases(
        &self,
        clients: &Clients,
        active: &[DeploymentInfo],
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let client = &clients.codedeploy;
        if !active.is_empty() {
            let undos = our_undos(context, active).await?;
            let (steps, finished) = self
                .stop_all(client, active, &undos, context, calls, handed_over)
                .await;
            // One finished while we stopped it: if it succeeded, the bad release is now
            // live, and a window means it may be undone like any recent success.
            if finished && let Some(window) = self.redeploy_within {
                let mut steps = steps;
                // A failed undo keeps what the stops before it did in the record.
                let undo = self
                    .redeploy(clients, window, context, calls, handed_over)
                    .await;
                steps.push(undo.unwrap_or_else(|failure| (ActionOutcome::Failed, failure.message)));
                return Ok(combine(steps));
            }
            return Ok(combine(steps));
        }
        let Some(window) = self.redeploy_within else {
            return Ok((
                ActionOutcome::Skipped,
                format!("nothing in progress in {}", self.target()),
            ));
        };
        self.redeploy(clients, window, context, calls, handed_over)
            .await
    }

    /// For an action the ledger refused (it already handled this incident, or is cooling
    /// down): the read-only start of a rollback, so that the alias of every Lambda deployment
    /// active in the group is handed over and a `lambda-alias` action of this request does not
    /// race it. Active while the incident is held means a rollback under way, a deployment an
    /// earlier delivery stopped whose rollback CodeDeploy has not started yet (`StopDeployment`
    /// answers before the rollback exists), or a deployment made since (maybe the fix): in each
    /// case CodeDeploy may move the alias. They are handed over as found, not ours, so that
    /// action still gives its claims back. Returns what the record should add: nothing when no
    /// Lambda deployment is active.
    pub async fn observe(
        &self,
        clients: &Clients,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> String {
        let client = &clients.codedeploy;
        let active = match self.active_deployments(client, calls).await {
            Ok(active) => active,
            Err(failure) => {
                let why = format!(
                    "the deployments under way in {} could not be read ({failure})",
                    self.target()
                );
                let note = format!("; {why}: a later lambda-alias action leaves its alias alone");
                handed_over.cannot_tell(why, None);
                return note;
            }
        };
        let mut notes = String::new();
        let lambda = active
            .iter()
            .filter(|d| d.compute_platform() == Some(&ComputePlatform::Lambda));
        for deployment in lambda {
            let id = deployment.deployment_id().unwrap_or("(unknown id)");
            // Only the words depend on whether it is a rollback, so its description will do.
            let (by, doing) = if rollback_of(deployment, &OurUndos::Described).is_some() {
                (format!("{id}, a rollback in progress"), "is rolling back")
            } else {
                (
                    format!("{id}, in progress"),
                    "is still in progress (a stop an earlier delivery sent may not have started \
                     its rollback yet)",
                )
            };
            let (index, note) = hand_over(client, id, by, false, calls, handed_over).await;
            if index.is_some() {
                let _ = write!(notes, "; {id} {doing}{}", left_note(handed_over, index));
            }
            notes.push_str(&note);
        }
        notes
    }

    /// Every active deployment of the group, read in full (creator, rollback info).
    async fn active_deployments(
        &self,
        client: &Client,
        calls: &mut Calls,
    ) -> Result<Vec<DeploymentInfo>, CallFailure> {
        let mut ids = Vec::new();
        let mut pages = client
            .list_deployments()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .set_include_only_statuses(Some(ACTIVE.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| calls.failed("ListDeployments", &e))?;
            ids.extend(calls.ok(page).deployments.unwrap_or_default());
        }
        let mut deployments = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let output = client
                .batch_get_deployments()
                .set_deployment_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| calls.failed("BatchGetDeployments", &e))?;
            deployments.extend(calls.ok(output).deployments_info.unwrap_or_default());
        }
        // Oldest first, so the record reads in the order things happened.
        deployments.sort_by_key(|d| d.create_time().map(|t| t.as_nanos()));
        Ok(deployments)
    }

    /// Stops every deployment that is not itself a rollback. Also says whether one of them
    /// succeeded before it could be stopped.
    async fn stop_all(
        &self,
        client: &Client,
        deployments: &[DeploymentInfo],
        undos: &OurUndos,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> (Vec<(ActionOutcome, String)>, bool) {
        let dry_run = context.dry_run;
        let mut steps = Vec::with_capacity(deployments.len());
        let mut succeeded_first = false;
        for deployment in deployments {
            let id = deployment.deployment_id().unwrap_or("(unknown id)");
            let created = deployment.create_time().and_then(attribution::sdk_time);
            let held = context.since.as_ref().and_then(|since| {
                attribution::hold(&format!("{id} was created"), created, since, "it")
            });
            // A Lambda deployment left alone (a rollback, or maybe the fix) may be moving its
            // alias: a later lambda-alias action must not race it any more than one after a
            // rollback we started.
            let moving =
                !dry_run && deployment.compute_platform() == Some(&ComputePlatform::Lambda);
            let step = if let Some(reason) = rollback_of(deployment, undos) {
                let mut detail =
                    format!("{id} is itself a rollback{reason}; a rollback is never stopped");
                if moving {
                    let by = format!("{id}, a rollback in progress");
                    let (_, note) = hand_over(client, id, by, false, calls, handed_over).await;
                    detail.push_str(&note);
                }
                (ActionOutcome::Skipped, detail)
            } else if let Some(mut held) = held {
                calls.held_back(Guard::Attribution);
                if moving {
                    let by = format!("{id}, which may be the fix, in progress");
                    let (_, note) = hand_over(client, id, by, false, calls, handed_over).await;
                    held.push_str(&note);
                }
                (ActionOutcome::Skipped, held)
            } else if dry_run {
                (
                    ActionOutcome::Planned,
                    format!("would stop deployment {id} with rollback"),
                )
            } else {
                let (step, succeeded) = stop(client, deployment, calls, handed_over).await;
                succeeded_first |= succeeded;
                step
            };
            steps.push(step);
        }
        (steps, succeeded_first)
    }

    /// With nothing in progress: undoes the group's last success, if it is inside `window`
    /// and every check on it passes.
    async fn redeploy(
        &self,
        clients: &Clients,
        window: HumanDuration,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let client = &clients.codedeploy;
        let success = match self
            .undoable_success(client, window, context, calls)
            .await?
        {
            Ok(success) => success,
            Err(step) => return Ok(step),
        };
        let undo = match self.undo_of(clients, &success, context, calls).await? {
            Ok(undo) => undo,
            Err(step) => return Ok(step),
        };
        let (last_id, age) = (&success.id, &success.age);
        let (what, how) = (&undo.what, undo.how());
        if context.dry_run {
            return Ok((
                ActionOutcome::Planned,
                format!(
                    "would undo {last_id} (succeeded {age}, inside redeploy_within={window}): \
                     {what}, with {how}"
                ),
            ));
        }
        self.create_undo(client, &success, undo, context, calls, handed_over)
            .await
    }

    /// The group's last success, if it may be undone: the group's latest attempt, ended inside
    /// `window`, created before the incident started. Otherwise why it is left.
    async fn undoable_success(
        &self,
        client: &Client,
        window: HumanDuration,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<Result<Success, (ActionOutcome, String)>, CallFailure> {
        let group = client
            .get_deployment_group()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeploymentGroup", &e))?;
        let info = calls
            .ok(group)
            .deployment_group_info
            .unwrap_or_else(|| DeploymentGroupInfo::builder().build());
        let skip = |reason: String| {
            Ok(Err((
                ActionOutcome::Skipped,
                format!("nothing in progress in {}; {reason}", self.target()),
            )))
        };
        let last = info.last_successful_deployment();
        let Some(last_id) = last.and_then(|l| l.deployment_id()).map(str::to_owned) else {
            return skip("it has no successful deployment to undo".into());
        };
        if let Some(reason) = self.later_attempt(client, &info, &last_id, calls).await? {
            return skip(reason);
        }
        let ended = last
            .and_then(|l| l.end_time())
            .and_then(|t| Timestamp::from_second(t.secs()).ok());
        if let Err(reason) = within_window(ended, window, context.now) {
            return skip(reason);
        }
        let created = last
            .and_then(|l| l.create_time())
            .and_then(attribution::sdk_time);
        let what = format!("the last successful deployment {last_id} was created");
        if let Some(since) = &context.since
            && let Some(held) = attribution::hold(&what, created, since, "it")
        {
            calls.held_back(Guard::Attribution);
            return skip(held);
        }
        Ok(Ok(Success {
            age: ended.map(|e| ago(e, context.now)).unwrap_or_default(),
            id: last_id,
            platform: info.compute_platform().cloned(),
        }))
    }

    /// Why the group's last attempt keeps its last success `last_id` from being undone: only
    /// the group's latest deployment is undone, and a later attempt that did not succeed means
    /// the success is not what runs now, or that someone is already on it. The last attempt
    /// being another deployment is enough (its createTime only words the reason), unless it is
    /// not a release (a scale-out, CodeDeploy's own update), which is read to tell.
    async fn later_attempt(
        &self,
        client: &Client,
        info: &DeploymentGroupInfo,
        last_id: &str,
        calls: &mut Calls,
    ) -> Result<Option<String>, CallFailure> {
        let Some(attempt) = info.last_attempted_deployment() else {
            return Ok(None);
        };
        let Some(attempt_id) = attempt.deployment_id().filter(|id| *id != last_id) else {
            return Ok(None);
        };
        let read = client
            .get_deployment()
            .deployment_id(attempt_id)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        let attempt_info = calls.ok(read).deployment_info;
        if attempt_info.as_ref().and_then(not_a_release).is_some() {
            return Ok(None);
        }
        let status = attempt.status().map_or("unknown", |s| s.as_str());
        let attempted = attempt.create_time().map(|t| t.as_nanos());
        let last = info.last_successful_deployment();
        let succeeded = last.and_then(|l| l.create_time()).map(|t| t.as_nanos());
        Ok(Some(match (attempted, succeeded) {
            (Some(attempted), Some(succeeded)) if attempted > succeeded => format!(
                "the last attempt {attempt_id} ({status}) is newer than the last success \
                 {last_id}; not undoing an older release"
            ),
            // No createTime (or clocks that disagree): the ids alone say the success is not
            // the group's last attempt.
            _ => format!(
                "the last attempt {attempt_id} ({status}) is not the last success {last_id}, so \
                 the success may not be what runs now; not undoing it"
            ),
        }))
    }

    /// How to undo `success`: for the Lambda platform, an AppSpec moving its alias back (if
    /// the alias still runs what it made live); otherwise the revision live before it. Why not,
    /// when it is itself a rollback or cannot be reversed.
    async fn undo_of(
        &self,
        clients: &Clients,
        success: &Success,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<Result<Undo, (ActionOutcome, String)>, CallFailure> {
        let (client, last_id) = (&clients.codedeploy, &success.id);
        let deployment = client
            .get_deployment()
            .deployment_id(last_id)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        let deployment = calls
            .ok(deployment)
            .deployment_info
            .unwrap_or_else(|| DeploymentInfo::builder().build());
        let undos = our_undos(context, std::slice::from_ref(&deployment)).await?;
        if let Some(reason) = rollback_of(&deployment, &undos) {
            return Ok(Err((
                ActionOutcome::Skipped,
                format!(
                    "the last successful deployment {last_id} is itself a rollback{reason}; \
                     not undoing it"
                ),
            )));
        }
        let config = undo_config(success.platform.as_ref());
        if success.platform != Some(ComputePlatform::Lambda) {
            return Ok(match deployment.previous_revision() {
                Some(previous) if previous.revision_type().is_some() => Ok(Undo {
                    revision: previous.clone(),
                    what: "redeploy the revision that was live before it".to_owned(),
                    moves: None,
                    config,
                }),
                _ => Err((
                    ActionOutcome::Failed,
                    format!(
                        "{last_id} records no previous revision to redeploy; roll back by hand"
                    ),
                )),
            });
        }
        let Some(target) = lambda_target(client, last_id, calls).await? else {
            return Ok(Err((
                ActionOutcome::Failed,
                format!("{last_id} has no Lambda target to reverse; roll back by hand"),
            )));
        };
        let (revision, what) = match lambda_reversal(&target) {
            Ok(reversal) => reversal,
            Err(reason) => return Ok(Err((ActionOutcome::Failed, reason))),
        };
        // The AppSpec names the version it replaces; if the alias moved since, it is stale.
        if let Some(moved) = alias_moved(clients, &target, calls).await? {
            return Ok(Err((ActionOutcome::Skipped, moved)));
        }
        Ok(Ok(Undo {
            revision,
            what,
            moves: Some(target),
            config,
        }))
    }

    /// Creates the undo deployment, recorded in the ledger first; its alias, if it moves one,
    /// is handed over to CodeDeploy before the call is sent.
    async fn create_undo(
        &self,
        client: &Client,
        success: &Success,
        undo: Undo,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let (last_id, age) = (&success.id, &success.age);
        // Recorded before the call, so the undo is known for ours however the call ends; a
        // description alone would let any deployment pass for one.
        let recorded = context
            .ledger
            .record_undo(last_id, context.request_id, context.now);
        if let Err(err) = recorded.await {
            return Err(CallFailure {
                code: None,
                message: format!(
                    "{err}: the undo of {last_id} was not created, because without a record of \
                     it a later alert could take it for a release and stop it"
                ),
                may_be_applied: false,
            });
        }
        // Handed over before the call: once it is sent, CodeDeploy may be moving the alias,
        // even if the answer never comes.
        let handover = undo.moves.as_ref().and_then(|target| {
            handed_over.record(target, format!("undo of {last_id} requested"), true)
        });
        let how = undo.how();
        let attempts = calls.changing("CreateDeployment");
        let created = client
            .create_deployment()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .revision(undo.revision)
            .set_deployment_config_name(undo.config.map(str::to_owned))
            // An alarm on the same incident must not stop the undo and roll it back onto
            // the bad release; nor may a failed undo roll back to it.
            .override_alarm_configuration(AlarmConfiguration::builder().enabled(false).build())
            .auto_rollback_configuration(
                AutoRollbackConfiguration::builder().enabled(false).build(),
            )
            .description(format!("{UNDO_MARKER}{last_id}"))
            .customize()
            .interceptor(attempts)
            .send()
            .await;
        let created = match created {
            Ok(created) => created,
            Err(err) => {
                let mut failure = calls.failed("CreateDeployment", &err);
                if !failure.may_be_applied {
                    // Refused on every attempt: no undo, nothing moves.
                    handed_over.withdraw(handover);
                    return Err(failure);
                }
                // With no answer, or after a retry, the undo may be under way: its alias stays
                // CodeDeploy's, and a refusal may be because of it.
                let why = if failure.code.as_deref() == Some("DeploymentLimitExceededException") {
                    "the deployment blocking it may be this request's own undo, created by an \
                     earlier attempt"
                } else {
                    "the undo may have been created"
                };
                let _ = write!(
                    failure.message,
                    "; {why}: look in {} for a deployment described \"{UNDO_MARKER}{last_id}\"{}",
                    self.target(),
                    left_note(handed_over, handover)
                );
                return Err(failure);
            }
        };
        let new_id = calls
            .ok(created)
            .deployment_id
            .unwrap_or_else(|| "(no id returned)".to_owned());
        handed_over.update(handover, format!("{new_id} undoes {last_id}"));
        Ok((
            ActionOutcome::Executed,
            format!(
                "created deployment {new_id} to undo {last_id} (succeeded {age}): {}, with {how}",
                undo.what
            ),
        ))
    }
}

/// The last success of a group, to be undone.
struct Success {
    id: String,
    /// How long ago it ended: `12m ago`.
    age: String,
    platform: Option<ComputePlatform>,
}

/// How a success is undone.
struct Undo {
    revision: RevisionLocation,
    /// What the undo does, in words.
    what: String,
    /// The Lambda alias it moves back, if it moves one.
    moves: Option<LambdaFunctionInfo>,
    /// The deployment config it deploys with; the group's own when `None`.
    config: Option<&'static str>,
}

impl Undo {
    /// How it is deployed, in words.
    fn how(&self) -> String {
        match self.config {
            Some(config) => format!("{config}, without alarms or automatic rollback"),
            None => "the group's deployment config, without alarms or automatic rollback".into(),
        }
    }
}

/// The deployment config an undo uses: all at once where the platform has one for it.
fn undo_config(platform: Option<&ComputePlatform>) -> Option<&'static str> {
    match platform {
        Some(ComputePlatform::Lambda) => Some("CodeDeployDefault.LambdaAllAtOnce"),
        Some(ComputePlatform::Ecs) => Some("CodeDeployDefault.ECSAllAtOnce"),
        _ => None,
    }
}

/// What a Lambda deployment changed: function, alias and the two versions.
async fn lambda_target(
    client: &Client,
    deployment_id: &str,
    calls: &mut Calls,
) -> Result<Option<LambdaFunctionInfo>, CallFailure> {
    let listed = client
        .list_deployment_targets()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| calls.failed("ListDeploymentTargets", &e))?;
    let ids = calls.ok(listed).target_ids.unwrap_or_default();
    if ids.is_empty() {
        return Ok(None);
    }
    let targets = client
        .batch_get_deployment_targets()
        .deployment_id(deployment_id)
        .set_target_ids(Some(ids.into_iter().take(BATCH).collect()))
        .send()
        .await
        .map_err(|e| calls.failed("BatchGetDeploymentTargets", &e))?;
    Ok(calls
        .ok(targets)
        .deployment_targets
        .unwrap_or_default()
        .into_iter()
        .find_map(|t| t.lambda_target.and_then(|l| l.lambda_function_info)))
}

/// Why undoing would be stale (the alias no longer runs the version the deployment made live),
/// or `None` when it still does.
async fn alias_moved(
    clients: &Clients,
    target: &LambdaFunctionInfo,
    calls: &mut Calls,
) -> Result<Option<String>, CallFailure> {
    let (Some(function), Some(alias), Some(live)) = (
        target.function_name(),
        target.function_alias(),
        target.target_version(),
    ) else {
        return Ok(None);
    };
    let output = clients
        .lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .map_err(|e| calls.failed("GetAlias", &e))?;
    let now_live = calls.ok(output).function_version.unwrap_or_default();
    Ok((now_live != live).then(|| {
        format!(
            "{function}:{alias} is on version {now_live}, no longer on {live} that the last \
             deployment made live; nothing to undo"
        )
    }))
}

/// Stops one deployment with rollback. A deployment that completed first is re-read; the flag
/// says whether it ended `Succeeded`.
///
/// A Lambda deployment's alias is handed over *before* the stop is sent: once it is, CodeDeploy
/// may be moving the alias back, even if the answer is lost or the action's time runs out
/// first. The handover is withdrawn only when the stop was not applied: refused on every
/// attempt, or found completed (not stopped by an attempt of ours).
async fn stop(
    client: &Client,
    deployment: &DeploymentInfo,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> ((ActionOutcome, String), bool) {
    let id = deployment.deployment_id().unwrap_or("(unknown id)");
    // A deployment listed as not yet started (`Created`, `Queued`) may have moved no traffic,
    // and then its stop sets no rollback moving the alias; or it may have started since it was
    // listed. Its alias is left to CodeDeploy as found, not as ours: the lambda-alias action
    // leaves it alone but stays free to act on a later delivery.
    let started = !matches!(
        deployment.status(),
        Some(DeploymentStatus::Created | DeploymentStatus::Queued)
    );
    // If its targets cannot be read, it is still stopped, and the note says why a later
    // lambda-alias action leaves its alias alone.
    let (handover, unread) = if deployment.compute_platform() == Some(&ComputePlatform::Lambda) {
        let by = if started {
            format!("stop of {id} with rollback requested")
        } else {
            format!("{id}, stopped before it was seen to start; it may have started since")
        };
        hand_over(client, id, by, started, calls, handed_over).await
    } else {
        (None, String::new())
    };
    let stopped = format!("{id} stopped with rollback");
    let attempts = calls.changing("StopDeployment");
    let result = client
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(true)
        .customize()
        .interceptor(attempts)
        .send()
        .await;
    match result {
        Ok(output) => {
            let output = calls.ok(output);
            if started {
                handed_over.confirm(handover, stopped);
            }
            let mut detail = format!("stopped deployment {id} with rollback");
            if let Some(status) = output.status() {
                let _ = write!(detail, " (CodeDeploy: {}", status.as_str());
                if let Some(message) = output.status_message().filter(|m| !m.is_empty()) {
                    let _ = write!(detail, ", {message}");
                }
                detail.push(')');
            }
            detail.push_str(&unread);
            ((ActionOutcome::Executed, detail), false)
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_deployment_already_completed_exception()) =>
        {
            // Only an attempt AWS did not refuse (a server error, no answer) can have stopped
            // it, and then this refusal may be the consequence.
            let ours = calls.failed("StopDeployment", &err).may_be_applied;
            // A race: it finished between listing and stopping. Say how it ended.
            match client.get_deployment().deployment_id(id).send().await {
                Ok(output) => {
                    let info = calls.ok(output).deployment_info;
                    // Stopped or failed by someone else (an alarm, a person) with a rollback:
                    // CodeDeploy is moving the alias back, so it stays handed over.
                    let rolled_back_by = info
                        .as_ref()
                        .and_then(|d| d.rollback_info())
                        .and_then(|r| r.rollback_deployment_id())
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned);
                    let status = info.and_then(|d| d.status);
                    let succeeded = status == Some(DeploymentStatus::Succeeded);
                    let detail = match status {
                        // Our own earlier attempt's work cannot be ruled out: it counts as a
                        // change, and CodeDeploy may be moving the alias back for us.
                        Some(DeploymentStatus::Stopped) if ours => {
                            handed_over.update(handover, format!("{id}, stopped, perhaps by us"));
                            format!(
                                "{id} is stopped, perhaps by this request: its StopDeployment was \
                                 retried, and an earlier attempt may have been applied, so the \
                                 action keeps its ledger claims{unread}"
                            )
                        }
                        Some(DeploymentStatus::Stopped | DeploymentStatus::Failed)
                            if rolled_back_by.is_some() =>
                        {
                            let rollback = rolled_back_by.unwrap_or_default();
                            handed_over.hand_to_others(
                                handover,
                                format!("{rollback}, a rollback of {id} in progress"),
                            );
                            format!(
                                "{id} was already {} when this request tried to stop it, and \
                                 {rollback} is rolling it back{}{unread}",
                                status.as_ref().map_or("ended", |s| s.as_str()),
                                left_note(handed_over, handover)
                            )
                        }
                        // Stopped by someone else, perhaps an earlier delivery of this
                        // incident: CodeDeploy answers a stop before it creates the rollback,
                        // so one may be about to move the alias. It stays handed over, as
                        // someone else's: if no rollback comes, a later delivery may act.
                        Some(DeploymentStatus::Stopped) => {
                            handed_over.hand_to_others(
                                handover,
                                format!("{id}, stopped; its rollback may not have started yet"),
                            );
                            format!(
                                "{id} was already stopped when this request tried to stop it; a \
                                 rollback of it may not have started yet{}",
                                left_note(handed_over, handover)
                            )
                        }
                        // Read back without a status: an attempt of ours may still have
                        // stopped it, so the change and the handover stand.
                        None if ours => format!(
                            "{id} was read back without a status after its StopDeployment was \
                             retried; an earlier attempt may have stopped it, so the action \
                             keeps its ledger claims{}{unread}",
                            left_note(handed_over, handover)
                        ),
                        // It completed: no attempt of ours stopped it, and no rollback of ours
                        // moves its alias.
                        status => {
                            calls.not_applied();
                            handed_over.withdraw(handover);
                            format!(
                                "{id} completed ({}) before it could be stopped",
                                status.as_ref().map_or("unknown", |s| s.as_str())
                            )
                        }
                    };
                    ((ActionOutcome::Skipped, detail), succeeded)
                }
                Err(err) => {
                    let mut detail = format!(
                        "{id} completed before it could be stopped, and re-reading it failed: {}",
                        calls.failed("GetDeployment", &err)
                    );
                    if ours {
                        let _ = write!(
                            detail,
                            "; its StopDeployment was retried, and an earlier attempt may have \
                             stopped it, so the action keeps its ledger claims{}{unread}",
                            left_note(handed_over, handover)
                        );
                    } else {
                        handed_over.withdraw(handover);
                    }
                    ((ActionOutcome::Failed, detail), false)
                }
            }
        }
        Err(err) => {
            let failure = calls.failed("StopDeployment", &err);
            let mut detail = format!("could not stop {id}: {failure}");
            if failure.may_be_applied {
                detail.push_str(&left_note(handed_over, handover));
                detail.push_str(&unread);
            } else {
                // Refused on every attempt: nothing stopped, nothing rolls back.
                handed_over.withdraw(handover);
            }
            ((ActionOutcome::Failed, detail), false)
        }
    }
}

/// What the record says of an alias handed over to a rollback that may be under way.
fn left_note(handed_over: &HandedOver, index: Option<usize>) -> String {
    handed_over
        .get(index)
        .map(|h| {
            format!(
                "; {}:{} is left to CodeDeploy, which may be moving it back",
                h.function, h.alias
            )
        })
        .unwrap_or_default()
}

/// Finds the alias a Lambda deployment that is rolling back (or is about to) moves
/// (`ListDeploymentTargets`, `BatchGetDeploymentTargets`) and hands it over to CodeDeploy,
/// saying `by` what. Returns the handover, if one was recorded, and what the record should
/// add: nothing, or why the alias could not be handed over.
async fn hand_over(
    client: &Client,
    id: &str,
    by: String,
    ours: bool,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> (Option<usize>, String) {
    match lambda_target(client, id, calls).await {
        Ok(Some(target)) => (handed_over.record(&target, by, ours), String::new()),
        Ok(None) => (None, String::new()),
        Err(failure) => {
            let why = format!("the Lambda alias {id} moves could not be read ({failure})");
            let note = format!("; {why}: a later lambda-alias action leaves its alias alone");
            handed_over.cannot_tell(why, None);
            (None, note)
        }
    }
}

/// Which deployments described as this responder's undo are its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OurUndos {
    /// Those the ledger recorded creating.
    Recorded(HashSet<String>),
    /// Every one so described: the in-memory ledger forgets its records with the process, and
    /// an undo of ours forgotten would be taken for a release.
    Described,
}

impl OurUndos {
    fn include(&self, undone: &str) -> bool {
        match self {
            Self::Recorded(undos) => undos.contains(undone),
            Self::Described => true,
        }
    }
}

/// Why a deployment is a rollback (` of d-XYZ`, ` (created by codeDeployRollback)`, an undo
/// this responder created: described as one, and one of `undos`), or `None`.
pub fn rollback_of(deployment: &DeploymentInfo, undos: &OurUndos) -> Option<String> {
    if let Some(undone) = undone_by(deployment)
        && undos.include(undone)
    {
        return Some(format!(" (wavefront-responder's undo of {undone})"));
    }
    if let Some(trigger) = deployment
        .rollback_info()
        .and_then(|r| r.rollback_triggering_deployment_id())
        .filter(|id| !id.is_empty())
    {
        return Some(format!(" of {trigger}"));
    }
    let creator = deployment.creator()?;
    let is_rollback = matches!(
        creator,
        DeploymentCreator::CodeDeployRollback | DeploymentCreator::CloudFormationRollback
    ) || creator.as_str().to_ascii_lowercase().contains("rollback");
    is_rollback.then(|| format!(" (created by {})", creator.as_str()))
}

/// Who made `deployment`, when it is not a release: a scale-out (`autoscaling`, bringing new
/// instances up to the current revision) or CodeDeploy's own update.
fn not_a_release(deployment: &DeploymentInfo) -> Option<&str> {
    let creator = deployment.creator()?;
    matches!(
        creator,
        DeploymentCreator::Autoscaling
            | DeploymentCreator::AutoscalingTermination
            | DeploymentCreator::CodeDeployAutoUpdate
    )
    .then(|| creator.as_str())
}

/// The deployment `deployment`'s description says it undoes, if it reads as an undo of ours.
fn undone_by(deployment: &DeploymentInfo) -> Option<&str> {
    deployment.description()?.strip_prefix(UNDO_MARKER)
}

/// The deployments this responder recorded undoing, read from the ledger only when one of
/// `deployments` is described as an undo of ours: with a shared ledger, the description alone
/// proves nothing.
async fn our_undos(
    context: &Context<'_>,
    deployments: &[DeploymentInfo],
) -> Result<OurUndos, CallFailure> {
    if context.ledger.in_process() {
        return Ok(OurUndos::Described);
    }
    if !deployments.iter().any(|d| undone_by(d).is_some()) {
        return Ok(OurUndos::Recorded(HashSet::new()));
    }
    context
        .ledger
        .undos(context.now)
        .await
        .map(OurUndos::Recorded)
        .map_err(|err| CallFailure {
            code: None,
            message: format!(
                "{err}: cannot tell whether a deployment described as this responder's undo is \
                 one, so none is stopped or undone"
            ),
            may_be_applied: false,
        })
}

/// Whether a success that ended at `ended` is inside the window.
pub fn within_window(
    ended: Option<Timestamp>,
    window: HumanDuration,
    now: Timestamp,
) -> Result<(), String> {
    let Some(ended) = ended else {
        return Err("the last success has no end time".into());
    };
    let age = now.duration_since(ended);
    let inside = age.is_negative() || age.unsigned_abs() <= window.get();
    if inside {
        Ok(())
    } else {
        Err(format!(
            "last success {} is outside redeploy_within={window}",
            ago(ended, now)
        ))
    }
}

/// `3h ago`, `12m ago`, rounded down to the largest unit.
fn ago(then: Timestamp, now: Timestamp) -> String {
    format!("{} ago", attribution::elapsed(then, now))
}

/// The AppSpec that moves the alias back: current = the version the deployment made live,
/// target = the version it replaced.
pub fn lambda_reversal(info: &LambdaFunctionInfo) -> Result<(RevisionLocation, String), String> {
    let (Some(function), Some(alias), Some(live), Some(previous)) = (
        info.function_name(),
        info.function_alias(),
        info.target_version(),
        info.current_version(),
    ) else {
        return Err(
            "the last deployment does not say which function, alias and versions it moved; \
             roll back by hand"
                .into(),
        );
    };
    if live == previous {
        return Err(format!(
            "the last deployment left {function}:{alias} on version {live}, the version it \
             started from; there is nothing to undo"
        ));
    }
    let appspec = serde_json::json!({
        "version": 0.0,
        "Resources": [{
            function: {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": function,
                    "Alias": alias,
                    "CurrentVersion": live,
                    "TargetVersion": previous,
                }
            }
        }]
    })
    .to_string();
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(AppSpecContent::builder().content(appspec).build())
        .build();
    Ok((
        revision,
        format!("move {function}:{alias} from version {live} back to {previous}"),
    ))
}

/// One outcome for several deployments: failed beats executed beats planned beats skipped.
fn combine(steps: Vec<(ActionOutcome, String)>) -> (ActionOutcome, String) {
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
    let detail = steps
        .into_iter()
        .map(|(_, d)| d)
        .collect::<Vec<_>>()
        .join("; ");
    (outcome, detail)
}
#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_codedeploy::types::RollbackInfo;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn rollbacks_are_recognised_by_creator_or_rollback_info() {
        let plain = DeploymentInfo::builder()
            .deployment_id("d-1")
            .creator(DeploymentCreator::User)
            .build();
        assert_eq!(
            rollback_of(&plain, &OurUndos::Recorded(HashSet::new())),
            None
        );
        let by_creator = DeploymentInfo::builder()
            .creator(DeploymentCreator::CodeDeployRollback)
            .build();
        assert_eq!(
            rollback_of(&by_creator, &OurUndos::Recorded(HashSet::new())).as_deref(),
            Some(" (created by codeDeployRollback)")
        );
        let by_info = DeploymentInfo::builder()
            .creator(DeploymentCreator::User)
            .rollback_info(
                RollbackInfo::builder()
                    .rollback_triggering_deployment_id("d-0")
                    .build(),
            )
            .build();
        assert_eq!(
            rollback_of(&by_info, &OurUndos::Recorded(HashSet::new())).as_deref(),
            Some(" of d-0")
        );
        let auto = DeploymentInfo::builder()
            .creator(DeploymentCreator::from("autoRollback"))
            .build();
        assert!(rollback_of(&auto, &OurUndos::Recorded(HashSet::new())).is_some());
        // The deployment that *triggered* a rollback is not itself one.
        let triggering = DeploymentInfo::builder()
            .rollback_info(
                RollbackInfo::builder()
                    .rollback_deployment_id("d-2")
                    .build(),
            )
            .build();
        assert_eq!(
            rollback_of(&triggering, &OurUndos::Recorded(HashSet::new())),
            None
        );
    }

    #[test]
    fn an_undo_is_ours_only_when_the_ledger_recorded_it() {
        let described = DeploymentInfo::builder()
            .deployment_id("d-UNDO")
            .creator(DeploymentCreator::User)
            .description(format!("{UNDO_MARKER}d-BAD"))
            .build();
        // A pipeline that copies commit titles into descriptions could write this one.
        let none = OurUndos::Recorded(HashSet::new());
        assert_eq!(rollback_of(&described, &none), None);
        let recorded = OurUndos::Recorded(HashSet::from(["d-BAD".to_owned()]));
        assert_eq!(
            rollback_of(&described, &recorded).as_deref(),
            Some(" (wavefront-responder's undo of d-BAD)")
        );
        let other = OurUndos::Recorded(HashSet::from(["d-OTHER".to_owned()]));
        assert_eq!(rollback_of(&described, &other), None);
        // The in-memory ledger's records go with the process: the description is trusted.
        assert!(rollback_of(&described, &OurUndos::Described).is_some());
    }

    #[test]
    fn the_window_is_measured_from_the_end_of_the_success() {
        let hour = HumanDuration::parse("1h").unwrap();
        let now = ts("2026-11-25T21:00:00Z");
        assert!(within_window(Some(ts("2026-11-25T20:10:00Z")), hour, now).is_ok());
        assert!(within_window(Some(ts("2026-11-25T20:00:00Z")), hour, now).is_ok());
        assert_eq!(
            within_window(Some(ts("2026-11-25T18:00:00Z")), hour, now),
            Err("last success 3h ago is outside redeploy_within=1h".into())
        );
        assert!(within_window(None, hour, now).is_err());
    }

    #[test]
    fn the_lambda_appspec_swaps_current_and_target() {
        let info = LambdaFunctionInfo::builder()
            .function_name("checkout")
            .function_alias("live")
            .current_version("41")
            .target_version("42")
            .build();
        let (revision, what) = lambda_reversal(&info).unwrap();
        assert_eq!(what, "move checkout:live from version 42 back to 41");
        let content = revision.app_spec_content().unwrap().content().unwrap();
        let appspec: serde_json::Value = serde_json::from_str(content).unwrap();
        let properties = &appspec["Resources"][0]["checkout"]["Properties"];
        assert_eq!(properties["CurrentVersion"], "42");
        assert_eq!(properties["TargetVersion"], "41");
        assert_eq!(properties["Alias"], "live");
        let unchanged = LambdaFunctionInfo::builder()
            .function_name("f")
            .function_alias("a")
            .current_version("7")
            .target_version("7")
            .build();
        assert!(
            lambda_reversal(&unchanged)
                .unwrap_err()
                .contains("nothing to undo")
        );
    }

    #[test]
    fn combined_outcomes_report_the_worst_and_every_detail() {
        let (outcome, detail) = combine(vec![
            (ActionOutcome::Skipped, "a".into()),
            (ActionOutcome::Executed, "b".into()),
        ]);
        assert_eq!(outcome, ActionOutcome::Executed);
        assert_eq!(detail, "a; b");
        let (outcome, _) = combine(vec![
            (ActionOutcome::Executed, "a".into()),
            (ActionOutcome::Failed, "b".into()),
        ]);
        assert_eq!(outcome, ActionOutcome::Failed);
    }
}
