//! The binary as operators run it: `check`, `explain`, `serve`, and start-up on Lambda with a
//! bad config.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};

use crate::support::*;

pub(crate) fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wavefront-responder"));
    command
        .current_dir(repo_path(""))
        .env_remove("RESPONDER_CONFIG")
        .env_remove("LAMBDA_TASK_ROOT")
        .env_remove("RESPONDER_DRY_RUN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("WEBHOOK_TOKEN")
        .env_remove("WEBHOOK_TOKEN_PREVIOUS")
        .env_remove("WEBHOOK_SIGNING_SECRET")
        .env("RUST_LOG", "info");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn check_prints_what_it_understood() {
    let (output, stdout, _) = run(binary()
        .args(["check", "--config", "examples/responder.toml"])
        .env("WEBHOOK_TOKEN", TOKEN));
    assert!(output.status.success());
    for expected in [
        "examples/responder.toml: configuration is valid",
        "triggers: ALERT_OPENED, ALERT_RETRIGGERED",
        "tokens: env:WEBHOOK_TOKEN, env:WEBHOOK_TOKEN_PREVIOUS",
        "usable here: 1 token and 0 signing secrets",
        "WARNING: token env:WEBHOOK_TOKEN_PREVIOUS is not set or empty; skipping it",
        "rules (4):",
        "1. checkout-errors",
        "when: alert name matches \"checkout * error rate*\" (ignoring case); severity is \
         WARN or SEVERE",
        "then 1. codedeploy-rollback checkout/checkout-prod",
        "2. payments-latency (dry run)",
        "then 1. lambda-alias payments:live: would move payments:live to version 7",
        "3. checkout-flags (dry run)",
        "then 1. appconfig-rollback checkout/prod/feature-flags: would stop the AppConfig \
         deployment of configuration profile feature-flags in progress in checkout/prod",
        "NOTE: deploy the template with AppConfigApplicationId",
        "4. orders-errors (dry run)",
        "then 1. ecs-rollback prod/orders: would stop the service deployment in progress of \
         ECS service prod/orders with rollback",
        "NOTE: the role may stop deployments of ECS service prod/orders",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains(TOKEN));
}

#[test]
fn check_fails_where_start_up_would() {
    let (output, stdout, stderr) =
        run(binary().args(["check", "--config", "examples/responder.toml"]));
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stderr.contains(
            "error: config examples/responder.toml: no usable token and no usable signing \
             secret: env:WEBHOOK_TOKEN, env:WEBHOOK_TOKEN_PREVIOUS, env:WEBHOOK_SIGNING_SECRET"
        ),
        "{stderr}"
    );
    let (output, _, stderr) = run(binary()
        .args(["check", "--config", "examples/responder.toml"])
        .env("WEBHOOK_TOKEN", TOKEN)
        .env("WEBHOOK_SIGNING_SECRET", "whsec_not-base64!"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(
            "signing secret env:WEBHOOK_SIGNING_SECRET is not a Standard Webhooks secret"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("not-base64"), "{stderr}");
}

#[test]
fn check_without_secrets_validates_the_file_only() {
    let (output, stdout, _) = run(binary().args([
        "check",
        "--no-secrets",
        "--config",
        "examples/responder.toml",
    ]));
    assert!(output.status.success());
    assert!(
        stdout.contains("(secret references not resolved: --no-secrets)"),
        "{stdout}"
    );
}

#[test]
fn check_names_file_line_and_column_of_a_typo() {
    let (output, stdout, stderr) =
        run(binary().args(["check", "--config", "tests/fixtures/configs/typo.toml"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(
            "error: tests/fixtures/configs/typo.toml:7:1: unknown field `severty`, expected one of"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("`severity`"), "{stderr}");
}

#[test]
fn check_refuses_latest_with_the_reason() {
    let (output, _, stderr) =
        run(binary().args(["check", "--config", "tests/fixtures/configs/latest.toml"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: tests/fixtures/configs/latest.toml:12:16: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("name a published version number"),
        "{stderr}"
    );
}

#[test]
fn check_finds_the_config_through_the_environment() {
    let (output, stdout, _) = run(binary()
        .args(["check", "--no-secrets"])
        .env("RESPONDER_CONFIG", "examples/responder.toml"));
    assert!(output.status.success());
    assert!(stdout.starts_with("examples/responder.toml: configuration is valid"));
    // Nothing on disk: the rule file compiled into the binary, as on Lambda.
    let (output, stdout, stderr) = run(binary()
        .args(["check", "--no-secrets"])
        .current_dir(std::env::temp_dir()));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(
            "rules/responder.toml (compiled into this binary): configuration is valid"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "no config file found (looked at responder.toml); using the rules compiled into \
             this binary from rules/responder.toml"
        ),
        "the fallback is said out loud: {stderr}"
    );
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(crate::moto::unique(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config whose one rule is named `rule`, so `check` shows which file it read.
fn config_naming(rule: &str) -> String {
    format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"{rule}\"\nalert = \"a\"\n\
         [[rule.action]]\n{}\n",
        rollback_action("app", "group")
    )
}

#[test]
fn check_finds_responder_toml_in_the_lambda_task_root() {
    let root = temp_dir("task-root");
    std::fs::write(root.join("responder.toml"), config_naming("from-task-root")).unwrap();
    let elsewhere = temp_dir("cwd-without-config");
    let (output, stdout, stderr) = run(binary()
        .args(["check", "--no-secrets"])
        .env("LAMBDA_TASK_ROOT", &root)
        .current_dir(&elsewhere));
    assert!(output.status.success(), "{stderr}");
    let expected = format!(
        "{}: configuration is valid",
        root.join("responder.toml").display()
    );
    assert!(stdout.starts_with(&expected), "{stdout}");
    assert!(stdout.contains("1. from-task-root"), "{stdout}");
    assert!(!stderr.contains("no config file found"), "{stderr}");
}

#[test]
fn check_finds_responder_toml_in_the_working_directory() {
    let cwd = temp_dir("cwd-with-config");
    std::fs::write(cwd.join("responder.toml"), config_naming("from-cwd")).unwrap();
    let (output, stdout, stderr) = run(binary().args(["check", "--no-secrets"]).current_dir(&cwd));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("responder.toml: configuration is valid"),
        "{stdout}"
    );
    assert!(stdout.contains("1. from-cwd"), "{stdout}");
    // The task root, when set, is looked at first.
    let root = temp_dir("task-root-too");
    std::fs::write(root.join("responder.toml"), config_naming("from-task-root")).unwrap();
    let (_, stdout, _) = run(binary()
        .args(["check", "--no-secrets"])
        .env("LAMBDA_TASK_ROOT", &root)
        .current_dir(&cwd));
    assert!(stdout.contains("1. from-task-root"), "{stdout}");
}

#[test]
fn a_missing_config_file_is_reported_once_with_a_hint() {
    for command in ["check", "serve", "explain"] {
        let mut cmd = binary();
        cmd.args([command, "--config", "no-such-dir/responder.toml"]);
        if command == "explain" {
            cmd.arg("tests/fixtures/alerts/checkout-opened.json");
        }
        let (output, _, stderr) = run(&mut cmd);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot read config file no-such-dir/responder.toml: "),
            "{command}: {stderr}"
        );
        assert_eq!(
            stderr.matches("(os error 2)").count(),
            1,
            "{command}: the cause once: {stderr}"
        );
        assert!(
            stderr.contains("--config FILE or RESPONDER_CONFIG"),
            "{command}: {stderr}"
        );
    }
}

/// Writes `config` to a file of its own; returns its path.
pub(crate) fn config_file(config: &str) -> std::path::PathBuf {
    let path = temp_dir("config").join("responder.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_secret_pasted_into_auth_is_never_printed() {
    const PASTED: &str = "tok-pasted-8b1f0c2d3e4a5968";
    let cases = [
        (
            format!("tokens = \"{PASTED}\""),
            10,
            "auth.tokens must be a list of references such as [\"env:WEBHOOK_TOKEN\"]",
        ),
        (
            format!("tokens = {{ current = \"{PASTED}\" }}"),
            10,
            "auth.tokens must be a list of references",
        ),
        (
            "tokens = 81726354".to_owned(),
            10,
            "auth.tokens must be a list of references",
        ),
        (
            format!("tokens = [\"{PASTED}\"]"),
            11,
            "not a secret reference (the value is not shown)",
        ),
        (
            format!("signing_secrets = \"{SIGNING_SECRET}\""),
            19,
            "auth.signing_secrets must be a list of references such as [\"env:WEBHOOK_SIGNING_SECRET\"]",
        ),
        (
            format!("signing_secrets = [true, \"{SIGNING_SECRET}\"]"),
            20,
            "each entry of auth.signing_secrets must be a reference",
        ),
        (
            "signing_secrets = 81726354".to_owned(),
            19,
            "auth.signing_secrets must be a list of references",
        ),
    ];
    for (line, column, message) in cases {
        let path = config_file(&format!("# pasted by mistake\n[auth]\n{line}\n"));
        for args in [&["check"][..], &["check", "--no-secrets"]] {
            let (output, stdout, stderr) = run(binary().args(args).arg("--config").arg(&path));
            assert_eq!(output.status.code(), Some(1), "{line}: {stderr}");
            let expected = format!("error: {}:3:{column}: {message}", path.display());
            assert!(
                stderr.starts_with(&expected),
                "{line}\nexpected {expected}\ngot {stderr}"
            );
            for text in [&stdout, &stderr] {
                assert!(!text.contains(PASTED), "{line}: {text}");
                assert!(!text.contains("81726354"), "{line}: {text}");
                assert_no_secrets(text);
            }
        }
    }
}

#[test]
fn explain_shows_matches_mismatches_and_actions() {
    let (output, stdout, _) = run(binary().args([
        "explain",
        "--config",
        "examples/responder.toml",
        "tests/fixtures/alerts/checkout-opened.json",
    ]));
    assert!(output.status.success());
    assert_eq!(
        stdout,
        fixture("explain/checkout-opened.txt"),
        "explain output changed; if on purpose, update tests/fixtures/explain/"
    );
}

#[test]
fn explain_json_prints_the_decision_record() {
    let (output, stdout, _) = run(binary().args([
        "explain",
        "--json",
        "--config",
        "examples/responder.toml",
        "tests/fixtures/alerts/payments-opened.json",
    ]));
    assert!(output.status.success());
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Pretty-printed throughout, the rule missed on the name (rendered at start-up) included.
    assert_eq!(record["rules"][0]["matched"], false);
    assert_eq!(
        stdout.trim_end(),
        serde_json::to_string_pretty(&record).unwrap()
    );
    assert_eq!(record["rules"][1]["matched"], true);
    assert_eq!(
        record["rules"][1]["actions"][0]["detail"],
        "would move payments:live to version 7"
    );
}

#[test]
fn explain_says_what_is_wrong_with_a_payload() {
    let (output, _, stderr) = run(binary().args([
        "explain",
        "--config",
        "examples/responder.toml",
        "tests/fixtures/configs/typo.toml",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with(
            "error: payload tests/fixtures/configs/typo.toml: invalid JSON at line 1 column 2"
        ),
        "{stderr}"
    );
}

#[test]
fn explain_with_a_bad_config_names_file_line_and_column() {
    let (output, stdout, stderr) = run(binary().args([
        "explain",
        "--config",
        "tests/fixtures/configs/typo.toml",
        "tests/fixtures/alerts/checkout-opened.json",
    ]));
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(
            "error: tests/fixtures/configs/typo.toml:7:1: unknown field `severty`, expected one of"
        ),
        "{stderr}"
    );
    let (output, _, stderr) = run(binary().args([
        "explain",
        "--config",
        "tests/fixtures/configs/latest.toml",
        "tests/fixtures/alerts/checkout-opened.json",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: tests/fixtures/configs/latest.toml:12:16: to_version"),
        "{stderr}"
    );
}

#[test]
fn explain_refuses_a_payload_that_is_not_a_json_object() {
    // The 26 fields of an alert, in the order serde would read them from an array: name and
    // reason of the checkout alert, which the example's first rule matches.
    let mut fields = vec!["null"; 26];
    fields[2] = "\"checkout API error rate high\"";
    fields[3] = "\"ALERT_OPENED\"";
    let dir = temp_dir("explain-array");
    for (name, body) in [
        ("fields.json", format!("[{}]", fields.join(", "))),
        ("one.json", "[1]".to_owned()),
    ] {
        let payload = dir.join(name);
        std::fs::write(&payload, body).unwrap();
        let (output, stdout, stderr) = run(binary()
            .args(["explain", "--config", "examples/responder.toml"])
            .arg(&payload));
        assert_eq!(output.status.code(), Some(1), "{name}: {stdout}");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "error: payload {}: unusable payload at line 1 column 1: the body must be a \
                 JSON object (got an array)",
                payload.display()
            ),
            "{name}"
        );
    }
}

#[test]
fn a_bad_config_fails_lambda_start_up_with_the_same_message_and_no_panic() {
    let (output, _, stderr) = run(binary()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("RESPONDER_CONFIG", "tests/fixtures/configs/typo.toml"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("error: tests/fixtures/configs/typo.toml:7:1: unknown field `severty`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn no_usable_secret_fails_start_up() {
    let (output, _, stderr) = run(binary()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env(
            "LAMBDA_TASK_ROOT",
            repo_path("tests/fixtures/configs/no-such-dir"),
        )
        .env(
            "RESPONDER_CONFIG",
            "tests/fixtures/configs/unset-secret.toml",
        ));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(
            "error: config tests/fixtures/configs/unset-secret.toml: no usable token and no \
             usable signing secret: env:RESPONDER_TEST_UNSET_TOKEN; set at least one of them"
        ),
        "{stderr}"
    );
}

/// A `serve` process, logging at TRACE.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: String,
    stderr_head: String,
    stderr_rest: std::thread::JoinHandle<String>,
}

impl Server {
    /// `serve` with the example config, in its default mode.
    fn start() -> Self {
        Self::start_with(binary().args(["serve", "--config", "examples/responder.toml"]))
    }

    /// `command` (`serve` and its arguments) on a free loopback port, logging at TRACE.
    pub(crate) fn start_with(command: &mut Command) -> Self {
        Self::start_listening(command, "127.0.0.1:0")
    }

    /// `command` (`serve` and its arguments) listening on `listen`, logging at TRACE.
    fn start_listening(command: &mut Command, listen: &str) -> Self {
        let mut child = command
            .args(["--listen", listen])
            .env("WEBHOOK_TOKEN", TOKEN)
            .env("WEBHOOK_SIGNING_SECRET", SIGNING_SECRET)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
        let mut stderr_head = String::new();
        let address = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("stderr readable") == 0 {
                panic!("serve exited before listening:\n{stderr_head}");
            }
            stderr_head.push_str(&line);
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let stderr_rest = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            rest
        });
        Self {
            child,
            address,
            stderr_head,
            stderr_rest,
        }
    }

    /// Stops the server; returns its stdout and stderr.
    pub(crate) fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let stderr = self.stderr_head + &self.stderr_rest.join().unwrap_or_default();
        (stdout, stderr)
    }
}

pub(crate) async fn http_post(
    address: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request =
        http::Request::post(format!("http://{address}/webhook")).header("host", address);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn serve_answers_over_http_and_never_logs_a_secret() {
    let server = Server::start();
    assert!(
        server.stderr_head.contains(
            "mode: PLAN-ONLY: actions are described and AWS is never called; --dry-run makes \
             read-only AWS calls, --live acts as examples/responder.toml says"
        ),
        "plan-only is the default, and said: {}",
        server.stderr_head
    );
    assert!(
        server
            .stderr_head
            .contains("token env:WEBHOOK_TOKEN_PREVIOUS is not set"),
        "start-up warns about skipped secrets: {}",
        server.stderr_head
    );
    let alert = fixture("alerts/checkout-opened.json");
    let auth = bearer(TOKEN);
    let (status, body) = http_post(
        &server.address,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &alert,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["outcome"], "planned");
    assert!(record["request_id"].as_str().unwrap().starts_with("local-"));

    let (status, _) = http_post(
        &server.address,
        &[
            ("authorization", "Bearer tok-guess"),
            ("content-type", "application/json"),
        ],
        &alert,
    )
    .await;
    assert_eq!(status, 401);
    let signed = signed_headers(alert.as_bytes(), 0);
    let (status, _) = http_post(&server.address, &as_refs(&signed), &alert).await;
    assert_eq!(status, 200);
    let oversized = format!("{alert}{}", " ".repeat(70_000));
    let (status, _) = http_post(&server.address, &[("authorization", &auth)], &oversized).await;
    assert_eq!(status, 413);

    let (stdout, stderr) = server.stop();
    assert!(
        stderr.contains("request handled"),
        "the server logged verbosely: {stderr}"
    );
    assert_no_secrets(&stderr);
    assert!(!stderr.contains("tok-guess"), "{stderr}");
    let audits: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = audits
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "planned", "planned", "rejected", "planned", "planned", "invalid"
        ]
    );
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with('{') || l.starts_with("[METRIC]\t"))
    );
    assert_no_secrets(&stdout);
    assert!(!stdout.contains("tok-guess"));
}

#[tokio::test]
async fn serve_is_plan_only_unless_told_otherwise() {
    use crate::moto;
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    moto::alias(&aws, &function, "live", "2", &[]).await;
    let config = config_file(&format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"checkout-errors\"\n\
         alert = \"checkout * error rate*\"\n[[rule.action]]\n{}\n",
        move_live_action(&function, "to_version = \"1\"")
    ));
    // Firing since after the release: the dry run and the live run act on it.
    let alert = firing();
    let auth = bearer(TOKEN);
    // Flags, the start-up line, whether the record is a dry run, whether AWS was read (the
    // detail names the version the alias is on), and where the alias is afterwards.
    let modes: [(&[&str], &str, bool, bool, &str); 3] = [
        (&[], "mode: PLAN-ONLY", false, false, "2"),
        (&["--dry-run"], "mode: DRY RUN", true, true, "2"),
        (
            &["--live"],
            "mode: LIVE: actions change real AWS resources",
            false,
            true,
            "1",
        ),
    ];
    for (flags, banner, dry_run, read_aws, alias_after) in modes {
        let server = Server::start_with(
            binary()
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .args(flags)
                .env("AWS_ENDPOINT_URL", moto::endpoint())
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing"),
        );
        assert!(
            server.stderr_head.contains(banner),
            "{flags:?}: {}",
            server.stderr_head
        );
        let (status, body) = http_post(
            &server.address,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            &alert,
        )
        .await;
        let (_, stderr) = server.stop();
        assert_eq!(status, 200, "{flags:?}: {body}\n{stderr}");
        let record: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(record["dry_run"], dry_run, "{flags:?}: {body}");
        let detail = record["rules"][0]["actions"][0]["detail"].as_str().unwrap();
        assert_eq!(detail.contains("2 -> 1"), read_aws, "{flags:?}: {detail}");
        assert_eq!(
            moto::alias_state(&aws, &function, "live").await.0,
            alias_after,
            "{flags:?}: {body}"
        );
    }
}

#[test]
fn serve_takes_one_mode() {
    for flags in [
        ["--dry-run", "--live"],
        ["--plan-only", "--live"],
        ["--plan-only", "--dry-run"],
    ] {
        let (output, _, stderr) = run(binary()
            .args(["serve", "--config", "examples/responder.toml"])
            .args(flags));
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(
            stderr.contains("cannot be used with"),
            "{flags:?}: {stderr}"
        );
    }
}

#[test]
fn ledger_commands_need_a_table() {
    let (output, _, stderr) =
        run(binary().args(["ledger", "list", "--config", "examples/responder.toml"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("names no [ledger] table"), "{stderr}");
}

#[tokio::test]
async fn ledger_list_and_clear_work_on_the_dynamodb_table() {
    use wavefront_responder::duration::HumanDuration;
    use wavefront_responder::ledger::dynamodb::DynamoStore;
    use wavefront_responder::ledger::{Ledger, notification_key};

    let aws = crate::moto::aws().await;
    let table = crate::moto::ledger_table(&aws).await;
    let ledger = Ledger::new(
        std::sync::Arc::new(DynamoStore::new(aws.dynamodb.clone(), &table)),
        HumanDuration::parse("7d").unwrap(),
        None,
    );
    let alert =
        wavefront_responder::alert::Alert::parse(fixture("alerts/checkout-opened.json").as_bytes())
            .unwrap();
    let key = notification_key(&alert).unwrap();
    ledger
        .claim_notification(&key, &alert, "req-from-test", jiff::Timestamp::now())
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(crate::moto::unique("ledger-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("responder.toml");
    std::fs::write(
        &config,
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[ledger]\ntable = \"env:LEDGER_TABLE\"\n",
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut command = binary();
        command
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("LEDGER_TABLE", &table)
            .env("AWS_ENDPOINT_URL", crate::moto::endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        run(&mut command)
    };
    let (output, stdout, stderr) = cli(&["ledger", "list"]);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!("DynamoDB table {table}: 1 entry")),
        "{stdout}"
    );
    assert!(
        stdout.contains("notification#0b0d5c9e-5f1a-4f43-9d7e-3c2b1a0f9e11  claimed"),
        "{stdout}"
    );
    assert!(stdout.contains("by req-from-test"), "{stdout}");
    let (output, stdout, _) = cli(&["ledger", "clear"]);
    assert!(output.status.success());
    assert_eq!(stdout, format!("DynamoDB table {table}: deleted 1 entry\n"));
    let (_, stdout, _) = cli(&["ledger", "list"]);
    assert_eq!(stdout, format!("DynamoDB table {table}: 0 entries\n"));
}

#[test]
fn serve_warns_when_other_machines_can_reach_it_over_plain_http() {
    let config = ["serve", "--config", "examples/responder.toml"];
    let exposed = Server::start_listening(binary().args(config), "0.0.0.0:0");
    let (_, stderr) = exposed.stop();
    assert!(
        stderr.contains("which other machines can reach, over plain HTTP"),
        "{stderr}"
    );
    let local = Server::start_with(binary().args(config));
    let (_, stderr) = local.stop();
    assert!(!stderr.contains("over plain HTTP"), "{stderr}");
}

#[test]
fn serve_live_refuses_the_compiled_in_rules_when_no_config_is_found() {
    // A directory with no responder.toml, and neither RESPONDER_CONFIG nor LAMBDA_TASK_ROOT.
    let empty = temp_dir("no-config");
    let (output, _, stderr) =
        run(binary()
            .current_dir(&empty)
            .args(["serve", "--live", "--listen", "127.0.0.1:0"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "serve --live changes real resources, so it does not fall back to the rules \
             compiled into this binary: pass --config FILE or set RESPONDER_CONFIG"
        ),
        "{stderr}"
    );
    // Plan-only changes nothing: it still takes the compiled-in rules, saying so (here it then
    // stops for want of the token they read from Secrets Manager).
    let (_, _, stderr) = run(binary().current_dir(&empty).arg("serve"));
    assert!(
        stderr.contains("using the rules compiled into this binary"),
        "{stderr}"
    );
    assert!(!stderr.contains("does not fall back"), "{stderr}");
}

#[test]
fn check_says_redeploy_within_needs_the_templates_permission() {
    let config = config_file(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"r\"\nalert = \"a\"\n\
         [[rule.action]]\ntype = \"codedeploy-rollback\"\napplication = \"app\"\n\
         deployment_group = \"group\"\nredeploy_within = \"1h\"\n",
    );
    let (output, stdout, _) = run(binary()
        .args(["check", "--no-secrets", "--config"])
        .arg(&config));
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "NOTE: redeploy_within creates deployments: deploy the template with \
             AllowRedeploy=true (or attach policies/codedeploy-redeploy.json), or the undo \
             fails with AccessDenied"
        ),
        "{stdout}"
    );
}
