//! Wavefront events (#15 item 2), end to end: real actions on moto server, the responder's
//! events posted to the stand-in for Wavefront's API (`wavefront_api`). One event per request
//! in which a live action executed, failed or was refused by the circuit breaker, a freeze or
//! the attribution guard; none for dry runs, duplicates or no match; a re-delivery that runs
//! again does not post the same event twice; a Wavefront that fails or stalls costs at most the
//! bound and changes neither the answer nor the action.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::Value;
use wavefront_responder::alert::Alert;
use wavefront_responder::announce::{Announced, Announcer};
use wavefront_responder::app::Options;
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::{ActionOutcome, Execution, Executor};
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};
use wavefront_responder::ledger::{CircuitBreaker, Ledger};
use wavefront_responder::plan::Plan;
use wavefront_responder::record::Record;
use wavefront_responder::secret::Secret;
use wavefront_responder::wavefront::{BaseUrl, Wavefront};

use crate::moto::{self, Aws, alias, alias_state};
use crate::support::*;
use crate::wavefront_api::{API_TOKEN, Misbehave, WavefrontApi};

const EVENT: &str = "/api/v2/event";

/// The checkout rule moving `function`'s `live` alias to `stable`, without a cooldown, with
/// `extra` config (a circuit breaker) and `[wavefront]` pointing at `api`.
fn config(function: &str, api: &WavefrontApi, extra: &str) -> Config {
    let mut text = format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{extra}\n{}\n\
         [[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n{NO_COOLDOWN}\n",
        api.config_table()
    );
    text += &format!(
        "[[rule.action]]\n{}\n",
        move_live_action(function, "to_alias = \"stable\"")
    );
    Config::parse(&text, Path::new("events.toml")).expect("valid config")
}

/// A responder acting on `aws` through `ledger`, posting events within `event_within`.
async fn responder(config: Config, aws: &Aws, ledger: Ledger, within: Duration) -> TestResponder {
    let options = Options {
        executor: Some(Executor::new(aws.clients(), ledger)),
        event_within: within,
        ..Options::default()
    };
    TestResponder::with_options(config, options).await
}

/// A function whose `live` alias runs version 2; `stable` is 1.
async fn release(aws: &Aws) -> String {
    let function = moto::function_with_versions(aws, 2).await;
    alias(aws, &function, "live", "2", &[]).await;
    alias(aws, &function, "stable", "1", &[]).await;
    function
}

/// Moto, the stand-in, a released function and a responder for it with the usual settings (an
/// in-memory ledger, events within 2 s).
async fn scene() -> (Aws, WavefrontApi, String, TestResponder) {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    let function = release(&aws).await;
    let config = config(&function, &api, "");
    let t = responder(
        config,
        &aws,
        Ledger::in_memory(None),
        Duration::from_secs(2),
    )
    .await;
    (aws, api, function, t)
}

/// The events the stand-in received, as posted.
fn events(api: &WavefrontApi) -> Vec<Value> {
    let posted = api.requests_to(Method::POST, EVENT);
    posted.into_iter().map(|r| r.body).collect()
}

/// [`firing`]'s next incident: started later, with a notification of its own.
fn next_incident() -> String {
    let mut alert: Value = serde_json::from_str(&firing()).expect("alert JSON");
    alert["startedTime"] = wavefront_time(started() + jiff::SignedDuration::from_mins(84)).into();
    alert["notificationId"] = "second-incident-notification".into();
    alert.to_string()
}

fn count(t: &TestResponder, metric: &str) -> usize {
    t.metric_names().iter().filter(|m| *m == metric).count()
}

#[tokio::test]
async fn an_executed_action_posts_one_event_and_a_redelivery_none() {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    let function = release(&aws).await;
    let ledger = Ledger::in_memory(None);
    let t = responder(
        config(&function, &api, ""),
        &aws,
        ledger,
        Duration::from_secs(2),
    )
    .await;

    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "executed");
    let posted = api.requests_to(Method::POST, EVENT);
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].headers[http::header::AUTHORIZATION],
        format!("Bearer {API_TOKEN}")
    );
    let event = &posted[0].body;
    let target = format!("{function}:live");
    assert_eq!(
        event["name"],
        format!("wavefront-responder: rolled back {target}: moved live 2 -> 1")
    );
    assert_eq!(event["annotations"]["type"], "wavefront-responder");
    assert_eq!(event["annotations"]["severity"], "info");
    let details = event["annotations"]["details"].as_str().unwrap();
    let request_id = reply.json["request_id"].as_str().unwrap();
    assert!(
        details.starts_with(reply.json["message"].as_str().unwrap()),
        "{details}"
    );
    assert!(
        details.contains(&format!(
            "alert \"checkout API error rate high\" (id 1700000000001); request {request_id}"
        )),
        "{details}"
    );
    assert!(
        details.contains(&format!(
            "rule checkout-errors: {target} executed: moved live 2 -> 1"
        )),
        "{details}"
    );
    let start = event["startTime"].as_i64().unwrap();
    assert_eq!(event["endTime"].as_i64(), Some(start + 1));
    let now = jiff::Timestamp::now().as_millisecond();
    assert!(
        (now - 60_000..=now).contains(&start),
        "{start} is not now ({now})"
    );
    assert_eq!(
        event["tags"],
        serde_json::json!(["wavefront-responder", "checkout-errors"])
    );
    assert_eq!(
        event["alertTags"],
        serde_json::json!(["production", "checkout"])
    );
    assert_eq!(count(&t, "event_posted"), 1);
    assert_eq!(count(&t, "event_failed"), 0);

    let again = t.post_with_token(&firing()).await;
    assert_eq!(again.json["outcome"], "duplicate", "{}", again.text);
    assert_eq!(events(&api).len(), 1);
    assert_eq!(count(&t, "event_posted"), 1);
    assert_no_secrets(&t.output.text());
    assert_no_secrets(&reply.text);
}

#[tokio::test]
async fn dry_runs_and_alerts_no_rule_matches_post_nothing() {
    let (aws, api, function, t) = scene().await;

    let test_button = t
        .post_with_token(&firing_from("alerts/checkout-testing.json"))
        .await;
    assert_eq!(test_button.json["dry_run"], true, "{}", test_button.text);
    let mut other: Value = serde_json::from_str(&firing()).unwrap();
    other["name"] = "payments latency".into();
    let no_match = t.post_with_token(&other.to_string()).await;
    assert_eq!(no_match.json["outcome"], "no_match", "{}", no_match.text);
    assert_eq!(events(&api), Vec::<Value>::new());
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");

    let dry = Config::parse(
        &format!("dry_run = true\n{}", config_text_of(&function, &api)),
        Path::new("dry.toml"),
    )
    .expect("valid config");
    let t = responder(dry, &aws, Ledger::in_memory(None), Duration::from_secs(2)).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.json["outcome"], "planned", "{}", reply.text);
    assert_eq!(events(&api), Vec::<Value>::new());
    assert_eq!(count(&t, "event_posted") + count(&t, "event_failed"), 0);
}

/// [`config`]'s text without extras.
fn config_text_of(function: &str, api: &WavefrontApi) -> String {
    format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}\n[[rule]]\nname = \"checkout-errors\"\n\
         alert = \"checkout * error rate*\"\n{NO_COOLDOWN}\n[[rule.action]]\n{}\n",
        api.config_table(),
        move_live_action(function, "to_alias = \"stable\"")
    )
}

#[tokio::test]
async fn the_circuit_breaker_and_a_freeze_refusing_an_action_post_a_warning() {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    let function = release(&aws).await;
    let breaker = "[circuit_breaker]\nmax_actions = 1\nwindow = \"1h\"\n";
    let config = config(&function, &api, breaker);
    let circuit = Some(CircuitBreaker {
        max_actions: 1,
        window: HumanDuration::parse("1h").unwrap(),
    });
    let ledger = Ledger::in_memory(circuit);
    let t = responder(config, &aws, ledger.clone(), Duration::from_secs(2)).await;

    assert_eq!(
        t.post_with_token(&firing()).await.json["outcome"],
        "executed"
    );
    let refused = t.post_with_token(&next_incident()).await;
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert_eq!(
        refused.json["rules"][0]["actions"][0]["guard"],
        "circuit_open"
    );
    let posted = events(&api);
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1]["annotations"]["severity"], "warn");
    assert_eq!(
        posted[1]["name"],
        format!("wavefront-responder: did not roll back {function}:live (circuit breaker open)")
    );
    assert!(
        posted[1]["annotations"]["details"]
            .as_str()
            .unwrap()
            .contains(&format!("{function}:live refused: circuit open")),
        "{}",
        posted[1]
    );

    let scope = FreezeScope::Every;
    let now = jiff::Timestamp::now();
    let freeze = Freeze::new(
        scope,
        "payments outage",
        "kim",
        now,
        HumanDuration::parse("1h").unwrap(),
    );
    ledger.freeze(&freeze.unwrap()).await.unwrap();
    let mut third: Value = serde_json::from_str(&next_incident()).unwrap();
    third["notificationId"] = "third-incident-notification".into();
    let frozen = t.post_with_token(&third.to_string()).await;
    assert_eq!(
        frozen.json["rules"][0]["actions"][0]["guard"], "frozen",
        "{}",
        frozen.text
    );
    let posted = events(&api);
    assert_eq!(posted.len(), 3);
    assert_eq!(posted[2]["annotations"]["severity"], "warn");
    assert_eq!(
        posted[2]["name"],
        format!("wavefront-responder: did not roll back {function}:live (frozen)")
    );
    assert_eq!(count(&t, "event_posted"), 3);
}

#[tokio::test]
async fn a_failed_action_posts_a_severe_event_once_however_often_it_is_delivered() {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    // The function does not exist: reading its alias fails.
    let function = moto::unique("missing");
    // A DynamoDB ledger: the mark is a conditional write there too.
    let table = moto::ledger_table(&aws).await;
    let store = DynamoStore::new(aws.dynamodb.clone(), &table);
    let retention = HumanDuration::parse("7d").unwrap();
    let ledger = Ledger::new(Arc::new(store), retention, None);
    let t = responder(
        config(&function, &api, ""),
        &aws,
        ledger,
        Duration::from_secs(2),
    )
    .await;

    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let posted = events(&api);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["annotations"]["severity"], "severe");
    assert_eq!(
        posted[0]["name"],
        format!("wavefront-responder: could not roll back {function}:live")
    );
    // A failed request gives its delivery back: Wavefront's retry runs again, fails the same
    // way, and the ledger's mark keeps the same event off the charts.
    let retry = t.post_with_token(&firing()).await;
    assert_eq!(retry.status, 502, "{}", retry.text);
    assert_eq!(retry.json["rules"][0]["actions"][0]["outcome"], "failed");
    assert_eq!(events(&api).len(), 1);
    assert_eq!(count(&t, "event_posted"), 1);
    assert_eq!(count(&t, "event_failed"), 0);
}

#[tokio::test]
async fn a_wavefront_that_stalls_or_fails_changes_neither_the_answer_nor_the_action() {
    for misbehave in [Misbehave::Stall, Misbehave::Status(500)] {
        let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
        api.misbehave(Method::POST, EVENT, misbehave);
        let function = release(&aws).await;
        let bound = Duration::from_millis(300);
        let t = responder(
            config(&function, &api, ""),
            &aws,
            Ledger::in_memory(None),
            bound,
        )
        .await;

        let reply = t.post_with_token(&firing()).await;
        assert_eq!(reply.status, 200, "{misbehave:?}: {}", reply.text);
        assert_eq!(reply.json["outcome"], "executed");
        assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
        assert_eq!(api.requests_to(Method::POST, EVENT).len(), 1);
        assert_eq!(count(&t, "event_failed"), 1, "{misbehave:?}");
        assert_eq!(count(&t, "event_posted"), 0);
        // The answer and the audit line say what the actions did, as without Wavefront.
        assert!(reply.json.get("notes").is_none(), "{}", reply.text);
        assert_eq!(t.audits().len(), 1);
        assert_no_secrets(&t.output.text());
        assert_no_secrets(&reply.text);
    }
}

#[tokio::test]
async fn an_api_token_that_could_not_be_read_makes_each_event_an_event_failed() {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    let function = release(&aws).await;
    let config = config(&function, &api, "");
    let unset = crate::wavefront_api::API_TOKEN_ENV;
    // The same config, its [wavefront] token read from a variable nobody set.
    let config = Config {
        wavefront: config.wavefront.map(|mut settings| {
            settings.api_token =
                wavefront_responder::secret::SecretRef::Env(format!("{unset}_UNSET"));
            settings
        }),
        ..config
    };
    let t = responder(
        config,
        &aws,
        Ledger::in_memory(None),
        Duration::from_secs(2),
    )
    .await;

    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.json["outcome"], "executed", "{}", reply.text);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
    assert!(api.requests().is_empty());
    assert_eq!(
        count(&t, "event_failed"),
        1,
        "the alarm must say the events are off"
    );
    // A dry run has no event to miss.
    let dry = t
        .post_with_token(&opened_as("n-dry", "ALERT_TESTING"))
        .await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(count(&t, "event_failed"), 1);
    assert_no_secrets(&t.output.text());
}

/// The record of one executed `lambda-alias` action on `function`, for [`Announcer::post`].
fn executed<'a>(plan: &Plan<'a>) -> Record<'a> {
    let mut record = Record::new(plan, Execution::planned(plan));
    record.rules[0].actions[0].outcome = ActionOutcome::Executed;
    record.rules[0].actions[0].detail = "moved live 2 -> 1".into();
    record
}

#[tokio::test]
async fn a_post_is_bounded_by_its_deadline_and_says_why_it_failed_without_the_token() {
    let api = WavefrontApi::start().await;
    let config = config("checkout", &api, "");
    let alert = Alert::parse(firing().as_bytes()).unwrap();
    let plan = Plan::new("r-bounded", &alert, &config.rules, false);
    let record = executed(&plan);
    let base = BaseUrl::parse(api.url()).unwrap();
    let wavefront = Wavefront::new(base, Secret::new(API_TOKEN));
    let ledger = Ledger::in_memory(None);
    let announcer = |within: Duration| Announcer {
        wavefront: &wavefront,
        ledger: &ledger,
        until: tokio::time::Instant::now() + within,
    };

    // No time left (Lambda's deadline less the time to answer has passed): nothing is sent.
    let late = announcer(Duration::ZERO).post(&record, &alert).await;
    assert_eq!(
        late,
        Announced::Failed("no time was left in the request's budget".into())
    );
    assert_eq!(api.requests().len(), 0);

    api.misbehave(Method::POST, EVENT, Misbehave::Stall);
    let bound = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    let stalled = announcer(bound).post(&record, &alert).await;
    // It waited for the bound (the stand-in never answers), and the bound ended it.
    assert!(started.elapsed() >= bound, "{:?}", started.elapsed());
    assert!(
        started.elapsed() < bound + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let Announced::Failed(why) = stalled else {
        panic!("{stalled:?}")
    };
    assert!(why.starts_with("Wavefront did not answer within "), "{why}");
    assert_no_secrets(&why);
    // A post that timed out may have landed: its mark stays, and a re-delivery does not post.
    assert_eq!(
        announcer(bound).post(&record, &alert).await,
        Announced::AlreadyPosted
    );
}

#[tokio::test]
async fn a_refused_post_gives_its_mark_back_so_a_redelivery_may_post() {
    let api = WavefrontApi::start().await;
    api.misbehave(Method::POST, EVENT, Misbehave::Status(403));
    let config = config("checkout", &api, "");
    let alert = Alert::parse(firing().as_bytes()).unwrap();
    let plan = Plan::new("r-refused", &alert, &config.rules, false);
    let record = executed(&plan);
    let base = BaseUrl::parse(api.url()).unwrap();
    let wavefront = Wavefront::new(base, Secret::new(API_TOKEN));
    let ledger = Ledger::in_memory(None);
    let announcer = Announcer {
        wavefront: &wavefront,
        ledger: &ledger,
        until: tokio::time::Instant::now() + Duration::from_secs(2),
    };
    let refused = announcer.post(&record, &alert).await;
    assert_eq!(
        refused,
        Announced::Failed(
            "Wavefront refused the call (403): the API token's account needs the Events \
             permission"
                .into()
        )
    );
    let again = announcer.post(&record, &alert).await;
    assert!(matches!(again, Announced::Failed(_)), "{again:?}");
    assert_eq!(api.requests_to(Method::POST, EVENT).len(), 2);
}

#[tokio::test]
async fn on_lambda_the_event_ends_before_the_time_kept_to_answer() {
    let (aws, api) = (moto::aws().await, WavefrontApi::start().await);
    api.misbehave(Method::POST, EVENT, Misbehave::Stall);
    let function = release(&aws).await;
    // A bound far past the invocation's deadline: only that deadline can end the post.
    let long = Duration::from_secs(60);
    let t = responder(
        config(&function, &api, ""),
        &aws,
        Ledger::in_memory(None),
        long,
    )
    .await;
    // 6 s left: 3 s for the actions, the executor's 2 s overrun, 1 s kept to answer.
    let left = Duration::from_secs(6);
    let mut context = lambda_http::Context::default();
    context.request_id = "event-deadline-test".into();
    let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap();
    context.deadline = now_ms + u64::try_from(left.as_millis()).unwrap();
    let auth = bearer(TOKEN);
    let event = lambda_event(
        "apigw-http-v2.json",
        &[("authorization", &auth)],
        &firing(),
        false,
    );
    let event = lambda_http::RequestExt::with_lambda_context(event, context);
    let started = std::time::Instant::now();
    let response = wavefront_responder::app::lambda::handle(&t.responder, event).await;
    // Answered before Lambda would stop the invocation: the property, not a benchmark.
    assert!(
        started.elapsed() < left,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 200);
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
    assert_eq!(api.requests_to(Method::POST, EVENT).len(), 1);
    assert_eq!(count(&t, "event_failed"), 1);
}

#[tokio::test]
async fn the_attribution_guard_leaving_a_fix_alone_posts_a_warning() {
    let (aws, api, function, t) = scene().await;
    // The alert started firing an hour before the live version was published: that version
    // may be the fix.
    let mut alert: Value = serde_json::from_str(&firing()).unwrap();
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    alert["startedTime"] = wavefront_time(hour_ago).into();
    let reply = t.post_with_token(&alert.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["rules"][0]["actions"][0]["guard"], "attribution");
    let posted = events(&api);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["annotations"]["severity"], "warn");
    assert_eq!(
        posted[0]["name"],
        format!("wavefront-responder: did not roll back {function}:live (it may be the fix)")
    );
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
}
