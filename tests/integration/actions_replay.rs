//! Actions against recorded AWS exchanges (the SDK's own `StaticReplayClient`), for what moto
//! cannot produce: `StopDeployment`, deployments in progress or succeeded, rollback
//! deployments, deployment targets, throttling, retried calls, and alias revision conflicts.
//! Request and response bodies follow the CodeDeploy and Lambda API references; the requests
//! the actions make are asserted.

use std::time::Duration;

use crate::moto::Aws;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wavefront_responder::actions::Action;
use wavefront_responder::actions::codedeploy::Rollback;
use wavefront_responder::actions::lambda_alias::{AliasShift, Destination};
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::ActionOutcome;
use wavefront_responder::execute::Context;
use wavefront_responder::execute::calls::Report;
use wavefront_responder::execute::handover::HandedOver;
use wavefront_responder::ledger::attribution::{IncidentStart, StartSource};
use wavefront_responder::ledger::{Guard, Ledger};

use crate::support::{run_action, run_action_after, run_action_in};

const CODEDEPLOY: &str = "https://codedeploy.us-east-1.amazonaws.com/";
const LAMBDA: &str = "https://lambda.us-east-1.amazonaws.com";

/// One CodeDeploy (JSON 1.1) exchange: the operation, the request body we expect, and the
/// answer AWS gives.
pub(crate) fn codedeploy_call(
    operation: &str,
    request: Value,
    status: u16,
    response: Value,
) -> ReplayEvent {
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
            ecs: aws_sdk_ecs::Client::new(&codedeploy_config),
            dynamodb: aws_sdk_dynamodb::Client::new(&codedeploy_config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(&codedeploy_config),
            appconfig: aws_sdk_appconfig::Client::new(&codedeploy_config),
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

    /// [`Replay::run`], live, with `ledger` as the ledger that records the responder's undos.
    async fn run_with(&self, action: &Action, ledger: &Ledger) -> Report {
        let context = Context {
            dry_run: false,
            now: now(),
            since: None,
            ledger,
            request_id: "req-test",
        };
        run_action_in(action, &self.aws, &context, &mut HandedOver::default()).await
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
pub(crate) fn deployment_info(
    id: &str,
    status: &str,
    creator: &str,
    rollback_of: Option<&str>,
) -> Value {
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

/// ListDeployments and BatchGetDeployments finding one deployment in progress.
pub(crate) fn one_in_progress(id: &str) -> Vec<ReplayEvent> {
    one_in_progress_on(id, "Lambda")
}

/// [`one_in_progress`] on the Lambda platform, and its targets (checkout:live): what a stop
/// reads before it is sent.
pub(crate) fn lambda_in_progress(id: &str) -> Vec<ReplayEvent> {
    let mut events = one_in_progress(id);
    events.extend(lambda_targets_of(id));
    events
}

/// [`one_in_progress`], a deployment on `platform` (`"Lambda"`, `"Server"`, `"ECS"`).
pub(crate) fn one_in_progress_on(id: &str, platform: &str) -> Vec<ReplayEvent> {
    let mut info = deployment_info(id, "InProgress", "user", None);
    info["computePlatform"] = json!(platform);
    vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": [id]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": [id]}),
            200,
            json!({"deploymentsInfo": [info]}),
        ),
    ]
}

#[tokio::test]
async fn an_active_deployment_is_stopped_with_rollback() {
    // A Lambda deployment: which alias CodeDeploy will move back, read before the stop.
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    let replay = Replay::codedeploy(events).await;
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
            "req-ListDeploymentTargets-200",
            "req-BatchGetDeploymentTargets-200",
            "req-StopDeployment-200"
        ]
    );
    assert!(report.changed);
    replay.assert_requests();
}

pub(crate) fn stop_ok(id: &str) -> ReplayEvent {
    codedeploy_call(
        "StopDeployment",
        json!({"deploymentId": id, "autoRollbackEnabled": true}),
        200,
        json!({"status": "Pending", "statusMessage": "Stopping the deployment"}),
    )
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
async fn a_rollback_in_progress_is_never_stopped_and_keeps_its_alias() {
    let mut events = vec![
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
    ];
    // Both are Lambda deployments: the alias each moves back is looked up and left to it.
    events.extend(lambda_targets_of("d-RB1"));
    events.extend(lambda_targets_of("d-RB2"));
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-RB1 is itself a rollback of d-BAD; a rollback is never stopped; \
         d-RB2 is itself a rollback of d-OTHER; a rollback is never stopped"
    );
    assert!(!report.changed, "stopping nothing changes nothing");
    // A lambda-alias action after it leaves the alias to the rollback under way.
    let alias = run_after(&replay, &stable_to_live(), false, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Skipped, "{alias:?}");
    assert_eq!(
        alias.detail,
        "CodeDeploy is moving checkout:live back (d-RB2, a rollback in progress); leaving the \
         alias to it"
    );
    assert!(alias.aws_request_ids.is_empty(), "{alias:?}");
    // Someone else's rollback may fail: the alias is not handled for the incident, so the
    // executor gives its claims back and a later delivery may still act.
    assert!(!alias.left_to_codedeploy, "{alias:?}");
    assert_eq!(
        handed_over.find("checkout", "live").map(|h| h.ours),
        Some(false)
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_that_completes_first_is_a_race_not_a_failure() {
    let mut events = lambda_in_progress("d-ABC123");
    events.extend([
        codedeploy_error(
            "StopDeployment",
            json!({"deploymentId": "d-ABC123", "autoRollbackEnabled": true}),
            "DeploymentAlreadyCompletedException",
            "The deployment d-ABC123 is already completed.",
        ),
        read_back(deployment_info("d-ABC123", "Succeeded", "user", None)),
    ]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 completed (Succeeded) before it could be stopped"
    );
    assert_eq!(report.aws_request_ids.len(), 6);
    assert!(!report.changed, "{report:?}");
    // Not stopped, so not rolled back by us: its alias was handed over before the stop, and
    // taken back once the stop was refused.
    nothing_handed_over(&handed_over);
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
    lambda_targets_of("d-GOOD42")
}

/// `ListDeploymentTargets` and `BatchGetDeploymentTargets` of a Lambda deployment that moves
/// checkout:live from version 41 to 42.
pub(crate) fn lambda_targets_of(id: &str) -> Vec<ReplayEvent> {
    vec![
        codedeploy_call(
            "ListDeploymentTargets",
            json!({"deploymentId": id}),
            200,
            json!({"targetIds": ["checkout:live"]}),
        ),
        codedeploy_call(
            "BatchGetDeploymentTargets",
            json!({"deploymentId": id, "targetIds": ["checkout:live"]}),
            200,
            json!({"deploymentTargets": [{
                "deploymentTargetType": "LambdaTarget",
                "lambdaTarget": {
                    "deploymentId": id,
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
    create_undo_answered(200, json!({"deploymentId": "d-UNDO1"}))
}

/// That request, answered with `status` and `response`.
fn create_undo_answered(status: u16, response: Value) -> ReplayEvent {
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
        status,
        response,
    )
}

/// The CreateDeployment request an undo of d-GOOD42 on the Server platform sends: the S3
/// revision that was live before it, with the group's deployment config.
fn create_server_undo() -> ReplayEvent {
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

/// `GetAlias` of `stable`, on `version`: where a `to_alias = "stable"` action takes `live`,
/// which a rollback of ours must reach for the action to leave `live` to it.
fn stable_is(version: &str) -> ReplayEvent {
    lambda_call(
        "GET",
        &alias_uri("stable"),
        None,
        200,
        alias_body(version, "rev-s"),
    )
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
        // Read to tell a release from a deployment CodeDeploy made by itself.
        read_back(deployment_info("d-NEWER", "Failed", "user", None)),
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
async fn a_different_last_attempt_without_a_create_time_is_enough_to_leave_the_success() {
    let mut info = group_info("Lambda", "2026-11-25T20:48:00Z".parse().unwrap(), None);
    // CodeDeploy's DeploymentGroupInfo does not always carry createTime on lastAttemptedDeployment.
    info["lastAttemptedDeployment"] = json!({"deploymentId": "d-NEWER", "status": "Stopped"});
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        get_group(info),
        read_back(deployment_info("d-NEWER", "Stopped", "user", None)),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/checkout-prod; the last attempt d-NEWER (Stopped) is not \
         the last success d-GOOD42, so the success may not be what runs now; not undoing it"
    );
    // Only the attempt is read: neither the success nor a CreateDeployment.
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

/// A deployment described as one this responder created to undo d-OLD. Its description alone
/// does not make it one: the ledger must also record that d-OLD was undone ([`undid_old`]).
fn our_undo(id: &str, status: &str) -> Value {
    let mut info = deployment_info(id, status, "user", None);
    info["description"] = json!("wavefront-responder: undo d-OLD");
    info
}

/// A ledger in a DynamoDB table (on moto), shared as on Lambda: only what it recorded counts
/// as the responder's own undo.
async fn shared_ledger() -> Ledger {
    let aws = crate::moto::aws().await;
    let table = crate::moto::ledger_table(&aws).await;
    let store = wavefront_responder::ledger::dynamodb::DynamoStore::new(aws.dynamodb, table);
    Ledger::new(
        std::sync::Arc::new(store),
        HumanDuration::parse("7d").unwrap(),
        None,
    )
}

/// A shared ledger that recorded undoing d-OLD, as the responder does before creating the undo.
async fn undid_old() -> Ledger {
    let ledger = shared_ledger().await;
    ledger.record_undo("d-OLD", "req", now()).await.unwrap();
    ledger
}

#[tokio::test]
async fn our_own_undo_is_never_undone() {
    let replay = Replay::codedeploy(last_success(
        "2026-11-25T20:48:00Z",
        our_undo("d-GOOD42", "Succeeded"),
    ))
    .await;
    let report = replay
        .run_with(&rollback(Some("1h")), &undid_old().await)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "the last successful deployment d-GOOD42 is itself a rollback (wavefront-responder's \
         undo of d-OLD); not undoing it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_success_described_as_our_undo_without_a_record_of_it_is_undone_as_a_release() {
    // Anyone can write the description: without the ledger's record, it is a release.
    let mut events = last_success("2026-11-25T20:48:00Z", our_undo("d-GOOD42", "Succeeded"));
    events.extend(lambda_targets());
    events.push(create_undo());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let ledger = shared_ledger().await;
    let report = replay.run_with(&rollback(Some("1h")), &ledger).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        format!("created deployment d-UNDO1 to undo d-GOOD42 (succeeded 12m ago): {UNDONE}")
    );
    // Recorded before it was created: the undo is known for the responder's own.
    let undos = ledger.undos(now()).await.unwrap();
    assert!(undos.contains("d-GOOD42"), "{undos:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn our_own_undo_in_progress_is_never_stopped() {
    let mut events = vec![
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
    ];
    events.extend(lambda_targets_of("d-UNDO1"));
    let replay = Replay::codedeploy(events).await;
    let report = replay
        .run_with(&rollback(Some("1h")), &undid_old().await)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-UNDO1 is itself a rollback (wavefront-responder's undo of d-OLD); a rollback is \
         never stopped"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn with_the_in_memory_ledger_a_deployment_described_as_our_undo_is_ours() {
    // The in-memory ledger's records go with the process: forgetting an undo of ours would
    // take it for a release, so its description is trusted.
    let mut events = vec![
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
    ];
    events.extend(lambda_targets_of("d-UNDO1"));
    let replay = Replay::codedeploy(events).await;
    let report = replay
        .run_with(&rollback(Some("1h")), &Ledger::in_memory(None))
        .await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report.detail.starts_with("d-UNDO1 is itself a rollback"),
        "{report:?}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_described_as_our_undo_without_a_record_of_it_is_stopped_as_a_release() {
    // Anyone can write the description: without the ledger's record, it is a release.
    let mut events = vec![
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
    ];
    events.extend(lambda_targets_of("d-UNDO1"));
    events.push(stop_ok("d-UNDO1"));
    let replay = Replay::codedeploy(events).await;
    let report = replay
        .run_with(&rollback(Some("1h")), &shared_ledger().await)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "stopped deployment d-UNDO1 with rollback (CodeDeploy: Pending, Stopping the deployment)"
    );
    assert!(report.changed, "{report:?}");
    replay.assert_requests();
}

/// The calls of a stop that finds d-GOOD42 already completed (Succeeded) and reads what an
/// undo of it needs; the undo's `CreateDeployment` follows them.
fn completed_while_stopped() -> Vec<ReplayEvent> {
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
    ];
    events.extend(lambda_targets());
    events.extend([
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
    ]);
    events.extend(lambda_targets());
    events
}

#[tokio::test]
async fn a_deployment_that_succeeds_while_stopped_is_undone_inside_the_window() {
    let mut events = completed_while_stopped();
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
async fn a_failed_undo_after_a_stop_race_keeps_what_the_stop_found() {
    // As above, but the undo's CreateDeployment is refused: the record still says how the
    // stop ended before it says why the undo failed.
    let mut events = completed_while_stopped();
    events.push(create_undo_answered(
        400,
        json!({"__type": "InvalidRevisionException", "message": "The revision is not valid."}),
    ));
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report.detail.starts_with(
            "d-GOOD42 completed (Succeeded) before it could be stopped; CreateDeployment: \
             InvalidRevisionException: The revision is not valid."
        ),
        "{report:?}"
    );
    replay.assert_requests();
}

fn stop_request(id: &str) -> Value {
    json!({"deploymentId": id, "autoRollbackEnabled": true})
}

fn already_completed(id: &str) -> ReplayEvent {
    codedeploy_error(
        "StopDeployment",
        stop_request(id),
        "DeploymentAlreadyCompletedException",
        &format!("The deployment {id} is already completed."),
    )
}

/// An answer with no word on whether the call was applied: the SDK retries it.
fn internal_failure(operation: &str, request: Value) -> ReplayEvent {
    codedeploy_call(
        operation,
        request,
        500,
        json!({"__type": "InternalFailure", "message": "An internal error occurred."}),
    )
}

fn get_stopped(id: &str) -> ReplayEvent {
    read_back(deployment_info(id, "Stopped", "user", None))
}

/// `GetDeployment` answering with `info`, read back after a stop was refused.
fn read_back(info: Value) -> ReplayEvent {
    let id = info["deploymentId"].clone();
    codedeploy_call(
        "GetDeployment",
        json!({"deploymentId": id}),
        200,
        json!({"deploymentInfo": info}),
    )
}

#[tokio::test]
async fn a_stop_that_finds_the_deployment_already_stopped_changed_nothing_and_keeps_its_alias() {
    let mut events = lambda_in_progress("d-ABC123");
    events.extend([already_completed("d-ABC123"), get_stopped("d-ABC123")]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 was already stopped when this request tried to stop it; a rollback of it may \
         not have started yet; checkout:live is left to CodeDeploy, which may be moving it back"
    );
    // Sent once and refused: someone else stopped it (perhaps an earlier delivery of this
    // incident), so the claims may be given back; CodeDeploy creates the rollback only after
    // answering the stop, so the alias stays left to it, as someone else's.
    assert!(!report.changed, "{report:?}");
    let handover = handed_over.find("checkout", "live").expect("handed over");
    assert!(!handover.ours);
    assert_eq!(
        handover.by,
        "d-ABC123, stopped; its rollback may not have started yet"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_that_finds_someone_elses_rollback_under_way_leaves_the_alias_to_it() {
    let mut events = lambda_in_progress("d-ABC123");
    // An alarm stopped it between our listing and our stop, and CodeDeploy is rolling back.
    let mut stopped = deployment_info("d-ABC123", "Stopped", "user", None);
    stopped["rollbackInfo"] = json!({
        "rollbackDeploymentId": "d-RB9",
        "rollbackMessage": "Deployment d-ABC123 was stopped by an alarm; rolling back with d-RB9"
    });
    events.extend([already_completed("d-ABC123"), read_back(stopped)]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 was already Stopped when this request tried to stop it, and d-RB9 is rolling it \
         back; checkout:live is left to CodeDeploy, which may be moving it back"
    );
    // Not ours: nothing changed, and the alias is left to someone else's rollback without
    // making it handled for the incident.
    assert!(!report.changed, "{report:?}");
    let alias = run_after(&replay, &stable_to_live(), false, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Skipped, "{alias:?}");
    assert_eq!(
        alias.detail,
        "CodeDeploy is moving checkout:live back (d-RB9, a rollback of d-ABC123 in progress); \
         leaving the alias to it"
    );
    assert!(!alias.left_to_codedeploy, "{alias:?}");
    replay.assert_requests();
}

/// The first StopDeployment is applied but its answer is a 500; the SDK's retry then finds the
/// deployment stopped, by its own first attempt as far as anyone can tell.
fn retried_stop(id: &str) -> Vec<ReplayEvent> {
    // A Lambda deployment: CodeDeploy may be moving its alias back for us.
    let mut events = lambda_in_progress(id);
    events.extend([
        internal_failure("StopDeployment", stop_request(id)),
        already_completed(id),
        get_stopped(id),
    ]);
    events
}

#[tokio::test]
async fn a_retried_stop_that_finds_the_deployment_stopped_may_have_changed_it() {
    let replay = Replay::codedeploy(retried_stop("d-ABC123")).await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 is stopped, perhaps by this request: its StopDeployment was retried, and an \
         earlier attempt may have been applied, so the action keeps its ledger claims"
    );
    assert!(report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_stop_read_back_without_a_status_may_have_changed_it() {
    let mut events = lambda_in_progress("d-ABC123");
    let mut unknown = deployment_info("d-ABC123", "Stopped", "user", None);
    unknown.as_object_mut().unwrap().remove("status");
    events.extend([
        internal_failure("StopDeployment", stop_request("d-ABC123")),
        already_completed("d-ABC123"),
        read_back(unknown),
    ]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 was read back without a status after its StopDeployment was retried; an \
         earlier attempt may have stopped it, so the action keeps its ledger claims; \
         checkout:live is left to CodeDeploy, which may be moving it back"
    );
    // The first attempt may have stopped it: the change and the handover stand.
    assert!(report.changed, "{report:?}");
    assert!(handed_over.find("checkout", "live").is_some());
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_stop_that_finds_the_deployment_succeeded_changed_nothing() {
    let mut events = lambda_in_progress("d-ABC123");
    events.extend([
        internal_failure("StopDeployment", stop_request("d-ABC123")),
        already_completed("d-ABC123"),
        read_back(deployment_info("d-ABC123", "Succeeded", "user", None)),
    ]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-ABC123 completed (Succeeded) before it could be stopped"
    );
    // A stopped deployment does not succeed: no attempt of ours was applied, nothing rolls
    // back, and the claims may be given back.
    assert!(!report.changed, "{report:?}");
    nothing_handed_over(&handed_over);
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_stop_keeps_its_ledger_claims_and_leaves_the_alias_for_now() {
    // No Lambda exchange: the alias action makes no call.
    let replay = Replay::codedeploy(retried_stop("d-ABC123")).await;
    let (reply, ledger) = shipped_pair(&replay).await;
    let stop = &reply.json["rules"][0]["actions"][0];
    assert_eq!(stop["outcome"], "skipped", "{stop}");
    let alias = &reply.json["rules"][0]["actions"][1];
    assert_eq!(alias["outcome"], "skipped", "{alias}");
    assert_eq!(
        alias["detail"],
        "CodeDeploy is moving checkout:live back (d-ABC123, stopped, perhaps by us); leaving the \
         alias to it for now: it may not get there, so a later delivery of this incident stays \
         free to act"
    );
    // Skipped, yet the stop may have been this request's: its latch and its slot of the
    // circuit breaker stay, so a retry cannot act again and the breaker counts it. Whether a
    // rollback follows is not known, so the alias action gives its claims back.
    let held = crate::support::ledger_keys(&ledger).await;
    let latches = held
        .iter()
        .filter(|pk| pk.starts_with("incident#1700000000001#"))
        .count();
    assert_eq!(latches, 1, "only the stop's latch: {held:?}");
    let slots = held.iter().filter(|pk| *pk == "circuit").count();
    assert_eq!(slots, 1, "only the stop's slot is kept: {held:?}");
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
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": []}),
        ),
        get_group(group_info(
            "Server",
            "2026-11-25T20:48:00Z".parse().unwrap(),
            None,
        )),
        get_good42(success),
        create_server_undo(),
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
    match status {
        412 => headers = headers.header("x-amzn-errortype", "PreconditionFailedException"),
        429 => headers = headers.header("x-amzn-errortype", "TooManyRequestsException"),
        500 => headers = headers.header("x-amzn-errortype", "ServiceException"),
        _ => {}
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

fn get_live(body: Value) -> ReplayEvent {
    lambda_call("GET", &alias_uri("live"), None, 200, body)
}

fn put_live(version: &str, revision: &str, status: u16, response: Value) -> ReplayEvent {
    lambda_call(
        "PUT",
        &alias_uri("live"),
        Some(update(version, revision)),
        status,
        response,
    )
}

/// The first read (42, revision rev-a), the destination checked, and an `UpdateAlias` that
/// finds the alias changed since.
fn first_try_conflicts() -> Vec<ReplayEvent> {
    vec![
        get_live(alias_body("42", "rev-a")),
        version_exists("41"),
        put_live("41", "rev-a", 412, conflict()),
    ]
}

#[tokio::test]
async fn a_concurrent_deploy_is_never_overwritten() {
    let mut events = first_try_conflicts();
    // A deploy moved live to 43 meanwhile: theirs is the newer decision.
    events.push(get_live(alias_body("43", "rev-b")));
    let replay = Replay::lambda(events).await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "live changed from 42 to 43 while we were deciding (revision rev-b); leaving it alone"
    );
    assert!(!report.changed, "{report:?}");
    // No second UpdateAlias.
    replay.assert_requests();
}

#[tokio::test]
async fn a_canary_started_meanwhile_is_left_alone() {
    let mut events = first_try_conflicts();
    let mut canary = alias_body("42", "rev-b");
    canary["RoutingConfig"] = json!({"AdditionalVersionWeights": {"43": 0.1}});
    events.push(get_live(canary));
    let replay = Replay::lambda(events).await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "live changed from 42 to 42 with a canary (43 at 10%) while we were deciding (revision \
         rev-b); leaving it alone"
    );
    replay.assert_requests();
}

/// The alias as it was first read, with only its description (so its revision) changed.
fn only_described(revision: &str) -> Value {
    let mut body = alias_body("42", revision);
    body["Description"] = json!("owner: team-checkout");
    body
}

#[tokio::test]
async fn a_change_that_routes_nothing_differently_is_decided_again() {
    let mut events = first_try_conflicts();
    events.extend([
        get_live(only_described("rev-b")),
        // Same destination, already checked: straight to the update, against rev-b.
        put_live("41", "rev-b", 200, alias_body("41", "rev-c")),
    ]);
    let replay = Replay::lambda(events).await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.detail, "moved live 42 -> 41");
    assert!(report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_concurrent_rollback_by_someone_else_is_left_alone() {
    let mut events = first_try_conflicts();
    events.push(get_live(alias_body("41", "rev-b")));
    let replay = Replay::lambda(events).await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.detail, "live is already at version 41");
    // Sent once and refused: not ours, so the claims may be given back.
    assert!(!report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_update_that_runs_into_its_own_write_keeps_its_claims() {
    let replay = Replay::lambda(vec![
        get_live(alias_body("42", "rev-a")),
        version_exists("41"),
        // Applied, but answered with a 500: the SDK sends it again, and the retry finds the
        // revision its own first attempt moved on.
        put_live(
            "41",
            "rev-a",
            500,
            json!({"Type": "Service", "message": "An internal error occurred."}),
        ),
        put_live("41", "rev-a", 412, conflict()),
        get_live(alias_body("41", "rev-c")),
    ])
    .await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "live is already at version 41; this request's UpdateAlias was retried, and an earlier \
         attempt may have moved it there, so the action keeps its ledger claims"
    );
    assert!(report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn two_conflicts_in_a_row_leave_the_alias_alone() {
    let mut events = first_try_conflicts();
    events.extend([
        get_live(only_described("rev-b")),
        put_live("41", "rev-b", 412, conflict()),
    ]);
    let replay = Replay::lambda(events).await;
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
    assert!(!report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn an_action_that_changed_something_keeps_its_claims_even_when_it_failed() {
    use wavefront_responder::ledger::Ledger;

    let stop = |id: &str| json!({"deploymentId": id, "autoRollbackEnabled": true});
    let mut events = vec![
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
    ];
    events.extend(lambda_targets_of("d-A"));
    events.push(codedeploy_call(
        "StopDeployment",
        stop("d-A"),
        200,
        json!({"status": "Pending"}),
    ));
    events.extend(lambda_targets_of("d-B"));
    events.push(codedeploy_error(
        "StopDeployment",
        stop("d-B"),
        "DeploymentDoesNotExistException",
        "The deployment d-B could not be found.",
    ));
    let replay = Replay::codedeploy(events).await;
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let config = wavefront_responder::config::Config::parse(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"checkout-errors\"\n\
         alert = \"checkout * error rate*\"\n[[rule.action]]\ntype = \"codedeploy-rollback\"\n\
         application = \"checkout\"\ndeployment_group = \"checkout-prod\"\n",
        std::path::Path::new("partial.toml"),
    )
    .unwrap();
    let t = crate::support::TestResponder::live(config, replay.aws.clone(), ledger.clone()).await;
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

// A codedeploy-rollback that leaves a Lambda alias to CodeDeploy, then a lambda-alias action on
// the same alias: the shipped config's pair.

const PAIR: &str = r#"
[auth]
tokens = ["env:WEBHOOK_TOKEN"]

[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"

  [[rule.action]]
  type = "codedeploy-rollback"
  application = "checkout"
  deployment_group = "checkout-prod"

  [[rule.action]]
  type = "lambda-alias"
  function = "checkout"
  alias = "live"
  to_alias = "stable"
"#;

/// Sends the checkout alert to a responder running [`PAIR`] against `replay`, with an
/// in-memory ledger; the reply and the ledger.
async fn shipped_pair(
    replay: &Replay,
) -> (crate::support::Reply, wavefront_responder::ledger::Ledger) {
    responder_reply(replay, PAIR).await
}

/// Sends the checkout alert to a responder running `config` against `replay`, with an
/// in-memory ledger; the reply and the ledger.
async fn responder_reply(
    replay: &Replay,
    config: &str,
) -> (crate::support::Reply, wavefront_responder::ledger::Ledger) {
    use wavefront_responder::ledger::Ledger;

    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let config =
        wavefront_responder::config::Config::parse(config, std::path::Path::new("pair.toml"))
            .unwrap();
    let t = crate::support::TestResponder::live(config, replay.aws.clone(), ledger.clone()).await;
    // The incident [`resend`] re-sends.
    let reply = t.post_with_token(&crate::support::firing()).await;
    (reply, ledger)
}

#[tokio::test]
async fn an_alias_codedeploy_is_rolling_back_is_left_to_it() {
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    // The re-delivery below: the rollback action, held by its latch, only reads which
    // rollbacks are under way (CodeDeploy's, set going by the stop).
    events.extend(rollback_under_way("d-RB9", "d-ABC123"));
    // One Lambda exchange: the alias action reads where stable points (41), which the rollback
    // of d-ABC123 (from 42 back to 41) reaches.
    let replay = Replay::new(events, vec![stable_is("41")]).await;
    let (reply, ledger) = shipped_pair(&replay).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["outcome"], "executed", "{actions}");
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        "CodeDeploy is moving checkout:live back (d-ABC123 stopped with rollback); leaving the \
         alias to it"
    );
    // The alias action changed nothing, yet the incident is handled: it keeps its latch and
    // its cooldown, and gives back only its circuit slot, so the breaker counts the one change.
    let held = crate::support::ledger_keys(&ledger).await;
    let kept = |prefix: &str| held.iter().filter(|pk| pk.starts_with(prefix)).count();
    assert_eq!(kept("incident#"), 2, "{held:?}");
    assert_eq!(kept("cooldown#"), 2, "{held:?}");
    assert_eq!(kept("circuit"), 1, "{held:?}");

    // Wavefront re-sends the same incident (a new notification, ALERT_RETRIGGERED) while
    // CodeDeploy's rollback runs: both actions are held by their latches, and the alias
    // action must not move live under the rollback. The replay has no Lambda exchange: any
    // Lambda call would fail the action.
    let reply = resend(&replay, &ledger, PAIR).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "skipped", "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    for action in actions.as_array().unwrap() {
        assert_eq!(action["outcome"], "skipped", "{actions}");
        assert_eq!(action["guard"], "incident_latch", "{actions}");
    }
    assert!(
        actions[0]["detail"].as_str().unwrap().ends_with(
            "; d-RB9 is rolling back; checkout:live is left to CodeDeploy, which may be moving \
             it back"
        ),
        "{actions}"
    );
    assert!(
        actions[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("checkout-errors already handled checkout:live in this incident"),
        "{actions}"
    );
    replay.assert_requests();
}

/// `ListDeployments` and `BatchGetDeployments` finding `rollback`, CodeDeploy's rollback of
/// `of`, in progress on the Lambda platform, and its targets (checkout:live).
fn rollback_under_way(rollback: &str, of: &str) -> Vec<ReplayEvent> {
    let mut events = vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": [rollback]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": [rollback]}),
            200,
            json!({"deploymentsInfo": [
                deployment_info(rollback, "InProgress", "codeDeployRollback", Some(of)),
            ]}),
        ),
    ];
    events.extend(lambda_targets_of(rollback));
    events
}

/// The checkout alert again, as a new notification (`ALERT_RETRIGGERED`) of the same
/// incident, to a responder running `config` against `replay` and the same `ledger`.
async fn resend(
    replay: &Replay,
    ledger: &wavefront_responder::ledger::Ledger,
    config: &str,
) -> crate::support::Reply {
    let again = crate::support::TestResponder::live(
        wavefront_responder::config::Config::parse(config, std::path::Path::new("pair.toml"))
            .unwrap(),
        replay.aws.clone(),
        ledger.clone(),
    )
    .await;
    let resent =
        crate::support::opened_as("6a1f0c2e-9d3b-4e57-8c1a-2b7e4f9d0a33", "ALERT_RETRIGGERED");
    again.post_with_token(&resent).await
}

#[tokio::test]
async fn a_resend_leaves_the_alias_to_a_stop_whose_rollback_has_not_started_yet() {
    // The first delivery stopped d-ABC123; CodeDeploy answered the stop at once and creates the
    // rollback later, so the re-send still finds d-ABC123 in progress, created by a user.
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    events.extend(lambda_in_progress("d-ABC123"));
    // No Lambda exchange: the alias action must make no call.
    let replay = Replay::codedeploy(events).await;
    let stop_only = PAIR
        .split("  [[rule.action]]\n  type = \"lambda-alias\"")
        .next()
        .unwrap();
    let (reply, ledger) = responder_reply(&replay, stop_only).await;
    assert_eq!(reply.json["rules"][0]["actions"][0]["outcome"], "executed");

    let reply = resend(&replay, &ledger, PAIR).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["guard"], "incident_latch", "{actions}");
    assert!(
        actions[0]["detail"].as_str().unwrap().ends_with(
            "; d-ABC123 is still in progress (a stop an earlier delivery sent may not \
                 have started its rollback yet); checkout:live is left to CodeDeploy, which may \
                 be moving it back"
        ),
        "{actions}"
    );
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        "CodeDeploy is moving checkout:live back (d-ABC123, in progress); leaving the alias to it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_resend_leaves_the_alias_to_the_rollback_the_first_delivery_set_going() {
    // The first delivery stopped the deployment, but its alias action never got its own
    // latch (here: the rule had no alias action yet; in life, a ledger that failed it).
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    events.extend(rollback_under_way("d-RB9", "d-ABC123"));
    // No Lambda exchange: the alias action must make no call.
    let replay = Replay::codedeploy(events).await;
    let stop_only = PAIR
        .split("  [[rule.action]]\n  type = \"lambda-alias\"")
        .next()
        .unwrap();
    let (reply, ledger) = responder_reply(&replay, stop_only).await;
    assert_eq!(reply.json["rules"][0]["actions"][0]["outcome"], "executed");

    // The re-send: the rollback action is held by its latch, yet it sees CodeDeploy's
    // rollback under way and leaves the alias to it.
    let reply = resend(&replay, &ledger, PAIR).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["guard"], "incident_latch", "{actions}");
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        "CodeDeploy is moving checkout:live back (d-RB9, a rollback in progress); leaving the \
         alias to it"
    );
    // Found, not set going by this request: the alias action's claims go back, so once the
    // rollback is over a later delivery may still act.
    let held = crate::support::ledger_keys(&ledger).await;
    let latches = held.iter().filter(|pk| pk.starts_with("incident#")).count();
    assert_eq!(latches, 1, "only the stop's latch: {held:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn an_alias_our_undo_deployment_moves_is_left_to_it_but_not_counted_handled() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    events.push(create_undo());
    // GetAlias of live: the undo's staleness check. The alias action makes no call.
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let mut handed_over = HandedOver::default();
    let undo = run_after(&replay, &rollback(Some("1h")), false, &mut handed_over).await;
    assert_eq!(undo.outcome, ActionOutcome::Executed, "{undo:?}");
    let alias = run_after(&replay, &stable_to_live(), false, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Skipped, "{alias:?}");
    assert_eq!(
        alias.detail,
        "CodeDeploy is moving checkout:live back (d-UNDO1 undoes d-GOOD42); leaving the alias \
         to it for now: it may not get there, so a later delivery of this incident stays free \
         to act"
    );
    assert!(alias.aws_request_ids.is_empty(), "{alias:?}");
    assert!(!alias.changed);
    // An undo runs without automatic rollback and may fail: the alias is not handled yet, so
    // the alias action gives its claims back.
    assert!(!alias.left_to_codedeploy);
    replay.assert_requests();
}

#[tokio::test]
async fn a_rollback_of_ours_that_does_not_reach_stable_leaves_the_incident_open() {
    // The bad release succeeded earlier; a fix-forward, d-ABC123 (41 -> 42), is in progress.
    // Stopping it rolls live back to 41, the bad release, while stable is on 40.
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    let replay = Replay::new(events, vec![stable_is("40")]).await;
    let (reply, ledger) = shipped_pair(&replay).await;
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["outcome"], "executed", "{actions}");
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        "CodeDeploy is moving checkout:live back (d-ABC123 stopped with rollback), to version 41, \
         not to version 40 where stable points: leaving the alias to it for now, since two \
         movers must not race; a later delivery of this incident moves it once CodeDeploy is done"
    );
    // Not handled: the alias action gives its latch and cooldown back, so the next delivery
    // of the incident may move live to stable once the rollback is over.
    let held = crate::support::ledger_keys(&ledger).await;
    let latches = held.iter().filter(|pk| pk.starts_with("incident#")).count();
    assert_eq!(latches, 1, "only the stop's latch: {held:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_dry_run_hands_nothing_over() {
    let replay = Replay::new(
        one_in_progress("d-ABC123"),
        vec![
            live_is("42"),
            lambda_call(
                "GET",
                &alias_uri("stable"),
                None,
                200,
                alias_body("41", "rev-s"),
            ),
        ],
    )
    .await;
    let mut handed_over = HandedOver::default();
    let stop = run_after(&replay, &rollback(None), true, &mut handed_over).await;
    assert_eq!(stop.detail, "would stop deployment d-ABC123 with rollback");
    nothing_handed_over(&handed_over);
    let alias = run_after(&replay, &stable_to_live(), true, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Planned, "{alias:?}");
    assert_eq!(alias.detail, "would move live 42 -> 41");
    replay.assert_requests();
}

#[tokio::test]
async fn an_alias_whose_mover_cannot_be_read_is_left_alone_and_the_delivery_is_not_done() {
    let mut events = one_in_progress("d-ABC123");
    events.push(codedeploy_error(
        "ListDeploymentTargets",
        json!({"deploymentId": "d-ABC123"}),
        "AccessDeniedException",
        "User is not authorized to perform: codedeploy:ListDeploymentTargets",
    ));
    // Still stopped: the release is still undone.
    events.push(stop_ok("d-ABC123"));
    // No Lambda exchange: which alias the rollback moves is not known, so the alias action
    // moves none.
    let replay = Replay::codedeploy(events).await;
    let (reply, ledger) = shipped_pair(&replay).await;
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["outcome"], "executed", "{actions}");
    let unread = "the Lambda alias d-ABC123 moves could not be read (ListDeploymentTargets: \
                  AccessDeniedException: User is not authorized to perform: \
                  codedeploy:ListDeploymentTargets (request id req-ListDeploymentTargets-400))";
    assert_eq!(
        actions[0]["detail"],
        format!(
            "stopped deployment d-ABC123 with rollback (CodeDeploy: Pending, Stopping the \
             deployment); {unread}: a later lambda-alias action leaves its alias alone"
        )
    );
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        format!(
            "{unread}, so CodeDeploy may be moving checkout:live back: leaving the alias alone \
             for now, since two movers must not race"
        )
    );
    // Not done with: answered 503, so a later delivery moves the alias once it can tell.
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "in_progress");
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let held = crate::support::ledger_keys(&ledger).await;
    let latches = held.iter().filter(|pk| pk.starts_with("incident#")).count();
    assert_eq!(latches, 1, "only the stop's latch: {held:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_resend_that_cannot_read_the_deployments_under_way_leaves_the_alias_alone() {
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    // The re-send: the rollback action, held by its latch, cannot read what is under way.
    events.push(codedeploy_error(
        "ListDeployments",
        list_active(),
        "AccessDeniedException",
        "User is not authorized to perform: codedeploy:ListDeployments",
    ));
    // No Lambda exchange: the alias action must make no call.
    let replay = Replay::codedeploy(events).await;
    let stop_only = PAIR
        .split("  [[rule.action]]\n  type = \"lambda-alias\"")
        .next()
        .unwrap();
    let (reply, ledger) = responder_reply(&replay, stop_only).await;
    assert_eq!(reply.json["rules"][0]["actions"][0]["outcome"], "executed");

    let reply = resend(&replay, &ledger, PAIR).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["guard"], "incident_latch", "{actions}");
    let detail = actions[1]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "the deployments under way in checkout/checkout-prod could not be read \
             (ListDeployments: AccessDeniedException"
        ) && detail.ends_with(
            "so CodeDeploy may be moving checkout:live back: leaving the alias alone for now, \
             since two movers must not race"
        ),
        "{actions}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_delivery_held_by_a_stop_still_being_made_leaves_every_alias_alone() {
    use wavefront_responder::alert::Alert;
    use wavefront_responder::ledger::{Admission, Attempt, Incident};

    // Another request is handling the incident's rollback right now: it may be stopping a
    // deployment whose rollback CodeDeploy has not created yet. Nothing here can see that.
    let ledger = wavefront_responder::ledger::Ledger::in_memory(None);
    let firing = Alert::parse(crate::support::firing().as_bytes()).unwrap();
    let incident = Incident::of(&firing);
    let attempt = Attempt {
        rule: "checkout-errors",
        target: "checkout/checkout-prod",
        cooldown: None,
        incident: &incident,
        request_id: "req-elsewhere",
        pending_for: std::time::Duration::from_secs(60),
    };
    let admitted = ledger
        .admit(&attempt, jiff::Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(admitted, Admission::Admitted(_)));
    // No exchange at all: neither action makes a call.
    let replay = Replay::codedeploy(vec![]).await;
    let reply = resend(&replay, &ledger, PAIR).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["guard"], "incident_latch", "{actions}");
    assert_eq!(actions[1]["outcome"], "skipped", "{actions}");
    assert_eq!(
        actions[1]["detail"],
        "another request is handling checkout/checkout-prod right now and may be stopping a \
         deployment, so CodeDeploy may be moving checkout:live back: leaving the alias alone for \
         now, since two movers must not race"
    );
    replay.assert_requests();
}

/// `checkout:live` to wherever `stable` points, as the shipped config has it. It reads both
/// aliases at once; the replay client answers requests in the order they are sent, which is
/// `live` first, the first of the two reads `tokio::join!` starts (each replayed answer is ready
/// at once, so neither waits for the other).
fn stable_to_live() -> Action {
    Action::LambdaAlias(
        AliasShift::new(
            "checkout".into(),
            "live".into(),
            Destination::Alias("stable".into()),
        )
        .unwrap(),
    )
}

/// Asserts that `checkout:live` is not left to CodeDeploy, and that the request can tell.
fn nothing_handed_over(handed_over: &HandedOver) {
    let found = handed_over.find("checkout", "live");
    assert!(
        found.is_none() && handed_over.uncertain.is_none(),
        "{handed_over:?}"
    );
}

/// Runs `action` after the earlier actions of the same request that filled `handed_over`.
async fn run_after(
    replay: &Replay,
    action: &Action,
    dry_run: bool,
    handed_over: &mut HandedOver,
) -> Report {
    run_action_after(action, &replay.aws, dry_run, now(), handed_over).await
}

// A call that changes something, retried: an attempt AWS did not refuse may have been applied,
// whatever the last attempt's error.

fn throttled(operation: &str, request: Value) -> ReplayEvent {
    codedeploy_error(operation, request, "ThrottlingException", "Rate exceeded")
}

/// How a failed change that may have been applied after three attempts ends its sentence.
const SENT_THREE_TIMES: &str = "it was sent 3 times and AWS did not refuse every attempt: one \
                                it did not refuse may have been applied, so the action's ledger \
                                claims are kept: check before acting by hand";

#[tokio::test]
async fn a_stop_throttled_after_a_server_error_may_have_been_applied() {
    let mut events = lambda_in_progress("d-ABC123");
    // Applied, but answered with a 500; the SDK's two retries are throttled.
    events.extend([
        internal_failure("StopDeployment", stop_request("d-ABC123")),
        throttled("StopDeployment", stop_request("d-ABC123")),
        throttled("StopDeployment", stop_request("d-ABC123")),
    ]);
    let replay = Replay::codedeploy(events).await;
    let (reply, ledger) = shipped_pair(&replay).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let stop = &reply.json["rules"][0]["actions"][0];
    assert_eq!(stop["outcome"], "failed", "{stop}");
    assert_eq!(
        stop["detail"],
        format!(
            "could not stop d-ABC123: StopDeployment: ThrottlingException: Rate exceeded \
             (request id req-StopDeployment-400); {SENT_THREE_TIMES}; checkout:live is left to \
             CodeDeploy, which may be moving it back"
        )
    );
    // CodeDeploy may be rolling it back: the alias action makes no call (no Lambda exchange).
    let alias = &reply.json["rules"][0]["actions"][1];
    assert_eq!(alias["outcome"], "skipped", "{alias}");
    assert!(
        alias["detail"].as_str().unwrap().contains("d-ABC123"),
        "{alias}"
    );
    // The stop kept its claims: a retry of this 502 cannot stop or move anything again.
    let held = crate::support::ledger_keys(&ledger).await;
    assert!(
        held.iter()
            .any(|pk| pk.starts_with("incident#1700000000001#")),
        "{held:?}"
    );
    assert!(held.iter().any(|pk| pk == "circuit"), "{held:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_refused_on_every_attempt_changed_nothing_and_hands_nothing_over() {
    let mut events = lambda_in_progress("d-ABC123");
    events.extend([
        throttled("StopDeployment", stop_request("d-ABC123")),
        throttled("StopDeployment", stop_request("d-ABC123")),
        throttled("StopDeployment", stop_request("d-ABC123")),
    ]);
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let report = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "could not stop d-ABC123: StopDeployment: ThrottlingException: Rate exceeded (request id \
         req-StopDeployment-400)"
    );
    assert!(!report.changed, "{report:?}");
    // Nothing stopped, nothing rolls back: a lambda-alias action may move the alias.
    nothing_handed_over(&handed_over);
    replay.assert_requests();
}

#[tokio::test]
async fn an_update_throttled_after_a_server_error_may_have_been_applied() {
    let rate = || json!({"Type": "User", "message": "Rate exceeded"});
    let replay = Replay::lambda(vec![
        get_live(alias_body("42", "rev-a")),
        version_exists("41"),
        put_live(
            "41",
            "rev-a",
            500,
            json!({"Type": "Service", "message": "An internal error occurred."}),
        ),
        put_live("41", "rev-a", 429, rate()),
        put_live("41", "rev-a", 429, rate()),
    ])
    .await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        format!(
            "UpdateAlias: TooManyRequestsException: Rate exceeded (request id lambda-PUT-429); \
             {SENT_THREE_TIMES}"
        )
    );
    assert!(report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn an_undo_refused_after_a_server_error_may_be_the_deployment_in_the_way() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    // The first attempt created d-UNDO1 but was answered with a 500; the retry finds a
    // deployment in progress in the group: our own undo.
    events.extend([
        create_undo_answered(
            500,
            json!({"__type": "InternalFailure", "message": "An internal error occurred."}),
        ),
        create_undo_answered(
            400,
            json!({
                "__type": "DeploymentLimitExceededException",
                "message": "The deployment group checkout-prod already has an active deployment d-UNDO1"
            }),
        ),
    ]);
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let mut handed_over = HandedOver::default();
    let undo = run_after(&replay, &rollback(Some("1h")), false, &mut handed_over).await;
    assert_eq!(undo.outcome, ActionOutcome::Failed, "{undo:?}");
    assert_eq!(
        undo.detail,
        "CreateDeployment: DeploymentLimitExceededException: The deployment group checkout-prod \
         already has an active deployment d-UNDO1 (request id req-CreateDeployment-400); it was \
         sent 2 times and AWS did not refuse every attempt: one it did not refuse may have been \
         applied, so the action's ledger claims are kept: check before acting by hand; the \
         deployment blocking it may be this request's own undo, created by an earlier attempt: \
         look in checkout/checkout-prod for a deployment described \"wavefront-responder: undo \
         d-GOOD42\"; checkout:live is left to CodeDeploy, which may be moving it back"
    );
    assert!(undo.changed, "the undo may be under way: {undo:?}");
    // The alias stays CodeDeploy's: no Lambda call from the alias action.
    assert_eq!(
        handed_over.find("checkout", "live").map(|h| h.by.as_str()),
        Some("undo of d-GOOD42 requested")
    );
    let alias = run_after(&replay, &stable_to_live(), false, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Skipped, "{alias:?}");
    assert!(alias.aws_request_ids.is_empty(), "{alias:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn an_undo_refused_on_its_only_attempt_hands_nothing_over() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    events.push(create_undo_answered(
        400,
        json!({
            "__type": "DeploymentLimitExceededException",
            "message": "The deployment group checkout-prod already has an active deployment d-OTHER"
        }),
    ));
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let mut handed_over = HandedOver::default();
    let undo = run_after(&replay, &rollback(Some("1h")), false, &mut handed_over).await;
    assert_eq!(undo.outcome, ActionOutcome::Failed, "{undo:?}");
    assert_eq!(
        undo.detail,
        "CreateDeployment: DeploymentLimitExceededException: The deployment group checkout-prod \
         already has an active deployment d-OTHER (request id req-CreateDeployment-400)"
    );
    assert!(!undo.changed, "{undo:?}");
    nothing_handed_over(&handed_over);
    replay.assert_requests();
}

// The alias of a Lambda deployment is handed over before the stop is sent.

/// A response body that arrives only after `delay`: an answer that comes too late.
struct Late {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    body: Option<bytes::Bytes>,
}

impl hyper::body::Body for Late {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(self.body.take().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// StopDeployment of `id`, applied, but its answer arrives only after `delay`.
fn stop_answered_after(id: &str, delay: Duration) -> ReplayEvent {
    answered_after(
        "StopDeployment",
        stop_request(id),
        json!({"status": "Pending", "statusMessage": "Stopping the deployment"}),
        delay,
    )
}

/// A CodeDeploy call answered 200 with `response`, but only after `delay`.
fn answered_after(
    operation: &str,
    request: Value,
    response: Value,
    delay: Duration,
) -> ReplayEvent {
    let late = Late {
        sleep: Box::pin(tokio::time::sleep(delay)),
        body: Some(bytes::Bytes::from(response.to_string())),
    };
    ReplayEvent::new(
        http::Request::builder()
            .uri(CODEDEPLOY)
            .header("x-amz-target", format!("CodeDeploy_20141006.{operation}"))
            .body(SdkBody::from(request.to_string()))
            .unwrap(),
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-requestid", format!("req-{operation}-late"))
            .body(SdkBody::from_body_1_x(late))
            .unwrap(),
    )
}

#[tokio::test]
async fn a_cut_off_keeps_the_alias_of_a_rollback_found_under_way() {
    // A Lambda rollback already under way, and a deployment to stop whose targets answer only
    // after the whole 1 s budget: the action is cut off before it stops anything.
    let mut events = vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-RB1", "d-ABC123"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-RB1", "d-ABC123"]}),
            200,
            json!({"deploymentsInfo": [
                deployment_info("d-RB1", "InProgress", "codeDeployRollback", Some("d-BAD")),
                deployment_info("d-ABC123", "InProgress", "user", None),
            ]}),
        ),
    ];
    events.extend(lambda_targets_of("d-RB1"));
    events.push(answered_after(
        "ListDeploymentTargets",
        json!({"deploymentId": "d-ABC123"}),
        json!({"targetIds": ["checkout:live"]}),
        Duration::from_secs(30),
    ));
    // No Lambda exchange: the alias action must leave the alias to d-RB1.
    let replay = Replay::codedeploy(events).await;
    let config = format!("time_budget = \"1s\"\n{PAIR}");
    let (reply, _ledger) = responder_reply(&replay, &config).await;
    let stop = &reply.json["rules"][0]["actions"][0];
    assert_eq!(stop["outcome"], "failed", "{stop}");
    let alias = &reply.json["rules"][0]["actions"][1];
    assert_eq!(alias["outcome"], "skipped", "{alias}");
    assert_eq!(
        alias["detail"],
        "CodeDeploy is moving checkout:live back (d-RB1, a rollback in progress); leaving the \
         alias to it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_cut_off_after_finding_the_deployment_completed_hands_nothing_over() {
    let mut events = lambda_in_progress("d-ABC123");
    // Refused on its only attempt: it completed first. How it ended is read back only after
    // the whole 1 s budget, so the action is cut off having changed nothing.
    events.push(already_completed("d-ABC123"));
    events.push(answered_after(
        "GetDeployment",
        json!({"deploymentId": "d-ABC123"}),
        json!({"deploymentInfo": deployment_info("d-ABC123", "Succeeded", "user", None)}),
        Duration::from_secs(30),
    ));
    // No rollback is moving the alias, so the alias action reads it and decides for itself.
    let replay = Replay::new(
        events,
        vec![
            get_live(alias_body("41", "rev-a")),
            lambda_call(
                "GET",
                &alias_uri("stable"),
                None,
                200,
                alias_body("41", "rev-s"),
            ),
        ],
    )
    .await;
    let config = format!("time_budget = \"1s\"\n{PAIR}");
    let (reply, ledger) = responder_reply(&replay, &config).await;
    let stop = &reply.json["rules"][0]["actions"][0];
    assert_eq!(stop["outcome"], "failed", "{stop}");
    assert!(
        stop["detail"]
            .as_str()
            .unwrap()
            .ends_with("before changing anything"),
        "{stop}"
    );
    let alias = &reply.json["rules"][0]["actions"][1];
    assert_eq!(alias["outcome"], "skipped", "{alias}");
    assert_eq!(alias["detail"], "live is already at version 41", "{alias}");
    // Neither changed anything: every claim was given back.
    let held = crate::support::ledger_keys(&ledger).await;
    assert!(
        held.iter().all(|pk| pk.starts_with("notification#")),
        "{held:?}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_answered_after_the_time_share_ran_out_still_hands_the_alias_over() {
    let mut events = lambda_in_progress("d-ABC123");
    // Answered long after the whole 1 s time budget.
    events.push(stop_answered_after("d-ABC123", Duration::from_secs(30)));
    let replay = Replay::codedeploy(events).await;
    let config = format!("time_budget = \"1s\"\n{PAIR}");
    let (reply, ledger) = responder_reply(&replay, &config).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let stop = &reply.json["rules"][0]["actions"][0];
    assert_eq!(stop["outcome"], "failed", "{stop}");
    let detail = stop["detail"].as_str().unwrap();
    assert!(detail.starts_with("ran out of time (it had "), "{stop}");
    assert!(
        detail.ends_with(
            "while StopDeployment was under way: it may have been applied; check before acting \
             by hand"
        ),
        "{stop}"
    );
    // CodeDeploy may be rolling the alias back: the alias action makes no call (there is no
    // Lambda exchange to answer one) and leaves it to CodeDeploy.
    let alias = &reply.json["rules"][0]["actions"][1];
    assert_eq!(alias["outcome"], "skipped", "{alias}");
    assert!(
        alias["detail"]
            .as_str()
            .unwrap()
            .contains("stop of d-ABC123 with rollback requested"),
        "{alias}"
    );
    let held = crate::support::ledger_keys(&ledger).await;
    assert!(held.iter().any(|pk| pk == "circuit"), "{held:?}");
    replay.assert_requests();
}

/// The incident of an alert that started firing at `at`, for the attribution guard.
fn started_at(at: Timestamp) -> IncidentStart {
    IncidentStart {
        at,
        from: StartSource::StartedTime,
    }
}

/// Runs `action` live against `replay` with the attribution guard against `since`, recording
/// undos in `ledger`: its report, and the aliases it left to CodeDeploy.
async fn run_since(
    replay: &Replay,
    action: &Action,
    since: Timestamp,
    ledger: &Ledger,
) -> (Report, HandedOver) {
    let context = Context {
        dry_run: false,
        now: now(),
        since: Some(started_at(since)),
        ledger,
        request_id: "req-attribution",
    };
    let mut handed_over = HandedOver::default();
    let report = run_action_in(action, &replay.aws, &context, &mut handed_over).await;
    (report, handed_over)
}

/// `createTime` of [`deployment_info`]'s deployments.
fn created() -> Timestamp {
    Timestamp::from_millisecond(1_795_639_000_123).unwrap()
}

#[tokio::test]
async fn a_lambda_deployment_created_after_the_alert_started_is_not_stopped_and_keeps_its_alias() {
    // The fix, deployed through CodeDeploy a minute after the alert started firing: no
    // StopDeployment is sent (the replay has none to answer), and the alias it deploys is left
    // to it, so a paired lambda-alias action does not move it from under the fix.
    let mut events = one_in_progress("d-FIX");
    events.extend(lambda_targets_of("d-FIX"));
    let replay = Replay::codedeploy(events).await;
    let since = Timestamp::from_second(created().as_second() - 60).unwrap();
    let (report, handed_over) =
        run_since(&replay, &rollback(None), since, &Ledger::in_memory(None)).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.guard, Some(Guard::Attribution));
    assert_eq!(
        report.detail,
        format!(
            "d-FIX was created 1m after the alert started firing ({}); it may be the fix, so it \
             is left alone",
            since.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    );
    assert!(!report.changed);
    let handover = handed_over
        .find("checkout", "live")
        .expect("live is handed over");
    assert_eq!(handover.by, "d-FIX, which may be the fix, in progress");
    // Someone else's deployment, which may fail: a later delivery stays free to act.
    assert!(!handover.ours);
    let mut handed_over = handed_over;
    let shift = run_action_after(&shift_to_41(), &replay.aws, false, now(), &mut handed_over).await;
    assert_eq!(shift.outcome, ActionOutcome::Skipped, "{shift:?}");
    assert_eq!(
        shift.detail,
        "CodeDeploy is moving checkout:live back (d-FIX, which may be the fix, in progress); \
         leaving the alias to it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_lambda_deployment_created_before_the_alert_started_is_stopped() {
    let mut events = lambda_in_progress("d-BAD");
    events.push(stop_ok("d-BAD"));
    let replay = Replay::codedeploy(events).await;
    let since = created() + SignedDuration::from_mins(1);
    let context = Context {
        dry_run: false,
        now: now(),
        since: Some(started_at(since)),
        ledger: &Ledger::in_memory(None),
        request_id: "req-attribution",
    };
    let mut handed_over = HandedOver::default();
    let report = run_action_in(&rollback(None), &replay.aws, &context, &mut handed_over).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.guard, None);
    assert!(handed_over.find("checkout", "live").is_some());
    replay.assert_requests();
}

#[tokio::test]
async fn a_success_created_after_the_alert_started_is_not_undone() {
    // The last success is the fix: created after the alert started, it ended inside the window.
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
            None,
        )),
    ])
    .await;
    // group_info's success was created ten minutes before it ended, at 20:38.
    let since: Timestamp = "2026-11-25T20:35:00Z".parse().unwrap();
    let ledger = Ledger::in_memory(None);
    let (report, _) = run_since(&replay, &rollback(Some("1h")), since, &ledger).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.guard, Some(Guard::Attribution));
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/checkout-prod; the last successful deployment d-GOOD42 \
         was created 3m after the alert started firing (2026-11-25T20:35:00Z); it may be the fix, \
         so it is left alone"
    );
    assert!(ledger.undos(now()).await.unwrap().is_empty());
    replay.assert_requests();
}

#[tokio::test]
async fn a_success_created_before_the_alert_started_is_undone_and_recorded_as_ours() {
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    events.push(create_undo());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let since: Timestamp = "2026-11-25T20:40:00Z".parse().unwrap();
    let ledger = shared_ledger().await;
    let context = Context {
        dry_run: false,
        now: now(),
        since: Some(started_at(since)),
        ledger: &ledger,
        request_id: "req-attribution",
    };
    let mut handed_over = HandedOver::default();
    let report = run_action_in(
        &rollback(Some("1h")),
        &replay.aws,
        &context,
        &mut handed_over,
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    // Recorded before it was created: from now on d-UNDO1, described as the undo of
    // d-GOOD42, is known for ours.
    assert!(ledger.undos(now()).await.unwrap().contains("d-GOOD42"));
    replay.assert_requests();
}

/// A shared ledger whose table does not exist: every read and write of it fails.
async fn broken_ledger() -> Ledger {
    let aws = crate::moto::aws().await;
    let table = crate::moto::unique("no-such-table");
    let store = wavefront_responder::ledger::dynamodb::DynamoStore::new(aws.dynamodb, table);
    Ledger::new(
        std::sync::Arc::new(store),
        HumanDuration::parse("7d").unwrap(),
        None,
    )
}

#[tokio::test]
async fn an_undo_that_cannot_be_recorded_is_not_created() {
    // Everything up to the undo is read as usual; the CreateDeployment is never sent (the
    // replay has none to answer).
    let mut events = last_success(
        "2026-11-25T20:48:00Z",
        deployment_info("d-GOOD42", "Succeeded", "user", None),
    );
    events.extend(lambda_targets());
    let replay = Replay::new(events, vec![live_is("42")]).await;
    let report = replay
        .run_with(&rollback(Some("1h")), &broken_ledger().await)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("ledger PutItem failed: ResourceNotFoundException"),
        "{report:?}"
    );
    assert!(
        report.detail.ends_with(
            "the undo of d-GOOD42 was not created, because without a record of it a later \
             alert could take it for a release and stop it"
        ),
        "{report:?}"
    );
    assert!(!report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_described_as_our_undo_is_not_stopped_when_the_ledger_cannot_say() {
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
    let report = replay
        .run_with(&rollback(None), &broken_ledger().await)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report.detail.ends_with(
            "cannot tell whether a deployment described as this responder's undo is one, so \
             none is stopped or undone"
        ),
        "{report:?}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_of_a_deployment_listed_as_not_started_leaves_the_alias_for_a_later_delivery() {
    // Listed as Created: if it has not started, its stop sets no rollback moving live; if it
    // started since the listing (an earlier stop freed the group), its rollback does. Either
    // way the alias action leaves live alone, and does not count it handled: a later delivery
    // of the incident may act.
    let mut events = one_in_progress("d-ABC123");
    events[1] = codedeploy_call(
        "BatchGetDeployments",
        json!({"deploymentIds": ["d-ABC123"]}),
        200,
        json!({"deploymentsInfo": [deployment_info("d-ABC123", "Created", "user", None)]}),
    );
    events.extend(lambda_targets_of("d-ABC123"));
    events.push(stop_ok("d-ABC123"));
    let replay = Replay::codedeploy(events).await;
    let mut handed_over = HandedOver::default();
    let stop = run_after(&replay, &rollback(None), false, &mut handed_over).await;
    assert_eq!(stop.outcome, ActionOutcome::Executed, "{stop:?}");
    let alias = run_after(&replay, &shift_to_41(), false, &mut handed_over).await;
    assert_eq!(alias.outcome, ActionOutcome::Skipped, "{alias:?}");
    assert_eq!(
        alias.detail,
        "CodeDeploy is moving checkout:live back (d-ABC123, stopped before it was seen to start; \
         it may have started since); leaving the alias to it"
    );
    assert!(!alias.left_to_codedeploy, "{alias:?}");
    replay.assert_requests();
}

/// A scale-out on the Server platform: `autoscaling` brings new instances up to the current
/// revision; it is not a release.
fn scale_out(id: &str) -> Value {
    let mut info = deployment_info(id, "InProgress", "autoscaling", None);
    info["computePlatform"] = json!("Server");
    info
}

#[tokio::test]
async fn a_scale_out_in_progress_is_not_a_release_and_is_never_stopped() {
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-AS1"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-AS1"]}),
            200,
            json!({"deploymentsInfo": [scale_out("d-AS1")]}),
        ),
    ])
    .await;
    let report = replay.run(&rollback(None), false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "d-AS1, created by autoscaling, is not a release; it is left alone; nothing in progress \
         in checkout/checkout-prod"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_scale_out_does_not_keep_a_recent_release_from_being_undone() {
    // A scale-out runs, and is the group's last attempt, after the bad release d-GOOD42
    // succeeded: the release is still what runs, and is undone.
    let mut success = deployment_info("d-GOOD42", "Succeeded", "user", None);
    success["computePlatform"] = json!("Server");
    success["previousRevision"] = json!({
        "revisionType": "S3",
        "s3Location": {"bucket": "releases", "key": "checkout-41.zip", "bundleType": "zip"}
    });
    let ended: Timestamp = "2026-11-25T20:48:00Z".parse().unwrap();
    let mut group = group_info("Server", ended, Some("InProgress"));
    group["lastAttemptedDeployment"]["deploymentId"] = json!("d-AS1");
    let replay = Replay::codedeploy(vec![
        codedeploy_call(
            "ListDeployments",
            list_active(),
            200,
            json!({"deployments": ["d-AS1"]}),
        ),
        codedeploy_call(
            "BatchGetDeployments",
            json!({"deploymentIds": ["d-AS1"]}),
            200,
            json!({"deploymentsInfo": [scale_out("d-AS1")]}),
        ),
        get_group(group),
        read_back(scale_out("d-AS1")),
        get_good42(success),
        create_server_undo(),
    ])
    .await;
    let report = replay.run(&rollback(Some("1h")), false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert!(
        report.detail.starts_with(
            "d-AS1, created by autoscaling, is not a release; it is left alone; created \
             deployment d-UNDO2 to undo d-GOOD42"
        ),
        "{report:?}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn an_alias_read_without_a_revision_is_never_updated() {
    // Compare-and-swap needs the RevisionId read: without one, no UpdateAlias is sent at all.
    let mut body = alias_body("42", "unused");
    body.as_object_mut().unwrap().remove("RevisionId");
    let replay = Replay::lambda(vec![get_live(body), version_exists("41")]).await;
    let report = replay.run(&shift_to_41(), false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "GetAlias gave no RevisionId for checkout:live; refusing to update it without \
         compare-and-swap"
    );
    assert!(!report.changed, "{report:?}");
    // Exactly the two reads: the replay fails on any request it was not given.
    replay.assert_requests();
}
