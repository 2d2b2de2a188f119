//! `register` as operators run it, against the stand-in for Wavefront's API
//! ([`crate::wavefront_api`]): the target it creates, updates or leaves alone, the exact
//! request it sends, the errors it explains, and `--dry-run`. Also `check` on the
//! `[wavefront]` table. The webhook token and the API token never appear in what it prints.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use http::{Method, header};
use serde_json::{Value, json};

use crate::support::*;
use crate::wavefront_api::{API_TOKEN, API_TOKEN_ENV, Misbehave, WavefrontApi};

const ENDPOINT: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/live/webhook";
const OTHER_ENDPOINT: &str = "https://def456.execute-api.eu-west-1.amazonaws.com/live/webhook";

/// What one run of the binary left: its exit code, stdout and stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts it failed with exit code 1 and an error containing `says`, and leaked nothing.
    fn fails_saying(&self, says: &str) {
        assert_eq!(self.code, Some(1), "{}{}", self.stdout, self.stderr);
        assert!(
            self.stderr.contains(says),
            "missing {says:?} in:\n{}",
            self.stderr
        );
    }

    /// The target id it printed after "target id: ".
    fn target_id(&self) -> String {
        let line = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("target id: "));
        line.unwrap_or_else(|| panic!("no target id in:\n{}", self.stdout))
            .to_owned()
    }
}

/// A config file reading its webhook token from `WEBHOOK_TOKEN`, with one rule that sets its
/// own triggers, `auth` (the `[auth]` table) and `wavefront` (the `[wavefront]` table or "").
fn config_file(auth: &str, wavefront: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(crate::moto::unique("register"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("responder.toml");
    let text = format!(
        "triggers = [\"ALERT_OPENED\"]\n{auth}\n{wavefront}\n\
         [[rule]]\nname = \"checkout\"\nalert = \"checkout*\"\n\
         triggers = [\"ALERT_OPENED\", \"ALERT_RETRIGGERED\", \"ALERT_TESTING\"]\n\
         [[rule.action]]\n{}\n",
        move_live_action("checkout", "to_version = \"41\"")
    );
    std::fs::write(&path, text).unwrap();
    path
}

const TOKEN_AUTH: &str = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\", \"env:WEBHOOK_TOKEN_PREVIOUS\"]";

/// Runs the binary with `args` (off the test's runtime, so the stand-in keeps answering), with
/// the webhook tokens and the API token in its environment, as `env` may change.
async fn run(args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wavefront-responder"));
    command
        .args(args)
        .current_dir(repo_path(""))
        .env_remove("RESPONDER_CONFIG")
        .env_remove("LAMBDA_TASK_ROOT")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("WEBHOOK_SIGNING_SECRET")
        .env("WEBHOOK_TOKEN", TOKEN)
        .env("WEBHOOK_TOKEN_PREVIOUS", PREVIOUS_TOKEN)
        .env(API_TOKEN_ENV, API_TOKEN)
        .env("RUST_LOG", "info");
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap();
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secrets(&run.stdout);
    assert_no_secrets(&run.stderr);
    run
}

/// `register --endpoint <endpoint> --config <config>` and `extra` arguments.
async fn register(config: &std::path::Path, endpoint: &str, extra: &[&str]) -> Run {
    let config = config.to_str().unwrap();
    let mut args = vec!["register", "--endpoint", endpoint, "--config", config];
    args.extend(extra);
    run(&args, &[]).await
}

/// The body the stand-in must receive for `endpoint`, with the header `header: value`.
fn expected_body(endpoint: &str, header: &str, value: &str) -> Value {
    json!({
        "title": "wavefront-responder",
        "description": "Rolls back the release when an alert that guards it fires (written by \
                        wavefront-responder register)",
        "method": "WEBHOOK",
        "recipient": endpoint,
        "contentType": "application/json",
        "customHttpHeaders": {header: value},
        "template": fixture_template(),
        "triggers": ["ALERT_OPENED", "ALERT_RESOLVED", "ALERT_RETRIGGERED"],
    })
}

fn fixture_template() -> String {
    std::fs::read_to_string(repo_path("wavefront/alert-target-template.json.mustache")).unwrap()
}

/// The stand-in's write requests: every POST and PUT to the alert targets.
fn writes(api: &WavefrontApi) -> usize {
    api.requests_to(Method::POST, "/api/v2/notificant").len()
        + api.requests_to(Method::PUT, "/api/v2/notificant").len()
}

#[tokio::test]
async fn registering_creates_the_target_then_a_second_run_changes_nothing() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let first = register(&config, ENDPOINT, &[]).await;
    assert_eq!(first.code, Some(0), "{}{}", first.stdout, first.stderr);
    let id = first.target_id();
    assert!(
        first.stdout.contains(&format!("created alert target {id}")),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains(&format!("add target:{id} to the alert")),
        "{}",
        first.stdout
    );

    let posts = api.requests_to(Method::POST, "/api/v2/notificant");
    assert_eq!(posts.len(), 1);
    let sent = &posts[0];
    assert_eq!(sent.path, "/api/v2/notificant");
    assert_eq!(
        sent.headers[header::AUTHORIZATION],
        format!("Bearer {API_TOKEN}")
    );
    assert_eq!(sent.headers[header::CONTENT_TYPE], "application/json");
    // The first usable token of [auth], as the responder expects it.
    let body = expected_body(ENDPOINT, "Authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(sent.body, body);
    assert_eq!(api.notificants()[0]["id"], json!(id));

    let second = register(&config, ENDPOINT, &[]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(second.target_id(), id);
    assert!(second.stdout.contains("is unchanged"), "{}", second.stdout);
    assert_eq!(writes(&api), 1, "the second run wrote");
    assert_eq!(api.notificants().len(), 1);
}

#[tokio::test]
async fn a_changed_endpoint_updates_the_same_target_with_put() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let id = register(&config, ENDPOINT, &[]).await.target_id();
    let moved = register(&config, OTHER_ENDPOINT, &[]).await;
    assert_eq!(moved.code, Some(0), "{}", moved.stderr);
    assert_eq!(moved.target_id(), id);
    assert!(
        moved.stdout.contains(&format!("updated alert target {id}")),
        "{}",
        moved.stdout
    );
    let puts = api.requests_to(Method::PUT, "/api/v2/notificant");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, format!("/api/v2/notificant/{id}"));
    let body = expected_body(OTHER_ENDPOINT, "Authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(puts[0].body, body);
    assert_eq!(api.notificants().len(), 1);
    assert_eq!(api.notificants()[0]["recipient"], OTHER_ENDPOINT);
}

#[tokio::test]
async fn a_custom_token_header_carries_the_bare_token() {
    let api = WavefrontApi::start().await;
    let auth = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\ntoken_header = \"X-Webhook-Token\"";
    let config = config_file(auth, &api.config_table());
    let done = register(&config, ENDPOINT, &[]).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sent = &api.requests_to(Method::POST, "/api/v2/notificant")[0];
    assert_eq!(sent.body, expected_body(ENDPOINT, "x-webhook-token", TOKEN));
}

#[tokio::test]
async fn an_unset_first_token_gives_way_to_the_next_usable_one() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let path = config.to_str().unwrap();
    let args = ["register", "--endpoint", ENDPOINT, "--config", path];
    let done = run(&args, &[("WEBHOOK_TOKEN", None)]).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let skipped = "token env:WEBHOOK_TOKEN is not set or empty; skipping it";
    assert!(done.stderr.contains(skipped), "{}", done.stderr);
    let sent = &api.requests_to(Method::POST, "/api/v2/notificant")[0];
    let bearer = format!("Bearer {PREVIOUS_TOKEN}");
    assert_eq!(sent.body, expected_body(ENDPOINT, "Authorization", &bearer));
}

#[tokio::test]
async fn the_target_is_found_on_a_later_page_and_others_are_left_alone() {
    let api = WavefrontApi::start().await;
    for n in 0..150 {
        api.add_notificant(json!({"title": format!("team-{n}"), "method": "EMAIL"}));
    }
    let ours = expected_body(ENDPOINT, "Authorization", "Bearer an-old-token-0123456789");
    let id = api.add_notificant(ours);
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let done = register(&config, ENDPOINT, &[]).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.target_id(), id);
    let pages: Vec<String> = api
        .requests_to(Method::GET, "/api/v2/notificant")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        pages,
        [
            "/api/v2/notificant?offset=0&limit=100",
            "/api/v2/notificant?offset=100&limit=100"
        ]
    );
    let puts = api.requests_to(Method::PUT, "/api/v2/notificant");
    assert_eq!(puts.len(), 1, "the old token is replaced");
    assert_eq!(puts[0].path, format!("/api/v2/notificant/{id}"));
    assert_eq!(api.notificants().len(), 151);
}

#[tokio::test]
async fn two_targets_with_the_title_are_refused_without_writing() {
    let api = WavefrontApi::start().await;
    let first = api.add_notificant(json!({"title": "wavefront-responder"}));
    let second = api.add_notificant(json!({"title": "wavefront-responder"}));
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let refused = register(&config, ENDPOINT, &[]).await;
    refused.fails_saying(&format!(
        "2 alert targets are titled \"wavefront-responder\" ({first}, {second})"
    ));
    assert_eq!(writes(&api), 0);
}

#[tokio::test]
async fn dry_run_writes_nothing_and_shows_the_body_with_the_token_redacted() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let dry = register(&config, ENDPOINT, &["--dry-run"]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(writes(&api), 0);
    assert!(api.notificants().is_empty());
    let (said, body) = dry.stdout.split_once('\n').unwrap();
    assert_eq!(
        said,
        "dry run: would create \"wavefront-responder\" with POST /api/v2/notificant and this \
         body (token redacted); nothing was changed:"
    );
    let shown: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        shown,
        expected_body(ENDPOINT, "Authorization", "Bearer <redacted>")
    );

    // Over an existing target, it names the one it would update.
    let id = register(&config, ENDPOINT, &[]).await.target_id();
    let dry = register(&config, OTHER_ENDPOINT, &["--dry-run"]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(
        dry.stdout.starts_with(&format!(
            "dry run: would update alert target {id} \"wavefront-responder\" with PUT \
             /api/v2/notificant/{id}"
        )),
        "{}",
        dry.stdout
    );
    assert_eq!(writes(&api), 1, "only the real run wrote");
    assert_eq!(api.notificants()[0]["recipient"], ENDPOINT);
}

#[tokio::test]
async fn a_token_wavefront_refuses_or_that_lacks_the_permission_fails_saying_which() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let path = config.to_str().unwrap();
    let args = ["register", "--endpoint", ENDPOINT, "--config", path];
    let wrong = run(&args, &[(API_TOKEN_ENV, Some("wf-some-other-token-0000"))]).await;
    wrong.fails_saying(
        "error: could not list the alert targets: Wavefront refused the API token (401): check \
         that [wavefront] api_token names the current token of an active service account",
    );

    api.misbehave(Method::POST, "/api/v2/notificant", Misbehave::Status(403));
    let forbidden = register(&config, ENDPOINT, &[]).await;
    forbidden.fails_saying(
        "error: could not create the alert target: Wavefront refused the call (403): the API \
         token's account needs the Alerts (manage alert targets) permission",
    );
    api.misbehave(Method::GET, "/api/v2/notificant", Misbehave::Status(500));
    let failed = register(&config, ENDPOINT, &[]).await;
    failed.fails_saying(
        "error: could not list the alert targets: Wavefront answered 500: injected by the test",
    );
    assert!(api.notificants().is_empty());
}

#[tokio::test]
async fn a_wavefront_that_does_not_answer_is_given_up_after_ten_seconds() {
    let api = WavefrontApi::start().await;
    api.misbehave(Method::GET, "/api/v2/notificant", Misbehave::Stall);
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let started = Instant::now();
    let stalled = register(&config, ENDPOINT, &[]).await;
    stalled.fails_saying("could not list the alert targets: Wavefront did not answer within 10s");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_config_register_cannot_use_is_refused_saying_what_to_add() {
    let api = WavefrontApi::start().await;
    let no_table = register(&config_file(TOKEN_AUTH, ""), ENDPOINT, &[]).await;
    no_table.fails_saying("has no [wavefront] table");
    no_table.fails_saying("[wavefront]\nurl = \"https://<name>.wavefront.com\"");

    let signing_only = "[auth]\nsigning_secrets = [\"env:WEBHOOK_SIGNING_SECRET\"]";
    let config = config_file(signing_only, &api.config_table());
    let path = config.to_str().unwrap();
    let args = ["register", "--endpoint", ENDPOINT, "--config", path];
    let unsigned = run(&args, &[("WEBHOOK_SIGNING_SECRET", Some(SIGNING_SECRET))]).await;
    unsigned.fails_saying("Wavefront cannot sign its requests");
    unsigned.fails_saying("add one to [auth] tokens");

    let config = config_file(TOKEN_AUTH, &api.config_table());
    let path = config.to_str().unwrap();
    let args = ["register", "--endpoint", ENDPOINT, "--config", path];
    let tokens_unset = [("WEBHOOK_TOKEN", None), ("WEBHOOK_TOKEN_PREVIOUS", None)];
    let unset = run(&args, &tokens_unset).await;
    unset.fails_saying("no usable token and no usable signing secret");
    let no_api_token = run(&args, &[(API_TOKEN_ENV, None)]).await;
    no_api_token.fails_saying(
        "[wavefront] api_token env:WAVEFRONT_API_TOKEN is not set or empty: register needs the \
         API token of a service account with the Alerts permission",
    );
    let plain = register(&config, "http://abc123.example.com/webhook", &[]).await;
    plain.fails_saying("--endpoint `http://abc123.example.com/webhook` is not an https URL");
    let untitled = register(&config, ENDPOINT, &["--title", " "]).await;
    untitled.fails_saying("--title is empty");
    assert!(api.requests().is_empty(), "nothing reached Wavefront");
}

#[tokio::test]
async fn check_reports_the_wavefront_table_and_whether_its_token_is_set() {
    let api = WavefrontApi::start().await;
    let config = config_file(TOKEN_AUTH, &api.config_table());
    let path = config.to_str().unwrap();
    let set = run(&["check", "--config", path], &[]).await;
    assert_eq!(set.code, Some(0), "{}", set.stderr);
    let expected = format!(
        "wavefront: {}\n  api token: env:WAVEFRONT_API_TOKEN\n  usable here: the api token has \
         a value\n",
        api.url()
    );
    assert!(set.stdout.contains(&expected), "{}", set.stdout);

    let unset = run(&["check", "--config", path], &[(API_TOKEN_ENV, None)]).await;
    assert_eq!(
        unset.code,
        Some(0),
        "start-up goes on without it: {}",
        unset.stderr
    );
    assert!(
        unset.stdout.contains(
            "  WARNING: [wavefront] api_token env:WAVEFRONT_API_TOKEN is not set or empty: \
             Wavefront events are off and require_firing rules follow on_wavefront_error\n"
        ),
        "{}",
        unset.stdout
    );
    let without = config_file(TOKEN_AUTH, "");
    let none = run(&["check", "--config", without.to_str().unwrap()], &[]).await;
    assert!(
        none.stdout.contains("wavefront: not configured"),
        "{}",
        none.stdout
    );
    assert!(
        none.stdout.contains("notify: not configured"),
        "{}",
        none.stdout
    );
    assert!(api.requests().is_empty(), "check does not call Wavefront");
}

#[tokio::test]
async fn check_reports_the_notify_table() {
    let notify = "[notify]\nsns_topic = \"env:NOTIFY_TOPIC_ARN\"\non = [\"failed\", \"refused\"]\n";
    let config = config_file(TOKEN_AUTH, notify);
    let report = run(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(report.code, Some(0), "{}", report.stderr);
    let expected = "notify: SNS topic env:NOTIFY_TOPIC_ARN\n  the topic's ARN is read from \
                    NOTIFY_TOPIC_ARN at start-up; unset, notifications are off\n  on: failed, refused\n";
    assert!(report.stdout.contains(expected), "{}", report.stdout);
}

/// `check` says which rules ask Wavefront before acting, and what they do when it cannot say.
#[tokio::test]
async fn check_says_which_rules_ask_wavefront_whether_the_alert_still_fires() {
    let api = WavefrontApi::start().await;
    let say = |keys: &'static str| {
        let path = config_file(TOKEN_AUTH, &api.config_table());
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replacen(
            "alert = \"checkout*\"\n",
            &format!("alert = \"checkout*\"\n{keys}"),
            1,
        );
        std::fs::write(&path, text).unwrap();
        async move { run(&["check", "--config", path.to_str().unwrap()], &[]).await }
    };
    let skip = say("require_firing = true\n").await;
    assert_eq!(skip.code, Some(0), "{}", skip.stderr);
    assert!(
        skip.stdout.contains(
            "     still firing?: acts only while Wavefront says the alert is firing, not \
             snoozed, not in maintenance; leaves the target alone when Wavefront cannot say\n"
        ),
        "{}",
        skip.stdout
    );
    let act = say("require_firing = true\non_wavefront_error = \"act\"\n").await;
    assert!(
        act.stdout
            .contains("acts anyway when Wavefront cannot say (on_wavefront_error = \"act\")"),
        "{}",
        act.stdout
    );
    let plain = say("").await;
    assert!(!plain.stdout.contains("still firing?"), "{}", plain.stdout);
    assert!(api.requests().is_empty(), "check does not call Wavefront");
}
