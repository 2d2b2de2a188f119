//! Reading an environment's deployments for an `appconfig-rollback`: `ListDeployments`, newest
//! first, as far as the decision needs (up to the first finished deployment of the profile:
//! AppConfig runs one deployment at a time per environment, so every older one is finished too),
//! and `GetDeployment` for one whose profile the list does not say, or to re-read one.

use aws_sdk_appconfig::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_appconfig::types::{DeploymentSummary, DeploymentType};

use super::decide::{Deployment, State};
use super::resolve::{AppConfig, Ids};
use crate::execute::attribution::sdk_time;
use crate::execute::calls::{CallFailure, Calls};

/// The most `ListDeployments` pages read (50 deployments each, AppConfig's largest page).
const MAX_PAGES: usize = 4;

/// `ListDeployments` page size: the most AppConfig returns.
const PAGE: i32 = 50;

impl AppConfig {
    /// The environment's deployments, newest first, down to the first finished one of the
    /// profile (if `ids` names one; of any profile otherwise).
    pub(super) async fn deployments(
        &self,
        ids: &Ids,
        calls: &mut Calls,
    ) -> Result<Vec<Deployment>, CallFailure> {
        let mut found = Vec::new();
        let mut pages = self
            .client()
            .list_deployments()
            .application_id(&ids.application)
            .environment_id(&ids.environment)
            .max_results(PAGE)
            .into_paginator()
            .send();
        let mut read = 0;
        while read < MAX_PAGES
            && let Some(page) = pages.next().await
        {
            read += 1;
            let page = page.map_err(|e| calls.failed("ListDeployments", &e))?;
            for summary in calls.ok(page).items.unwrap_or_default() {
                let mut deployment = from_summary(&summary);
                if ids.profile.is_some() && deployment.profile_id.is_none() {
                    let full = self.deployment(ids, deployment.number, calls).await?;
                    deployment.profile_id = full.profile_id;
                }
                let finished = !deployment.state.in_progress() && !deployment.state.undoing();
                let in_scope = ids.profile.is_none() || deployment.profile_id == ids.profile;
                found.push(deployment);
                if finished && in_scope {
                    return Ok(found);
                }
            }
        }
        Ok(found)
    }

    /// One deployment, read in full (`GetDeployment`).
    pub(super) async fn deployment(
        &self,
        ids: &Ids,
        number: i32,
        calls: &mut Calls,
    ) -> Result<Deployment, CallFailure> {
        let output = self
            .client()
            .get_deployment()
            .application_id(&ids.application)
            .environment_id(&ids.environment)
            .deployment_number(number)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        Ok(from_output(&calls.ok(output)))
    }
}

/// A listed deployment, as the decision reads it.
fn from_summary(summary: &DeploymentSummary) -> Deployment {
    Deployment {
        number: summary.deployment_number(),
        state: State::parse(summary.state().map_or("", |s| s.as_str())),
        profile_id: summary.configuration_profile_id().map(str::to_owned),
        configuration: summary.configuration_name().map(str::to_owned),
        version: summary.configuration_version().map(str::to_owned),
        managed: summary.r#type() == Some(&DeploymentType::Managed),
        started: summary.started_at().and_then(sdk_time),
        completed: summary.completed_at().and_then(sdk_time),
    }
}

/// A deployment read in full. `GetDeployment` gives no `Type`: such a deployment was listed
/// first, and its type is taken from there.
pub(super) fn from_output(output: &GetDeploymentOutput) -> Deployment {
    Deployment {
        number: output.deployment_number(),
        state: State::parse(output.state().map_or("", |s| s.as_str())),
        profile_id: output.configuration_profile_id().map(str::to_owned),
        configuration: output.configuration_name().map(str::to_owned),
        version: output.configuration_version().map(str::to_owned),
        managed: false,
        started: output.started_at().and_then(sdk_time),
        completed: output.completed_at().and_then(sdk_time),
    }
}
