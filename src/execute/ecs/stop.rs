//! Stopping one service deployment with rollback (`StopServiceDeployment`, stop type
//! `ROLLBACK`), then reading it back so the record says what it is now. A stop ECS refuses
//! with `ConflictException` (the deployment changed since it was read: it finished, or someone
//! stopped it first) is a race, not a failure: the deployment is read back and reported as it
//! is. Read back stopped after our own stop was retried, it may be our own earlier attempt's
//! work, and the action keeps its ledger claims.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ServiceDeploymentStatus, StopServiceDeploymentStopType};

use super::decide::{Found, stopping_or_stopped};
use super::find::read_back;
use crate::execute::ActionOutcome;
use crate::execute::calls::Calls;

/// Stops `found` with rollback, and says what it was and what it is now.
pub(super) async fn stop(
    client: &Client,
    found: &Found,
    calls: &mut Calls,
) -> (ActionOutcome, String) {
    let id = found.id();
    let attempts = calls.changing("StopServiceDeployment");
    let result = client
        .stop_service_deployment()
        .service_deployment_arn(&found.arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .customize()
        .interceptor(attempts)
        .send()
        .await;
    match result {
        Ok(output) => {
            calls.ok(output);
            let now = match read_back(client, &found.arn, calls).await {
                Ok(Some(now)) => format!("now {}", now.status_text()),
                Ok(None) => "ECS did not describe it when it was read back".to_owned(),
                Err(failure) => format!("reading it back failed: {failure}"),
            };
            let detail = format!(
                "stopped service deployment {id} with rollback to {} (it was {}; {now})",
                found.rollback_target(),
                found.status_text()
            );
            (ActionOutcome::Executed, detail)
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            let failure = calls.failed("StopServiceDeployment", &err);
            conflict(
                client,
                found,
                &failure.message,
                failure.may_be_applied,
                calls,
            )
            .await
        }
        Err(err) => {
            let failure = calls.failed("StopServiceDeployment", &err);
            let detail = format!("could not stop service deployment {id}: {failure}");
            (ActionOutcome::Failed, detail)
        }
    }
}

/// ECS refused the stop because the deployment changed since it was read (`refusal`). It is
/// read back to say how; `ours` when an attempt of our own stop may have been applied.
async fn conflict(
    client: &Client,
    found: &Found,
    refusal: &str,
    ours: bool,
    calls: &mut Calls,
) -> (ActionOutcome, String) {
    let id = found.id();
    let was = found.status_text();
    let now = match read_back(client, &found.arn, calls).await {
        Ok(now) => now,
        Err(failure) => {
            let mut detail = format!(
                "could not stop service deployment {id} ({refusal}), and reading it back \
                 failed: {failure}"
            );
            if ours {
                detail.push_str(
                    "; its StopServiceDeployment was retried, and an earlier attempt may have \
                     stopped it, so the action keeps its ledger claims",
                );
            }
            return (ActionOutcome::Failed, detail);
        }
    };
    let status = now.as_ref().and_then(|d| d.status.as_ref());
    let is = now.as_ref().map_or("(not described)", |d| d.status_text());
    let detail = match status {
        Some(status) if stopping_or_stopped(Some(status)) && ours => format!(
            "service deployment {id} is {is}, perhaps stopped by this request: its \
             StopServiceDeployment was retried and an earlier attempt may have been applied, so \
             the action keeps its ledger claims (it was {was}; {refusal})"
        ),
        Some(_) if stopping_or_stopped(status) => format!(
            "service deployment {id} was already {is} when this request tried to stop it (it \
             was {was}); it is left alone"
        ),
        Some(ServiceDeploymentStatus::Successful) => {
            // It finished before the stop reached it: nothing of ours was applied.
            calls.not_applied();
            format!(
                "service deployment {id} completed (SUCCESSFUL) before it could be stopped (it \
                 was {was}): ECS rolls back only a deployment in progress, so the service runs \
                 the release it deployed"
            )
        }
        _ => {
            let detail = format!("could not stop service deployment {id} ({refusal}); it is {is}");
            return (ActionOutcome::Failed, detail);
        }
    };
    (ActionOutcome::Skipped, detail)
}
