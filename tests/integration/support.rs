//! Shared test helpers: the example config with known secrets, a responder whose METRIC and
//! audit lines are captured, Lambda events built from the fixtures, and signed requests.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response};
use serde_json::Value;
use wavefront_responder::actions::Executor;
use wavefront_responder::actions::aws::Aws;
use wavefront_responder::auth;
use wavefront_responder::config::Config;
use wavefront_responder::front_door::{Inbound, Options, Responder};
use wavefront_responder::ledger::Ledger;
use wavefront_responder::telemetry::{Telemetry, metric_filter_fields};

pub const TOKEN: &str = "tok-current-5c1e9f0a7b3d";
pub const PREVIOUS_TOKEN: &str = "tok-previous-82d4a6c1e0f9";
pub const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every secret the tests use: none may ever appear in output.
pub const SECRETS: [&str; 3] = [TOKEN, PREVIOUS_TOKEN, SIGNING_SECRET];

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

/// The checkout alert (`alerts/checkout-opened.json`) as another notification: its
/// `notificationId` is `notification`, its `reason` is `reason`.
pub fn opened_as(notification: &str, reason: &str) -> String {
    let mut alert: Value =
        serde_json::from_str(&fixture("alerts/checkout-opened.json")).expect("alert JSON");
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
        let options = Options {
            executor: Some(Executor::new(aws, ledger)),
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
        let response = self
            .responder
            .handle(Inbound {
                method: &method,
                headers: &map,
                body,
                request_id: &request_id,
                source_ip: Some("192.0.2.1"),
                received_at,
                body_error: None,
                time_left: None,
            })
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
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event")
}

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

/// Runs one action as the executor does, without the ledger or a time budget.
pub async fn run_action(
    action: &wavefront_responder::actions::Action,
    aws: &wavefront_responder::actions::aws::Aws,
    dry_run: bool,
    now: jiff::Timestamp,
) -> wavefront_responder::actions::aws::Report {
    let mut alone = wavefront_responder::actions::codedeploy::HandedOver::default();
    run_action_after(action, aws, dry_run, now, &mut alone).await
}

/// [`run_action`] after the earlier actions of the same request that filled `handed_over`.
pub async fn run_action_after(
    action: &wavefront_responder::actions::Action,
    aws: &wavefront_responder::actions::aws::Aws,
    dry_run: bool,
    now: jiff::Timestamp,
    handed_over: &mut wavefront_responder::actions::codedeploy::HandedOver,
) -> wavefront_responder::actions::aws::Report {
    let mut calls = wavefront_responder::actions::aws::Calls::default();
    let (outcome, detail) = action
        .execute_after(aws, dry_run, now, &mut calls, handed_over)
        .await;
    calls.report(outcome, detail)
}

/// A Lambda event from a fixture, as JSON text, with headers added and the body set.
pub fn lambda_event_json(fixture_name: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut event: Value =
        serde_json::from_str(&fixture(&format!("events/{fixture_name}"))).expect("event JSON");
    for (name, value) in headers {
        event["headers"][*name] = Value::String((*value).into());
    }
    event["body"] = Value::String(body.to_owned());
    event.to_string()
}
