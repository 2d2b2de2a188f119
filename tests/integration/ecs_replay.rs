//! `ecs-rollback` against recorded Amazon ECS exchanges (the SDK's own `StaticReplayClient`):
//! moto implements ECS clusters and services (`ecs_moto.rs` tests `DescribeServices` against
//! it) but not service deployments, so `ListServiceDeployments`, `DescribeServiceDeployments`
//! and `StopServiceDeployment` are replayed here, their request and response bodies as the ECS
//! API reference documents them (JSON 1.1, epoch-second times). The requests the action makes
//! are asserted, bodies included.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wavefront_responder::actions::Action;
use wavefront_responder::actions::ecs::ServiceRollback;
use wavefront_responder::execute::calls::{Report, UNANSWERED_CHANGE};
use wavefront_responder::execute::handover::HandedOver;
use wavefront_responder::execute::{ActionOutcome, Context};
use wavefront_responder::ledger::attribution::{IncidentStart, StartSource};
use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};
use wavefront_responder::ledger::{Guard, Ledger};

use crate::moto::Aws;
use crate::support::{TestResponder, firing, ledger_keys, run_action, run_action_in};

const ECS: &str = "https://ecs.us-east-1.amazonaws.com/";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout";
/// When the deployments here were created: 2026-11-25T20:36:40Z.
const CREATED: i64 = 1_795_639_000;

/// A service deployment's ARN, by its id.
pub(crate) fn deployment_arn(id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/checkout/{id}")
}

/// A service revision's ARN, by its id.
fn revision_arn(id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service-revision/prod/checkout/{id}")
}

/// One ECS (JSON 1.1) exchange: the operation, the request body expected, and AWS's answer.
pub(crate) fn ecs_call(
    operation: &str,
    request: Value,
    status: u16,
    response: Value,
) -> ReplayEvent {
    let request_id = format!("req-{operation}-{status}");
    ReplayEvent::new(
        http::Request::builder()
            .uri(ECS)
            .header(
                "x-amz-target",
                format!("AmazonEC2ContainerServiceV20141113.{operation}"),
            )
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

fn ecs_error(
    operation: &str,
    request: Value,
    status: u16,
    code: &str,
    message: &str,
) -> ReplayEvent {
    ecs_call(
        operation,
        request,
        status,
        json!({"__type": code, "message": message}),
    )
}

/// `DescribeServices` finding prod/checkout, deployed by `controller` (`ECS`, `CODE_DEPLOY`,
/// `EXTERNAL`).
pub(crate) fn service_deployed_by(controller: &str) -> ReplayEvent {
    ecs_call(
        "DescribeServices",
        json!({"cluster": "prod", "services": ["checkout"]}),
        200,
        json!({
            "services": [{
                "serviceArn": SERVICE_ARN,
                "serviceName": "checkout",
                "clusterArn": CLUSTER_ARN,
                "status": "ACTIVE",
                "desiredCount": 4,
                "runningCount": 4,
                "launchType": "FARGATE",
                "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:42",
                "deploymentController": {"type": controller}
            }],
            "failures": []
        }),
    )
}

fn list_request() -> Value {
    json!({
        "cluster": "prod",
        "service": "checkout",
        "status": ["PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED",
                   "ROLLBACK_IN_PROGRESS"]
    })
}

/// `ListServiceDeployments` listing `deployments` (id, status), created at [`CREATED`].
pub(crate) fn listed(deployments: &[(&str, &str)]) -> ReplayEvent {
    ecs_call(
        "ListServiceDeployments",
        list_request(),
        200,
        list_answer(deployments),
    )
}

/// What `ListServiceDeployments` answers with `deployments` (id, status).
fn list_answer(deployments: &[(&str, &str)]) -> Value {
    let briefs: Vec<Value> = deployments
        .iter()
        .map(|(id, status)| {
            json!({
                "serviceDeploymentArn": deployment_arn(id),
                "serviceArn": SERVICE_ARN,
                "clusterArn": CLUSTER_ARN,
                "createdAt": CREATED,
                "startedAt": CREATED + 2,
                "targetServiceRevisionArn": revision_arn("42"),
                "status": status
            })
        })
        .collect();
    json!({"serviceDeployments": briefs})
}

/// A `ServiceDeployment` as `DescribeServiceDeployments` returns it: from revision 41 to 42.
fn deployment(id: &str, status: &str, created: i64) -> Value {
    let mut deployment = json!({
        "serviceDeploymentArn": deployment_arn(id),
        "serviceArn": SERVICE_ARN,
        "clusterArn": CLUSTER_ARN,
        "createdAt": created,
        "startedAt": created + 2,
        "updatedAt": created + 60,
        "sourceServiceRevisions": [{
            "arn": revision_arn("41"),
            "requestedTaskCount": 4,
            "runningTaskCount": 2,
            "pendingTaskCount": 0
        }],
        "targetServiceRevision": {
            "arn": revision_arn("42"),
            "requestedTaskCount": 4,
            "runningTaskCount": 2,
            "pendingTaskCount": 2
        },
        "status": status,
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": false, "rollback": false},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100
        }
    });
    if status.starts_with("ROLLBACK") {
        deployment["statusReason"] = json!("Rollback requested by user");
        deployment["rollback"] = json!({
            "reason": "Rollback requested by user",
            "startedAt": created + 120,
            "serviceRevisionArn": revision_arn("41")
        });
    }
    deployment
}

/// `DescribeServiceDeployments` of `ids`, answered with `deployments`.
fn described(ids: &[&str], deployments: Vec<Value>) -> ReplayEvent {
    let arns: Vec<String> = ids.iter().map(|id| deployment_arn(id)).collect();
    ecs_call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": arns}),
        200,
        json!({"serviceDeployments": deployments, "failures": []}),
    )
}

/// `id` read (or read back) as `status`, created at `created`.
fn one_described(id: &str, status: &str, created: i64) -> ReplayEvent {
    described(&[id], vec![deployment(id, status, created)])
}

fn stop_request(id: &str) -> Value {
    json!({"serviceDeploymentArn": deployment_arn(id), "stopType": "ROLLBACK"})
}

/// `StopServiceDeployment(ROLLBACK)` of `id`, accepted.
pub(crate) fn stop_ok(id: &str) -> ReplayEvent {
    ecs_call(
        "StopServiceDeployment",
        stop_request(id),
        200,
        json!({"serviceDeploymentArn": deployment_arn(id)}),
    )
}

/// What a dry run reads when one deployment (`id`) is in progress on prod/checkout: the
/// service, its deployments in flight, and that one's details. Nothing else.
pub(crate) fn dry_run_one_in_progress(id: &str) -> Vec<ReplayEvent> {
    vec![
        service_deployed_by("ECS"),
        listed(&[(id, "IN_PROGRESS")]),
        one_described(id, "IN_PROGRESS", CREATED),
    ]
}

/// A live stop of `id`: the dry run's reads, the stop, and the read back (`ROLLBACK_REQUESTED`).
pub(crate) fn one_stopped(id: &str) -> Vec<ReplayEvent> {
    let mut events = dry_run_one_in_progress(id);
    events.push(stop_ok(id));
    events.push(one_described(id, "ROLLBACK_REQUESTED", CREATED));
    events
}

/// The `ecs-rollback` of prod/checkout.
pub(crate) fn ecs_rollback() -> Action {
    Action::EcsRollback(ServiceRollback::new("prod".into(), "checkout".into()).unwrap())
}

/// The request bodies the ECS client sent, as the SDK sent them, in order (the replay client
/// keeps only those it answered; this sees a request whose answer is lost too).
#[derive(Clone, Debug, Default)]
struct Sent(Arc<Mutex<Vec<(String, Value)>>>);

impl Sent {
    fn all(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = request.body().bytes().unwrap_or_default();
        let body = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.0.lock().unwrap().push((operation, body));
        Ok(())
    }
}

/// AWS clients whose ECS client replays recorded exchanges, with the responder's own SDK
/// settings but a 1 ms backoff: the same 3 attempts for throttling and 5xx as deployed
/// (`aws::loader`), without the waits.
struct Replay {
    aws: Aws,
    http: StaticReplayClient,
    sent: Sent,
}

impl Replay {
    async fn new(events: Vec<ReplayEvent>) -> Self {
        let http = StaticReplayClient::new(events);
        let config = wavefront_responder::aws::loader()
            .http_client(http.clone())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .load()
            .await;
        let sent = Sent::default();
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(sent.clone())
            .build();
        let aws = Aws {
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            ..Aws::from_sdk_config(&config)
        };
        Self { aws, http, sent }
    }

    async fn run(&self, dry_run: bool) -> Report {
        run_action(&ecs_rollback(), &self.aws, dry_run, now()).await
    }

    /// A live run, the incident having started at `since`.
    async fn run_since(&self, since: Timestamp) -> Report {
        let ledger = Ledger::in_memory(None);
        let context = Context {
            dry_run: false,
            now: now(),
            since: Some(IncidentStart {
                at: since,
                from: StartSource::StartedTime,
            }),
            ledger: &ledger,
            request_id: "req-test",
        };
        run_action_in(
            &ecs_rollback(),
            &self.aws,
            &context,
            &mut HandedOver::default(),
        )
        .await
    }

    /// Every request was the one expected, and every recorded exchange was used.
    fn assert_requests(&self) {
        self.http.assert_requests_match(&[]);
    }

    /// The operations sent, in order.
    fn operations(&self) -> Vec<String> {
        self.sent
            .all()
            .into_iter()
            .map(|(operation, _)| operation)
            .collect()
    }
}

fn now() -> Timestamp {
    "2026-11-25T21:00:00Z".parse().unwrap()
}

fn created() -> Timestamp {
    Timestamp::from_second(CREATED).unwrap()
}

#[tokio::test]
async fn a_deployment_in_progress_is_stopped_with_rollback_and_read_back() {
    let replay = Replay::new(one_stopped("dep-1")).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "stopped service deployment dep-1 with rollback to service revision 41 (it was \
         IN_PROGRESS; now ROLLBACK_REQUESTED)"
    );
    assert_eq!(
        report.aws_request_ids,
        [
            "req-DescribeServices-200",
            "req-ListServiceDeployments-200",
            "req-DescribeServiceDeployments-200",
            "req-StopServiceDeployment-200",
            "req-DescribeServiceDeployments-200"
        ]
    );
    assert!(report.changed);
    assert_eq!(report.guard, None);
    replay.assert_requests();
}

#[tokio::test]
async fn a_dry_run_only_reads_and_names_the_deployment_it_would_stop() {
    let replay = Replay::new(dry_run_one_in_progress("dep-1")).await;
    let report = replay.run(true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would stop service deployment dep-1 (IN_PROGRESS) with rollback to service revision 41"
    );
    assert!(!report.changed);
    assert_eq!(
        replay.operations(),
        [
            "DescribeServices",
            "ListServiceDeployments",
            "DescribeServiceDeployments"
        ]
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_pending_deployment_is_stopped_too() {
    let replay = Replay::new(vec![
        service_deployed_by("ECS"),
        listed(&[("dep-1", "PENDING")]),
        one_described("dep-1", "PENDING", CREATED),
        stop_ok("dep-1"),
        one_described("dep-1", "ROLLBACK_REQUESTED", CREATED),
    ])
    .await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert!(
        report
            .detail
            .contains("(it was PENDING; now ROLLBACK_REQUESTED)"),
        "{report:?}"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_rollback_under_way_and_a_stop_already_requested_are_left_alone() {
    let replay = Replay::new(vec![
        service_deployed_by("ECS"),
        listed(&[
            ("dep-0", "STOP_REQUESTED"),
            ("dep-1", "ROLLBACK_IN_PROGRESS"),
        ]),
        described(
            &["dep-0", "dep-1"],
            vec![
                deployment("dep-0", "STOP_REQUESTED", CREATED - 600),
                deployment("dep-1", "ROLLBACK_IN_PROGRESS", CREATED),
            ],
        ),
    ])
    .await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "service deployment dep-0 is already being stopped (STOP_REQUESTED): someone stopped it \
         before this request, so it is left alone; service deployment dep-1 is already rolling \
         back to service revision 41 (ROLLBACK_IN_PROGRESS: Rollback requested by user); a \
         rollback is never stopped"
    );
    assert!(!report.changed);
    // No StopServiceDeployment: the replay holds no exchange for one.
    replay.assert_requests();
}

#[tokio::test]
async fn nothing_in_progress_is_nothing_to_do() {
    let replay = Replay::new(vec![service_deployed_by("ECS"), listed(&[])]).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in ECS service prod/checkout"
    );
    assert!(!report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_service_codedeploy_deploys_is_left_to_codedeploy_rollback() {
    let replay = Replay::new(vec![service_deployed_by("CODE_DEPLOY")]).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report.detail.contains("a codedeploy-rollback action"),
        "{report:?}"
    );
    assert_eq!(replay.operations(), ["DescribeServices"]);
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_created_after_the_alert_started_is_never_stopped() {
    let replay = Replay::new(dry_run_one_in_progress("dep-FIX")).await;
    // The alert started firing two minutes before the deployment was created.
    let since = created() - SignedDuration::from_secs(120);
    let report = replay.run_since(since).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.guard, Some(Guard::Attribution));
    assert_eq!(
        report.detail,
        "service deployment dep-FIX was created 2m after the alert started firing \
         (2026-11-25T20:34:40Z); it may be the fix, so it is left alone"
    );
    assert!(!report.changed);
    replay.assert_requests();

    // One created before the alert started is the release: it is stopped.
    let replay = Replay::new(one_stopped("dep-BAD")).await;
    let report = replay
        .run_since(created() + SignedDuration::from_secs(60))
        .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.guard, None);
    replay.assert_requests();
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let replay = Replay::new(vec![
        ecs_error(
            "DescribeServices",
            json!({"cluster": "prod", "services": ["checkout"]}),
            400,
            "ThrottlingException",
            "Rate exceeded",
        ),
        service_deployed_by("ECS"),
        ecs_error(
            "ListServiceDeployments",
            list_request(),
            500,
            "ServerException",
            "Internal",
        ),
        listed(&[("dep-1", "IN_PROGRESS")]),
        one_described("dep-1", "IN_PROGRESS", CREATED),
    ])
    .await;
    let report = replay.run(true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    // Only the answers that came through are in the record.
    assert_eq!(
        report.aws_request_ids,
        [
            "req-DescribeServices-200",
            "req-ListServiceDeployments-200",
            "req-DescribeServiceDeployments-200"
        ]
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_whose_answer_is_lost_may_have_been_applied_and_keeps_its_claims() {
    // The reads are answered; the stop is sent and its answer never comes.
    let replay = Replay::new(dry_run_one_in_progress("dep-1")).await;
    let config =
        wavefront_responder::config::Config::parse(RULE, std::path::Path::new("ecs.toml")).unwrap();
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let t = TestResponder::live(config, replay.aws.clone(), ledger.clone()).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "failed", "{action}");
    let detail = action["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("could not stop service deployment dep-1: StopServiceDeployment: "),
        "{detail}"
    );
    assert!(detail.ends_with(UNANSWERED_CHANGE), "{detail}");
    // The stop was sent, as the API reference shapes it.
    let sent = replay.sent.all();
    let (operation, body) = sent.last().unwrap();
    assert_eq!(operation, "StopServiceDeployment");
    assert_eq!(*body, stop_request("dep-1"));
    // It may have been applied: the incident latch and the breaker's slot stay, so a retry of
    // this 502 cannot stop anything again.
    let held = ledger_keys(&ledger).await;
    assert!(
        held.iter().any(|pk| pk.starts_with("incident#")),
        "{held:?}"
    );
    assert!(held.iter().any(|pk| pk == "circuit"), "{held:?}");
    replay.assert_requests();
}

/// A rule that rolls prod/checkout back when the checkout alert fires.
const RULE: &str = r#"
[auth]
tokens = ["env:WEBHOOK_TOKEN"]

[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"

  [[rule.action]]
  type = "ecs-rollback"
  cluster = "prod"
  service = "checkout"
"#;

#[tokio::test]
async fn a_stop_refused_on_every_attempt_changed_nothing() {
    let mut events = dry_run_one_in_progress("dep-1");
    let throttled = || {
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            400,
            "ThrottlingException",
            "Rate exceeded",
        )
    };
    events.extend([throttled(), throttled(), throttled()]);
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "could not stop service deployment dep-1: StopServiceDeployment: ThrottlingException: \
         Rate exceeded (request id req-StopServiceDeployment-400)"
    );
    assert!(!report.changed, "{report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn a_stop_retried_after_a_server_error_and_then_accepted_is_executed() {
    let mut events = dry_run_one_in_progress("dep-1");
    events.extend([
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            500,
            "ServerException",
            "Internal",
        ),
        stop_ok("dep-1"),
        one_described("dep-1", "ROLLBACK_REQUESTED", CREATED),
    ]);
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    // Retried, then answered: it was applied once.
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert!(report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_someone_stopped_first_is_read_back_and_left_alone() {
    let mut events = dry_run_one_in_progress("dep-1");
    events.extend([
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            400,
            "ConflictException",
            "The service deployment is already being rolled back.",
        ),
        one_described("dep-1", "ROLLBACK_REQUESTED", CREATED),
    ]);
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "service deployment dep-1 was already ROLLBACK_REQUESTED when this request tried to stop \
         it (it was IN_PROGRESS); it is left alone"
    );
    assert!(!report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_that_completed_before_the_stop_is_reported_as_it_ended() {
    let mut events = dry_run_one_in_progress("dep-1");
    events.extend([
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            400,
            "ConflictException",
            "The service deployment has already completed.",
        ),
        one_described("dep-1", "SUCCESSFUL", CREATED),
    ]);
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report.detail.starts_with(
            "service deployment dep-1 completed (SUCCESSFUL) before it could be stopped"
        ),
        "{report:?}"
    );
    assert!(!report.changed);
    replay.assert_requests();
}

#[tokio::test]
async fn a_retried_stop_found_rolling_back_may_be_ours_and_keeps_its_claims() {
    let mut events = dry_run_one_in_progress("dep-1");
    events.extend([
        // Applied, answered with a 500; the retry finds it rolling back.
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            500,
            "ServerException",
            "Internal",
        ),
        ecs_error(
            "StopServiceDeployment",
            stop_request("dep-1"),
            400,
            "ConflictException",
            "The service deployment is already being rolled back.",
        ),
        one_described("dep-1", "ROLLBACK_IN_PROGRESS", CREATED),
    ]);
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report.detail.starts_with(
            "service deployment dep-1 is ROLLBACK_IN_PROGRESS, perhaps stopped by this request"
        ),
        "{report:?}"
    );
    assert!(report.changed, "the claims are kept: {report:?}");
    replay.assert_requests();
}

#[tokio::test]
async fn an_unknown_cluster_fails_with_the_aws_error_code() {
    let replay = Replay::new(vec![ecs_error(
        "DescribeServices",
        json!({"cluster": "prod", "services": ["checkout"]}),
        400,
        "ClusterNotFoundException",
        "Cluster not found.",
    )])
    .await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "DescribeServices: ClusterNotFoundException: Cluster not found. (request id \
         req-DescribeServices-400)"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_frozen_rule_makes_no_aws_call() {
    let replay = Replay::new(Vec::new()).await;
    let config =
        wavefront_responder::config::Config::parse(RULE, std::path::Path::new("ecs.toml")).unwrap();
    let ledger = Ledger::in_memory(None);
    let hour = wavefront_responder::duration::HumanDuration::parse("1h").unwrap();
    let scope = FreezeScope::Rule("checkout-errors".into());
    let freeze = Freeze::new(scope, "deploying a fix", "lee", Timestamp::now(), hour).unwrap();
    ledger.freeze(&freeze).await.unwrap();
    let t = TestResponder::live(config, replay.aws.clone(), ledger).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "skipped", "{action}");
    assert_eq!(action["guard"], "frozen");
    assert_eq!(action.get("aws_request_ids"), None);
    assert_eq!(replay.operations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_second_delivery_of_the_incident_is_latched_and_makes_no_aws_call() {
    let replay = Replay::new(one_stopped("dep-1")).await;
    let config =
        wavefront_responder::config::Config::parse(RULE, std::path::Path::new("ecs.toml")).unwrap();
    let t = TestResponder::live(config, replay.aws.clone(), Ledger::in_memory(None)).await;
    let first = t.post_with_token(&firing()).await;
    assert_eq!(
        first.json["rules"][0]["actions"][0]["outcome"], "executed",
        "{}",
        first.text
    );
    let calls = replay.operations().len();
    let resend = crate::support::opened_as("resend-of-the-same-incident", "ALERT_OPENED");
    let again = t.post_with_token(&resend).await;
    let action = &again.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "skipped", "{action}");
    assert_eq!(action["guard"], "incident_latch");
    assert_eq!(replay.operations().len(), calls, "no call after the latch");
    replay.assert_requests();
}

#[tokio::test]
async fn pages_are_followed_and_a_deployment_ecs_cannot_describe_is_decided_from_the_list() {
    let mut page_one = list_answer(&[("dep-0", "ROLLBACK_IN_PROGRESS")]);
    page_one["nextToken"] = json!("page-2");
    let first = ecs_call("ListServiceDeployments", list_request(), 200, page_one);
    let mut page_two = list_request();
    page_two["nextToken"] = json!("page-2");
    let page_two_answer = list_answer(&[("dep-1", "IN_PROGRESS")]);
    let second = ecs_call("ListServiceDeployments", page_two, 200, page_two_answer);
    // ECS describes dep-0 but answers a failure for dep-1 (a revision from before service
    // revisions existed): dep-1 is still known from the list, in progress.
    let describe = ecs_call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [deployment_arn("dep-0"), deployment_arn("dep-1")]}),
        200,
        json!({
            "serviceDeployments": [deployment("dep-0", "ROLLBACK_IN_PROGRESS", CREATED - 600)],
            "failures": [{"arn": revision_arn("7"), "reason": "MISSING"}]
        }),
    );
    let replay = Replay::new(vec![service_deployed_by("ECS"), first, second, describe]).await;
    let report = replay.run(true).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "service deployment dep-0 is already rolling back to service revision 41 \
         (ROLLBACK_IN_PROGRESS: Rollback requested by user); a rollback is never stopped; would \
         stop service deployment dep-1 (IN_PROGRESS) with rollback to the service revision \
         before it"
    );
    replay.assert_requests();
}

#[tokio::test]
async fn a_deployment_gone_before_its_stop_fails_and_changed_nothing() {
    let mut events = dry_run_one_in_progress("dep-1");
    events.push(ecs_error(
        "StopServiceDeployment",
        stop_request("dep-1"),
        400,
        "ServiceDeploymentNotFoundException",
        "The service deployment does not exist.",
    ));
    let replay = Replay::new(events).await;
    let report = replay.run(false).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "could not stop service deployment dep-1: StopServiceDeployment: \
         ServiceDeploymentNotFoundException: The service deployment does not exist. (request id \
         req-StopServiceDeployment-400)"
    );
    assert!(!report.changed);
    replay.assert_requests();
}
