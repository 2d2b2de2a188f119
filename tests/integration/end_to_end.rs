//! End to end through the HTTP handler with real actions on moto server: a signed Wavefront
//! alert moves a canary alias back, and the response, the audit line and the METRIC line agree.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::moto::Aws;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::Timing;
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::{Ledger, Store};

use crate::moto::{self, alias, alias_state};
use crate::proxy::{self, ANY, Fault, LedgerKind, Times};
use crate::support::*;

/// A config whose one rule moves `function`'s `live` alias to wherever `stable` points.
fn config(function: &str, time_budget: &str) -> Config {
    Config::parse(
        &config_text(function, time_budget, ""),
        Path::new("end-to-end.toml"),
    )
    .expect("valid config")
}

/// [`config`] without the rule's default cooldown: for a test that moves the alias again
/// within 15 minutes (a next incident, a firing after `ALERT_RESOLVED`), about something else.
fn config_without_cooldown(function: &str, time_budget: &str) -> Config {
    Config::parse(
        &config_text(function, time_budget, NO_COOLDOWN),
        Path::new("end-to-end.toml"),
    )
    .expect("valid config")
}

/// [`config`]'s text, with `rule_lines` added to its rule.
fn config_text(function: &str, time_budget: &str, rule_lines: &str) -> String {
    format!(
        r#"
time_budget = "{time_budget}"

[auth]
tokens = ["env:WEBHOOK_TOKEN"]
signing_secrets = ["env:WEBHOOK_SIGNING_SECRET"]

[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"
{rule_lines}

  [[rule.action]]
  type = "lambda-alias"
  function = "{function}"
  alias = "live"
  to_alias = "stable"
"#
    )
}

async fn responder(config: Config, aws: Aws) -> TestResponder {
    let ledger = Ledger::in_memory(config.circuit_breaker);
    TestResponder::live(config, aws, ledger).await
}

/// A function whose `live` alias runs version 2 with a 10% canary of 3; `stable` is 1.
async fn canary_release(aws: &Aws) -> String {
    let function = moto::function_with_versions(aws, 3).await;
    alias(aws, &function, "live", "2", &[("3", 0.1)]).await;
    alias(aws, &function, "stable", "1", &[]).await;
    function
}

async fn post_signed(t: &TestResponder, body: &str) -> Reply {
    let headers = signed_headers(body.as_bytes(), 0);
    t.post(&as_refs(&headers), body.as_bytes()).await
}

#[tokio::test]
async fn a_signed_alert_moves_the_canary_alias_back_and_every_record_agrees() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let t = responder(config(&function, "20s"), aws.clone()).await;

    let reply = post_signed(&t, &firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "executed");
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "executed");
    assert_eq!(
        action["detail"],
        "moved live 2 -> 1 and dropped its canary (3 at 10%)"
    );
    let request_ids = action["aws_request_ids"].as_array().unwrap();
    // GetAlias live, GetAlias stable, GetFunctionConfiguration of the versions live routes
    // traffic to (2, and 3 of its canary: published before the alert started firing),
    // UpdateAlias.
    assert_eq!(request_ids.len(), 5, "{action}");
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("1".into(), vec![])
    );
    // What the attribution guard held those versions against.
    assert_eq!(
        reply.json["incident_started"],
        serde_json::json!({"at": format!("{:.0}", started()), "from": "started_time"})
    );

    let audits = t.audits();
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["outcome"], "executed");
    assert_eq!(audits[0]["detail"], action["detail"]);
    assert_eq!(audits[0]["aws_request_ids"], action["aws_request_ids"]);
    assert_eq!(audits[0]["auth"], "signature");
    assert_eq!(audits[0]["target"], format!("{function}:live"));
    assert_audit_keys(&audits[0], &crate::docs::documented_audit_keys());
    assert_eq!(
        t.metric_names(),
        [
            "webhook_received",
            "rule_matched",
            "action_executed",
            "handler_duration_ms"
        ]
    );
}

#[tokio::test]
async fn the_test_button_changes_nothing() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let t = responder(config(&function, "20s"), aws.clone()).await;

    let reply = post_signed(&t, &firing_from("alerts/checkout-testing.json")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["dry_run"], true);
    let action = &reply.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "planned");
    assert_eq!(
        action["detail"],
        "would move live 2 -> 1 and drop its canary (3 at 10%)"
    );
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("2".into(), vec![("3".into(), 0.1)])
    );
    assert_eq!(t.audits()[0]["dry_run"], true);
}

#[tokio::test]
async fn a_repeated_delivery_is_a_duplicate_and_runs_nothing() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let t = responder(config(&function, "20s"), aws.clone()).await;
    let alert = firing();

    let first = post_signed(&t, &alert).await;
    assert_eq!(first.json["outcome"], "executed");
    let again = post_signed(&t, &alert).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["outcome"], "duplicate");
    // Each delivery is its own request: the duplicate names the first one.
    assert_ne!(again.json["request_id"], first.json["request_id"]);
    assert_eq!(
        again.json["duplicate_of"]["request_id"],
        first.json["request_id"]
    );
    assert!(
        again.json["rules"][0].get("actions").is_none(),
        "{}",
        again.text
    );
    assert_eq!(t.audits().last().unwrap()["outcome"], "duplicate");
    assert_audit_keys(
        t.audits().last().unwrap(),
        &crate::docs::documented_audit_keys(),
    );
    assert!(t.metric_names().contains(&"webhook_duplicate".to_owned()));
}

/// [`firing`]'s next incident: started later, with a notification of its own.
fn next_incident() -> String {
    let mut alert: Value = serde_json::from_str(&firing()).expect("alert JSON");
    let later = started() + jiff::SignedDuration::from_mins(84);
    alert["startedTime"] = wavefront_time(later).into();
    alert["notificationId"] = "second-incident-notification".into();
    alert.to_string()
}

#[tokio::test]
async fn the_next_incident_finds_nothing_left_to_do_and_says_so() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    // No cooldown: within one, the next incident would be skipped before reading the alias.
    let t = responder(config_without_cooldown(&function, "20s"), aws.clone()).await;

    assert_eq!(post_signed(&t, &firing()).await.json["outcome"], "executed");
    let again = post_signed(&t, &next_incident()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["outcome"], "skipped", "{}", again.text);
    assert_eq!(
        again.json["rules"][0]["actions"][0]["detail"],
        "live is already at version 1"
    );
    assert_eq!(t.audits().last().unwrap()["outcome"], "skipped");
    assert_audit_keys(
        t.audits().last().unwrap(),
        &crate::docs::documented_audit_keys(),
    );
    assert!(t.metric_names().contains(&"action_skipped".to_owned()));
}

/// A TCP forwarder to moto that can be shut down, closing its port and every connection.
struct Proxy {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { endpoint, task }
    }

    /// Closes the port and drops every open connection.
    fn close(self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn an_emulator_that_disappears_gives_failed_actions_a_502_and_a_prompt_answer() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let proxy = Proxy::start(moto::endpoint()).await;
    let through_proxy = Aws::from_sdk_config(&moto::sdk_config(&proxy.endpoint).await);
    let t = responder(config(&function, "20s"), through_proxy).await;
    let alert = firing_from("alerts/checkout-testing.json");

    // Reachable: the dry run reads through the proxy.
    assert_eq!(post_signed(&t, &alert).await.json["outcome"], "planned");

    proxy.close();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let reply = post_signed(&t, &firing()).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "failed");
    let detail = reply.json["rules"][0]["actions"][0]["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with("GetAlias: no answer from AWS: "),
        "{detail}"
    );
    // A correctness bound, not a benchmark: far inside the 20 s budget. The SDK's three
    // attempts at a closed port and their backoff take about 3 s at most, 7 s inside the
    // bound; retrying until the SDK's 10 s timeout, or running to the budget, fails it.
    assert!(
        elapsed < Duration::from_secs(10),
        "answered after {elapsed:?}"
    );
    assert_eq!(t.audits().last().unwrap()["outcome"], "failed");
    assert_audit_keys(
        t.audits().last().unwrap(),
        &crate::docs::documented_audit_keys(),
    );
    assert!(t.metric_names().contains(&"action_failed".to_owned()));
    let audits: Vec<Value> = t.audits();
    assert_no_secrets(&serde_json::to_string(&audits).unwrap());
}

/// A listener that accepts connections and never answers: every call to it stalls.
async fn stalled_endpoint() -> String {
    let stall = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", stall.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stall.accept().await {
            held.push(socket);
        }
    });
    endpoint
}

#[tokio::test]
async fn an_action_that_outlives_its_budget_fails_and_the_others_still_run() {
    // CodeDeploy stalls; Lambda is moto. Production retry and timeout settings throughout.
    let moto_aws = moto::aws().await;
    let function = canary_release(&moto_aws).await;
    let stalled = Aws::from_sdk_config(&moto::sdk_config(&stalled_endpoint().await).await);
    let aws = Aws {
        codedeploy: stalled.codedeploy,
        ..moto_aws.clone()
    };
    let config = checkout_rule(
        "4s",
        &[
            rollback_action("checkout", "checkout-prod"),
            move_live_action(&function, r#"to_alias = "stable""#),
        ],
    );
    let t = responder(config, aws).await;
    let body = firing();
    let started = Instant::now();
    let reply = t.post_with_token(&body).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 502);
    let actions = reply.json["rules"][0]["actions"].as_array().unwrap();
    assert_eq!(actions[0]["outcome"], "failed", "{}", actions[0]);
    // Its share: half of what admitting the request left of the 4 s, so 2.0 s on a quick
    // machine and a little less on a busy one; never the whole budget.
    let had = budget_had(&actions[0]["detail"]);
    assert!(1.0 < had && had <= 2.0, "{}", actions[0]);
    assert_eq!(
        actions[0]["detail"],
        format!("ran out of time (it had {had:.1}s of the time budget) before changing anything")
    );
    // The second action still ran, in the time left, and changed the alias.
    assert_eq!(actions[1]["outcome"], "executed", "{}", actions[1]);
    assert_eq!(alias_state(&moto_aws, &function, "live").await.0, "1");
    // A correctness bound, not a benchmark: the budget holds with production SDK settings.
    // Both actions end inside the 4 s budget (the second has to, to be `executed`) and the
    // in-memory ledger settles at once, so at least 2 s to spare; a stalled call left to the
    // SDK's own timeouts would take 10 s.
    assert!(
        elapsed < Duration::from_secs(6),
        "answered after {elapsed:?}"
    );
}

/// How much of the time budget an action cut off by it had, read from its detail (`ran out
/// of time (it had 2.0s of the time budget) ...`).
fn budget_had(detail: &Value) -> f64 {
    let detail = detail.as_str().unwrap_or_default();
    detail
        .strip_prefix("ran out of time (it had ")
        .and_then(|rest| rest.split_once("s of the time budget)"))
        .and_then(|(had, _)| had.parse().ok())
        .unwrap_or_else(|| panic!("not cut off by its time budget: {detail}"))
}

/// How far the executor's run may go past its deadline in the tests of Lambda's deadline: 5 s,
/// where the service's is 2 s. Its claim grace is as long, so a stalled ledger write is waited
/// for until the run's own limits end it, and only the deadlines decide when the answer comes.
const OVERRUN: Duration = Duration::from_secs(5);

/// The executor's timing in the tests of Lambda's deadline: [`OVERRUN`] for both.
const WIDE: Timing = Timing {
    after_deadline: OVERRUN,
    claim_grace: OVERRUN,
};

/// The time the tests of Lambda's deadline keep back to answer: 2 s, where the service's is
/// 1 s. Everything in the run ends this long before Lambda's deadline, so an answer that must
/// come before it has 2 s to spare however loaded the machine.
const ANSWER: Duration = Duration::from_secs(2);

#[tokio::test]
async fn lambdas_deadline_caps_the_budget() {
    let aws = Aws::from_sdk_config(&moto::sdk_config(&stalled_endpoint().await).await);
    let config = config("checkout", "20s");
    let ledger = Ledger::in_memory(config.circuit_breaker);
    let t = TestResponder::live_with_margins(config, aws, ledger, WIDE, ANSWER).await;
    // The invocation has 9 s left: 2 s for actions, 7 s kept back (the executor's 5 s
    // overrun, then 2 s to answer). The 20 s budget would outlast the invocation.
    let actions = Duration::from_secs(2);
    let left = actions + OVERRUN + ANSWER;
    let (response, elapsed) = invoke_with_time_left(&t, "deadline-test", left).await;
    assert_eq!(response.status(), 502);
    // The stalled action ends at the actions' deadline, about 2 s in, and the in-memory
    // ledger settles at once: 7 s to spare. Ignoring Lambda's deadline, it would run for the
    // SDK's 10 s.
    assert!(elapsed < left, "{elapsed:?}");
    let audit = t.audits().pop().unwrap();
    // It had what admitting the request left of those 2 s: neither the budget nor the 5 s
    // left by keeping back the service's 2 s overrun instead of this executor's 5 s.
    let had = budget_had(&audit["detail"]);
    assert!(0.0 < had && had <= actions.as_secs_f64(), "{audit}");
}

#[tokio::test]
async fn lambdas_deadline_holds_when_the_ledger_stalls() {
    // Every call stalls, the DynamoDB ledger's included: claiming the delivery runs into the
    // budget, then letting it finish and giving it back run past it, as far as they may.
    let proxy = proxy::Proxy::start().await;
    proxy.inject(ANY, Fault::Stall, Times::Always);
    let (t, _) = proxy
        .responder_with_margins(
            config("checkout", "20s"),
            LedgerKind::DynamoDb,
            WIDE,
            ANSWER,
        )
        .await;
    // 1 s for the claim, then the 5 s overrun, then 2 s to answer.
    let left = Duration::from_secs(1) + OVERRUN + ANSWER;
    let (response, elapsed) = invoke_with_time_left(&t, "stalled-ledger-deadline-test", left).await;
    // Answered, with the record and the audit line, before Lambda would have stopped the
    // invocation: the property, not a benchmark. The run ends 2 s before the deadline;
    // ignoring it, the stalled claim would be left to the SDK's timeouts.
    assert!(elapsed < left, "answered after {elapsed:?}");
    assert_eq!(response.status(), 502);
    let body = match response.body() {
        lambda_http::Body::Text(text) => text.clone(),
        other => panic!("a JSON body: {other:?}"),
    };
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["request_id"], "stalled-ledger-deadline-test");
    assert!(
        record["notes"]
            .to_string()
            .contains("this delivery's ledger entry could not be settled"),
        "{record}"
    );
    let audits = t.audits();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["request_id"], "stalled-ledger-deadline-test");
    assert_eq!(
        audits[0]["detail"],
        "not run: the ledger did not answer in time; nothing acts without the ledger"
    );
    assert!(t.metric_names().contains(&"handler_duration_ms".to_owned()));
}

#[tokio::test]
async fn lambdas_deadline_holds_with_less_time_left_than_the_margin() {
    // 3 s left: less than the 7 s kept back, so no time budget at all, and less than the 5 s
    // the executor may run past its deadline. Every call stalls, the ledger's included.
    let proxy = proxy::Proxy::start().await;
    proxy.inject(ANY, Fault::Stall, Times::Always);
    let (t, _) = proxy
        .responder_with_margins(
            config("checkout", "20s"),
            LedgerKind::DynamoDb,
            WIDE,
            ANSWER,
        )
        .await;
    let left = ANSWER + Duration::from_secs(1);
    assert!(
        left < OVERRUN,
        "the overrun must be cut short for this test to mean anything"
    );
    let (response, elapsed) = invoke_with_time_left(&t, "little-time-left-test", left).await;
    // Answered, record and audit line written, before Lambda would stop the invocation: the
    // run is cut short 2 s before it, where its whole overrun would end 2 s after it.
    assert!(elapsed < left, "answered after {elapsed:?}");
    assert_eq!(response.status(), 502);
    let audits = t.audits();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["request_id"], "little-time-left-test");
    assert_eq!(audits[0]["outcome"], "failed");
}

/// Hands `t` the checkout alert as Lambda would, with `left` before the invocation's
/// deadline; returns the response and how long it took.
async fn invoke_with_time_left(
    t: &TestResponder,
    request_id: &str,
    left: Duration,
) -> (lambda_http::Response<lambda_http::Body>, Duration) {
    use lambda_http::RequestExt;
    let auth = bearer(TOKEN);
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.into();
    context.deadline = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap()
        + u64::try_from(left.as_millis()).unwrap();
    let event = lambda_event(
        "apigw-http-v2.json",
        &[("authorization", &auth)],
        &fixture("alerts/checkout-opened.json"),
        false,
    )
    .with_lambda_context(context);
    let started = Instant::now();
    let response = wavefront_responder::app::lambda::handle(&t.responder, event).await;
    (response, started.elapsed())
}

/// A checkout alert without a start time: its incident lasts until `ALERT_RESOLVED`.
fn unstarted(reason: &str, notification: &str, ended: Option<&str>) -> String {
    let mut alert = serde_json::json!({
        "alertId": "1700000000001",
        "notificationId": notification,
        "reason": reason,
        "name": "checkout API error rate high",
        "severity": "SEVERE",
    });
    if let Some(ended) = ended {
        alert["endedTime"] = ended.into();
    }
    alert.to_string()
}

/// Puts `live` back on the bad release, as a new deployment would.
async fn redeploy(aws: &Aws, function: &str) {
    aws.lambda
        .update_alias()
        .function_name(function)
        .name("live")
        .function_version("2")
        .send()
        .await
        .expect("update alias");
}

/// The first action's outcome and guard.
fn first_action(reply: &Reply) -> (&str, &Value) {
    let action = &reply.json["rules"][0]["actions"][0];
    (action["outcome"].as_str().unwrap_or("?"), &action["guard"])
}

#[tokio::test]
async fn resolved_ends_an_incident_without_a_start_time_once() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    // No cooldown: the firing after ALERT_RESOLVED moves the alias again within minutes.
    let t = responder(config_without_cooldown(&function, "20s"), aws.clone()).await;
    let latched = Value::from("incident_latch");

    let opened = post_signed(&t, &unstarted("ALERT_OPENED", "open-1", None)).await;
    assert_eq!(
        first_action(&opened),
        ("executed", &Value::Null),
        "{}",
        opened.text
    );
    // The same firing again: held by its latch.
    redeploy(&aws, &function).await;
    let resent = post_signed(&t, &unstarted("ALERT_RETRIGGERED", "open-2", None)).await;
    assert_eq!(
        first_action(&resent),
        ("skipped", &latched),
        "{}",
        resent.text
    );

    // The incident ends; the alert's next firing acts again.
    let resolved = unstarted("ALERT_RESOLVED", "resolved-1", None);
    let reply = post_signed(&t, &resolved).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.json["notes"]
            .to_string()
            .contains("ALERT_RESOLVED ended the incident: cleared 1 incident latch"),
        "{}",
        reply.text
    );
    let again = post_signed(&t, &unstarted("ALERT_OPENED", "open-3", None)).await;
    assert_eq!(
        first_action(&again),
        ("executed", &Value::Null),
        "{}",
        again.text
    );

    // A re-sent ALERT_RESOLVED is a duplicate and leaves the new firing's latch alone; so does
    // a late one of an incident that ended before the latch was taken.
    let repeat = post_signed(&t, &resolved).await;
    assert_eq!(repeat.json["outcome"], "duplicate", "{}", repeat.text);
    assert_ne!(repeat.json["request_id"], reply.json["request_id"]);
    assert_eq!(
        repeat.json["duplicate_of"]["request_id"],
        reply.json["request_id"]
    );
    let late = unstarted(
        "ALERT_RESOLVED",
        "resolved-0",
        Some("01/01/2020 00:00:00 +0000"),
    );
    let late = post_signed(&t, &late).await;
    assert_eq!(late.status, 200, "{}", late.text);
    assert!(
        !late.json["notes"]
            .to_string()
            .contains("ended the incident"),
        "{}",
        late.text
    );
    redeploy(&aws, &function).await;
    let held = post_signed(&t, &unstarted("ALERT_RETRIGGERED", "open-4", None)).await;
    assert_eq!(first_action(&held), ("skipped", &latched), "{}", held.text);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
}

#[tokio::test]
async fn a_resolved_that_cannot_be_told_apart_from_a_resend_says_so_when_it_clears_latches() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    // No cooldown: the firing after ALERT_RESOLVED moves the alias again within minutes.
    let t = responder(config_without_cooldown(&function, "20s"), aws.clone()).await;
    let opened = post_signed(&t, &unstarted("ALERT_OPENED", "open-1", None)).await;
    assert_eq!(first_action(&opened).0, "executed", "{}", opened.text);
    // A custom template without notificationId, startedTime or endedTime.
    let bare = serde_json::json!({
        "alertId": "1700000000001",
        "reason": "ALERT_RESOLVED",
        "name": "checkout API error rate high",
    })
    .to_string();
    let reply = post_signed(&t, &bare).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let notes = reply.json["notes"].to_string();
    assert!(notes.contains("cleared 1 incident latch"), "{}", reply.text);
    assert!(
        notes.contains(
            "this ALERT_RESOLVED has no endedTime and no notificationId (nor alertId and \
             startedTime): it cleared the latches taken before it arrived, and a re-sent copy \
             would clear them again, including a later firing's; use the shipped alert target \
             template, which carries these fields"
        ),
        "{}",
        reply.text
    );
    // With a notificationId, it can be de-duplicated, but without endedTime it still cannot be
    // placed in time: a first one that arrives late would clear a later firing's latches.
    redeploy(&aws, &function).await;
    let again = post_signed(&t, &unstarted("ALERT_OPENED", "open-2", None)).await;
    assert_eq!(first_action(&again).0, "executed", "{}", again.text);
    let resolved = post_signed(&t, &unstarted("ALERT_RESOLVED", "resolved-1", None)).await;
    let notes = resolved.json["notes"].to_string();
    assert!(
        notes.contains("cleared 1 incident latch"),
        "{}",
        resolved.text
    );
    assert!(
        notes.contains(
            "this ALERT_RESOLVED has no endedTime, so it could not be anchored in time: it \
             cleared the latches taken before it arrived"
        ),
        "{}",
        resolved.text
    );
    // With endedTime too (as the shipped template sends), no such note.
    redeploy(&aws, &function).await;
    let third = post_signed(&t, &unstarted("ALERT_OPENED", "open-3", None)).await;
    assert_eq!(first_action(&third).0, "executed", "{}", third.text);
    // It ended after that firing's latch was taken (endedTime has whole seconds).
    let ended = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1))
        .strftime("%m/%d/%Y %H:%M:%S +0000")
        .to_string();
    let anchored = unstarted("ALERT_RESOLVED", "resolved-2", Some(&ended));
    let resolved = post_signed(&t, &anchored).await;
    let notes = resolved.json["notes"].to_string();
    assert!(
        notes.contains("cleared 1 incident latch"),
        "{}",
        resolved.text
    );
    assert!(!notes.contains("no endedTime"), "{}", resolved.text);
}

#[tokio::test]
async fn an_open_circuit_skips_the_action_and_says_how_it_closes() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    // No cooldown, which would refuse the second incident before the breaker does.
    let mut text = config_text(&function, "20s", NO_COOLDOWN);
    text += "\n[circuit_breaker]\nmax_actions = 1\nwindow = \"1h\"\n";
    let config = Config::parse(&text, Path::new("circuit.toml")).expect("valid config");
    let t = responder(config, aws.clone()).await;

    let first = post_signed(&t, &firing()).await;
    assert_eq!(first.json["outcome"], "executed", "{}", first.text);
    // The alert's next incident, after another bad release: the breaker's one slot is taken.
    redeploy(&aws, &function).await;
    let reply = post_signed(&t, &next_incident()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let circuit_open = Value::from("circuit_open");
    assert_eq!(
        first_action(&reply),
        ("skipped", &circuit_open),
        "{}",
        reply.text
    );
    // Refused before any read (#14 item 11: each read costs API quota an attacker could
    // burn): no AWS request id in the record.
    assert_eq!(
        reply.json["rules"][0]["actions"][0].get("aws_request_ids"),
        None,
        "{}",
        reply.text
    );
    let detail = reply.json["rules"][0]["actions"][0]["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with(
            "circuit open: 1 actions changed something in the last 1h (max_actions = 1); it \
             closes at "
        ),
        "{detail}"
    );
    // This ledger is in memory: `ledger clear` cannot reach it, a restart can.
    assert!(
        detail.ends_with(
            "or restarting the process resets it (this ledger is in memory, where `ledger \
             clear` cannot reach it)"
        ),
        "{detail}"
    );
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
    let audit = t.audits().pop().unwrap();
    assert_eq!(audit["outcome"], "skipped");
    assert_eq!(audit["detail"], detail);
    let metrics = t.metrics();
    let circuit: Vec<_> = metrics.iter().filter(|m| m[3] == "circuit_open").collect();
    assert_eq!(circuit.len(), 1, "{metrics:?}");
    assert_eq!(circuit[0][2], reply.json["request_id"].as_str().unwrap());
}

/// Fires one alert from `deliveries` tasks at once and returns the outcomes.
async fn fire_at_once(responders: Vec<Arc<TestResponder>>, alert: &str) -> Vec<String> {
    let headers = signed_headers(alert.as_bytes(), 0);
    let barrier = Arc::new(tokio::sync::Barrier::new(responders.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for responder in responders {
        let (headers, alert, barrier) = (headers.clone(), alert.to_owned(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let reply = responder.post(&as_refs(&headers), alert.as_bytes()).await;
            reply.json["outcome"].as_str().unwrap_or("?").to_owned()
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    outcomes.sort();
    outcomes
}

/// Eight Lambda instances running [`config`] for `function`: each its own responder, clients
/// and ledger, all on one new DynamoDB table.
async fn instances_sharing_a_table(aws: &Aws, function: &str) -> Vec<Arc<TestResponder>> {
    let table = moto::ledger_table(aws).await;
    let mut instances = Vec::new();
    for _ in 0..8 {
        let store: Arc<dyn Store> = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &table));
        let ledger = Ledger::new(store, HumanDuration::parse("7d").unwrap(), None);
        let t = TestResponder::live(config(function, "20s"), aws.clone(), ledger).await;
        instances.push(Arc::new(t));
    }
    instances
}

/// One delivery acted; each other one was told it is a duplicate, or, while the one acting
/// had not finished, that it is in progress (answered 503, for Wavefront to send it again).
fn exactly_one_executed(outcomes: &[String], deliveries: usize) {
    assert_eq!(outcomes.len(), deliveries);
    let executed = outcomes.iter().filter(|o| *o == "executed").count();
    assert_eq!(executed, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.as_str(), "executed" | "duplicate" | "in_progress")),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_to_one_instance_act_once() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let shared = Arc::new(responder(config(&function, "20s"), aws.clone()).await);
    let outcomes = fire_at_once(vec![shared; 8], &firing()).await;
    exactly_one_executed(&outcomes, 8);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_to_instances_sharing_a_dynamodb_ledger_act_once() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let instances = instances_sharing_a_table(&aws, &function).await;
    let outcomes = fire_at_once(instances, &firing()).await;
    exactly_one_executed(&outcomes, 8);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
}

/// Sends distinct notifications (OPENED, RETRIGGERED, resends) of one firing, one per
/// responder, at once; returns each first action's outcome and guard, sorted.
async fn notifications_at_once(responders: Vec<Arc<TestResponder>>) -> Vec<(String, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(responders.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, responder) in responders.into_iter().enumerate() {
        let body = opened_as(&format!("notification-{n}"), "ALERT_OPENED");
        let headers = signed_headers(body.as_bytes(), 0);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            barrier.wait().await;
            let reply = responder.post(&as_refs(&headers), body.as_bytes()).await;
            let (outcome, guard) = first_action(&reply);
            (outcome.to_owned(), guard.clone())
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    outcomes
}

/// One action; the seven others held by the incident latch.
fn one_action_seven_latched(outcomes: &[(String, Value)]) {
    let mut expected = vec![("skipped".to_owned(), Value::from("incident_latch")); 7];
    expected.insert(0, ("executed".to_owned(), Value::Null));
    assert_eq!(
        outcomes, expected,
        "one action, seven held by the incident latch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_notifications_of_one_incident_act_once() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let shared = Arc::new(responder(config(&function, "20s"), aws.clone()).await);
    one_action_seven_latched(&notifications_at_once(vec![shared; 8]).await);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_notifications_to_instances_sharing_a_dynamodb_ledger_act_once() {
    let aws = moto::aws().await;
    let function = canary_release(&aws).await;
    let instances = instances_sharing_a_table(&aws, &function).await;
    one_action_seven_latched(&notifications_at_once(instances).await);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
}
