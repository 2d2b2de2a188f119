//! `codedeploy-rollback`: undo a CodeDeploy release.
//!
//! - Active deployments of the group (`Created`, `Queued`, `InProgress`, `Baking`, `Ready`) are
//!   stopped with `StopDeployment(autoRollbackEnabled = true)`, so CodeDeploy redeploys the
//!   previous revision. A deployment that is itself a rollback is never stopped.
//! - With nothing active and `redeploy_within` set, a deployment that *succeeded* inside that
//!   window is undone by a new deployment: for the Lambda compute platform an AppSpec that moves
//!   the alias from the version now live back to the one before; for the other platforms the
//!   revision that was live before.
//! - A deployment that completes while we stop it (`DeploymentAlreadyCompletedException`) is a
//!   race, not a failure: it is re-read and reported as it ended.
//!
//! Deciding (which deployment is a rollback, whether a success is inside the window, the AppSpec
//! to deploy) is pure code; the `execute` path makes the calls.

use std::fmt::Write as _;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentCreator, DeploymentGroupInfo, DeploymentInfo,
    DeploymentStatus, LambdaFunctionInfo, RevisionLocation, RevisionLocationType,
};
use jiff::Timestamp;

use super::aws::{CallFailure, Calls, Report};
use super::check_name;
use crate::decision::ActionOutcome;
use crate::duration::HumanDuration;

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

/// Roll back one deployment group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// CodeDeploy application name.
    pub application: String,
    /// Deployment group name within the application.
    pub deployment_group: String,
    /// When nothing is in progress, also undo a deployment that succeeded this recently.
    pub redeploy_within: Option<HumanDuration>,
}

impl Rollback {
    /// Validates the names (1 to 100 characters, as CodeDeploy allows).
    pub fn new(
        application: String,
        deployment_group: String,
        redeploy_within: Option<HumanDuration>,
    ) -> Result<Self, String> {
        check_name("application", &application, 100)?;
        check_name("deployment_group", &deployment_group, 100)?;
        Ok(Self {
            application,
            deployment_group,
            redeploy_within,
        })
    }

    /// `application/deployment_group`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.application, self.deployment_group)
    }

    /// What the action would do.
    pub fn plan(&self) -> String {
        let mut plan = format!(
            "would stop the active deployments of {} with rollback",
            self.target()
        );
        if let Some(window) = self.redeploy_within {
            plan.push_str(&format!(
                ", or, if none is active and the last deployment succeeded within {window}, \
                 redeploy the revision before it"
            ));
        }
        plan
    }
}

impl Rollback {
    /// Runs the rollback. With `dry_run`, only read-only calls are made and the report says
    /// what would have happened.
    pub async fn execute(&self, client: &Client, dry_run: bool, now: Timestamp) -> Report {
        let mut calls = Calls::default();
        match self.run(client, dry_run, now, &mut calls).await {
            Ok((outcome, detail)) => calls.report(outcome, detail),
            Err(failure) => calls.report(ActionOutcome::Failed, failure.message),
        }
    }

    async fn run(
        &self,
        client: &Client,
        dry_run: bool,
        now: Timestamp,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let active = self.active_deployments(client, calls).await?;
        if !active.is_empty() {
            return Ok(self.stop_all(client, &active, dry_run, calls).await);
        }
        let Some(window) = self.redeploy_within else {
            return Ok((
                ActionOutcome::Skipped,
                format!("nothing in progress in {}", self.target()),
            ));
        };
        self.redeploy(client, window, dry_run, now, calls).await
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

    async fn stop_all(
        &self,
        client: &Client,
        deployments: &[DeploymentInfo],
        dry_run: bool,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        let mut outcomes = Vec::with_capacity(deployments.len());
        for deployment in deployments {
            let id = deployment.deployment_id().unwrap_or("(unknown id)");
            let step = if let Some(reason) = rollback_of(deployment) {
                (
                    ActionOutcome::Skipped,
                    format!("{id} is itself a rollback{reason}; a rollback is never stopped"),
                )
            } else if dry_run {
                (
                    ActionOutcome::Planned,
                    format!("would stop deployment {id} with rollback"),
                )
            } else {
                stop(client, id, calls).await
            };
            outcomes.push(step);
        }
        combine(outcomes)
    }

    async fn redeploy(
        &self,
        client: &Client,
        window: HumanDuration,
        dry_run: bool,
        now: Timestamp,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
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
        let last = info.last_successful_deployment();
        let last_id = match last.and_then(|l| l.deployment_id()) {
            Some(id) => id.to_owned(),
            None => {
                return Ok((
                    ActionOutcome::Skipped,
                    format!(
                        "nothing in progress in {}, and it has no successful deployment to undo",
                        self.target()
                    ),
                ));
            }
        };
        let ended = last
            .and_then(|l| l.end_time())
            .and_then(|t| Timestamp::from_second(t.secs()).ok());
        if let Err(reason) = within_window(ended, window, now) {
            return Ok((
                ActionOutcome::Skipped,
                format!("nothing in progress in {}; {reason}", self.target()),
            ));
        }

        let deployment = client
            .get_deployment()
            .deployment_id(&last_id)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        let deployment = calls
            .ok(deployment)
            .deployment_info
            .unwrap_or_else(|| DeploymentInfo::builder().build());
        if let Some(reason) = rollback_of(&deployment) {
            return Ok((
                ActionOutcome::Skipped,
                format!(
                    "the last successful deployment {last_id} is itself a rollback{reason}; \
                     not undoing it"
                ),
            ));
        }
        let age = ended.map(|e| ago(e, now)).unwrap_or_default();

        let (revision, what) = if info.compute_platform() == Some(&ComputePlatform::Lambda) {
            let target = self.lambda_target(client, &last_id, calls).await?;
            match lambda_reversal(&target) {
                Ok(reversal) => reversal,
                Err(reason) => return Ok((ActionOutcome::Failed, reason)),
            }
        } else {
            match deployment.previous_revision() {
                Some(previous) if previous.revision_type().is_some() => (
                    previous.clone(),
                    "redeploy the revision that was live before it".to_owned(),
                ),
                _ => {
                    return Ok((
                        ActionOutcome::Failed,
                        format!(
                            "{last_id} records no previous revision to redeploy; roll back \
                             by hand"
                        ),
                    ));
                }
            }
        };

        if dry_run {
            return Ok((
                ActionOutcome::Planned,
                format!(
                    "would undo {last_id} (succeeded {age}, inside redeploy_within={window}): \
                     {what}"
                ),
            ));
        }
        let created = client
            .create_deployment()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .revision(revision)
            .description(format!("wavefront-responder: undo {last_id}"))
            .send()
            .await
            .map_err(|e| calls.failed("CreateDeployment", &e))?;
        let new_id = calls
            .ok(created)
            .deployment_id
            .unwrap_or_else(|| "(no id returned)".to_owned());
        Ok((
            ActionOutcome::Executed,
            format!("created deployment {new_id} to undo {last_id} (succeeded {age}): {what}"),
        ))
    }

    /// What the Lambda deployment changed: function, alias and the two versions.
    async fn lambda_target(
        &self,
        client: &Client,
        deployment_id: &str,
        calls: &mut Calls,
    ) -> Result<LambdaFunctionInfo, CallFailure> {
        let listed = client
            .list_deployment_targets()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| calls.failed("ListDeploymentTargets", &e))?;
        let ids = calls.ok(listed).target_ids.unwrap_or_default();
        let targets = client
            .batch_get_deployment_targets()
            .deployment_id(deployment_id)
            .set_target_ids(Some(ids.into_iter().take(BATCH).collect()))
            .send()
            .await
            .map_err(|e| calls.failed("BatchGetDeploymentTargets", &e))?;
        calls
            .ok(targets)
            .deployment_targets
            .unwrap_or_default()
            .into_iter()
            .find_map(|t| t.lambda_target.and_then(|l| l.lambda_function_info))
            .ok_or_else(|| CallFailure {
                code: None,
                message: format!(
                    "{deployment_id} has no Lambda target to reverse; roll back by hand"
                ),
            })
    }
}

/// Stops one deployment with rollback; a deployment that completed first is re-read.
async fn stop(client: &Client, id: &str, calls: &mut Calls) -> (ActionOutcome, String) {
    let result = client
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(true)
        .send()
        .await;
    match result {
        Ok(output) => {
            let output = calls.ok(output);
            let mut detail = format!("stopped deployment {id} with rollback");
            if let Some(status) = output.status() {
                let _ = write!(detail, " (CodeDeploy: {}", status.as_str());
                if let Some(message) = output.status_message().filter(|m| !m.is_empty()) {
                    let _ = write!(detail, ", {message}");
                }
                detail.push(')');
            }
            (ActionOutcome::Executed, detail)
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_deployment_already_completed_exception()) =>
        {
            let _ = calls.failed("StopDeployment", &err);
            // A race: it finished between listing and stopping. Say how it ended.
            match client.get_deployment().deployment_id(id).send().await {
                Ok(output) => {
                    let status = calls
                        .ok(output)
                        .deployment_info
                        .and_then(|d| d.status)
                        .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned());
                    (
                        ActionOutcome::Skipped,
                        format!("{id} completed ({status}) before it could be stopped"),
                    )
                }
                Err(err) => (
                    ActionOutcome::Failed,
                    format!(
                        "{id} completed before it could be stopped, and re-reading it failed: {}",
                        calls.failed("GetDeployment", &err)
                    ),
                ),
            }
        }
        Err(err) => (
            ActionOutcome::Failed,
            format!(
                "could not stop {id}: {}",
                calls.failed("StopDeployment", &err)
            ),
        ),
    }
}

/// Why a deployment is a rollback (` of d-XYZ`, ` (created by codeDeployRollback)`), or `None`.
pub fn rollback_of(deployment: &DeploymentInfo) -> Option<String> {
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
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d ago", s / 86_400),
        s if s >= 3_600 => format!("{}h ago", s / 3_600),
        s if s >= 60 => format!("{}m ago", s / 60),
        s => format!("{s}s ago"),
    }
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
        assert_eq!(rollback_of(&plain), None);
        let by_creator = DeploymentInfo::builder()
            .creator(DeploymentCreator::CodeDeployRollback)
            .build();
        assert_eq!(
            rollback_of(&by_creator).as_deref(),
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
        assert_eq!(rollback_of(&by_info).as_deref(), Some(" of d-0"));
        let auto = DeploymentInfo::builder()
            .creator(DeploymentCreator::from("autoRollback"))
            .build();
        assert!(rollback_of(&auto).is_some());
        // The deployment that *triggered* a rollback is not itself one.
        let triggering = DeploymentInfo::builder()
            .rollback_info(
                RollbackInfo::builder()
                    .rollback_deployment_id("d-2")
                    .build(),
            )
            .build();
        assert_eq!(rollback_of(&triggering), None);
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

    #[test]
    fn plan_names_the_group_and_the_window() {
        let r = Rollback::new("checkout".into(), "checkout-prod".into(), None).unwrap();
        assert_eq!(
            r.plan(),
            "would stop the active deployments of checkout/checkout-prod with rollback"
        );
        let window = HumanDuration::parse("1h").ok();
        let r = Rollback::new("checkout".into(), "checkout-prod".into(), window).unwrap();
        assert!(
            r.plan()
                .ends_with("succeeded within 1h, redeploy the revision before it")
        );
    }

    #[test]
    fn names_must_be_usable() {
        assert_eq!(
            Rollback::new(String::new(), "g".into(), None).unwrap_err(),
            "application cannot be empty"
        );
        assert!(Rollback::new("a".into(), "g".repeat(101), None).is_err());
    }
}
