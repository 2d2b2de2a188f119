//! Finding what an `ecs-rollback` acts on: whether the service is one whose deployments ECS
//! runs (`DescribeServices`: its deployment controller), and its service deployments that have
//! not finished (`ListServiceDeployments`, then `DescribeServiceDeployments` for each one's
//! details). Read-only: a dry run makes these calls and no other.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DeploymentControllerType, Service};

use super::decide::{Found, IN_FLIGHT};
use crate::actions::ecs::ServiceRollback;
use crate::execute::ActionOutcome;
use crate::execute::calls::{CallFailure, Calls};

/// `DescribeServiceDeployments` takes at most this many ARNs (the ECS API reference).
const DESCRIBE_BATCH: usize = 20;

/// Pages of `ListServiceDeployments` read at most: a service has one deployment in flight at a
/// time, perhaps a few; this bounds a paging loop AWS never ends.
const MAX_PAGES: usize = 10;

impl ServiceRollback {
    /// Reads the service. `Some` when the action ends here: the service is not active, or its
    /// deployments are not ECS's to stop (a `CODE_DEPLOY` or `EXTERNAL` deployment controller).
    pub(super) async fn not_ours(
        &self,
        client: &Client,
        calls: &mut Calls,
    ) -> Result<Option<(ActionOutcome, String)>, CallFailure> {
        let output = client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| calls.failed("DescribeServices", &e))?;
        let output = calls.ok(output);
        let Some(service) = output.services().first() else {
            let reason = output
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("no service and no failure in the answer");
            return Err(CallFailure {
                code: None,
                message: format!(
                    "DescribeServices: ECS service {} was not found ({reason}): check cluster and \
                     service in the rule",
                    self.target()
                ),
                may_be_applied: false,
            });
        };
        Ok(controller_skip(&self.target(), service))
    }

    /// The service deployments of the service that have not finished, oldest first.
    pub(super) async fn in_flight(
        &self,
        client: &Client,
        calls: &mut Calls,
    ) -> Result<Vec<Found>, CallFailure> {
        let mut listed = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .list_service_deployments()
                .cluster(&self.cluster)
                .service(&self.service)
                .set_status(Some(IN_FLIGHT.to_vec()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| calls.failed("ListServiceDeployments", &e))?;
            let page = calls.ok(page);
            listed.extend(page.service_deployments().iter().map(Found::listed));
            next_token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        let mut found = Vec::with_capacity(listed.len());
        for chunk in listed.chunks(DESCRIBE_BATCH) {
            let arns = chunk.iter().map(|d| d.arn.clone()).collect();
            let output = client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(arns))
                .send()
                .await
                .map_err(|e| calls.failed("DescribeServiceDeployments", &e))?;
            let described = calls.ok(output);
            // One ECS could not describe (a `failures` entry) is still known from the list.
            for brief in chunk {
                let full = described
                    .service_deployments()
                    .iter()
                    .find(|d| d.service_deployment_arn() == Some(brief.arn.as_str()));
                found.push(full.map_or_else(|| brief.clone(), Found::described));
            }
        }
        // Oldest first, so the record reads in the order things happened.
        found.sort_by_key(|d| d.created);
        Ok(found)
    }
}

/// Reads one service deployment again (after a stop, or a stop refused), for its status now.
pub(super) async fn read_back(
    client: &Client,
    arn: &str,
    calls: &mut Calls,
) -> Result<Option<Found>, CallFailure> {
    let output = client
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| calls.failed("DescribeServiceDeployments", &e))?;
    Ok(calls
        .ok(output)
        .service_deployments()
        .first()
        .map(Found::described))
}

/// Why the action leaves `service` (`target`) alone before looking at its deployments, if it
/// does: it is not active, or another deployment controller than ECS's deploys it, and
/// `StopServiceDeployment` does not stop that controller's deployments.
pub fn controller_skip(target: &str, service: &Service) -> Option<(ActionOutcome, String)> {
    if let Some(status) = service.status().filter(|s| *s != "ACTIVE") {
        let detail = format!("ECS service {target} is {status}: there is nothing to roll back");
        return Some((ActionOutcome::Skipped, detail));
    }
    let controller = service.deployment_controller().map(|c| c.r#type());
    let detail = match controller {
        Some(DeploymentControllerType::CodeDeploy) => format!(
            "ECS service {target} is deployed by CodeDeploy (deployment controller CODE_DEPLOY), \
             whose deployments StopServiceDeployment does not stop: roll it back with a \
             codedeploy-rollback action on its CodeDeploy application and deployment group"
        ),
        Some(DeploymentControllerType::External) => format!(
            "ECS service {target} is deployed by an external controller (deployment controller \
             EXTERNAL), whose deployments StopServiceDeployment does not stop: roll it back \
             with that controller (a codedeploy-rollback action if it is CodeDeploy)"
        ),
        // ECS, or none given (ECS is the default).
        _ => return None,
    };
    Some((ActionOutcome::Skipped, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::DeploymentController;

    fn service(status: &str, controller: Option<DeploymentControllerType>) -> Service {
        let mut service = Service::builder().service_name("checkout").status(status);
        if let Some(controller) = controller {
            let controller = DeploymentController::builder()
                .r#type(controller)
                .build()
                .unwrap();
            service = service.deployment_controller(controller);
        }
        service.build()
    }

    #[test]
    fn only_active_services_ecs_deploys_are_looked_into() {
        assert_eq!(
            controller_skip("prod/checkout", &service("ACTIVE", None)),
            None
        );
        let ecs = service("ACTIVE", Some(DeploymentControllerType::Ecs));
        assert_eq!(controller_skip("prod/checkout", &ecs), None);
        let codedeploy = service("ACTIVE", Some(DeploymentControllerType::CodeDeploy));
        let (outcome, detail) = controller_skip("prod/checkout", &codedeploy).unwrap();
        assert_eq!(outcome, ActionOutcome::Skipped);
        assert!(detail.contains("codedeploy-rollback action"), "{detail}");
        let external = service("ACTIVE", Some(DeploymentControllerType::External));
        let (_, detail) = controller_skip("prod/checkout", &external).unwrap();
        assert!(
            detail.contains("(deployment controller EXTERNAL)"),
            "{detail}"
        );
        let draining = service("DRAINING", None);
        assert_eq!(
            controller_skip("prod/checkout", &draining).unwrap().1,
            "ECS service prod/checkout is DRAINING: there is nothing to roll back"
        );
    }
}
