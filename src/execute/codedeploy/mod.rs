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
//!
//! - `find`: the group's active deployments, and what each one is.
//! - `stop`: stopping them, and handing their aliases over.
//! - `last_success`: whether the group's last success may be undone.
//! - `undo`: undoing it with a new deployment.

mod find;
mod last_success;
mod stop;
mod undo;

use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};

use super::calls::{CallFailure, Calls};
use super::handover::HandedOver;
use super::{ActionOutcome, Clients, Context, combine};
use crate::actions::codedeploy::Rollback;
use find::{not_a_release, our_undos};

pub use find::{OurUndos, rollback_of};
pub use last_success::within_window;
pub use undo::lambda_reversal;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
