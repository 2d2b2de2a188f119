//! Stopping a group's active deployments with rollback, and handing the Lambda alias a
//! rollback moves over to CodeDeploy ([`HandedOver`]) before the call that may start it is
//! sent; also for an action the ledger refused, which only looks ([`Rollback::observe`]).

use std::fmt::Write as _;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput;
use aws_sdk_codedeploy::types::{ComputePlatform, DeploymentInfo, DeploymentStatus};

use super::find::{OurUndos, lambda_target, rollback_of};
use crate::actions::codedeploy::Rollback;
use crate::execute::calls::{CallFailure, Calls};
use crate::execute::handover::HandedOver;
use crate::execute::{ActionOutcome, Clients, Context, attribution};
use crate::ledger::Guard;

impl Rollback {
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
                let _ = write!(notes, "; {id} {doing}{}", handover_note(handed_over, index));
            }
            notes.push_str(&note);
        }
        notes
    }

    /// Stops every deployment that is not itself a rollback. Also says whether one of them
    /// succeeded before it could be stopped.
    pub(super) async fn stop_all(
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
}

/// One deployment being stopped: its id, the handover of its alias (if one was recorded), and
/// why its alias could not be handed over (empty, or a `; ...` note for the record).
struct Stopping<'a> {
    id: &'a str,
    handover: Option<usize>,
    unread: String,
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
    let (handover, unread) =
        hand_over_before_stop(client, deployment, started, calls, handed_over).await;
    let stopping = Stopping {
        id,
        handover,
        unread,
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
            let detail = stopped_detail(&stopping, &output);
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
            already_completed(client, &stopping, ours, calls, handed_over).await
        }
        Err(err) => {
            let failure = calls.failed("StopDeployment", &err);
            let detail = stop_failed(&stopping, &failure, handed_over);
            ((ActionOutcome::Failed, detail), false)
        }
    }
}

/// Hands a Lambda deployment's alias over to CodeDeploy before its stop is sent: as ours when
/// the deployment `started`, as found otherwise. If its targets cannot be read, it is still
/// stopped, and the note says why a later lambda-alias action leaves its alias alone.
async fn hand_over_before_stop(
    client: &Client,
    deployment: &DeploymentInfo,
    started: bool,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> (Option<usize>, String) {
    if deployment.compute_platform() != Some(&ComputePlatform::Lambda) {
        return (None, String::new());
    }
    let id = deployment.deployment_id().unwrap_or("(unknown id)");
    let by = if started {
        format!("stop of {id} with rollback requested")
    } else {
        format!("{id}, stopped before it was seen to start; it may have started since")
    };
    hand_over(client, id, by, started, calls, handed_over).await
}

/// What the record says of a stop AWS answered: `stopped deployment d-1 with rollback
/// (CodeDeploy: Pending, ...)`.
fn stopped_detail(stopping: &Stopping<'_>, output: &StopDeploymentOutput) -> String {
    let mut detail = format!("stopped deployment {} with rollback", stopping.id);
    if let Some(status) = output.status() {
        let _ = write!(detail, " (CodeDeploy: {}", status.as_str());
        if let Some(message) = output.status_message().filter(|m| !m.is_empty()) {
            let _ = write!(detail, ", {message}");
        }
        detail.push(')');
    }
    detail.push_str(&stopping.unread);
    detail
}

/// What the record says of a stop that failed: the alias stays handed over when an attempt may
/// have been applied.
fn stop_failed(
    stopping: &Stopping<'_>,
    failure: &CallFailure,
    handed_over: &mut HandedOver,
) -> String {
    let mut detail = format!("could not stop {}: {failure}", stopping.id);
    if failure.may_be_applied {
        detail.push_str(&handover_note(handed_over, stopping.handover));
        detail.push_str(&stopping.unread);
    } else {
        // Refused on every attempt: nothing stopped, nothing rolls back.
        handed_over.withdraw(stopping.handover);
    }
    detail
}

/// A race: the deployment finished between listing and stopping. It is re-read to say how it
/// ended; `ours` when an attempt of our own `StopDeployment` may have stopped it.
async fn already_completed(
    client: &Client,
    stopping: &Stopping<'_>,
    ours: bool,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> ((ActionOutcome, String), bool) {
    let (id, handover, unread) = (stopping.id, stopping.handover, &stopping.unread);
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
            let detail = ended_as(stopping, status, rolled_back_by, ours, calls, handed_over);
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
                    handover_note(handed_over, handover)
                );
            } else {
                handed_over.withdraw(handover);
            }
            ((ActionOutcome::Failed, detail), false)
        }
    }
}

/// What the record says of a deployment found completed when it was stopped, read back with
/// `status`; the handover of its alias is kept, passed on or withdrawn to match.
fn ended_as(
    stopping: &Stopping<'_>,
    status: Option<DeploymentStatus>,
    rolled_back_by: Option<String>,
    ours: bool,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> String {
    let (id, handover, unread) = (stopping.id, stopping.handover, &stopping.unread);
    match status {
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
        Some(DeploymentStatus::Stopped | DeploymentStatus::Failed) if rolled_back_by.is_some() => {
            let rollback = rolled_back_by.unwrap_or_default();
            handed_over.hand_to_others(
                handover,
                format!("{rollback}, a rollback of {id} in progress"),
            );
            format!(
                "{id} was already {} when this request tried to stop it, and \
                 {rollback} is rolling it back{}{unread}",
                status.as_ref().map_or("ended", |s| s.as_str()),
                handover_note(handed_over, handover)
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
                handover_note(handed_over, handover)
            )
        }
        // Read back without a status: an attempt of ours may still have
        // stopped it, so the change and the handover stand.
        None if ours => format!(
            "{id} was read back without a status after its StopDeployment was \
             retried; an earlier attempt may have stopped it, so the action \
             keeps its ledger claims{}{unread}",
            handover_note(handed_over, handover)
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
    }
}

/// What the record says of the alias handed over at `index` to a rollback that may be under
/// way: `; checkout:live is left to CodeDeploy, which may be moving it back`, or nothing.
pub(super) fn handover_note(handed_over: &HandedOver, index: Option<usize>) -> String {
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
