//! Finding the deployments a `codedeploy-rollback` acts on, and telling what each one is: the
//! group's active deployments, the Lambda alias a deployment moves, and whether a deployment is
//! a rollback, one of this responder's own undos, or not a release at all.

use std::collections::HashSet;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{DeploymentCreator, DeploymentInfo, LambdaFunctionInfo};

use super::{ACTIVE, BATCH};
use crate::actions::codedeploy::{Rollback, UNDO_MARKER};
use crate::execute::Context;
use crate::execute::calls::{CallFailure, Calls};

impl Rollback {
    /// Every active deployment of the group, read in full (creator, rollback info).
    pub(super) async fn active_deployments(
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
}

/// What a Lambda deployment changed: function, alias and the two versions.
pub(super) async fn lambda_target(
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
pub(super) fn not_a_release(deployment: &DeploymentInfo) -> Option<&str> {
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
pub(super) async fn our_undos(
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

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_codedeploy::types::RollbackInfo;

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
}
