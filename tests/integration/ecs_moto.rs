//! `ecs-rollback` against moto server for what moto implements of ECS: clusters and services,
//! so `DescribeServices` and what the action does with its answer (a service another
//! deployment controller deploys, a service or a cluster that is not there). moto does not
//! implement service deployments (it answers `ListServiceDeployments` with a bare 500):
//! `ecs_replay.rs` covers those.

use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
use jiff::Timestamp;
use wavefront_responder::actions::Action;
use wavefront_responder::actions::ecs::ServiceRollback;
use wavefront_responder::execute::ActionOutcome;

use crate::moto::{self, Aws};
use crate::support::run_action;

/// A new cluster in moto, with one service `checkout` deployed by `controller`; the cluster's
/// name.
async fn service_deployed_by(aws: &Aws, controller: DeploymentControllerType) -> String {
    let cluster = moto::unique("ecs");
    aws.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("moto creates the cluster");
    aws.ecs
        .create_service()
        .cluster(&cluster)
        .service_name("checkout")
        .desired_count(2)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(controller)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("moto creates the service");
    cluster
}

fn rollback(cluster: &str, service: &str) -> Action {
    Action::EcsRollback(ServiceRollback::new(cluster.into(), service.into()).unwrap())
}

#[tokio::test]
async fn a_service_codedeploy_deploys_is_left_to_a_codedeploy_rollback_action() {
    let aws = moto::aws().await;
    let cluster = service_deployed_by(&aws, DeploymentControllerType::CodeDeploy).await;
    let report = run_action(
        &rollback(&cluster, "checkout"),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        format!(
            "ECS service {cluster}/checkout is deployed by CodeDeploy (deployment controller \
             CODE_DEPLOY), whose deployments StopServiceDeployment does not stop: roll it back \
             with a codedeploy-rollback action on its CodeDeploy application and deployment \
             group"
        )
    );
    // One read, answered (moto gives request ids too), and nothing changed.
    assert_eq!(report.aws_request_ids.len(), 1, "{report:?}");
    assert!(!report.changed);
    // A dry run says the same.
    let dry = run_action(
        &rollback(&cluster, "checkout"),
        &aws,
        true,
        Timestamp::now(),
    )
    .await;
    assert_eq!((dry.outcome, dry.detail), (report.outcome, report.detail));
}

#[tokio::test]
async fn a_service_an_external_controller_deploys_is_left_alone() {
    let aws = moto::aws().await;
    let cluster = service_deployed_by(&aws, DeploymentControllerType::External).await;
    let report = run_action(
        &rollback(&cluster, "checkout"),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report
            .detail
            .contains("is deployed by an external controller (deployment controller EXTERNAL)"),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_service_that_is_not_there_fails_and_says_where_to_look() {
    let aws = moto::aws().await;
    let cluster = service_deployed_by(&aws, DeploymentControllerType::CodeDeploy).await;
    let report = run_action(
        &rollback(&cluster, "payments"),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        format!(
            "DescribeServices: ECS service {cluster}/payments was not found (MISSING): check \
             cluster and service in the rule"
        )
    );
    assert!(!report.changed);
}

#[tokio::test]
async fn a_cluster_that_is_not_there_fails_with_the_aws_error_code() {
    let aws = moto::aws().await;
    let cluster = moto::unique("no-such-cluster");
    let report = run_action(
        &rollback(&cluster, "checkout"),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("DescribeServices: ClusterNotFoundException: "),
        "{report:?}"
    );
    assert!(report.detail.contains("(request id "), "{report:?}");
}
