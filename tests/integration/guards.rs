//! The guards that keep the responder from making an incident worse, driven as a user meets
//! them, against moto server: the attribution guard (a fix shipped after the alert started
//! firing is never undone), the freeze set by `wavefront-responder freeze`, and the default
//! cooldown.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::moto::Aws;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::ledger::Ledger;
use wavefront_responder::ledger::dynamodb::DynamoStore;

use crate::moto::{self, alias, alias_state, deployment, deployment_group};
use crate::support::{Reply, TestResponder, fixture, repo_path};

/// The checkout alert as `reason`, notification `notification`, of the incident that started at
/// `started` (`None`: a template without startedTime).
fn alert(started: Option<Timestamp>, notification: &str, reason: &str) -> String {
    let mut alert: Value =
        serde_json::from_str(&fixture("alerts/checkout-opened.json")).expect("alert JSON");
    alert["notificationId"] = notification.into();
    alert["reason"] = reason.into();
    match started {
        // The epoch field, exact to the millisecond, wins over the formatted one.
        Some(at) => alert["startedEpochMillis"] = at.as_millisecond().into(),
        None => {
            alert.as_object_mut().expect("object").remove("startedTime");
        }
    }
    alert.to_string()
}

/// A config with the ledger in `table` (memory when `None`) and `rules` (TOML text).
fn config(table: Option<&str>, rules: &str) -> Config {
    let ledger = table
        .map(|t| format!("[ledger]\ntable = \"{t}\"\n"))
        .unwrap_or_default();
    let text = format!("[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{ledger}{rules}");
    Config::parse(&text, Path::new("guards.toml")).expect("valid config")
}

/// The `checkout-errors` rule moving `function`'s `live` alias back to `stable`, with `extra`
/// rule keys.
fn move_live_rule(function: &str, extra: &str) -> String {
    format!(
        "[[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n{extra}\n\
         [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{function}\"\nalias = \"live\"\n\
         to_alias = \"stable\"\n"
    )
}

async fn live_responder(config: Config, aws: &Aws, ledger: Ledger) -> TestResponder {
    TestResponder::live(config, aws.clone(), ledger).await
}

/// The first (only) action of the first rule of a decision record.
fn action(reply: &Reply) -> &Value {
    &reply.json["rules"][0]["actions"][0]
}

/// Publishes the function's next version, as a release does; its number.
async fn publish(aws: &Aws, function: &str) -> String {
    aws.lambda
        .update_function_configuration()
        .function_name(function)
        .description(moto::unique("release"))
        .send()
        .await
        .expect("update function");
    let version = aws
        .lambda
        .publish_version()
        .function_name(function)
        .send()
        .await
        .expect("publish version");
    version.version().expect("a version number").to_owned()
}

/// Points `alias` at `version`, as a deploy does.
async fn point(aws: &Aws, function: &str, alias: &str, version: &str) {
    aws.lambda
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .send()
        .await
        .expect("update alias");
}

/// When `version` was published, as Lambda says.
async fn published(aws: &Aws, function: &str, version: &str) -> Timestamp {
    let configuration = aws
        .lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .expect("get function configuration");
    let text = configuration.last_modified().expect("LastModified");
    wavefront_responder::execute::attribution::lambda_time(text).expect("a Lambda time")
}

/// The first whole second after `at` (an incident's start is in whole seconds), once the clock
/// is past it: what is made from now on is later.
async fn just_after(at: Timestamp) -> Timestamp {
    let after = Timestamp::from_second(at.as_second() + 1).expect("a time in range");
    while Timestamp::now() <= after {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    after
}

/// A function whose versions 1 to `versions` are published, with `stable` on 1, and an
/// incident that started just after the last of them: what the test releases next comes after.
struct Scene {
    aws: Aws,
    function: String,
    started: Timestamp,
}

impl Scene {
    async fn new(versions: usize) -> Self {
        let aws = moto::aws().await;
        let function = moto::function_with_versions(&aws, versions).await;
        alias(&aws, &function, "stable", "1", &[]).await;
        let last = published(&aws, &function, &versions.to_string()).await;
        let started = just_after(last).await;
        Self {
            aws,
            function,
            started,
        }
    }

    /// Creates `live` on `version`, with a canary if given.
    async fn live(&self, version: &str, canary: &[(&str, f64)]) {
        alias(&self.aws, &self.function, "live", version, canary).await;
    }

    /// A responder on the in-memory ledger whose one rule moves `live` back to `stable`, with
    /// `extra` rule keys.
    async fn responder(&self, extra: &str) -> TestResponder {
        let rule = move_live_rule(&self.function, extra);
        live_responder(config(None, &rule), &self.aws, Ledger::in_memory(None)).await
    }

    /// The incident's notification `notification`, as `reason`.
    async fn fire(&self, t: &TestResponder, notification: &str, reason: &str) -> Reply {
        t.post_with_token(&alert(Some(self.started), notification, reason))
            .await
    }

    async fn live_version(&self) -> String {
        alias_state(&self.aws, &self.function, "live").await.0
    }
}

#[tokio::test]
async fn a_fix_published_after_the_alert_started_is_never_moved_off() {
    let scene = Scene::new(1).await;
    scene.live("1", &[]).await;
    let t = scene.responder("").await;

    // 1. The alert fires for a cause that is not a release: live is already where stable is.
    let first = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&first)["outcome"], "skipped", "{}", first.text);
    assert_eq!(action(&first)["detail"], "live is already at version 1");

    // 2. The on-call engineer ships a fix behind live.
    let fix = publish(&scene.aws, &scene.function).await;
    point(&scene.aws, &scene.function, "live", &fix).await;

    // 3. Wavefront re-sends the same incident.
    let resent = scene.fire(&t, "n-2", "ALERT_RETRIGGERED").await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    let action = action(&resent);
    assert_eq!(action["outcome"], "skipped", "{}", resent.text);
    assert_eq!(action["guard"], "attribution");
    let detail = action["detail"].as_str().unwrap();
    let at = scene.started.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    // How long after depends on the machine's speed; the rest does not.
    assert!(
        detail.starts_with(&format!(
            "version {fix}, which live routes traffic to, was published "
        )) && detail.ends_with(&format!(
            "s after the alert started firing ({at}); it may be the fix, so live is left alone"
        )),
        "{detail}"
    );
    assert_eq!(
        resent.json["incident_started"],
        serde_json::json!({"at": at, "from": "started_time"})
    );
    assert_eq!(scene.live_version().await, fix);
}

#[tokio::test]
async fn a_release_published_before_the_alert_started_is_still_moved_back() {
    let scene = Scene::new(2).await;
    scene.live("2", &[]).await;
    let t = scene.responder("").await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(action(&reply)["detail"], "moved live 2 -> 1");
    assert_eq!(scene.live_version().await, "1");
}

#[tokio::test]
async fn a_canary_of_the_fix_keeps_the_alias_where_it_is() {
    let scene = Scene::new(2).await;
    // The bad release, 2, is live; the fix, 3, is canaried on it after the alert started.
    let fix = publish(&scene.aws, &scene.function).await;
    scene.live("2", &[(&fix, 0.1)]).await;
    let t = scene.responder("").await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&reply)["guard"], "attribution", "{}", reply.text);
    let detail = action(&reply)["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "version {fix}, live's canary at 10%, was published"
        )),
        "{detail}"
    );
    assert_eq!(
        alias_state(&scene.aws, &scene.function, "live").await,
        ("2".into(), vec![(fix, 0.1)])
    );
}

#[tokio::test]
async fn every_version_read_is_in_the_record_when_the_guard_holds() {
    let scene = Scene::new(1).await;
    // The fix, 2, is live, with 1 canaried on it: the hold is found at 2, the first version
    // read, but the read of 1, made at the same time, is recorded too.
    let fix = publish(&scene.aws, &scene.function).await;
    scene.live(&fix, &[("1", 0.1)]).await;
    let t = scene.responder("").await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&reply)["guard"], "attribution", "{}", reply.text);
    // GetAlias of live and of stable, GetFunctionConfiguration of 2 and of 1.
    let ids = action(&reply)["aws_request_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 4, "{}", reply.text);
}

#[tokio::test]
async fn a_target_that_is_also_the_canary_is_read_once() {
    let scene = Scene::new(3).await;
    scene.live("2", &[("3", 0.1)]).await;
    let rule = format!(
        "[[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n\
         [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{}\"\nalias = \"live\"\n\
         to_version = \"3\"\n",
        scene.function
    );
    let t = live_responder(config(None, &rule), &scene.aws, Ledger::in_memory(None)).await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    // GetAlias, GetFunctionConfiguration of 2 and of 3 (the canary and the target), UpdateAlias.
    let ids = action(&reply)["aws_request_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 4, "{}", reply.text);
}

#[tokio::test]
async fn a_rule_may_turn_the_attribution_guard_off() {
    let scene = Scene::new(1).await;
    let fix = publish(&scene.aws, &scene.function).await;
    scene.live(&fix, &[]).await;
    let t = scene.responder("attribution = false").await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(reply.json.get("incident_started"), None);
}

#[tokio::test]
async fn a_dry_run_reports_the_same_guard() {
    let scene = Scene::new(1).await;
    let fix = publish(&scene.aws, &scene.function).await;
    scene.live(&fix, &[]).await;
    let t = scene.responder("dry_run = true").await;
    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(action(&reply)["outcome"], "skipped", "{}", reply.text);
    assert_eq!(action(&reply)["guard"], "attribution");
}

#[tokio::test]
async fn without_a_start_time_the_first_delivery_of_the_incident_counts() {
    // The first delivery comes after version 1 was published.
    let scene = Scene::new(1).await;
    scene.live("1", &[]).await;
    let t = scene.responder("").await;
    let first = t.post_with_token(&alert(None, "n-1", "ALERT_OPENED")).await;
    assert_eq!(action(&first)["outcome"], "skipped", "{}", first.text);
    assert_eq!(first.json["incident_started"]["from"], "this_request");
    let first_seen: Timestamp = first.json["incident_started"]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    just_after(first_seen).await;
    let fix = publish(&scene.aws, &scene.function).await;
    point(&scene.aws, &scene.function, "live", &fix).await;
    let resent = t
        .post_with_token(&alert(None, "n-2", "ALERT_RETRIGGERED"))
        .await;
    assert_eq!(resent.json["incident_started"]["from"], "first_delivery");
    assert_eq!(
        resent.json["incident_started"]["at"],
        first.json["incident_started"]["at"]
    );
    assert_eq!(action(&resent)["guard"], "attribution", "{}", resent.text);
    let detail = action(&resent)["detail"].as_str().unwrap();
    assert!(
        detail.contains("after the incident's first delivery"),
        "{detail}"
    );
    assert_eq!(scene.live_version().await, fix);
}

#[tokio::test]
async fn a_deployment_created_after_the_alert_started_is_never_stopped() {
    let aws = moto::aws().await;
    let (application, group) = deployment_group(&aws).await;
    let started = just_after(Timestamp::now()).await;
    let rule = format!(
        "[[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n\
         [[rule.action]]\ntype = \"codedeploy-rollback\"\napplication = \"{application}\"\n\
         deployment_group = \"{group}\"\n"
    );
    let t = live_responder(config(None, &rule), &aws, Ledger::in_memory(None)).await;
    let first = t
        .post_with_token(&alert(Some(started), "n-1", "ALERT_OPENED"))
        .await;
    assert_eq!(
        action(&first)["detail"],
        format!("nothing in progress in {application}/{group}")
    );

    // The fix, deployed while the alert fires; moto leaves it `Created`, so it is active.
    let fix = deployment(&aws, &application, &group).await;
    let resent = t
        .post_with_token(&alert(Some(started), "n-2", "ALERT_RETRIGGERED"))
        .await;
    // Stopping it would have failed: moto does not implement StopDeployment.
    assert_eq!(resent.status, 200, "{}", resent.text);
    assert_eq!(action(&resent)["outcome"], "skipped");
    assert_eq!(action(&resent)["guard"], "attribution");
    let detail = action(&resent)["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{fix} was created ")),
        "{detail}"
    );
    assert!(
        detail.contains("s after the alert started firing ("),
        "{detail}"
    );
    // Its alias is left to it too; moto does not implement ListDeploymentTargets, so the
    // record says the alias could not be read (the replay tests cover the handover).
    assert!(
        detail.contains("it may be the fix, so it is left alone"),
        "{detail}"
    );
}

/// The binary, as an operator runs it against `table` in moto, with `config`.
fn operator(config: &Path, table: &str, args: &[&str]) -> (Output, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wavefront-responder"))
        .current_dir(repo_path(""))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RESPONDER_CONFIG")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LEDGER_TABLE", table)
        .env("WEBHOOK_TOKEN", crate::support::TOKEN)
        .env("AWS_ENDPOINT_URL", moto::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("USER", "kim")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// `text` written as a config file of its own.
fn config_file(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(moto::unique("guards"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("responder.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_freeze_holds_every_change_until_it_is_lifted() {
    let scene = Scene::new(2).await;
    scene.live("2", &[]).await;
    let table = moto::ledger_table(&scene.aws).await;
    let rules = move_live_rule(&scene.function, "");
    let text = format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[ledger]\ntable = \"env:LEDGER_TABLE\"\n{rules}"
    );
    let file = config_file(&text);

    let (output, stdout, stderr) = operator(
        &file,
        &table,
        &[
            "freeze",
            "--for",
            "2h",
            "--reason",
            "payments outage, not a release",
        ],
    );
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("froze every rule until "), "{stdout}");
    assert!(stdout.contains("reason: \"payments outage, not a release\"; set by kim"));
    assert!(
        stdout.contains(&format!(
            "lift it early with: wavefront-responder unfreeze --config {}",
            file.display()
        )),
        "{stdout}"
    );
    let (_, listed, _) = operator(&file, &table, &["ledger", "list"]);
    let mut lines = listed.lines();
    assert_eq!(
        lines.next(),
        Some(format!("DynamoDB table {table}: 0 entries").as_str())
    );
    let frozen = lines.next().unwrap_or_default();
    assert!(
        frozen.starts_with("FROZEN: every rule frozen by kim until "),
        "{listed}"
    );
    assert!(
        frozen.contains(": \"payments outage, not a release\" (set at "),
        "{frozen}"
    );

    let ledger = Ledger::new(
        std::sync::Arc::new(DynamoStore::new(scene.aws.dynamodb.clone(), &table)),
        HumanDuration::parse("7d").unwrap(),
        None,
    );
    let t = live_responder(config(Some(&table), &rules), &scene.aws, ledger).await;
    let frozen_reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(frozen_reply.status, 200, "{}", frozen_reply.text);
    let action_record = action(&frozen_reply);
    assert_eq!(action_record["outcome"], "skipped");
    assert_eq!(action_record["guard"], "frozen");
    // Held back before any call: no AWS request id, and live was not moved.
    assert_eq!(action_record.get("aws_request_ids"), None);
    let detail = action_record["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("frozen: every rule frozen by kim until "),
        "{detail}"
    );
    assert!(
        detail.ends_with(
            "nothing is changed until it ends or `wavefront-responder unfreeze` lifts it"
        )
    );
    let notes = frozen_reply.json["notes"].to_string();
    assert!(notes.contains("every rule frozen by kim"), "{notes}");
    assert_eq!(scene.live_version().await, "2");

    // A dry run still says what it would do, and that a freeze is on.
    let testing = scene.fire(&t, "n-test", "ALERT_TESTING").await;
    assert_eq!(action(&testing)["outcome"], "planned", "{}", testing.text);
    assert_eq!(action(&testing)["guard"], "frozen");
    let detail = action(&testing)["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("would move live 2 -> 1; frozen: a live run would skip it"),
        "{detail}"
    );

    let (output, stdout, _) = operator(&file, &table, &["unfreeze"]);
    assert!(output.status.success());
    assert!(
        stdout.starts_with("lifted: every rule frozen by kim"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("no freeze is on: the rules act as configured\n"),
        "{stdout}"
    );

    // Wavefront's "Resend Notifications" of the delivery the freeze held back is not a
    // duplicate: that delivery was given back, not remembered as handled.
    let acted = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&acted)["outcome"], "executed", "{}", acted.text);
    assert_eq!(scene.live_version().await, "1");
}

#[tokio::test]
async fn a_freeze_of_one_rule_ends_by_itself() {
    use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};

    let scene = Scene::new(2).await;
    scene.live("2", &[]).await;
    let ledger = Ledger::in_memory(None);
    let now = Timestamp::now();
    let hour = HumanDuration::parse("1h").unwrap();
    let scope = FreezeScope::Rule("checkout-errors".into());
    let freeze = Freeze::new(scope, "deploying a fix", "lee", now, hour).unwrap();
    ledger.freeze(&freeze).await.unwrap();
    let rule = move_live_rule(&scene.function, "");
    let t = live_responder(config(None, &rule), &scene.aws, ledger).await;
    let frozen = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&frozen)["guard"], "frozen", "{}", frozen.text);
    let detail = action(&frozen)["detail"].as_str().unwrap();
    let lift = "`wavefront-responder unfreeze --rule checkout-errors` lifts it";
    assert!(detail.ends_with(lift), "{detail}");
    let note = frozen.json["notes"][0].as_str().unwrap();
    assert!(note.ends_with(lift), "{note}");

    // An hour later the freeze has ended on its own.
    let later = freeze.until + SignedDuration::from_secs(1);
    let body = alert(Some(scene.started), "n-2", "ALERT_RETRIGGERED");
    let reply = post_at(&t, &body, later).await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
}

/// Posts `body` with the token, as if it arrived at `at`.
async fn post_at(t: &TestResponder, body: &str, at: Timestamp) -> Reply {
    let authorization = crate::support::bearer(crate::support::TOKEN);
    let headers = [("authorization", authorization.as_str())];
    t.request_at(http::Method::POST, &headers, body.as_bytes(), at)
        .await
}

#[test]
fn a_freeze_must_say_how_long_and_needs_the_shared_ledger() {
    let file = config_file(&format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}",
        move_live_rule("checkout", "")
    ));
    let (output, _, stderr) = operator(&file, "unused", &["freeze", "--reason", "outage"]);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--for <DURATION>"), "{stderr}");

    let (output, _, stderr) = operator(
        &file,
        "unused",
        &["freeze", "--for", "8d", "--reason", "outage"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("--for 8d is longer than 7d: a freeze must end"),
        "{stderr}"
    );

    let (output, _, stderr) = operator(
        &file,
        "unused",
        &[
            "freeze",
            "--for",
            "1h",
            "--reason",
            "outage",
            "--rule",
            "checkout-erorrs",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("freeze --rule checkout-erorrs: ")
            && stderr.contains("has no rule of that name; its rules are checkout-errors"),
        "{stderr}"
    );

    for args in [
        &["freeze", "--for", "1h", "--reason", "outage"][..],
        &["unfreeze"][..],
    ] {
        let (output, _, stderr) = operator(&file, "unused", args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr.contains(&format!(
                "`wavefront-responder {}` needs the shared DynamoDB ledger, and ",
                args[0]
            )) && stderr.contains("names no [ledger] table"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn the_default_cooldown_holds_the_target_and_only_it_in_memory() {
    the_default_cooldown_holds_the_target_and_only_it(None).await;
}

#[tokio::test]
async fn the_default_cooldown_holds_the_target_and_only_it_in_dynamodb() {
    let aws = moto::aws().await;
    let table = moto::ledger_table(&aws).await;
    the_default_cooldown_holds_the_target_and_only_it(Some(table)).await;
}

/// A cooldown set by no rule (the default, 15 minutes) holds the target it acted on, and only
/// it, on the ledger named by `table` (in memory without one).
async fn the_default_cooldown_holds_the_target_and_only_it(table: Option<String>) {
    let aws = moto::aws().await;
    let checkout = moto::function_with_versions(&aws, 2).await;
    let payments = moto::function_with_versions(&aws, 2).await;
    for function in [&checkout, &payments] {
        alias(&aws, function, "stable", "1", &[]).await;
    }
    alias(&aws, &checkout, "live", "2", &[]).await;
    // Payments has nothing to undo in the first incident.
    alias(&aws, &payments, "live", "1", &[]).await;
    let first_start = just_after(published(&aws, &payments, "2").await).await;
    let payments_rule = format!(
        "[[rule]]\nname = \"payments-errors\"\nalert = \"checkout * error rate*\"\n\
         [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{payments}\"\nalias = \"live\"\n\
         to_version = \"1\"\n"
    );
    let rules = move_live_rule(&checkout, "") + &payments_rule;
    let ledger = match &table {
        Some(table) => Ledger::new(
            std::sync::Arc::new(DynamoStore::new(aws.dynamodb.clone(), table)),
            HumanDuration::parse("7d").unwrap(),
            None,
        ),
        None => Ledger::in_memory(None),
    };
    let t = live_responder(config(table.as_deref(), &rules), &aws, ledger).await;
    let first = t
        .post_with_token(&alert(Some(first_start), "n-1", "ALERT_OPENED"))
        .await;
    assert_eq!(action(&first)["outcome"], "executed", "{}", first.text);
    assert_eq!(first.json["rules"][1]["actions"][0]["outcome"], "skipped");

    // Both releases go (back) out; the alert's next incident, minutes later, finds
    // checkout:live cooling down, while payments-errors, which changed nothing, acts.
    point(&aws, &checkout, "live", "2").await;
    point(&aws, &payments, "live", "2").await;
    let second_start = first_start + SignedDuration::from_mins(5);
    let reply = t
        .post_with_token(&alert(Some(second_start), "n-2", "ALERT_OPENED"))
        .await;
    let checkout_action = action(&reply);
    assert_eq!(checkout_action["outcome"], "skipped", "{}", reply.text);
    assert_eq!(checkout_action["guard"], "cooldown");
    let detail = checkout_action["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("cooling down: checkout-errors handled "),
        "{detail}"
    );
    assert!(detail.contains("cooldown 15m ends at"), "{detail}");
    assert_eq!(alias_state(&aws, &checkout, "live").await.0, "2");
    let payments_action = &reply.json["rules"][1]["actions"][0];
    assert_eq!(payments_action["outcome"], "executed", "{}", reply.text);
    assert_eq!(alias_state(&aws, &payments, "live").await.0, "1");

    // Sixteen minutes after the first, checkout's cooldown is over.
    let third_start = first_start + SignedDuration::from_mins(16);
    let body = alert(Some(third_start), "n-3", "ALERT_OPENED");
    let later = Timestamp::now() + SignedDuration::from_mins(16);
    let reply = post_at(&t, &body, later).await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(alias_state(&aws, &checkout, "live").await.0, "1");
}

#[tokio::test]
async fn a_duplicate_of_a_delivery_still_being_handled_is_not_final() {
    use wavefront_responder::alert::Alert;
    use wavefront_responder::ledger::notification_key;

    let scene = Scene::new(2).await;
    scene.live("2", &[]).await;
    let ledger = Ledger::in_memory(None);
    let rule = move_live_rule(&scene.function, "");
    let t = live_responder(config(None, &rule), &scene.aws, ledger.clone()).await;
    // Another instance is handling this very notification right now.
    let body = alert(Some(scene.started), "n-1", "ALERT_OPENED");
    let parsed = Alert::parse(body.as_bytes()).unwrap();
    let key = notification_key(&parsed).unwrap();
    let now = Timestamp::now();
    let claimed = ledger.claim_notification(&key, &parsed, "req-elsewhere", now);
    assert!(claimed.await.unwrap().is_none());

    let reply = t.post_with_token(&body).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "in_progress");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .starts_with("notification is being handled by request req-elsewhere (since "),
        "{}",
        reply.text
    );
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    assert_eq!(scene.live_version().await, "2");

    // That request failed and gave the notification back "so the retry can act": it does.
    ledger
        .release_notification(&key, "req-elsewhere")
        .await
        .unwrap();
    let retried = t.post_with_token(&body).await;
    assert_eq!(action(&retried)["outcome"], "executed", "{}", retried.text);
    assert_eq!(scene.live_version().await, "1");
}

#[tokio::test]
async fn a_delivery_held_up_by_a_cooldown_still_being_decided_is_not_final() {
    use wavefront_responder::ledger::{Admission, Attempt, Incident};

    let scene = Scene::new(2).await;
    scene.live("2", &[]).await;
    let ledger = Ledger::in_memory(None);
    let rule = move_live_rule(&scene.function, "");
    let t = live_responder(config(None, &rule), &scene.aws, ledger.clone()).await;
    // Another request, for an earlier incident of the alert, holds the rule's cooldown on the
    // alias while its action runs: it may still give it back.
    let earlier: wavefront_responder::alert::Alert = wavefront_responder::alert::Alert::parse(
        alert(
            Some(scene.started - SignedDuration::from_mins(30)),
            "n-0",
            "ALERT_OPENED",
        )
        .as_bytes(),
    )
    .unwrap();
    let incident = Incident::of(&earlier);
    let target = format!("{}:live", scene.function);
    let attempt = Attempt {
        rule: "checkout-errors",
        target: &target,
        cooldown: Some(HumanDuration::parse("15m").unwrap()),
        incident: &incident,
        request_id: "req-elsewhere",
        pending_for: std::time::Duration::from_secs(60),
    };
    let Admission::Admitted(claims) = ledger.admit(&attempt, Timestamp::now()).await.unwrap()
    else {
        panic!("admitted");
    };

    let reply = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "in_progress");
    assert_eq!(action(&reply)["guard"], "cooldown");
    let detail = action(&reply)["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "request req-elsewhere is acting on {target} for checkout-errors right now"
        )),
        "{detail}"
    );
    assert_eq!(scene.live_version().await, "2");

    // It changed nothing and gave its claims back: Wavefront's next delivery acts.
    ledger.release(claims).await.unwrap();
    let retried = scene.fire(&t, "n-1", "ALERT_OPENED").await;
    assert_eq!(action(&retried)["outcome"], "executed", "{}", retried.text);
}
