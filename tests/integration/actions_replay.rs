//! Actions against recorded AWS exchanges (the SDK's own `StaticReplayClient`), for what moto
//! cannot produce: `StopDeployment`, deployments in progress or succeeded, rollback
//! deployments, throttling, and alias revision conflicts. Request and response bodies follow
//! the CodeDeploy and Lambda API references; the requests the actions make are asserted.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use jiff::Timestamp;
use serde_json::{Value, json};
use wavefront_responder::actions::codedeploy::Rollback;
use wavefront_responder::actions::lambda_alias::{AliasShift, Destination};
use wavefront_responder::decision::ActionOutcome;
use wavefront_responder::duration::HumanDuration;

const CODEDEPLOY: &str = "https://codedeploy.us-east-1.amazonaws.com/";
const LAMBDA: &str = "https://lambda.us-east-1.amazonaws.com";

/// One CodeDeploy (JSON 1.1) exchange: the operation, the request body we expect, and the
/// answer AWS gives.
fn codedeploy_call(operation: &str, request: Value, status: u16, response: Value) -> ReplayEvent {
    let request_id = format!("req-{operation}-{status}");
    ReplayEvent::new(
        http::Request::builder()
            .uri(CODEDEPLOY)
            .header("x-amz-target", format!("CodeDeploy_20141006.{operation}"))
            .body(SdkBody::from(request.to_string()))
            .unwrap(),
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-requestid", request_id)
            .body(SdkBody::from(response.to_string()))
            .unwrap(),
    )
}

fn codedeploy_error(operation: &str, request: Value, code: &str, message: &str) -> ReplayEvent {
    codedeploy_call(
        operation,
        request,
        400,
        json!({"__type": code, "message": message}),
    )
}

fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn codedeploy(events: Vec<ReplayEvent>) -> (aws_sdk_codedeploy::Client, StaticReplayClient) {
    let http = StaticReplayClient::new(events);
    let config = aws_sdk_codedeploy::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(retry())
        .http_client(http.clone())
        .build();
    (aws_sdk_codedeploy::Client::from_conf(config), http)
}

fn lambda(events: Vec<ReplayEvent>) -> (aws_sdk_lambda::Client, StaticReplayClient) {
    let http = StaticReplayClient::new(events);
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(retry())
        .http_client(http.clone())
        .build();
    (aws_sdk_lambda::Client::from_conf(config), http)
}

fn list_active() -> Value {
    json!({
        "applicationName": "checkout",
        "deploymentGroupName": "checkout-prod",
        "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"]
    })
}

/// A `DeploymentInfo` as BatchGetDeployments and GetDeployment return it.
fn deployment_info(id: &str, status: &str, creator: &str, rollback_of: Option<&str>) -> Value {
    let mut info = json!({
        "applicationName": "checkout",
        "deploymentGroupName": "checkout-prod",
        "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "deploymentId": id,
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
        "status": status,
        "createTime": 1795639000.123,
        "creator": creator,
        "computePlatform": "Lambda",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    });
    if let Some(trigger) = rollback_of {
        info["rollbackInfo"] = json!({
            "rollbackTriggeringDeploymentId": trigger,
            "rollbackMessage": format!("Deployment rolled back from {trigger}")
        });
    }
    info
}

fn rollback(window: Option<&str>) -> Rollback {
    Rollback::new(
        "checkout".into(),
        "checkout-prod".into(),
        window.and_then(|w| HumanDuration::parse(w).ok()),
    )
    .unwrap()
}

fn now() -> Timestamp {
    "2026-11-25T21:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn an_active_deployment_is_stopped_with_rollback() {
    let (client, http) = codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-ABC123"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-ABC123"]}),
            200,
            json!({"deploymentsInfo": [deployment_info("d-ABC123", "InProgress", "user", None)]}),
        ),
        codedeploy_call(
            "StopDeployment",
            json!({"deploymentId": "d-ABC123", "autoRollbackEnabled": true}),
            200,
            json!({"status": "Pending", "statusMessage": "Stopping the deployment"}),
        ),
    ]);
    let report = rollback(None).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "stopped deployment d-ABC123 with rollback (CodeDeploy: Pending, Stopping the deployment)"
    );
    assert_eq!(
        report.aws_request_ids,
        [
            "req-ListDeployments-200",
            "req-BatchGetDeployments-200",
            "req-StopDeployment-200"
        ]
    );
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn a_dry_run_stops_nothing() {
    let (client, http) = codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-ABC123"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-ABC123"]}),
            200,
            json!({"deploymentsInfo": [deployment_info("d-ABC123", "InProgress", "user", None)]}),
        ),
    ]);
    let report = rollback(None).execute(&client, true, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Planned);
    assert_eq!(
        report.detail,
        "would stop deployment d-ABC123 with rollback"
    );
    // Exactly the two read calls: no StopDeployment was sent.
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn a_rollback_in_progress_is_never_stopped() {
    let (client, http) = codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-RB1", "d-RB2"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-RB1", "d-RB2"]}),
            200,
            json!({"deploymentsInfo": [
                deployment_info("d-RB1", "InProgress", "codeDeployRollback", Some("d-BAD")),
                deployment_info("d-RB2", "Created", "user", Some("d-OTHER")),
            ]}),
        ),
    ]);
    let report = rollback(None).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-RB1 is itself a rollback of d-BAD; a rollback is never stopped; \
         d-RB2 is itself a rollback of d-OTHER; a rollback is never stopped"
    );
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn a_deployment_that_completes_first_is_a_race_not_a_failure() {
    let (client, http) = codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-ABC123"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-ABC123"]}),
            200,
            json!({"deploymentsInfo": [deployment_info("d-ABC123", "InProgress", "user", None)]}),
        ),
        codedeploy_error(
            "StopDeployment",
            json!({"deploymentId": "d-ABC123", "autoRollbackEnabled": true}),
            "DeploymentAlreadyCompletedException",
            "The deployment d-ABC123 is already completed.",
        ),
        codedeploy_call(
            "GetDeployment",
            json!({"deploymentId": "d-ABC123"}),
            200,
            json!({"deploymentInfo": deployment_info("d-ABC123", "Succeeded", "user", None)}),
        ),
    ]);
    let report = rollback(None).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 completed (Succeeded) before it could be stopped"
    );
    assert_eq!(report.aws_request_ids.len(), 4);
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn throttling_is_retried_and_pages_are_followed() {
    let mut page_two = list_active();
    page_two["nextToken"] = json!("page-2");
    let (client, http) = codedeploy(vec![
        codedeploy_error(
            "ListDeployments",
            list_active(),
            "ThrottlingException",
            "Rate exceeded",
        ),
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-1"], "nextToken": "page-2"}),
        ),
        codedeploy_call(
            "ListDeployments",
            page_two,
            200,
            json!({"deployments": ["d-2"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-1", "d-2"]}),
            200,
            json!({"deploymentsInfo": [
                deployment_info("d-1", "InProgress", "user", None),
                deployment_info("d-2", "Queued", "user", None),
            ]}),
        ),
    ]);
    let report = rollback(None).execute(&client, true, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would stop deployment d-1 with rollback; would stop deployment d-2 with rollback"
    );
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_fails_with_code_and_request_id() {
    let throttled = || {
        codedeploy_error(
            "ListDeployments",
            list_active(),
            "ThrottlingException",
            "Rate exceeded",
        )
    };
    let (client, _) = codedeploy(vec![throttled(), throttled(), throttled()]);
    let report = rollback(None).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert_eq!(
        report.detail,
        "ListDeployments: ThrottlingException: Rate exceeded (request id req-ListDeployments-400)"
    );
}

#[tokio::test]
async fn an_unknown_deployment_group_fails_with_the_aws_error_code() {
    let (client, _) = codedeploy(vec![codedeploy_error(
        "ListDeployments",
        list_active(),
        "DeploymentGroupDoesNotExistException",
        "The deployment group checkout-prod does not exist with the user or AWS account.",
    )]);
    let report = rollback(None).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert!(
        report.detail.starts_with(
            "ListDeployments: DeploymentGroupDoesNotExistException: The deployment group"
        ),
        "{report:?}"
    );
}

/// The reads of the redeploy path: nothing active, then the group and its last success.
fn last_success(ended: &str, creator: &str) -> Vec<ReplayEvent> {
    let ended: Timestamp = ended.parse().unwrap();
    vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        codedeploy_call(
            "GetDeploymentGroup",
            json!({"applicationName": "checkout", "deploymentGroupName": "checkout-prod"}),
            200,
            json!({"deploymentGroupInfo": {
                "applicationName": "checkout",
                "deploymentGroupName": "checkout-prod",
                "computePlatform": "Lambda",
                "lastSuccessfulDeployment": {
                    "deploymentId": "d-GOOD42",
                    "status": "Succeeded",
                    "createTime": ended.as_second() - 600,
                    "endTime": ended.as_second()
                }
            }}),
        ),
        codedeploy_call(
            "GetDeployment",
            json!({"deploymentId": "d-GOOD42"}),
            200,
            json!({"deploymentInfo": deployment_info("d-GOOD42", "Succeeded", creator, None)}),
        ),
    ]
}

fn lambda_targets() -> Vec<ReplayEvent> {
    vec![
        codedeploy_call(
            "ListDeploymentTargets",
            json!({"deploymentId": "d-GOOD42"}),
            200,
            json!({"targetIds": ["checkout:live"]}),
        ),
        codedeploy_call(
            "BatchGetDeploymentTargets",
            json!({"deploymentId": "d-GOOD42", "targetIds": ["checkout:live"]}),
            200,
            json!({"deploymentTargets": [{
                "deploymentTargetType": "LambdaTarget",
                "lambdaTarget": {
                    "deploymentId": "d-GOOD42",
                    "targetId": "checkout:live",
                    "targetArn": "arn:aws:lambda:us-east-1:123456789012:function:checkout:live",
                    "status": "Succeeded",
                    "lastUpdatedAt": 1795639500,
                    "lifecycleEvents": [],
                    "lambdaFunctionInfo": {
                        "functionName": "checkout",
                        "functionAlias": "live",
                        "currentVersion": "41",
                        "targetVersion": "42",
                        "targetVersionWeight": 1.0
                    }
                }
            }]}),
        ),
    ]
}

#[tokio::test]
async fn a_recent_success_is_undone_by_a_reversed_appspec() {
    let mut events = last_success("2026-11-25T20:48:00Z", "user");
    events.extend(lambda_targets());
    events.push(codedeploy_call(
        "CreateDeployment",
        json!({}),
        200,
        json!({"deploymentId": "d-UNDO1"}),
    ));
    let (client, http) = codedeploy(events);
    let report = rollback(Some("1h")).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "created deployment d-UNDO1 to undo d-GOOD42 (succeeded 12m ago): move checkout:live \
         from version 42 back to 41"
    );
    let create = http
        .actual_requests()
        .last()
        .unwrap()
        .body()
        .bytes()
        .unwrap()
        .to_vec();
    let create: Value = serde_json::from_slice(&create).unwrap();
    assert_eq!(create["applicationName"], "checkout");
    assert_eq!(create["deploymentGroupName"], "checkout-prod");
    assert_eq!(create["revision"]["revisionType"], "AppSpecContent");
    let appspec: Value = serde_json::from_str(
        create["revision"]["appSpecContent"]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        appspec["Resources"][0]["checkout"],
        json!({
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Name": "checkout", "Alias": "live", "CurrentVersion": "42", "TargetVersion": "41"
            }
        })
    );
}

#[tokio::test]
async fn a_recent_success_in_a_dry_run_is_only_described() {
    let mut events = last_success("2026-11-25T20:48:00Z", "user");
    events.extend(lambda_targets());
    let (client, http) = codedeploy(events);
    let report = rollback(Some("1h")).execute(&client, true, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would undo d-GOOD42 (succeeded 12m ago, inside redeploy_within=1h): move checkout:live \
         from version 42 back to 41"
    );
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn a_success_outside_the_window_is_left_alone() {
    let events = last_success("2026-11-25T18:00:00Z", "user");
    let (client, _) = codedeploy(events.into_iter().take(2).collect());
    let report = rollback(Some("1h")).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/checkout-prod; last success 3h ago is outside \
         redeploy_within=1h"
    );
}

#[tokio::test]
async fn a_successful_rollback_is_not_undone() {
    let (client, _) = codedeploy(last_success("2026-11-25T20:48:00Z", "codeDeployRollback"));
    let report = rollback(Some("1h")).execute(&client, false, now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("the last successful deployment d-GOOD42 is itself a rollback"),
        "{report:?}"
    );
}

// Lambda alias: the revision conflict path, which moto does not implement.

fn alias_uri(alias: &str) -> String {
    format!("{LAMBDA}/2015-03-31/functions/checkout/aliases/{alias}")
}

fn alias_body(version: &str, revision: &str) -> Value {
    json!({
        "AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:checkout:live",
        "Description": "",
        "FunctionVersion": version,
        "Name": "live",
        "RevisionId": revision
    })
}

fn lambda_call(
    method: &str,
    uri: &str,
    request: Option<Value>,
    status: u16,
    response: Value,
) -> ReplayEvent {
    let mut headers = http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", format!("lambda-{method}-{status}"));
    if status == 412 {
        headers = headers.header("x-amzn-errortype", "PreconditionFailedException");
    }
    ReplayEvent::new(
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(SdkBody::from(
                request.map(|r| r.to_string()).unwrap_or_default(),
            ))
            .unwrap(),
        headers.body(SdkBody::from(response.to_string())).unwrap(),
    )
}

fn update(version: &str, revision: &str) -> Value {
    json!({
        "FunctionVersion": version,
        "RevisionId": revision,
        "RoutingConfig": {"AdditionalVersionWeights": {}}
    })
}

fn version_exists(version: &str) -> ReplayEvent {
    lambda_call(
        "GET",
        &format!("{LAMBDA}/2015-03-31/functions/checkout/configuration?Qualifier={version}"),
        None,
        200,
        json!({"FunctionName": "checkout", "Version": version}),
    )
}

fn conflict() -> Value {
    json!({
        "Type": "User",
        "message": "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id"
    })
}

#[tokio::test]
async fn a_concurrent_change_is_re_read_and_decided_again() {
    let (client, http) = lambda(vec![
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("42", "rev-a"),
        ),
        version_exists("41"),
        lambda_call(
            "PUT",
            &alias_uri("live"),
            Some(update("41", "rev-a")),
            412,
            conflict(),
        ),
        // A deploy moved live to 43 meanwhile: decide again, against revision rev-b.
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("43", "rev-b"),
        ),
        lambda_call(
            "PUT",
            &alias_uri("live"),
            Some(update("41", "rev-b")),
            200,
            alias_body("41", "rev-c"),
        ),
    ]);
    let action = AliasShift::new(
        "checkout".into(),
        "live".into(),
        Destination::Version("41".into()),
    )
    .unwrap();
    let report = action.execute(&client, false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.detail, "moved live 43 -> 41");
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn a_concurrent_rollback_by_someone_else_is_left_alone() {
    let (client, http) = lambda(vec![
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("42", "rev-a"),
        ),
        version_exists("41"),
        lambda_call(
            "PUT",
            &alias_uri("live"),
            Some(update("41", "rev-a")),
            412,
            conflict(),
        ),
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("41", "rev-b"),
        ),
    ]);
    let action = AliasShift::new(
        "checkout".into(),
        "live".into(),
        Destination::Version("41".into()),
    )
    .unwrap();
    let report = action.execute(&client, false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.detail, "live is already at version 41");
    http.assert_requests_match(&[]);
}

#[tokio::test]
async fn two_conflicts_in_a_row_leave_the_alias_alone() {
    let (client, _) = lambda(vec![
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("42", "rev-a"),
        ),
        version_exists("41"),
        lambda_call(
            "PUT",
            &alias_uri("live"),
            Some(update("41", "rev-a")),
            412,
            conflict(),
        ),
        lambda_call(
            "GET",
            &alias_uri("live"),
            None,
            200,
            alias_body("43", "rev-b"),
        ),
        lambda_call(
            "PUT",
            &alias_uri("live"),
            Some(update("41", "rev-b")),
            412,
            conflict(),
        ),
    ]);
    let action = AliasShift::new(
        "checkout".into(),
        "live".into(),
        Destination::Version("41".into()),
    )
    .unwrap();
    let report = action.execute(&client, false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("UpdateAlias: PreconditionFailedException"),
        "{report:?}"
    );
    assert!(
        report
            .detail
            .ends_with("the alias changed twice while we tried, so it was left alone"),
        "{report:?}"
    );
}
