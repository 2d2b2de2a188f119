//! Budgets, measured as counts: the AWS API calls each action and each ledger path makes for
//! one alert, recorded by the proxy in front of moto (or, for `StopDeployment`, which moto does
//! not implement, by the SDK's replay client). Every call costs latency inside the time budget
//! and a share of AWS's per-account rate limits, which other automation shares during an
//! incident, so a path that starts making one more call fails here.

use crate::moto::Aws;
use aws_sdk_lambda::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use jiff::Timestamp;
use wavefront_responder::actions::Action;
use wavefront_responder::actions::codedeploy::Rollback;
use wavefront_responder::actions::lambda_alias::{AliasShift, Destination};
use wavefront_responder::execute::ActionOutcome;
use wavefront_responder::execute::handover::HandedOver;

use crate::actions_replay::{lambda_in_progress, one_in_progress_on, stop_ok};
use crate::appconfig_replay as appconfig;
use crate::ecs_replay::{
    dry_run_one_in_progress, ecs_rollback, listed as ecs_listed, one_stopped, service_deployed_by,
};
use crate::moto::{self, alias, alias_state};
use crate::proxy::{self, LedgerKind, Proxy};
use crate::support::*;

/// The AWS calls of one request on each path, retries included (the tests inject no faults,
/// so there are none). Each is asserted exactly: one call more or fewer fails. An action's calls
/// follow one another and are compared in order; the ledger's are compared in order between the
/// actions' writes, apart from the actions' reads (see `proxy::assert_calls`). Ledger calls in
/// one entry in brackets, `"[PutItem Query]"`, are sent at once and match in either order (see
/// `support::sent_at_once`).
///
/// To change a budget, edit its entry here in the same change as the code that makes the
/// calls, and say in its description why the call is worth its latency and rate-limit share.
/// Never loosen an entry to make a test pass without knowing which new call caused it: the
/// assertion message prints the calls made.
const BUDGETS: &[(&str, &[&str])] = &[
    // `to_alias = "stable"`: read both aliases at once, compare-and-swap. The version `stable`
    // points at exists (Lambda does not delete a version an alias references): no check. The
    // attribution guard reads when the version `live` routes traffic to was published (one
    // `GetFunctionConfiguration` per routed version, at once; here `live` has no canary): one
    // published after the alert started firing may be the fix, and is not moved away from.
    (
        "lambda-alias: alias moved",
        &[
            "GetAlias",
            "GetAlias",
            "GetFunctionConfiguration",
            "UpdateAlias",
        ],
    ),
    // Already there: nothing would be undone, so nothing is read for the attribution guard.
    (
        "lambda-alias: already at the target",
        &["GetAlias", "GetAlias"],
    ),
    // A dry run makes the same reads, the attribution guard's included, and writes nothing.
    (
        "lambda-alias: dry run",
        &["GetAlias", "GetAlias", "GetFunctionConfiguration"],
    ),
    (
        "codedeploy-rollback: dry run, one deployment in progress",
        &["ListDeployments", "BatchGetDeployments"],
    ),
    (
        "codedeploy-rollback: nothing in progress",
        &["ListDeployments"],
    ),
    (
        "codedeploy-rollback: one deployment stopped",
        &["ListDeployments", "BatchGetDeployments", "StopDeployment"],
    ),
    // A Lambda deployment stopped with rollback: CodeDeploy then moves its alias back, so its
    // targets are read to hand that alias over, and a lambda-alias action on it later in the
    // request does not race CodeDeploy. They are read before the stop (delaying it by two
    // reads), so the alias is handed over even when the stop's answer is lost or the action's
    // time runs out while it is under way.
    (
        "codedeploy-rollback: one Lambda deployment stopped, its alias handed over",
        &[
            "ListDeployments",
            "BatchGetDeployments",
            "ListDeploymentTargets",
            "BatchGetDeploymentTargets",
            "StopDeployment",
        ],
    ),
    // After that, on the same alias: no call at all.
    ("lambda-alias: left to CodeDeploy", &[]),
    // An ECS service is read first: whether ECS deploys it at all (its deployment controller),
    // before any service deployment is listed. Its deployments in flight are listed, then
    // described (the revision a rollback goes back to, the rollback under way), in one call
    // for up to 20 of them. A dry run stops there.
    (
        "ecs-rollback: dry run, one deployment in progress",
        &[
            "DescribeServices",
            "ListServiceDeployments",
            "DescribeServiceDeployments",
        ],
    ),
    (
        "ecs-rollback: nothing in progress",
        &["DescribeServices", "ListServiceDeployments"],
    ),
    // A service CodeDeploy (or an external controller) deploys: one read, then left to the
    // codedeploy-rollback action.
    ("ecs-rollback: not deployed by ECS", &["DescribeServices"]),
    // StopServiceDeployment answers with the deployment's ARN only, so it is read back once,
    // after the stop (which it does not delay), for the status the record reports.
    (
        "ecs-rollback: one deployment stopped",
        &[
            "DescribeServices",
            "ListServiceDeployments",
            "DescribeServiceDeployments",
            "StopServiceDeployment",
            "DescribeServiceDeployments",
        ],
    ),
    // appconfig-rollback names an application and an environment (names or ids); the
    // deployment calls take ids, so the first run of an instance lists them once (the ids are
    // then cached for the instance's life), then lists the environment's deployments, newest
    // first: one page, down to the first finished one. No GetDeployment: the list gives the
    // state, profile, type and times the decision needs.
    (
        "appconfig-rollback: dry run, one deployment in progress",
        &["ListApplications", "ListEnvironments", "ListDeployments"],
    ),
    (
        "appconfig-rollback: nothing in progress",
        &["ListApplications", "ListEnvironments", "ListDeployments"],
    ),
    (
        "appconfig-rollback: one deployment stopped",
        &[
            "ListApplications",
            "ListEnvironments",
            "ListDeployments",
            "StopDeployment",
        ],
    ),
    // The next incident on the same instance: the ids are cached.
    (
        "appconfig-rollback: one deployment stopped, ids cached",
        &["ListDeployments", "StopDeployment"],
    ),
    // A configuration profile named too: its id is listed once more.
    (
        "appconfig-rollback: a recent completion of one profile reverted",
        &[
            "ListApplications",
            "ListEnvironments",
            "ListConfigurationProfiles",
            "ListDeployments",
            "StopDeployment",
        ],
    ),
    // With a DynamoDB ledger, the default circuit breaker and the default cooldown, around the
    // alias moved above: claim the delivery while reading the freezes operators set (one
    // `BatchGetItem` of the freeze keys that could hold back a matched rule, which every action
    // must see before it runs); claim the incident latch (pending); then claim the cooldown
    // while reading the breaker; claim a slot once the cooldown is held; the action reads and
    // writes once admitted; then, at once, confirm the delivery and keep the latch (for the
    // retention) and the cooldown, no longer pending.
    (
        "ledger: first notification, alias moved",
        &[
            "[PutItem BatchGetItem]",
            "PutItem",
            "[PutItem Query]",
            "PutItem",
            "GetAlias",
            "GetAlias",
            "GetFunctionConfiguration",
            "UpdateAlias",
            "[PutItem PutItem PutItem]",
        ],
    ),
    // With `[wavefront]` set, the same first notification then posts its event (#15): the
    // ledger marks it first, one conditional `PutItem` after the settling (so a delivery that
    // runs again does not post it twice), then one `POST /api/v2/event` to Wavefront, which the
    // stand-in counts (it is not an AWS call). Both come after the actions and never delay
    // them; BENCHMARKS.md says what they cost the answer.
    (
        "ledger: first notification, alias moved, event posted",
        &[
            "[PutItem BatchGetItem]",
            "PutItem",
            "[PutItem Query]",
            "PutItem",
            "GetAlias",
            "GetAlias",
            "GetFunctionConfiguration",
            "UpdateAlias",
            "[PutItem PutItem PutItem]",
            "PutItem",
        ],
    ),
    // With `[notify]` set, the same first notification then publishes its chat message (#16):
    // the ledger marks it first, one conditional `PutItem` after the settling (so a delivery
    // that runs again does not notify twice), then one SNS `Publish` (`AwsQuery`: the proxy does not read
    // the form body that names it). After the actions, never
    // delaying them; with `[wavefront]` too, the event's mark and post run at the same time.
    (
        "ledger: first notification, alias moved, notified",
        &[
            "[PutItem BatchGetItem]",
            "PutItem",
            "[PutItem Query]",
            "PutItem",
            "GetAlias",
            "GetAlias",
            "GetFunctionConfiguration",
            "UpdateAlias",
            "[PutItem PutItem PutItem]",
            "PutItem",
            "AwsQuery",
        ],
    ),
    // The refused claim returns its holder: no second call to read it. The freezes are read
    // beside the claim, before it is known to be a duplicate: no latency, one read.
    (
        "ledger: duplicate notification",
        &["[PutItem BatchGetItem]"],
    ),
    // A new delivery of the same incident: claimed (the freezes read beside it), refused by
    // the latch (so neither the cooldown nor the breaker is asked), confirmed.
    (
        "ledger: incident latched",
        &["[PutItem BatchGetItem]", "PutItem", "PutItem"],
    ),
    // Nothing changed, so the latch, the cooldown and the breaker's slot are given back.
    (
        "ledger: already at the target, claims given back",
        &[
            "[PutItem BatchGetItem]",
            "PutItem",
            "[PutItem Query]",
            "PutItem",
            "GetAlias",
            "GetAlias",
            "DeleteItem",
            "DeleteItem",
            "DeleteItem",
            "PutItem",
        ],
    ),
    // Dry runs write nothing: read the freezes, then the latch and the cooldown (one
    // `BatchGetItem`) and the breaker at once, then, since the ledger would admit it, the action's
    // reads, the attribution guard's included.
    (
        "ledger: dry run",
        &[
            "BatchGetItem",
            "BatchGetItem",
            "Query",
            "GetAlias",
            "GetAlias",
            "GetFunctionConfiguration",
        ],
    ),
];

fn budget(path: &str) -> Vec<String> {
    let (_, calls) = BUDGETS
        .iter()
        .find(|(name, _)| *name == path)
        .unwrap_or_else(|| panic!("no budget named {path:?}"));
    calls.iter().map(|c| (*c).to_owned()).collect()
}

/// Checks the calls made on `path` against its budget.
#[track_caller]
fn assert_budget(path: &str, calls: Vec<String>) {
    let (calls, budget) = sent_at_once(&calls, &budget(path).join(" "));
    proxy::assert_calls(&calls, &budget);
}

/// A responder whose AWS calls go through a recording proxy to moto, with one rule running
/// `action` (a `[[rule.action]]` table's body).
struct Meter {
    proxy: Proxy,
    t: TestResponder,
}

impl Meter {
    async fn new(action: String, kind: LedgerKind) -> Self {
        let proxy = Proxy::start().await;
        let (t, _) = proxy.responder(checkout_rule("10s", &[action]), kind).await;
        Self { proxy, t }
    }

    /// Sends an alert fixture; returns the first action's outcome and the calls it cost.
    async fn send(&self, body: &str) -> (String, Vec<String>) {
        let reply = self.t.post_with_token(body).await;
        assert!(reply.status == 200, "{}", reply.text);
        let outcome = match reply.json["outcome"].as_str() {
            Some("duplicate") => "duplicate".to_owned(),
            _ => reply.json["rules"][0]["actions"][0]["outcome"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        (outcome, self.proxy.take_operations())
    }

    /// Sends `body`; checks the first action's outcome and that the calls it cost are the
    /// budget of `path`.
    async fn assert_cost(&self, body: &str, outcome: &str, path: &str) {
        let (actual, calls) = self.send(body).await;
        assert_eq!(actual, outcome, "{path}: the outcome");
        assert_budget(path, calls);
    }
}

/// The checkout alert, firing since after the test made its release, so the actions act on it.
fn opened() -> String {
    firing()
}

/// The Test button: the same alert as `ALERT_TESTING`, always a dry run.
fn testing() -> String {
    firing_from("alerts/checkout-testing.json")
}

/// A function on moto whose `live` alias runs version `live`, and `stable` 1.
struct Release {
    aws: Aws,
    function: String,
}

impl Release {
    /// Where `live` points now.
    async fn live(&self) -> String {
        alias_state(&self.aws, &self.function, "live").await.0
    }
}

/// A release whose `live` alias runs version `live`, and a meter on a responder, keeping a
/// `kind` ledger, whose one action moves `live` to `stable`.
async fn to_stable(live: &str, kind: LedgerKind) -> (Meter, Release) {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    alias(&aws, &function, "live", live, &[]).await;
    alias(&aws, &function, "stable", "1", &[]).await;
    let action = move_live_action(&function, r#"to_alias = "stable""#);
    let meter = Meter::new(action, kind).await;
    (meter, Release { aws, function })
}

#[tokio::test]
async fn moving_an_alias_stays_within_its_call_budget() {
    let (meter, release) = to_stable("2", LedgerKind::Memory).await;
    meter
        .assert_cost(&opened(), "executed", "lambda-alias: alias moved")
        .await;
    assert_eq!(release.live().await, "1");
}

#[tokio::test]
async fn an_alias_already_at_its_target_stays_within_its_call_budget() {
    let (meter, _) = to_stable("1", LedgerKind::Memory).await;
    meter
        .assert_cost(&opened(), "skipped", "lambda-alias: already at the target")
        .await;
}

#[tokio::test]
async fn an_alias_dry_run_stays_within_its_call_budget() {
    let (meter, release) = to_stable("2", LedgerKind::Memory).await;
    meter
        .assert_cost(&testing(), "planned", "lambda-alias: dry run")
        .await;
    assert_eq!(release.live().await, "2");
}

#[tokio::test]
async fn a_rollback_dry_run_stays_within_its_call_budget() {
    let aws = moto::aws().await;
    let (application, group) = moto::deployment_group(&aws).await;
    moto::deployment(&aws, &application, &group).await;
    let meter = Meter::new(rollback_action(&application, &group), LedgerKind::Memory).await;
    meter
        .assert_cost(
            &testing(),
            "planned",
            "codedeploy-rollback: dry run, one deployment in progress",
        )
        .await;
}

#[tokio::test]
async fn a_rollback_with_nothing_in_progress_stays_within_its_call_budget() {
    let aws = moto::aws().await;
    let (application, group) = moto::deployment_group(&aws).await;
    let meter = Meter::new(rollback_action(&application, &group), LedgerKind::Memory).await;
    meter
        .assert_cost(
            &opened(),
            "skipped",
            "codedeploy-rollback: nothing in progress",
        )
        .await;
}

/// Runs the `ecs-rollback` of prod/checkout against `events` with the responder's own SDK
/// settings, live or as a dry run, and checks its calls against the budget of `path`.
async fn assert_ecs_budget(
    events: Vec<ReplayEvent>,
    dry_run: bool,
    outcome: ActionOutcome,
    path: &str,
) {
    let replay = StaticReplayClient::new(events);
    let report = run_action(
        &ecs_rollback(),
        &replayed(&replay).await,
        dry_run,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, outcome, "{report:?}");
    assert_budget(path, operations(&replay));
}

#[tokio::test]
async fn ecs_rollbacks_stay_within_their_call_budgets() {
    let dry_run = dry_run_one_in_progress("dep-1");
    let planned = ActionOutcome::Planned;
    assert_ecs_budget(
        dry_run,
        true,
        planned,
        "ecs-rollback: dry run, one deployment in progress",
    )
    .await;
    let nothing = vec![service_deployed_by("ECS"), ecs_listed(&[])];
    let skipped = ActionOutcome::Skipped;
    assert_ecs_budget(nothing, false, skipped, "ecs-rollback: nothing in progress").await;
    let codedeploy = vec![service_deployed_by("CODE_DEPLOY")];
    assert_ecs_budget(
        codedeploy,
        false,
        skipped,
        "ecs-rollback: not deployed by ECS",
    )
    .await;
    let stopped = ActionOutcome::Executed;
    assert_ecs_budget(
        one_stopped("dep-1"),
        false,
        stopped,
        "ecs-rollback: one deployment stopped",
    )
    .await;
}

/// The operations a replay client was asked for, in order.
fn operations(replay: &StaticReplayClient) -> Vec<String> {
    replay
        .actual_requests()
        .map(|r| {
            let target = r.headers().get("x-amz-target").unwrap_or_default();
            match target.rsplit('.').next() {
                Some(operation) if !operation.is_empty() => operation.to_owned(),
                _ => format!("{} {}", r.method(), r.uri()),
            }
        })
        .collect()
}

/// Clients with the responder's own SDK settings, whose HTTP is `replay`.
async fn replayed(replay: &StaticReplayClient) -> Aws {
    let config = wavefront_responder::aws::loader()
        .http_client(replay.clone())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .load()
        .await;
    Aws::from_sdk_config(&config)
}

#[tokio::test]
async fn stopping_a_deployment_stays_within_its_call_budget() {
    // moto answers StopDeployment with a 500: the SDK's replay client stands in for AWS, and
    // its record of the requests sent is the count. actions_replay.rs checks their bodies.
    let mut events = one_in_progress_on("d-ABC123", "Server");
    events.push(stop_ok("d-ABC123"));
    let replay = StaticReplayClient::new(events);
    let action = Action::CodeDeployRollback(
        Rollback::new("checkout".into(), "checkout-prod".into(), None).unwrap(),
    );
    let report = run_action(&action, &replayed(&replay).await, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_budget(
        "codedeploy-rollback: one deployment stopped",
        operations(&replay),
    );
}

#[tokio::test]
async fn stopping_a_lambda_deployment_and_leaving_its_alias_stays_within_its_call_budget() {
    let mut events = lambda_in_progress("d-ABC123");
    events.push(stop_ok("d-ABC123"));
    let replay = StaticReplayClient::new(events);
    let aws = replayed(&replay).await;
    let rollback = Action::CodeDeployRollback(
        Rollback::new("checkout".into(), "checkout-prod".into(), None).unwrap(),
    );
    let alias = Action::LambdaAlias(
        AliasShift::new(
            "checkout".into(),
            "live".into(),
            Destination::Alias("stable".into()),
        )
        .unwrap(),
    );
    let mut handed_over = HandedOver::default();
    let outcome = run_action_after(&rollback, &aws, false, Timestamp::now(), &mut handed_over)
        .await
        .outcome;
    assert_eq!(outcome, ActionOutcome::Executed);
    assert_budget(
        "codedeploy-rollback: one Lambda deployment stopped, its alias handed over",
        operations(&replay),
    );
    let outcome = run_action_after(&alias, &aws, false, Timestamp::now(), &mut handed_over)
        .await
        .outcome;
    assert_eq!(outcome, ActionOutcome::Skipped);
    // The replay client serves every service here: anything new the alias action asked for
    // would be listed after the rollback's calls.
    let after = operations(&replay).split_off(5);
    assert_budget("lambda-alias: left to CodeDeploy", after);
}

#[tokio::test]
async fn a_first_notification_stays_within_its_call_budget() {
    let (meter, release) = to_stable("2", LedgerKind::DynamoDb).await;
    meter
        .assert_cost(
            &opened(),
            "executed",
            "ledger: first notification, alias moved",
        )
        .await;
    assert_eq!(release.live().await, "1");
}

#[tokio::test]
async fn a_first_notification_with_its_event_stays_within_its_call_budget() {
    let api = crate::wavefront_api::WavefrontApi::start().await;
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    alias(&aws, &function, "live", "2", &[]).await;
    alias(&aws, &function, "stable", "1", &[]).await;
    let text = format!(
        "time_budget = \"10s\"\n[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}\n[[rule]]\n\
         name = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n[[rule.action]]\n{}\n",
        api.config_table(),
        move_live_action(&function, r#"to_alias = "stable""#)
    );
    let config = wavefront_responder::config::Config::parse(&text, std::path::Path::new("e.toml"))
        .expect("valid config");
    let proxy = Proxy::start().await;
    let (t, _) = proxy.responder(config, LedgerKind::DynamoDb).await;
    let meter = Meter { proxy, t };
    meter
        .assert_cost(
            &opened(),
            "executed",
            "ledger: first notification, alias moved, event posted",
        )
        .await;
    let posted = api.requests();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].path, "/api/v2/event");
}

#[tokio::test]
async fn a_first_notification_with_its_chat_message_stays_within_its_call_budget() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    alias(&aws, &function, "live", "2", &[]).await;
    alias(&aws, &function, "stable", "1", &[]).await;
    let sns = aws_sdk_sns::Client::new(&moto::sdk_config(moto::endpoint()).await);
    let topic = sns
        .create_topic()
        .name(moto::unique("budget"))
        .send()
        .await
        .unwrap();
    let text = format!(
        "time_budget = \"10s\"\n[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[notify]\n\
         sns_topic = \"{}\"\n[[rule]]\nname = \"checkout-errors\"\n\
         alert = \"checkout * error rate*\"\n[[rule.action]]\n{}\n",
        topic.topic_arn().unwrap(),
        move_live_action(&function, r#"to_alias = "stable""#)
    );
    let config = wavefront_responder::config::Config::parse(&text, std::path::Path::new("n.toml"))
        .expect("valid config");
    let proxy = Proxy::start().await;
    let proxied = proxy.aws().await;
    let table = moto::ledger_table(&aws).await;
    let store =
        wavefront_responder::ledger::dynamodb::DynamoStore::new(proxied.dynamodb.clone(), &table);
    let ledger = wavefront_responder::ledger::Ledger::new(
        std::sync::Arc::new(store),
        config.ledger.retention,
        config.circuit_breaker,
    );
    let options = wavefront_responder::app::Options {
        executor: Some(wavefront_responder::execute::Executor::new(
            proxied.clients(),
            ledger,
        )),
        sns: Some(aws_sdk_sns::Client::new(
            &moto::sdk_config(proxy.endpoint()).await,
        )),
        ..wavefront_responder::app::Options::default()
    };
    let t = TestResponder::with_options(config, options).await;
    let meter = Meter { proxy, t };
    meter
        .assert_cost(
            &opened(),
            "executed",
            "ledger: first notification, alias moved, notified",
        )
        .await;
}

#[tokio::test]
async fn a_duplicate_notification_stays_within_its_call_budget() {
    let (meter, _) = to_stable("2", LedgerKind::DynamoDb).await;
    assert_eq!(meter.send(&opened()).await.0, "executed");
    meter
        .assert_cost(&opened(), "duplicate", "ledger: duplicate notification")
        .await;
}

#[tokio::test]
async fn a_latched_incident_stays_within_its_call_budget() {
    let (meter, _) = to_stable("2", LedgerKind::DynamoDb).await;
    assert_eq!(meter.send(&opened()).await.0, "executed");
    // Another delivery of the same incident (a new notification id, as Wavefront's re-sends
    // have).
    let resend = opened_as("resend-of-the-same-incident", "ALERT_OPENED");
    meter
        .assert_cost(&resend, "skipped", "ledger: incident latched")
        .await;
}

#[tokio::test]
async fn nothing_to_do_with_a_ledger_stays_within_its_call_budget() {
    let (meter, _) = to_stable("1", LedgerKind::DynamoDb).await;
    meter
        .assert_cost(
            &opened(),
            "skipped",
            "ledger: already at the target, claims given back",
        )
        .await;
}

#[tokio::test]
async fn a_dry_run_with_a_ledger_stays_within_its_call_budget() {
    let (meter, _) = to_stable("2", LedgerKind::DynamoDb).await;
    meter
        .assert_cost(&testing(), "planned", "ledger: dry run")
        .await;
}

/// The AppConfig operation of a REST request, from its method and path.
fn appconfig_operations(replay: &StaticReplayClient) -> Vec<String> {
    replay
        .actual_requests()
        .map(|r| {
            let path = r.uri().split('?').next().unwrap_or_default().to_owned();
            let segments: Vec<&str> = path.split('/').skip(3).collect();
            let operation = match (r.method(), segments.as_slice()) {
                ("GET", ["applications"]) => "ListApplications",
                ("GET", ["applications", _, "environments"]) => "ListEnvironments",
                ("GET", ["applications", _, "configurationprofiles"]) => {
                    "ListConfigurationProfiles"
                }
                ("GET", ["applications", _, "environments", _, "deployments"]) => "ListDeployments",
                ("GET", ["applications", _, "environments", _, "deployments", _]) => {
                    "GetDeployment"
                }
                ("DELETE", ["applications", _, "environments", _, "deployments", _]) => {
                    "StopDeployment"
                }
                _ => return format!("{} {}", r.method(), r.uri()),
            };
            operation.to_owned()
        })
        .collect()
}

fn appconfig_action(profile: Option<&str>, window: Option<&str>) -> Action {
    Action::AppConfigRollback(
        wavefront_responder::actions::appconfig::Rollback::new(
            "checkout".into(),
            "prod".into(),
            profile.map(str::to_owned),
            window.and_then(|w| wavefront_responder::duration::HumanDuration::parse(w).ok()),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn appconfig_rollbacks_stay_within_their_call_budgets() {
    let an_hour_ago = Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let finished = |n| appconfig::summary(n, "COMPLETE", an_hour_ago, Some(an_hour_ago));

    // A dry run that finds one deployment in progress.
    let replay = StaticReplayClient::new(appconfig::dry_run_one_in_progress());
    let aws = replayed(&replay).await;
    let report = run_action(&appconfig_action(None, None), &aws, true, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_budget(
        "appconfig-rollback: dry run, one deployment in progress",
        appconfig_operations(&replay),
    );

    // Nothing in progress.
    let replay = StaticReplayClient::new(vec![
        appconfig::list_applications(),
        appconfig::list_environments(),
        appconfig::list_deployments(vec![finished(7), finished(6)]),
    ]);
    let aws = replayed(&replay).await;
    let report = run_action(&appconfig_action(None, None), &aws, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_budget(
        "appconfig-rollback: nothing in progress",
        appconfig_operations(&replay),
    );

    // One stopped, then the next incident on the same instance (one set of clients).
    let in_progress = |n| appconfig::summary(n, "DEPLOYING", an_hour_ago, None);
    let replay = StaticReplayClient::new(vec![
        appconfig::list_applications(),
        appconfig::list_environments(),
        appconfig::list_deployments(vec![in_progress(8), finished(7)]),
        appconfig::stop(8, false, "ROLLED_BACK"),
        appconfig::list_deployments(vec![in_progress(9), finished(8)]),
        appconfig::stop(9, false, "ROLLED_BACK"),
    ]);
    let aws = replayed(&replay).await;
    let clients = aws.clients();
    let ledger = wavefront_responder::ledger::Ledger::in_memory(None);
    let context = wavefront_responder::execute::Context {
        dry_run: false,
        now: Timestamp::now(),
        since: None,
        ledger: &ledger,
        request_id: "req-test",
    };
    for _ in 0..2 {
        let mut calls = wavefront_responder::execute::calls::Calls::default();
        let (outcome, _) = wavefront_responder::execute::run_action(
            &appconfig_action(None, None),
            &clients,
            &context,
            &mut calls,
            &mut HandedOver::default(),
        )
        .await;
        assert_eq!(outcome, ActionOutcome::Executed);
    }
    let mut calls = appconfig_operations(&replay);
    let next = calls.split_off(4);
    assert_budget("appconfig-rollback: one deployment stopped", calls);
    assert_budget(
        "appconfig-rollback: one deployment stopped, ids cached",
        next,
    );

    // A profile by name, its last deployment reverted.
    let recent = Timestamp::now() - jiff::SignedDuration::from_mins(10);
    let replay = StaticReplayClient::new(vec![
        appconfig::list_applications(),
        appconfig::list_environments(),
        appconfig::list_profiles(),
        appconfig::list_deployments(vec![appconfig::summary(
            7,
            "COMPLETE",
            an_hour_ago,
            Some(recent),
        )]),
        appconfig::stop(7, true, "REVERTED"),
    ]);
    let aws = replayed(&replay).await;
    let action = appconfig_action(Some("flags"), Some("1h"));
    let report = run_action(&action, &aws, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_budget(
        "appconfig-rollback: a recent completion of one profile reverted",
        appconfig_operations(&replay),
    );
}
