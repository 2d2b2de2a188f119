//! Shared test helpers: the example config with known secrets, a responder whose METRIC and
//! audit lines are captured, Lambda events built from the fixtures, and signed requests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::moto::Aws;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response};
use serde_json::Value;
use wavefront_responder::app::{ANSWER_MARGIN, Options, Responder};
use wavefront_responder::auth;
use wavefront_responder::config::Config;
use wavefront_responder::execute::{Executor, Timing};
use wavefront_responder::front_door::Inbound;
use wavefront_responder::ledger::Ledger;
use wavefront_responder::telemetry::{Telemetry, metric_filter_fields};

pub const TOKEN: &str = "tok-current-5c1e9f0a7b3d";
pub const PREVIOUS_TOKEN: &str = "tok-previous-82d4a6c1e0f9";
pub const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The Wavefront service account's API token the stand-in API accepts (`wavefront_api`).
pub const WAVEFRONT_API_TOKEN: &str = "wf-api-token-7d1c0e5a9b42";
/// The environment variable a `[wavefront]` table in the tests reads it from.
pub const WAVEFRONT_API_TOKEN_ENV: &str = "WAVEFRONT_API_TOKEN";

/// Every secret the tests use: none may ever appear in output.
pub const SECRETS: [&str; 4] = [TOKEN, PREVIOUS_TOKEN, SIGNING_SECRET, WAVEFRONT_API_TOKEN];

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `script` (a path in the repository) with the test virtualenv's Python (`.venv`, which
/// `scripts/test` creates; `RESPONDER_TEST_PYTHON` names another) and returns what it printed.
pub fn run_python(script: &str, args: &[PathBuf]) -> Vec<u8> {
    let python = std::env::var("RESPONDER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_path(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/test once, which creates the test virtualenv",
        python.display()
    );
    let output = std::process::Command::new(&python)
        .arg(repo_path(script))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{script} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub fn fixture(relative: &str) -> String {
    let path = repo_path("tests/fixtures").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// When the alerts of [`firing`] started: an hour after this test process first asked. Every
/// release a test makes in moto (a function version, a deployment) is then older than the
/// incident, as the release an alert is about is; the attribution guard leaves alone what
/// began after the incident started.
pub fn started() -> jiff::Timestamp {
    static STARTED: std::sync::OnceLock<jiff::Timestamp> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        let at = jiff::Timestamp::now().as_second() + 3600;
        jiff::Timestamp::from_second(at).expect("a time in range")
    })
}

/// The checkout alert (`alerts/checkout-opened.json`) firing since [`started`], for a release
/// the test made.
pub fn firing() -> String {
    firing_from("alerts/checkout-opened.json")
}

/// The alert fixture `relative` (`alerts/checkout-testing.json`, say) with its `startedTime`
/// set to [`started`], as [`firing`] is.
pub fn firing_from(relative: &str) -> String {
    let mut alert: Value = serde_json::from_str(&fixture(relative)).expect("alert JSON");
    alert["startedTime"] = wavefront_time(started()).into();
    alert.to_string()
}

/// `at` as Wavefront's alert target template writes times: `11/25/2026 20:41:07 +0000`.
pub fn wavefront_time(at: jiff::Timestamp) -> String {
    at.strftime("%m/%d/%Y %H:%M:%S +0000").to_string()
}

/// The checkout alert as another notification of the incident [`firing`] is: its
/// `notificationId` is `notification`, its `reason` is `reason`.
pub fn opened_as(notification: &str, reason: &str) -> String {
    let mut alert: Value = serde_json::from_str(&firing()).expect("alert JSON");
    alert["notificationId"] = notification.into();
    alert["reason"] = reason.into();
    alert.to_string()
}

/// The environment the example config reads its secrets from.
pub fn env(name: &str) -> Option<String> {
    match name {
        "WEBHOOK_TOKEN" => Some(TOKEN.into()),
        "WEBHOOK_TOKEN_PREVIOUS" => Some(PREVIOUS_TOKEN.into()),
        "WEBHOOK_SIGNING_SECRET" => Some(SIGNING_SECRET.into()),
        WAVEFRONT_API_TOKEN_ENV => Some(WAVEFRONT_API_TOKEN.into()),
        _ => None,
    }
}

pub fn example_config() -> Config {
    Config::load(&repo_path("examples/responder.toml")).expect("example config is valid")
}

/// The request id of a plan-only responder's requests: nothing they do depends on it.
pub const REQUEST_ID: &str = "11111111-2222-3333-4444-555555555555";

/// A request id no other request of this test process has, as Lambda gives each invocation:
/// `11111111-2222-3333-4444-<n>`.
pub fn unique_request_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!(
        "11111111-2222-3333-4444-{:012}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A responder with captured output.
pub struct TestResponder {
    pub responder: Responder,
    pub output: Captured,
    /// Whether each request gets its own id: when the responder runs actions, whose ledger
    /// claims are told apart by request id, as on Lambda.
    unique_ids: bool,
}

impl TestResponder {
    pub async fn example() -> Self {
        Self::new(example_config()).await
    }

    /// A plan-only responder: actions are described, AWS is never called.
    pub async fn new(config: Config) -> Self {
        Self::with_options(config, Options::default()).await
    }

    /// A responder whose actions run against `aws`, guarded by `ledger`.
    pub async fn live(config: Config, aws: Aws, ledger: Ledger) -> Self {
        Self::live_timed(config, aws, ledger, Timing::default()).await
    }

    /// [`TestResponder::live`], its executor with `timing` (overrun and claim grace).
    pub async fn live_timed(config: Config, aws: Aws, ledger: Ledger, timing: Timing) -> Self {
        Self::live_with_margins(config, aws, ledger, timing, ANSWER_MARGIN).await
    }

    /// [`TestResponder::live_timed`], keeping `answer_margin` back from Lambda's deadline to
    /// answer (the executor's overrun, `timing.after_deadline`, is kept back before it).
    pub async fn live_with_margins(
        config: Config,
        aws: Aws,
        ledger: Ledger,
        timing: Timing,
        answer_margin: Duration,
    ) -> Self {
        let executor = Executor::new(aws.clients(), ledger).with_timing(timing);
        let options = Options {
            executor: Some(executor),
            answer_margin,
            ..Options::default()
        };
        Self::with_options(config, options).await
    }

    /// A responder with an executor (or other options). With an executor, every request gets
    /// its own id; plan-only, they all have [`REQUEST_ID`].
    pub async fn with_options(config: Config, options: Options) -> Self {
        let unique_ids = options.executor.is_some();
        let output = Captured::default();
        let setup = Responder::setup(
            config,
            std::sync::Arc::new(env),
            Telemetry::to_writer(output.clone()),
            options,
        )
        .await
        .expect("responder builds");
        Self {
            responder: setup.responder,
            output,
            unique_ids,
        }
    }

    /// POSTs `body` with the current token as a bearer token.
    pub async fn post_with_token(&self, body: &str) -> Reply {
        let auth = bearer(TOKEN);
        self.post(&[("authorization", &auth)], body.as_bytes())
            .await
    }

    /// POSTs `body` with `headers`, as the local server or Lambda would.
    pub async fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.request(Method::POST, headers, body).await
    }

    pub async fn request(&self, method: Method, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.request_at(method, headers, body, jiff::Timestamp::now())
            .await
    }

    /// A request that arrives at `received_at`.
    pub async fn request_at(
        &self,
        method: Method,
        headers: &[(&str, &str)],
        body: &[u8],
        received_at: jiff::Timestamp,
    ) -> Reply {
        let map = header_map(headers);
        let request_id = if self.unique_ids {
            unique_request_id()
        } else {
            REQUEST_ID.to_owned()
        };
        // Boxed, as Lambda's runtime and the local server hold the handler's future: inline,
        // a debug build copies it into every awaiting frame, and a long test overflows the
        // test thread's stack.
        let response = Box::pin(self.responder.handle(Inbound {
            method: &method,
            headers: &map,
            body,
            request_id: &request_id,
            source_ip: Some("192.0.2.1"),
            received_at,
            body_error: None,
            time_left: None,
            function_arn: None,
        }))
        .await;
        Reply::from(response)
    }

    /// METRIC lines, split as the CloudWatch filter splits them.
    pub fn metrics(&self) -> Vec<Vec<String>> {
        self.output
            .text()
            .lines()
            .filter(|l| l.starts_with("[METRIC]"))
            .map(metric_filter_fields)
            .collect()
    }

    /// Metric names in order of emission.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics().into_iter().map(|f| f[3].clone()).collect()
    }

    /// Audit lines, parsed.
    pub fn audits(&self) -> Vec<Value> {
        self.output
            .text()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }
}

/// A response with its body parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl From<Response<String>> for Reply {
    fn from(response: Response<String>) -> Self {
        let (parts, text) = response.into_parts();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            text,
            json,
        }
    }
}

pub fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Standard Webhooks headers for `body`, signed `age_secs` ago.
pub fn signed_headers(body: &[u8], age_secs: i64) -> Vec<(String, String)> {
    signed_headers_at(body, jiff::Timestamp::now().as_second() - age_secs)
}

/// Standard Webhooks headers for `body`, signed at `timestamp` (Unix seconds).
pub fn signed_headers_at(body: &[u8], timestamp: i64) -> Vec<(String, String)> {
    let signature = auth::sign(SIGNING_SECRET, "msg_2Kq0Yy", timestamp, body).expect("sign");
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), "msg_2Kq0Yy".into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

pub fn as_refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// A Lambda event from a fixture, with headers added and the body set (base64 when asked).
pub fn lambda_event(
    fixture_name: &str,
    headers: &[(&str, &str)],
    body: &str,
    base64: bool,
) -> lambda_http::Request {
    let event = event_value(fixture_name, headers, body, base64);
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event")
}

/// A Lambda event from a fixture, as JSON text, with headers added and the body set.
pub fn lambda_event_json(fixture_name: &str, headers: &[(&str, &str)], body: &str) -> String {
    event_value(fixture_name, headers, body, false).to_string()
}

/// The fixture's event with `headers` added (to `multiValueHeaders` too, where the event has
/// them: API Gateway's REST events carry both) and the body set, base64-encoded when asked.
fn event_value(fixture_name: &str, headers: &[(&str, &str)], body: &str, base64: bool) -> Value {
    use base64::Engine;
    let mut event: Value =
        serde_json::from_str(&fixture(&format!("events/{fixture_name}"))).expect("event JSON");
    for (name, value) in headers {
        event["headers"][*name] = Value::String((*value).into());
        if event.get("multiValueHeaders").is_some() {
            event["multiValueHeaders"][*name] = Value::Array(vec![Value::String((*value).into())]);
        }
    }
    event["body"] = Value::String(if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    });
    event["isBase64Encoded"] = Value::Bool(base64);
    event
}

/// The line that turns a rule's cooldown off: for a test that acts on one target more than
/// once within the default 15 minutes, about something else than cooldowns.
pub const NO_COOLDOWN: &str = "cooldown = \"0s\"";

/// A config with token auth and one rule, `checkout-errors`, that matches the checkout alert
/// and runs `actions` (each the body of a `[[rule.action]]` table) within `time_budget`.
pub fn checkout_rule(time_budget: &str, actions: &[String]) -> Config {
    let mut text = format!(
        r#"
time_budget = "{time_budget}"
[auth]
tokens = ["env:WEBHOOK_TOKEN"]
[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"
"#
    );
    for action in actions {
        text += &format!("[[rule.action]]\n{action}\n");
    }
    Config::parse(&text, Path::new("checkout-rule.toml")).expect("valid config")
}

/// A `lambda-alias` action moving `function`'s `live` alias; `to` is its target line,
/// `to_version = "1"` or `to_alias = "stable"`.
pub fn move_live_action(function: &str, to: &str) -> String {
    format!("type = \"lambda-alias\"\nfunction = \"{function}\"\nalias = \"live\"\n{to}")
}

/// A `codedeploy-rollback` action for `application`'s deployment group `group`.
pub fn rollback_action(application: &str, group: &str) -> String {
    format!(
        "type = \"codedeploy-rollback\"\napplication = \"{application}\"\n\
         deployment_group = \"{group}\""
    )
}

/// The partition keys of `ledger`'s entries, sorted.
pub async fn ledger_keys(ledger: &Ledger) -> Vec<String> {
    let mut keys: Vec<String> = ledger
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.pk)
        .collect();
    keys.sort();
    keys
}

/// Asserts no secret appears in `text`.
pub fn assert_no_secrets(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked into: {text}");
    }
    // The base64 part of the signing secret alone must not leak either.
    assert!(
        !text.contains(&SIGNING_SECRET[6..]),
        "a secret leaked into: {text}"
    );
}

pub use wavefront_responder::telemetry::Captured;

/// Runs one action as the executor does, without the ledger's guards, the attribution guard
/// or a time budget.
pub async fn run_action(
    action: &wavefront_responder::actions::Action,
    aws: &crate::moto::Aws,
    dry_run: bool,
    now: jiff::Timestamp,
) -> wavefront_responder::execute::calls::Report {
    let mut alone = wavefront_responder::execute::handover::HandedOver::default();
    run_action_after(action, aws, dry_run, now, &mut alone).await
}

/// [`run_action`] after the earlier actions of the same request that filled `handed_over`.
pub async fn run_action_after(
    action: &wavefront_responder::actions::Action,
    aws: &crate::moto::Aws,
    dry_run: bool,
    now: jiff::Timestamp,
    handed_over: &mut wavefront_responder::execute::handover::HandedOver,
) -> wavefront_responder::execute::calls::Report {
    let ledger = Ledger::in_memory(None);
    let context = wavefront_responder::execute::Context {
        dry_run,
        now,
        since: None,
        ledger: &ledger,
        request_id: "req-test",
    };
    run_action_in(action, aws, &context, handed_over).await
}

/// Runs one action in `context` (its dry run, the incident's start for the attribution guard,
/// the ledger its undos are recorded in).
pub async fn run_action_in(
    action: &wavefront_responder::actions::Action,
    aws: &crate::moto::Aws,
    context: &wavefront_responder::execute::Context<'_>,
    handed_over: &mut wavefront_responder::execute::handover::HandedOver,
) -> wavefront_responder::execute::calls::Report {
    let mut calls = wavefront_responder::execute::calls::Calls::default();
    let (outcome, detail) = wavefront_responder::execute::run_action(
        action,
        &aws.clients(),
        context,
        &mut calls,
        handed_over,
    )
    .await;
    calls.report(outcome, detail)
}

/// The DynamoDB operations the ledger calls, as `proxy::assert_calls` tells them from the
/// actions' calls.
pub const LEDGER_CALLS: &[&str] = &[
    "PutItem",
    "GetItem",
    "BatchGetItem",
    "Query",
    "DeleteItem",
    "Scan",
];

/// The operations by which an action changes something: they split the ledger's calls into
/// runs, as in `proxy::assert_calls`.
const ACTION_WRITE_CALLS: &[&str] = &["UpdateAlias", "StopDeployment", "CreateDeployment"];

/// For `proxy::assert_calls`: `seen` and `expected`, where ledger calls the responder sends at
/// once are written in brackets in `expected`, `[PutItem Query]` (the delivery's claim beside
/// the read of the freezes, the cooldown's claim beside the circuit breaker's read). The order
/// those arrive in depends on timing: where they arrived in another order of the same calls, in
/// the bracket's place, `seen` is given back with them in the bracket's order, and `expected`
/// without brackets. Every call is still counted, and every other call compared as
/// `proxy::assert_calls` compares it.
#[track_caller]
pub fn sent_at_once(seen: &[String], expected: &str) -> (Vec<String>, String) {
    let groups = call_groups(expected);
    let flat: Vec<&str> = groups.iter().flatten().copied().collect();
    // The ledger's calls of each run, in the bracketed order where the calls arrived in another
    // order of the same group; then put back where the ledger's calls were.
    let seen_runs = ledger_runs(seen.iter().map(String::as_str).map(|c| vec![c]));
    let expected_runs = ledger_runs(groups.iter().cloned());
    let mut ordered = Vec::new();
    for (n, run) in seen_runs.iter().enumerate() {
        let run: Vec<&str> = run.iter().flatten().copied().collect();
        let mut at = 0;
        for group in expected_runs.get(n).into_iter().flatten() {
            let end = (at + group.len()).min(run.len());
            let mut arrived = run[at..end].to_vec();
            let mut wanted = group.clone();
            arrived.sort_unstable();
            wanted.sort_unstable();
            if arrived == wanted {
                ordered.extend(group.iter().copied());
            } else {
                ordered.extend(&run[at..end]);
            }
            at = end;
        }
        ordered.extend(&run[at..]);
    }
    let mut ordered = ordered.into_iter();
    let seen = seen
        .iter()
        .map(|call| match LEDGER_CALLS.contains(&call.as_str()) {
            true => ordered.next().unwrap_or(call.as_str()).to_owned(),
            false => call.clone(),
        })
        .collect();
    (seen, flat.join(" "))
}

/// `expected` in groups: one call, or the calls of one `[...]`.
#[track_caller]
fn call_groups(expected: &str) -> Vec<Vec<&str>> {
    let mut groups = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for word in expected.split_whitespace() {
        let (starts, word) = word.strip_prefix('[').map_or((false, word), |w| (true, w));
        let (ends, word) = word.strip_suffix(']').map_or((false, word), |w| (true, w));
        if starts {
            assert!(open.is_none(), "nested [ in {expected:?}");
            open = Some(Vec::new());
        }
        match open.as_mut() {
            Some(group) => {
                assert!(
                    LEDGER_CALLS.contains(&word),
                    "only the ledger's calls go in brackets: {word} in {expected:?}"
                );
                group.push(word);
            }
            None => {
                assert!(!ends, "] without [ in {expected:?}");
                groups.push(vec![word]);
            }
        }
        if ends {
            groups.extend(open.take());
        }
    }
    assert!(open.is_none(), "unclosed [ in {expected:?}");
    groups
}

/// The groups of the ledger's calls, in runs between the actions' writes.
fn ledger_runs<'a>(groups: impl Iterator<Item = Vec<&'a str>>) -> Vec<Vec<Vec<&'a str>>> {
    let mut runs = vec![Vec::new()];
    for group in groups {
        if group.iter().all(|call| LEDGER_CALLS.contains(call)) {
            if let Some(run) = runs.last_mut() {
                run.push(group);
            }
        } else if group.iter().any(|call| ACTION_WRITE_CALLS.contains(call)) {
            runs.push(Vec::new());
        }
    }
    runs
}

#[test]
fn calls_sent_at_once_match_in_either_order_and_only_in_their_place() {
    let calls =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let expected = "[PutItem Query] PutItem [PutItem Query] PutItem GetAlias UpdateAlias PutItem";
    let flat = "PutItem Query PutItem PutItem Query PutItem GetAlias UpdateAlias PutItem";
    for arrived in [
        flat,
        "Query PutItem PutItem GetAlias Query PutItem PutItem UpdateAlias PutItem",
    ] {
        let (seen, expected) = sent_at_once(&calls(arrived), expected);
        assert_eq!(expected, flat);
        // The actions' calls stay where they arrived; the ledger's take the brackets' order.
        let ledger: Vec<&str> = seen
            .iter()
            .map(String::as_str)
            .filter(|c| LEDGER_CALLS.contains(c))
            .collect();
        assert_eq!(
            ledger.join(" "),
            flat.replace(" GetAlias UpdateAlias", ""),
            "{arrived}"
        );
        assert_eq!(seen.iter().filter(|c| *c == "GetAlias").count(), 1);
    }
    // Not the calls of a bracket in its place (the latch before the delivery's claim came
    // back), or a call too many: left as they came, for `proxy::assert_calls` to refuse.
    for arrived in [
        "PutItem PutItem Query PutItem Query PutItem GetAlias UpdateAlias PutItem",
        "PutItem Query Query PutItem PutItem Query PutItem GetAlias UpdateAlias PutItem",
    ] {
        let (seen, _) = sent_at_once(&calls(arrived), expected);
        assert_eq!(seen, calls(arrived), "{arrived}");
    }
}

/// Checks that `audit` has exactly the `documented` keys, and `aws_request_ids` only when it
/// lists some.
#[track_caller]
pub fn assert_audit_keys(audit: &Value, documented: &std::collections::BTreeSet<String>) {
    let mut keys: std::collections::BTreeSet<String> = audit
        .as_object()
        .expect("an audit line is an object")
        .keys()
        .cloned()
        .collect();
    if let Some(ids) = audit.get("aws_request_ids") {
        assert!(
            ids.as_array().is_some_and(|ids| !ids.is_empty()),
            "aws_request_ids is left out when there were none: {audit}"
        );
        keys.remove("aws_request_ids");
    }
    assert_eq!(&keys, documented, "{audit}");
}
