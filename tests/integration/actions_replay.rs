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
use wavefront_responder::actions::Action;
use wavefront_responder::actions::aws::{Aws, Report};
use wavefront_responder::actions::codedeploy::Rollback;
use wavefront_responder::actions::lambda_alias::{AliasShift, Destination};
use wavefront_responder::decision::ActionOutcome;
use wavefront_responder::duration::HumanDuration;

use crate::support::run_action;

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

/// SDK configuration whose HTTP client replays `http`.
async fn sdk_config(http: &StaticReplayClient) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(retry())
        .http_client(http.clone())
        .load()
        .await
}

/// AWS clients replaying recorded CodeDeploy and Lambda exchanges.
struct Replay {
    aws: Aws,
    codedeploy: StaticReplayClient,
    lambda: StaticReplayClient,
}

impl Replay {
    async fn new(codedeploy: Vec<ReplayEvent>, lambda: Vec<ReplayEvent>) -> Self {
        let codedeploy = StaticReplayClient::new(codedeploy);
        let lambda = StaticReplayClient::new(lambda);
        let codedeploy_config = sdk_config(&codedeploy).await;
        let aws = Aws {
            codedeploy: aws_sdk_codedeploy::Client::new(&codedeploy_config),
            lambda: aws_sdk_lambda::Client::new(&sdk_config(&lambda).await),
            dynamodb: aws_sdk_dynamodb::Client::new(&codedeploy_config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(&codedeploy_config),
        };
        Self {
            aws,
            codedeploy,
            lambda,
        }
    }

    async fn codedeploy(events: Vec<ReplayEvent>) -> Self {
        Self::new(events, Vec::new()).await
    }

    async fn lambda(events: Vec<ReplayEvent>) -> Self {
        Self::new(Vec::new(), events).await
    }

    async fn run(&self, action: &Action, dry_run: bool) -> Report {
        run_action(action, &self.aws, dry_run, now()).await
    }

    /// Every request was the one expected, and every recorded exchange was used.
    fn assert_requests(&self) {
        self.codedeploy.assert_requests_match(&[]);
        self.lambda.assert_requests_match(&[]);
    }
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

fn rollback(window: Option<&str>) -> Action {
    Action::CodeDeployRollback(
        Rollback::new(
            "checkout".into(),
            "checkout-prod".into(),
            window.and_then(|w| HumanDuration::parse(w).ok()),
        )
        .unwrap(),
    )
}

fn shift_to_41() -> Action {
    Action::LambdaAlias(
        AliasShift::new(
            "checkout".into(),
            "live".into(),
            Destination::Version("41".into()),
        )
        .unwrap(),
    )
}

fn now() -> Timestamp {
    "2026-11-25T21:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn an_active_deployment_is_stopped_with_rollback() {
    let replay = Replay::codedeploy(vec![
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
    ])
    .await;
    let report = replay.run(&rollback(None), false).await;
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
    replay.assert_requests();
}

#[tokio::test]
async fn a_dry_run_stops_nothing() {
    let replay = Replay::codedeploy(vec![
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
    ])
    .await;
    let report = replay.run(&rollback(None), true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned);
    assert_eq!(
        report.detail,
        "would stop deployment d-ABC123 with rollback"
    );
    // Exactly the two read calls: no StopDeployment was sent.
    replay.assert_requests();
}

#[tokio::test]
async fn a_rollback_in_progress_is_never_stopped() {
    let replay = Replay::codedeploy(vec![
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
    ])
    .await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-RB1 is itself a rollback of d-BAD; a rollback is never stopped; \
         d-RB2 is itself a rollback of d-OTHER; a rollback is never stopped"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_that_completes_first_is_a_race_not_a_failure() {
    let replay = Replay::codedeploy(vec![
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
    ])
    .await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 completed (Succeeded) before it could be stopped"
    );
    assert_eq!(report.aws_request_ids.len(), 4);
    replay.assert_requests();
}

#[tokio::test]
async fn throttling_is_retried_and_pages_are_followed() {
    let mut page_two = list_active();
    page_two["nextToken"] = json!("page-2");
    let replay = Replay::codedeploy(vec![
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
    ])
    .await;
    let report = replay.run(&rollback(None), true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would stop deployment d-1 with rollback; would stop deployment d-2 with rollback"
    );
    replay.assert_requests();
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
    let replay = Replay::codedeploy(vec![throttled(), throttled(), throttled()]).await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert_eq!(
        report.detail,
        "ListDeployments: ThrottlingException: Rate exceeded (request id req-ListDeployments-400)"
    );
}

#[tokio::test]
async fn an_unknown_deployment_group_fails_with_the_aws_error_code() {
    let replay = Replay::codedeploy(vec![codedeploy_error(
        "ListDeployments",
        list_active(),
        "DeploymentGroupDoesNotExistException",
        "The deployment group checkout-prod does not exist with the user or AWS account.",
    )])
    .await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert!(
        report.detail.starts_with(
            "ListDeployments: DeploymentGroupDoesNotExistException: The deployment group"
        ),
        "{report:?}"
    );
}

fn group_info(platform: &str, success_ended: Timestamp, newer_attempt: Option<&str>) -> Value {
    let mut info = json!({
        "applicationName": "checkout",
        "deploymentGroupName": "checkout-prod",
        "computePlatform": platform,
        "lastSuccessfulDeployment": {
            "deploymentId": "d-GOOD42",
            "status": "Succeeded",
            "createTime": success_ended.as_second() - 600,
            "endTime": success_ended.as_second()
        },
        "lastAttemptedDeployment": {
            "deploymentId": "d-GOOD42",
            "status": "Succeeded",
            "createTime": success_ended.as_second() - 600,
            "endTime": success_ended.as_second()
        }
    });
    if let Some(status) = newer_attempt {
        info["lastAttemptedDeployment"] = json!({
            "deploymentId": "d-NEWER",
            "status": status,
            "createTime": success_ended.as_second() + 60,
            "endTime": success_ended.as_second() + 120
        });
    }
    info
}

fn get_group(info: Value) -> ReplayEvent {
    codedeploy_call(
        "GetDeploymentGroup",
        json!({"applicationName": "checkout", "deploymentGroupName": "checkout-prod"}),
        200,
        json!({"deploymentGroupInfo": info}),
    )
}

fn get_good42(info: Value) -> ReplayEvent {
    codedeploy_call(
        "GetDeployment",
        json!({"deploymentId": "d-GOOD42"}),
        200,
        json!({"deploymentInfo": info}),
    )
}

/// The reads of the redeploy path: nothing active, the group, and its last success.
fn last_success(ended: &str, success: Value) -> Vec<ReplayEvent> {
    vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        get_group(group_info("Lambda", ended.parse().unwrap(), None)),
        get_good42(success),
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

/// The CreateDeployment request an undo of d-GOOD42 on the Lambda platform sends.
fn create_undo() -> ReplayEvent {
    codedeploy_call(
        "CreateDeployment",
        json!({
            "applicationName": "checkout",
            "deploymentGroupName": "checkout-prod",
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {
                    "content": "{\"version\":0.0,\"Resources\":[{\"checkout\":{\"Type\":\"AWS::Lambda::Function\",\"Properties\":{\"Name\":\"checkout\",\"Alias\":\"live\",\"CurrentVersion\":\"42\",\"TargetVersion\":\"41\"}}}]}"
                }
            },
            "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
            "description": "wavefront-responder: undo d-GOOD42",
            "autoRollbackConfiguration": {"enabled": false},
            "overrideAlarmConfiguration": {"enabled": false, "ignorePollAlarmFailure": false}
        }),
        200,
        json!({"deploymentId": "d-UNDO1"}),
    )
}

const UNDONE: &str = "move checkout:live from version 42 back to 41, with \
                      CodeDeployDefault.LambdaAllAtOnce, without alarms or automatic rollback";

#[tokio::test]
async fn a_recent_success_is_undone_all_at_once_without_alarms() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    events.push(create_undo());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        format!("created deployment d-UNDO1 to undo d-GOOD42 (succeeded 12m ago): {UNDONE}")
    );
    replay.assert_requests();
    let create = replay
        .codedeploy
        .actual_requests()
        .last()
        .unwrap()
        .body()
        .bytes()
        .unwrap()
        .to_vec();
    let create: Value = serde_json::from_slice(&create).unwrap();
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

fn live_is(version: &str) -> ReplayEvent {
    lambda_call(
        "GET",
        &alias_uri("live"),
        None,
        200,
        alias_body(version, "rev-x"),
    )
}

#[tokio::test]
async fn a_recent_success_in_a_dry_run_is_only_described() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let report = replay.run(&rollback(Some("1h")), true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        format!("would undo d-GOOD42 (succeeded 12m ago, inside redeploy_within=1h): {UNDONE}")
    );
    replay.assert_requests();
}

#[tokio::test]
async fn an_alias_that_moved_since_is_not_undone_again() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    let replay = Replay::new(events, vec![live_is("41")]).await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "checkout:live is on version 41, no longer on 42 that the last deployment made live; \
         nothing to undo"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_success_outside_the_window_is_left_alone() {
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        get_group(group_info(
            "Lambda",
            "2026-11-25T18:00:00Z".parse().unwrap(),
            None,
        )),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/checkout-prod; last success 3h ago is outside \
         redeploy_within=1h"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_newer_failed_attempt_means_the_success_is_not_undone() {
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        get_group(group_info(
            "Lambda",
            "2026-11-25T20:48:00Z".parse().unwrap(),
            Some("Failed"),
        )),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/checkout-prod; the last attempt d-NEWER (Failed) is \
         newer than the last success d-GOOD42; not undoing an older release"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_successful_rollback_is_not_undone() {
    let replay = Replay::codedeploy(last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "codeDeployRollback", None),
    ))
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("the last successful deployment d-GOOD42 is itself a rollback"),
        "{report:?}"
    );
    replay.assert_requests();
}

/// A deployment this responder created to undo d-OLD.
fn our_undo(id: &str, status: &str) -> Value {
    let mut info = deployment_info(id, status, "user", None);
    info["description"] = json!("wavefront-responder: undo d-OLD");
    info
}

#[tokio::test]
async fn our_own_undo_is_never_undone() {
    let replay = Replay::codedeploy(last_success(
        "2026-11-25T20:48:00Z",
        our_undo("d-GOOD42", "Succeeded"),
    ))
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "the last successful deployment d-GOOD42 is itself a rollback (wavefront-responder's \
         undo of d-OLD); not undoing it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn our_own_undo_in_progress_is_never_stopped() {
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-UNDO1"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-UNDO1"]}),
            200,
            json!({"deploymentsInfo": [our_undo("d-UNDO1", "InProgress")]}),
        ),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-UNDO1 is itself a rollback (wavefront-responder's undo of d-OLD); a rollback is \
         never stopped"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_that_succeeds_while_stopped_is_undone_inside_the_window() {
    let mut events = vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-GOOD42"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-GOOD42"]}),
            200,
            json!({"deploymentsInfo": [deployment_info("d-GOOD42", "InProgress", "user", None)]}),
        ),
        codedeploy_error(
            "StopDeployment",
            json!({"deploymentId": "d-GOOD42", "autoRollbackEnabled": true}),
            "DeploymentAlreadyCompletedException",
            "The deployment d-GOOD42 is already completed.",
        ),
        get_good42(deployment_info("d-GOOD42", "Succeeded", "user", None)),
        get_group(group_info(
            "Lambda",
            "2026-11-25T20:59:00Z".parse().unwrap(),
            None,
        )),
        get_good42(deployment_info("d-GOOD42", "Succeeded", "user", None)),
    ];
    events.extend(lambda_targets());
    events.push(create_undo());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        format!(
            "d-GOOD42 completed (Succeeded) before it could be stopped; created deployment \
             d-UNDO1 to undo d-GOOD42 (succeeded 1m ago): {UNDONE}"
        )
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_stop_that_finds_the_deployment_stopped_says_so() {
    let replay = Replay::codedeploy(vec![
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
            json!({"deploymentInfo": deployment_info("d-ABC123", "Stopped", "user", None)}),
        ),
    ])
    .await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 is stopped (possibly by this request's first attempt)"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn other_platforms_redeploy_the_previous_revision() {
    let mut success = deployment_info("d-GOOD42", "Succeeded", "user", None);
    success["computePlatform"] = json!("Server");
    success["previousRevision"] = json!({
        "revisionType": "S3",
        "s3Location": {"bucket": "releases", "key": "checkout-41.zip", "bundleType": "zip"}
    });
    let replay = Replay::codedeploy(vec![
        codedeploy_call("ListDeployments", list_active(), 200, json!({"deployments": []})),
        get_group(group_info("Server", "2026-11-25T20:48:00Z".parse().unwrap(), None)),
        get_good42(success),
        codedeploy_call(
            "CreateDeployment",
            json!({
                "applicationName": "checkout",
                "deploymentGroupName": "checkout-prod",
                "revision": {
                    "revisionType": "S3",
                    "s3Location": {"bucket": "releases", "key": "checkout-41.zip", "bundleType": "zip"}
                },
                "description": "wavefront-responder: undo d-GOOD42",
                "autoRollbackConfiguration": {"enabled": false},
                "overrideAlarmConfiguration": {"enabled": false, "ignorePollAlarmFailure": false}
            }),
            200,
            json!({"deploymentId": "d-UNDO2"}),
        ),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "created deployment d-UNDO2 to undo d-GOOD42 (succeeded 12m ago): redeploy the revision \
         that was live before it, with the group's deployment config, without alarms or \
         automatic rollback"
    );
    replay.assert_requests();
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
    let replay = Replay::lambda(vec![
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
    ])
    .await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.detail, "moved live 43 -> 41");
    replay.assert_requests();
}

#[tokio::test]
async fn a_concurrent_rollback_by_someone_else_is_left_alone() {
    let replay = Replay::lambda(vec![
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
    ])
    .await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.detail, "live is already at version 41");
    replay.assert_requests();
}

#[tokio::test]
async fn two_conflicts_in_a_row_leave_the_alias_alone() {
    let replay = Replay::lambda(vec![
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
    ])
    .await;
    let report = replay.run(&shift_to_41(), false).await;
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

#[tokio::test]
async fn an_action_that_changed_something_keeps_its_claims_even_when_it_failed() {
    use wavefront_responder::actions::Executor;
    use wavefront_responder::front_door::Options;
    use wavefront_responder::ledger::Ledger;

    let stop = |id: &str| json!({"deploymentId": id, "autoRollbackEnabled": true});
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-A", "d-B"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-A", "d-B"]}),
            200,
            json!({"deploymentsInfo": [
                deployment_info("d-A", "InProgress", "user", None),
                deployment_info("d-B", "InProgress", "user", None),
            ]}),
        ),
        codedeploy_call(
            "StopDeployment",
            stop("d-A"),
            200,
            json!({"status": "Pending"}),
        ),
        codedeploy_error(
            "StopDeployment",
            stop("d-B"),
            "DeploymentDoesNotExistException",
            "The deployment d-B could not be found.",
        ),
    ])
    .await;
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let config = wavefront_responder::config::Config::parse(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"checkout-errors\"\n\
         alert = \"checkout * error rate*\"\n[[rule.action]]\ntype = \"codedeploy-rollback\"\n\
         application = \"checkout\"\ndeployment_group = \"checkout-prod\"\n",
        std::path::Path::new("partial.toml"),
    )
    .unwrap();
    let t = crate::support::TestResponder::with_options(
        config,
        Options {
            executor: Some(Executor::new(replay.aws.clone(), ledger.clone())),
            ..Options::default()
        },
    )
    .await;
    let auth = crate::support::bearer(crate::support::TOKEN);
    let reply = t
        .post(
            &[("authorization", &auth)],
            crate::support::fixture("alerts/checkout-opened.json").as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 502);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "failed");
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .starts_with("stopped deployment d-A with rollback"),
        "{action}"
    );
    // d-A was stopped: the latch and the breaker's slot stay, so a retry cannot act twice.
    let held = crate::support::ledger_keys(&ledger).await;
    assert!(
        held.iter()
            .any(|pk| pk.starts_with("incident#1700000000001#")),
        "{held:?}"
    );
    assert!(held.iter().any(|pk| pk == "circuit"), "{held:?}");
    // The failed request forgot its delivery, so Wavefront may retry it.
    assert!(
        !held.iter().any(|pk| pk.starts_with("notification#")),
        "{held:?}"
    );
    replay.assert_requests();
}
