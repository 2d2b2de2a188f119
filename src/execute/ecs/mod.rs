//! Running an `ecs-rollback` ([`crate::actions::ecs::ServiceRollback`]): undo an Amazon ECS
//! release while it is being deployed.
//!
//! - The service is read first (`DescribeServices`): one whose deployment controller is
//!   `CODE_DEPLOY` or `EXTERNAL` has no service deployments `StopServiceDeployment` can stop,
//!   and is left alone with a pointer to `codedeploy-rollback`.
//! - Its service deployments that have not finished are listed and described. One `PENDING` or
//!   `IN_PROGRESS` is stopped with `StopServiceDeployment(stopType = ROLLBACK)`, which ECS
//!   does even for a service not configured to roll back, moving it back to the service
//!   revision it replaces; then it is read back, so the record says what it is now. One
//!   already rolling back (`ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`) or being stopped
//!   (`STOP_REQUESTED`) is left alone, and so is one created at or after the incident started
//!   (the attribution guard: it may be the fix).
//! - A deployment that finished, or that someone else stopped, between the reads and the stop
//!   makes ECS refuse it (`ConflictException`): a race, read back and reported as it ended.
//! - ECS has no rollback of a deployment that already completed (`SUCCESSFUL`), so there is no
//!   `redeploy_within` here: docs/actions.md says why.
//!
//! Deciding (which deployment, whether it may be stopped) is pure code in `decide`; `find`
//! makes the reads, `stop` the stop.

mod decide;
mod find;
mod stop;

use aws_sdk_ecs::Client;

use super::calls::{CallFailure, Calls};
use super::combine;
use super::{ActionOutcome, Context};
use crate::actions::ecs::ServiceRollback;
use crate::ledger::Guard;
use decide::{Decision, decide};

impl ServiceRollback {
    /// Runs the rollback, recording its AWS calls in `calls`. With `context.dry_run`, only the
    /// reads are made (`DescribeServices`, `ListServiceDeployments`,
    /// `DescribeServiceDeployments`) and the sentence says what would have happened.
    pub async fn execute(
        &self,
        client: &Client,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        match self.run(client, context, calls).await {
            Ok(step) => step,
            Err(failure) => (ActionOutcome::Failed, failure.message),
        }
    }

    async fn run(
        &self,
        client: &Client,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        if let Some(skipped) = self.not_ours(client, calls).await? {
            return Ok(skipped);
        }
        let deployments = self.in_flight(client, calls).await?;
        if deployments.is_empty() {
            let detail = format!("nothing in progress in ECS service {}", self.target());
            return Ok((ActionOutcome::Skipped, detail));
        }
        let mut steps = Vec::with_capacity(deployments.len());
        for found in &deployments {
            let step = match decide(found, context.since.as_ref()) {
                Decision::Leave(why) => (ActionOutcome::Skipped, why),
                Decision::Held(why) => {
                    calls.held_back(Guard::Attribution);
                    (ActionOutcome::Skipped, why)
                }
                Decision::Stop if context.dry_run => (
                    ActionOutcome::Planned,
                    format!(
                        "would stop service deployment {} ({}) with rollback to {}",
                        found.id(),
                        found.status_text(),
                        found.rollback_target()
                    ),
                ),
                Decision::Stop => stop::stop(client, found, calls).await,
            };
            steps.push(step);
        }
        Ok(combine(steps))
    }
}
