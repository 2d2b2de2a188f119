//! `appconfig-rollback` against recorded AppConfig exchanges (the SDK's own
//! `StaticReplayClient`). moto 5.2.5 implements AppConfig applications, configuration profiles
//! and hosted configuration versions, but no `ListApplications`, no environments and no
//! deployments, so every call here is a recorded exchange, shaped as the AppConfig API
//! reference documents it (REST-JSON: the operation is the method and path, `StopDeployment` is
//! `DELETE .../deployments/N` with an `Allow-Revert` header). The requests the action sends are
//! asserted: paths, query strings, methods and headers.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wavefront_responder::actions::Action;
use wavefront_responder::actions::appconfig::Rollback;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::calls::{Calls, Report};
use wavefront_responder::execute::{ActionOutcome, Clients, Context};
use wavefront_responder::ledger::attribution::{IncidentStart, StartSource};
use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};
use wavefront_responder::ledger::{Guard, Ledger};

use crate::moto::Aws;

const APPCONFIG: &str = "https://appconfig.us-east-1.amazonaws.com";
const APPLICATION: &str = "abc1234";
const ENVIRONMENT: &str = "env5678";
const PROFILE: &str = "prof901";

/// One AppConfig exchange: the request (`GET /applications`), and the answer.
pub(crate) fn appconfig_call(
    method: &str,
    path: &str,
    status: u16,
    response: Value,
) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .method(method)
            .uri(format!("{APPCONFIG}{path}"))
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("x-amzn-requestid", format!("req-{method}-{status}"))
            .body(SdkBody::from(response.to_string()))
            .unwrap(),
    )
}

/// An AppConfig error answer: the code in `x-amzn-errortype`, the message in the body.
pub(crate) fn appconfig_error(method: &str, path: &str, status: u16, code: &str) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .method(method)
            .uri(format!("{APPCONFIG}{path}"))
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("x-amzn-errortype", code)
            .header("x-amzn-requestid", format!("req-{code}"))
            .body(SdkBody::from(
                json!({"Message": format!("{code} here")}).to_string(),
            ))
            .unwrap(),
    )
}

/// `ListApplications`: `checkout` is `abc1234`.
pub(crate) fn list_applications() -> ReplayEvent {
    appconfig_call(
        "GET",
        "/applications",
        200,
        json!({"Items": [
            {"Id": "zzz0001", "Name": "search"},
            {"Id": APPLICATION, "Name": "checkout", "Description": "checkout service"}
        ]}),
    )
}

/// `ListEnvironments` of `checkout`: `prod` is `env5678`.
pub(crate) fn list_environments() -> ReplayEvent {
    appconfig_call(
        "GET",
        &format!("/applications/{APPLICATION}/environments"),
        200,
        json!({"Items": [
            {"ApplicationId": APPLICATION, "Id": "env0001", "Name": "staging", "State": "READY_FOR_DEPLOYMENT"},
            {"ApplicationId": APPLICATION, "Id": ENVIRONMENT, "Name": "prod", "State": "DEPLOYING"}
        ]}),
    )
}

/// `ListConfigurationProfiles` of `checkout`: `flags` is `prof901`.
pub(crate) fn list_profiles() -> ReplayEvent {
    appconfig_call(
        "GET",
        &format!("/applications/{APPLICATION}/configurationprofiles"),
        200,
        json!({"Items": [
            {"ApplicationId": APPLICATION, "Id": "prof000", "Name": "settings", "LocationUri": "hosted", "Type": "AWS.Freeform"},
            {"ApplicationId": APPLICATION, "Id": PROFILE, "Name": "flags", "LocationUri": "hosted", "Type": "AWS.AppConfig.FeatureFlags"}
        ]}),
    )
}

/// A `DeploymentSummary` of `flags`: deployment `number` in `state`, started `started`, and
/// completed `completed` (when finished).
pub(crate) fn summary(
    number: i32,
    state: &str,
    started: Timestamp,
    completed: Option<Timestamp>,
) -> Value {
    let mut item = json!({
        "DeploymentNumber": number,
        "ConfigurationProfileId": PROFILE,
        "ConfigurationName": "flags",
        "ConfigurationVersion": number.to_string(),
        "DeploymentDurationInMinutes": 10,
        "GrowthType": "LINEAR",
        "GrowthFactor": 20.0,
        "FinalBakeTimeInMinutes": 10,
        "State": state,
        "PercentageComplete": 40.0,
        "StartedAt": started.to_string(),
        "Type": "USER"
    });
    if let Some(completed) = completed {
        item["CompletedAt"] = completed.to_string().into();
        item["PercentageComplete"] = 100.0.into();
    }
    item
}

fn deployments_path() -> String {
    format!("/applications/{APPLICATION}/environments/{ENVIRONMENT}/deployments")
}

/// `ListDeployments` of `checkout/prod`, newest first, answering `items`.
pub(crate) fn list_deployments(items: Vec<Value>) -> ReplayEvent {
    appconfig_call(
        "GET",
        &format!("{}?max_results=50", deployments_path()),
        200,
        json!({ "Items": items }),
    )
}

/// The `Deployment` AppConfig answers `GetDeployment` and `StopDeployment` with.
fn deployment(number: i32, state: &str, started: Timestamp, completed: Option<Timestamp>) -> Value {
    let mut full = summary(number, state, started, completed);
    full["ApplicationId"] = APPLICATION.into();
    full["EnvironmentId"] = ENVIRONMENT.into();
    full["DeploymentStrategyId"] = "AppConfig.Linear20PercentEvery6Minutes".into();
    full["EventLog"] = json!([{
        "EventType": "DEPLOYMENT_STARTED",
        "TriggeredBy": "USER",
        "Description": "Deployment started",
        "OccurredAt": started.to_string()
    }]);
    full
}

/// `StopDeployment` of deployment `number` (with `Allow-Revert: true` when `allow_revert`),
/// answered 202 with the deployment now `after`.
pub(crate) fn stop(number: i32, allow_revert: bool, after: &str) -> ReplayEvent {
    let path = format!("{APPCONFIG}{}/{number}", deployments_path());
    let mut request = http::Request::builder().method("DELETE").uri(path);
    if allow_revert {
        request = request.header("allow-revert", "true");
    }
    ReplayEvent::new(
        request.body(SdkBody::empty()).unwrap(),
        http::Response::builder()
            .status(202)
            .header("content-type", "application/json")
            .header("x-amzn-requestid", format!("req-stop-{number}"))
            .body(SdkBody::from(
                deployment(number, after, an_hour_ago(), Some(Timestamp::now())).to_string(),
            ))
            .unwrap(),
    )
}

/// `GetDeployment` of deployment `number`, now `state`.
fn get(number: i32, state: &str, completed: Option<Timestamp>) -> ReplayEvent {
    appconfig_call(
        "GET",
        &format!("{}/{number}", deployments_path()),
        200,
        deployment(number, state, an_hour_ago(), completed),
    )
}

fn an_hour_ago() -> Timestamp {
    Timestamp::now() - SignedDuration::from_hours(1)
}

fn minutes_ago(minutes: i64) -> Timestamp {
    Timestamp::now() - SignedDuration::from_mins(minutes)
}

/// What a dry run that finds deployment 8 `DEPLOYING` reads: the names resolved, the
/// deployments listed. For a `serve --dry-run` test to reuse.
pub(crate) fn dry_run_one_in_progress() -> Vec<ReplayEvent> {
    vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![
            summary(8, "DEPLOYING", an_hour_ago(), None),
            summary(7, "COMPLETE", minutes_ago(300), Some(minutes_ago(280))),
        ]),
    ]
}

/// The action: `checkout`/`prod` by name, optionally the profile and the window.
fn rollback(profile: Option<&str>, window: Option<&str>) -> Action {
    Action::AppConfigRollback(
        Rollback::new(
            "checkout".into(),
            "prod".into(),
            profile.map(str::to_owned),
            window.and_then(|w| HumanDuration::parse(w).ok()),
        )
        .unwrap(),
    )
}

/// The responder's own SDK settings (standard retries, 3 attempts), with a 1 ms backoff so the
/// retries do not slow the tests, replaying `http`.
async fn replayed(http: &StaticReplayClient, timeouts: Option<TimeoutConfig>) -> Aws {
    let mut loader = wavefront_responder::aws::loader()
        .http_client(http.clone())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        );
    if let Some(timeouts) = timeouts {
        loader = loader.timeout_config(timeouts);
    }
    Aws::from_sdk_config(&loader.load().await)
}

/// Replays `events`; every request must match, in order, and every event be used.
struct Replay {
    http: StaticReplayClient,
    clients: Clients,
    aws: Aws,
}

impl Replay {
    async fn new(events: Vec<ReplayEvent>) -> Self {
        Self::timed(events, None).await
    }

    async fn timed(events: Vec<ReplayEvent>, timeouts: Option<TimeoutConfig>) -> Self {
        let http = StaticReplayClient::new(events);
        let aws = replayed(&http, timeouts).await;
        Self {
            clients: aws.clients(),
            http,
            aws,
        }
    }

    /// Runs `action` now, with the incident started at `since` (the guard off when `None`).
    async fn run(&self, action: &Action, dry_run: bool, since: Option<Timestamp>) -> Report {
        let ledger = Ledger::in_memory(None);
        let context = Context {
            dry_run,
            now: Timestamp::now(),
            since: since.map(|at| IncidentStart {
                at,
                from: StartSource::StartedTime,
            }),
            ledger: &ledger,
            request_id: "req-test",
        };
        let mut calls = Calls::default();
        let mut handed_over = Default::default();
        let (outcome, detail) = wavefront_responder::execute::run_action(
            action,
            &self.clients,
            &context,
            &mut calls,
            &mut handed_over,
        )
        .await;
        calls.report(outcome, detail)
    }

    /// Every request was the one expected (path, query, headers) with the method expected, and
    /// every recorded exchange was used.
    fn assert_requests(&self, methods: &[&str]) {
        self.http.assert_requests_match(&[]);
        let sent: Vec<String> = self
            .http
            .actual_requests()
            .map(|r| r.method().to_owned())
            .collect();
        assert_eq!(sent, methods, "the methods sent");
    }

    /// Whether the `index`th request carried `Allow-Revert`.
    fn allow_revert(&self, index: usize) -> Option<String> {
        let request = self.http.actual_requests().nth(index)?;
        request.headers().get("allow-revert").map(str::to_owned)
    }
}

#[tokio::test]
async fn a_deployment_in_progress_is_stopped_and_its_names_are_resolved_once() {
    let mut events = vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![
            summary(8, "DEPLOYING", an_hour_ago(), None),
            summary(7, "COMPLETE", minutes_ago(300), Some(minutes_ago(280))),
        ]),
        stop(8, false, "ROLLED_BACK"),
    ];
    // The next incident, on the same instance: the ids come from the cache.
    events.push(list_deployments(vec![summary(
        9,
        "DEPLOYING",
        an_hour_ago(),
        None,
    )]));
    events.push(stop(9, false, "ROLLED_BACK"));
    let replay = Replay::new(events).await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "stopped deployment 8 (flags version 8) of checkout/prod: it was DEPLOYING, AppConfig now \
         says ROLLED_BACK"
    );
    assert!(report.changed);
    assert_eq!(
        report.aws_request_ids,
        ["req-GET-200", "req-GET-200", "req-GET-200", "req-stop-8"]
    );
    let again = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(again.outcome, ActionOutcome::Executed, "{again:?}");
    replay.assert_requests(&["GET", "GET", "GET", "DELETE", "GET", "DELETE"]);
    // DEPLOYING is stopped without AllowRevert: should it complete first, AWS refuses the
    // stop rather than revert a completed deployment nobody asked to revert.
    assert_eq!(replay.allow_revert(3), None);
    assert_eq!(replay.allow_revert(5), None);
}

#[tokio::test]
async fn validating_and_baking_deployments_are_stopped_with_allow_revert() {
    for state in ["VALIDATING", "BAKING"] {
        let replay = Replay::new(vec![
            list_applications(),
            list_environments(),
            list_deployments(vec![summary(8, state, an_hour_ago(), None)]),
            stop(8, true, "ROLLED_BACK"),
        ])
        .await;
        let report = replay.run(&rollback(None, None), false, None).await;
        assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
        assert_eq!(
            report.detail,
            format!(
                "stopped deployment 8 (flags version 8) of checkout/prod with AllowRevert, which \
                 a {state} deployment needs: it was {state}, AppConfig now says ROLLED_BACK"
            )
        );
        replay.assert_requests(&["GET", "GET", "GET", "DELETE"]);
        assert_eq!(replay.allow_revert(3).as_deref(), Some("true"));
    }
}

#[tokio::test]
async fn a_deployment_completed_inside_the_window_is_reverted_and_outside_it_is_not() {
    let completed = || {
        list_deployments(vec![
            summary(7, "COMPLETE", minutes_ago(50), Some(minutes_ago(20))),
            summary(6, "COMPLETE", minutes_ago(900), Some(minutes_ago(880))),
        ])
    };
    // The profile by name: its id from ListConfigurationProfiles.
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_profiles(),
        completed(),
        stop(7, true, "REVERTED"),
    ])
    .await;
    let report = replay
        .run(&rollback(Some("flags"), Some("1h")), false, None)
        .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "reverted deployment 7 (flags version 7) of checkout/prod/flags to the configuration \
         before it: it was COMPLETE, AppConfig now says REVERTED"
    );
    replay.assert_requests(&["GET", "GET", "GET", "GET", "DELETE"]);
    assert_eq!(replay.allow_revert(4).as_deref(), Some("true"));

    let replay = Replay::new(vec![list_applications(), list_environments(), completed()]).await;
    let report = replay.run(&rollback(None, Some("10m")), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "nothing in progress in checkout/prod; the last one, deployment 7 (flags version 7), \
         completed 20m ago, longer than revert_within = 10m: it is not reverted"
    );
    assert!(!report.changed);
    replay.assert_requests(&["GET", "GET", "GET"]);
}

#[tokio::test]
async fn a_rollback_under_way_is_never_stopped_and_nothing_is_reverted_behind_it() {
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![
            summary(8, "ROLLING_BACK", an_hour_ago(), None),
            summary(7, "COMPLETE", minutes_ago(90), Some(minutes_ago(80))),
        ]),
    ])
    .await;
    let report = replay.run(&rollback(None, Some("72h")), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "deployment 8 (flags version 8) is ROLLING_BACK: a rollback is never stopped"
    );
    replay.assert_requests(&["GET", "GET", "GET"]);
}

#[tokio::test]
async fn nothing_in_progress_and_nothing_revertible_is_skipped_with_the_last_deployment() {
    for (last, detail) in [
        (
            summary(7, "COMPLETE", minutes_ago(90), Some(minutes_ago(80))),
            "nothing in progress in checkout/prod (the last one, deployment 7 (flags version 7), \
             is COMPLETE)",
        ),
        (
            summary(7, "ROLLED_BACK", minutes_ago(90), Some(minutes_ago(80))),
            "nothing in progress in checkout/prod (the last one, deployment 7 (flags version 7), \
             is ROLLED_BACK)",
        ),
    ] {
        let replay = Replay::new(vec![
            list_applications(),
            list_environments(),
            list_deployments(vec![last]),
        ])
        .await;
        let report = replay.run(&rollback(None, None), false, None).await;
        assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
        assert_eq!(report.detail, detail);
        replay.assert_requests(&["GET", "GET", "GET"]);
    }
}

#[tokio::test]
async fn a_deployment_started_after_the_alert_is_left_alone_as_maybe_the_fix() {
    let since = minutes_ago(30);
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(8, "DEPLOYING", minutes_ago(10), None)]),
        // The names are resolved: the second run only lists the deployments.
        list_deployments(vec![summary(
            7,
            "COMPLETE",
            minutes_ago(12),
            Some(minutes_ago(5)),
        )]),
    ])
    .await;
    let report = replay.run(&rollback(None, None), false, Some(since)).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(report.guard, Some(Guard::Attribution));
    assert!(
        report.detail.starts_with(
            "deployment 8 (flags version 8) started 20m after the alert started firing"
        ),
        "{}",
        report.detail
    );
    assert!(
        report
            .detail
            .ends_with("it may be the fix, so it is left alone")
    );
    // A completion inside the window, started after the alert: not reverted either.
    let report = replay
        .run(&rollback(None, Some("1h")), false, Some(since))
        .await;
    assert_eq!(report.guard, Some(Guard::Attribution), "{report:?}");
    assert!(
        report.detail.contains("may be the fix"),
        "{}",
        report.detail
    );
    replay.assert_requests(&["GET"; 4]);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_by_the_sdk() {
    let path = format!("{}?max_results=50", deployments_path());
    let replay = Replay::new(vec![
        appconfig_error("GET", "/applications", 429, "ThrottlingException"),
        list_applications(),
        list_environments(),
        appconfig_error("GET", &path, 500, "InternalServerException"),
        list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
        appconfig_error(
            "DELETE",
            &format!("{}/8", deployments_path()),
            503,
            "ServiceUnavailableException",
        ),
        stop(8, false, "ROLLED_BACK"),
    ])
    .await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    replay.assert_requests(&["GET", "GET", "GET", "GET", "GET", "DELETE", "DELETE"]);
}

#[tokio::test]
async fn a_stop_refused_on_every_attempt_changed_nothing() {
    let stop_path = format!("{}/8", deployments_path());
    let throttled = || appconfig_error("DELETE", &stop_path, 429, "ThrottlingException");
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
        throttled(),
        throttled(),
        throttled(),
    ])
    .await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "could not stop deployment 8 (flags version 8) of checkout/prod: StopDeployment: \
         ThrottlingException: ThrottlingException here (request id req-ThrottlingException)"
    );
    assert!(!report.changed, "{report:?}");
    replay.assert_requests(&["GET", "GET", "GET", "DELETE", "DELETE", "DELETE"]);
}

/// A response body that arrives only after `delay`: an answer lost to the caller's timeout.
struct Late {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
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
        std::task::Poll::Ready(None)
    }
}

/// `StopDeployment` of deployment 8, applied, whose answer never arrives in time.
fn stop_unanswered() -> ReplayEvent {
    let late = Late {
        sleep: Box::pin(tokio::time::sleep(Duration::from_secs(60))),
    };
    ReplayEvent::new(
        http::Request::builder()
            .method("DELETE")
            .uri(format!("{APPCONFIG}{}/8", deployments_path()))
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(202)
            .header("content-type", "application/json")
            .body(SdkBody::from_body_1_x(late))
            .unwrap(),
    )
}

const RULE: &str = r#"
[auth]
tokens = ["env:WEBHOOK_TOKEN"]

[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"

  [[rule.action]]
  type = "appconfig-rollback"
  application = "checkout"
  environment = "prod"
"#;

/// A responder running [`RULE`] against `replay`, with `ledger`.
async fn responder(replay: &Replay, ledger: &Ledger) -> crate::support::TestResponder {
    let config =
        wavefront_responder::config::Config::parse(RULE, std::path::Path::new("appconfig.toml"))
            .unwrap();
    crate::support::TestResponder::live(config, replay.aws.clone(), ledger.clone()).await
}

#[tokio::test]
async fn a_stop_whose_answer_is_lost_may_have_been_applied_and_keeps_its_claims() {
    // Each attempt gives up after 300 ms: the stop reached AppConfig, its answer did not come.
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(5))
        .build();
    let replay = Replay::timed(
        vec![
            list_applications(),
            list_environments(),
            list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
            stop_unanswered(),
            stop_unanswered(),
            stop_unanswered(),
        ],
        Some(timeouts),
    )
    .await;
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let reply = responder(&replay, &ledger)
        .await
        .post_with_token(&crate::support::firing())
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "failed", "{action}");
    let detail = action["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "could not stop deployment 8 (flags version 8) of checkout/prod: StopDeployment: no \
             answer from AWS"
        ),
        "{detail}"
    );
    assert!(
        detail.ends_with(wavefront_responder::execute::calls::UNANSWERED_CHANGE),
        "{detail}"
    );
    // The claims are kept: a retry of this 502 stops nothing again.
    let held = crate::support::ledger_keys(&ledger).await;
    assert!(
        held.iter().any(|pk| pk.starts_with("incident#")),
        "{held:?}"
    );
    assert!(held.iter().any(|pk| pk == "circuit"), "{held:?}");
    replay.assert_requests(&["GET", "GET", "GET", "DELETE", "DELETE", "DELETE"]);
}

#[tokio::test]
async fn a_deployment_that_completes_before_its_stop_is_re_read_and_reverted_in_the_window() {
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(8, "BAKING", an_hour_ago(), None)]),
        // AllowRevert on an in-progress deployment; it completed meanwhile, and reverting it
        // needs a stop of its own, which the window allows.
        appconfig_error(
            "DELETE",
            &format!("{}/8", deployments_path()),
            400,
            "BadRequestException",
        ),
        get(8, "COMPLETE", Some(minutes_ago(1))),
        stop(8, true, "REVERTED"),
    ])
    .await;
    let report = replay.run(&rollback(None, Some("1h")), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "deployment 8 (flags version 8) of checkout/prod completed before it could be stopped; \
         reverted deployment 8 (flags version 8) of checkout/prod to the configuration before \
         it: it was COMPLETE, AppConfig now says REVERTED"
    );
    replay.assert_requests(&["GET", "GET", "GET", "DELETE", "GET", "DELETE"]);

    // Without a window, it is said and left.
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
        appconfig_error(
            "DELETE",
            &format!("{}/8", deployments_path()),
            400,
            "BadRequestException",
        ),
        get(8, "COMPLETE", Some(minutes_ago(1))),
    ])
    .await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "deployment 8 (flags version 8) of checkout/prod completed before it could be stopped"
    );
    assert!(!report.changed, "{report:?}");
}

#[tokio::test]
async fn a_dry_run_makes_only_reads_and_names_the_deployment() {
    let replay = Replay::new(dry_run_one_in_progress()).await;
    let report = replay.run(&rollback(None, Some("1h")), true, None).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would stop deployment 8 (flags version 8) of checkout/prod; it is DEPLOYING, and \
         AppConfig would roll it back"
    );
    assert!(!report.changed);
    replay.assert_requests(&["GET", "GET", "GET"]);

    // A revert, in a dry run, reads the same.
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(
            7,
            "COMPLETE",
            minutes_ago(50),
            Some(minutes_ago(20)),
        )]),
    ])
    .await;
    let report = replay.run(&rollback(None, Some("1h")), true, None).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        "would revert deployment 7 (flags version 7) of checkout/prod, which completed 20m ago, \
         to the configuration before it"
    );
    replay.assert_requests(&["GET", "GET", "GET"]);
}

#[tokio::test]
async fn an_unknown_application_fails_with_a_sentence_naming_the_key() {
    let replay = Replay::new(vec![list_applications()]).await;
    let action = Action::AppConfigRollback(
        Rollback::new("payments".into(), "prod".into(), None, None).unwrap(),
    );
    let report = replay.run(&action, false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert_eq!(
        report.detail,
        "ListApplications: no AppConfig application is named \"payments\" or has that id (of 2 \
         listed): check application = \"payments\" in the rule, and the Region the responder \
         runs in"
    );
    replay.assert_requests(&["GET"]);
}

#[tokio::test]
async fn a_frozen_rule_or_a_latched_incident_makes_no_appconfig_call() {
    // A freeze: no call at all (the replay has no exchange to give).
    let replay = Replay::new(Vec::new()).await;
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let lasts = HumanDuration::parse("1h").unwrap();
    let freeze = Freeze::new(
        FreezeScope::Every,
        "config freeze",
        "kim",
        Timestamp::now(),
        lasts,
    );
    ledger.freeze(&freeze.unwrap()).await.unwrap();
    let reply = responder(&replay, &ledger)
        .await
        .post_with_token(&crate::support::firing())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "skipped", "{action}");
    assert_eq!(action["guard"], "frozen", "{action}");
    replay.assert_requests(&[]);

    // The incident latch: the first delivery stops; the next one of the same incident calls
    // nothing.
    let replay = Replay::new(vec![
        list_applications(),
        list_environments(),
        list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
        stop(8, false, "ROLLED_BACK"),
    ])
    .await;
    let ledger = Ledger::in_memory(Some(wavefront_responder::config::DEFAULT_CIRCUIT_BREAKER));
    let t = responder(&replay, &ledger).await;
    let first = t.post_with_token(&crate::support::firing()).await;
    assert_eq!(first.json["rules"][0]["actions"][0]["outcome"], "executed");
    let mut again: Value = serde_json::from_str(&crate::support::firing()).unwrap();
    again["notificationId"] = "another-notification".into();
    let second = t.post_with_token(&again.to_string()).await;
    let action = &second.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "skipped", "{action}");
    assert_eq!(action["guard"], "incident_latch", "{action}");
    replay.assert_requests(&["GET", "GET", "GET", "DELETE"]);
}

#[tokio::test]
async fn a_stop_retried_after_a_server_error_and_then_refused_may_be_our_own_work() {
    let stop_path = format!("{}/8", deployments_path());
    let events = |after: &str| {
        vec![
            list_applications(),
            list_environments(),
            list_deployments(vec![summary(8, "DEPLOYING", an_hour_ago(), None)]),
            // Applied, but answered with a 500; the retry finds it no longer DEPLOYING.
            appconfig_error("DELETE", &stop_path, 500, "InternalServerException"),
            appconfig_error("DELETE", &stop_path, 400, "BadRequestException"),
            get(8, after, Some(minutes_ago(1))),
        ]
    };
    let replay = Replay::new(events("ROLLED_BACK")).await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "deployment 8 (flags version 8) of checkout/prod is ROLLED_BACK, perhaps by this request: \
         its StopDeployment was retried, and an earlier attempt may have been applied, so the \
         action keeps its ledger claims"
    );
    assert!(report.changed, "the claims are kept: {report:?}");
    replay.assert_requests(&["GET", "GET", "GET", "DELETE", "DELETE", "GET"]);

    // Found COMPLETE instead: no attempt of ours was applied (an applied stop leaves it
    // ROLLED_BACK), so the claims are given back.
    let replay = Replay::new(events("COMPLETE")).await;
    let report = replay.run(&rollback(None, None), false, None).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        "deployment 8 (flags version 8) of checkout/prod completed before it could be stopped"
    );
    assert!(!report.changed, "{report:?}");
}
