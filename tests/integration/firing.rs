//! The "still firing?" check of rules that set `require_firing`, against moto server and the
//! Wavefront API stand-in: a firing alert lets the action act; a snoozed, in-maintenance or
//! not-firing one is skipped with `"guard": "not_firing"` and leaves nothing in the ledger, so a
//! later delivery still acts; a Wavefront that stalls or fails follows `on_wavefront_error`
//! within the read's bound; dry runs read and report the same; a request reads the alert at
//! most once, and rules without the check never call Wavefront.

use std::path::Path;
use std::time::Duration;

use http::Method;
use serde_json::Value;
use wavefront_responder::app::Options;
use wavefront_responder::config::Config;
use wavefront_responder::execute::Executor;
use wavefront_responder::ledger::{CircuitBreaker, Ledger};

use crate::moto::{self, Aws, alias, alias_state};
use crate::support::{Reply, TestResponder, assert_no_secrets, firing, ledger_keys, opened_as};
use crate::wavefront_api::{Misbehave, WavefrontApi};

/// The checkout alert's id, as [`firing`] carries it.
const ALERT_ID: &str = "1700000000001";
/// The path the check reads the alert at.
const ALERT_PATH: &str = "/api/v2/alert/1700000000001";
/// The read's bound in these tests: short, so a stall costs little and is not raced.
const BOUND: Duration = Duration::from_millis(300);

/// A function whose `live` alias is on version 2 and `stable` on 1, the Wavefront stand-in,
/// and the ledger the responder uses.
struct Scene {
    aws: Aws,
    function: String,
    api: WavefrontApi,
    ledger: Ledger,
}

impl Scene {
    /// The ledger's circuit breaker allows one action an hour: an action held back that kept
    /// its breaker slot would keep the next one from acting.
    async fn new() -> Self {
        let aws = moto::aws().await;
        let function = moto::function_with_versions(&aws, 2).await;
        alias(&aws, &function, "stable", "1", &[]).await;
        alias(&aws, &function, "live", "2", &[]).await;
        let breaker = CircuitBreaker {
            max_actions: 1,
            window: wavefront_responder::duration::HumanDuration::new(Duration::from_secs(3600)),
        };
        Self {
            aws,
            function,
            api: WavefrontApi::start().await,
            ledger: Ledger::in_memory(Some(breaker)),
        }
    }

    /// A `[[rule]]` named `name` with `keys`, moving `function`'s `live` alias back to `stable`.
    fn rule(name: &str, function: &str, keys: &str) -> String {
        format!(
            "[[rule]]\nname = \"{name}\"\nalert = \"checkout * error rate*\"\n{keys}\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{function}\"\n\
             alias = \"live\"\nto_alias = \"stable\"\n"
        )
    }

    /// A config with the `[wavefront]` table of the stand-in and `rules`.
    fn config(&self, rules: &str) -> Config {
        let text = format!(
            "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}{rules}",
            self.api.config_table()
        );
        Config::parse(&text, Path::new("firing.toml")).expect("valid config")
    }

    /// A live responder with one rule on this scene's function, setting `keys`.
    async fn responder(&self, keys: &str) -> TestResponder {
        let rule = Self::rule("checkout-errors", &self.function, keys);
        self.responder_for(self.config(&rule)).await
    }

    /// A live responder for `config`, its read bounded by [`BOUND`].
    async fn responder_for(&self, config: Config) -> TestResponder {
        let executor = Executor::new(self.aws.clients(), self.ledger.clone());
        let options = Options {
            executor: Some(executor.with_firing_limit(BOUND)),
            ..Options::default()
        };
        TestResponder::with_options(config, options).await
    }

    async fn live(&self) -> String {
        alias_state(&self.aws, &self.function, "live").await.0
    }

    /// How many times the stand-in was asked for the alert.
    fn reads(&self) -> usize {
        self.api.requests_to(Method::GET, ALERT_PATH).len()
    }
}

/// The first action of the first rule of a decision record.
fn action(reply: &Reply) -> &Value {
    &reply.json["rules"][0]["actions"][0]
}

/// The detail of `action`.
fn detail(action: &Value) -> &str {
    action["detail"].as_str().unwrap_or_default()
}

/// Asserts `reply` and everything the responder wrote hold no secret.
fn assert_quiet(t: &TestResponder, reply: &Reply) {
    assert_no_secrets(&reply.text);
    assert_no_secrets(&t.output.text());
}

#[tokio::test]
async fn a_firing_alert_lets_the_action_act_and_the_detail_says_so() {
    let scene = Scene::new().await;
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    let t = scene.responder("require_firing = true").await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(action(&reply)["guard"], Value::Null);
    assert!(
        detail(action(&reply))
            .ends_with("; Wavefront says the alert is still firing (status FIRING)"),
        "{}",
        reply.text
    );
    assert_eq!(scene.live().await, "1");
    let reads = scene.api.requests_to(Method::GET, ALERT_PATH);
    assert_eq!(reads.len(), 1);
    assert_eq!(
        reads[0].headers[http::header::AUTHORIZATION],
        format!("Bearer {}", crate::wavefront_api::API_TOKEN)
    );
    assert_quiet(&t, &reply);
}

#[tokio::test]
async fn an_alert_not_firing_is_skipped_and_leaves_nothing_behind_for_a_later_delivery() {
    let scene = Scene::new().await;
    let t = scene.responder("require_firing = true").await;
    for status in [
        &["FIRING", "SNOOZED"][..],
        &["IN_MAINTENANCE", "FIRING"][..],
        &["CHECKING"][..],
    ] {
        scene.api.set_alert(ALERT_ID, status);
        let reply = t.post_with_token(&firing()).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let action = action(&reply);
        assert_eq!(action["outcome"], "skipped", "{}", reply.text);
        assert_eq!(action["guard"], "not_firing", "{}", reply.text);
        let listed = status.join(", ");
        assert!(
            detail(action).starts_with(&format!(
                "not firing: Wavefront says the alert's status is {listed} ("
            )),
            "{}",
            reply.text
        );
        let audit = t.audits().pop().expect("an audit line");
        assert_eq!(audit["guard"], "not_firing", "{audit}");
        // No delivery, latch, cooldown or breaker slot kept.
        assert_eq!(ledger_keys(&scene.ledger).await, Vec::<String>::new());
        assert_eq!(scene.live().await, "2");
        assert_quiet(&t, &reply);
    }
    // The same delivery, re-sent once the alert fires unsnoozed, acts: neither the breaker
    // (one action an hour), the incident's latch nor the cooldown holds it back.
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(scene.live().await, "1");
    assert_eq!(scene.reads(), 4);
}

#[tokio::test]
async fn wavefront_stalling_or_failing_skips_by_default_within_the_bound() {
    let scene = Scene::new().await;
    let t = scene.responder("require_firing = true").await;
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    scene
        .api
        .misbehave(Method::GET, ALERT_PATH, Misbehave::Stall);
    let started = std::time::Instant::now();
    let reply = t
        .post_with_token(&opened_as("n-stall", "ALERT_OPENED"))
        .await;
    // Not the default 2 s bound: the one the executor was given.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(action(&reply)["outcome"], "skipped", "{}", reply.text);
    assert_eq!(action(&reply)["guard"], "not_firing");
    assert_eq!(
        detail(action(&reply)),
        "not known to be firing: Wavefront did not answer within 300ms; on_wavefront_error = \
         \"skip\" leaves the target alone"
    );
    assert_eq!(ledger_keys(&scene.ledger).await, Vec::<String>::new());
    assert_quiet(&t, &reply);

    let scene = Scene::new().await;
    let t = scene.responder("require_firing = true").await;
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    scene
        .api
        .misbehave(Method::GET, ALERT_PATH, Misbehave::Status(500));
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(action(&reply)["outcome"], "skipped", "{}", reply.text);
    assert_eq!(action(&reply)["guard"], "not_firing");
    assert!(
        detail(action(&reply))
            .starts_with("not known to be firing: Wavefront answered 500: injected by the test; "),
        "{}",
        reply.text
    );
    assert_eq!(scene.live().await, "2");
    assert_eq!(ledger_keys(&scene.ledger).await, Vec::<String>::new());
    assert_quiet(&t, &reply);
}

#[tokio::test]
async fn wavefront_stalling_or_failing_acts_when_the_rule_says_act() {
    for (how, why) in [
        (Misbehave::Stall, "(Wavefront did not answer within 300ms)"),
        (
            Misbehave::Status(500),
            "(Wavefront answered 500: injected by the test)",
        ),
    ] {
        let scene = Scene::new().await;
        let t = scene
            .responder("require_firing = true\non_wavefront_error = \"act\"")
            .await;
        scene.api.misbehave(Method::GET, ALERT_PATH, how);
        let reply = t.post_with_token(&firing()).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
        assert_eq!(action(&reply)["guard"], Value::Null);
        let detail = detail(action(&reply));
        assert!(
            detail.starts_with("moved ")
                && detail.ends_with(&format!(
                    "; the alert's status could not be read from Wavefront {why}, and \
                     on_wavefront_error = \"act\" let it go on"
                )),
            "{detail}"
        );
        assert_eq!(scene.live().await, "1");
        assert_quiet(&t, &reply);
    }
}

#[tokio::test]
async fn dry_runs_read_the_alert_and_report_the_same() {
    let scene = Scene::new().await;
    let t = scene
        .responder("require_firing = true\ndry_run = true")
        .await;
    scene.api.set_alert(ALERT_ID, &["FIRING", "SNOOZED"]);
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(action(&reply)["outcome"], "skipped", "{}", reply.text);
    assert_eq!(action(&reply)["guard"], "not_firing");
    assert!(
        detail(action(&reply)).starts_with(
            "would be skipped: not firing: Wavefront says the alert's status is FIRING, SNOOZED \
             (it is snoozed)"
        ),
        "{}",
        reply.text
    );
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    let reply = t.post_with_token(&firing()).await;
    let planned = action(&reply);
    assert_eq!(planned["outcome"], "planned", "{}", reply.text);
    assert!(
        detail(planned).starts_with("would move ")
            && detail(planned)
                .ends_with("; Wavefront says the alert is still firing (status FIRING)"),
        "{}",
        reply.text
    );
    // Wavefront's Test button is always a dry run, and reads the alert too.
    scene.api.set_alert(ALERT_ID, &["IN_MAINTENANCE"]);
    let live = scene.responder("require_firing = true").await;
    let reply = live
        .post_with_token(&opened_as("n-test", "ALERT_TESTING"))
        .await;
    assert_eq!(action(&reply)["guard"], "not_firing", "{}", reply.text);
    assert!(detail(action(&reply)).contains("in a maintenance window"));
    assert_eq!(scene.reads(), 3);
    assert_eq!(scene.live().await, "2");
    assert_quiet(&t, &reply);
    assert_quiet(&live, &reply);
}

#[tokio::test]
async fn a_request_reads_the_alert_once_and_rules_without_the_check_never_do() {
    let scene = Scene::new().await;
    let second = moto::function_with_versions(&scene.aws, 2).await;
    alias(&scene.aws, &second, "stable", "1", &[]).await;
    alias(&scene.aws, &second, "live", "2", &[]).await;
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    let rules = [
        Scene::rule("first", &scene.function, "require_firing = true"),
        Scene::rule(
            "second",
            &second,
            "require_firing = true\non_wavefront_error = \"act\"",
        ),
    ]
    .concat();
    // Two rules act: the breaker must allow two.
    let scene = Scene {
        ledger: Ledger::in_memory(None),
        ..scene
    };
    let t = scene.responder_for(scene.config(&rules)).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for rule in 0..2 {
        let action = &reply.json["rules"][rule]["actions"][0];
        assert_eq!(action["outcome"], "executed", "{}", reply.text);
        assert!(
            detail(action).ends_with("(status FIRING)"),
            "{}",
            reply.text
        );
    }
    assert_eq!(scene.reads(), 1);
    assert_eq!(alias_state(&scene.aws, &second, "live").await.0, "1");

    // Without require_firing, the [wavefront] table is there but the alert is never read.
    let third = moto::function_with_versions(&scene.aws, 2).await;
    alias(&scene.aws, &third, "stable", "1", &[]).await;
    alias(&scene.aws, &third, "live", "2", &[]).await;
    let rule = Scene::rule("unchecked", &third, "");
    let t = scene.responder_for(scene.config(&rule)).await;
    let reply = t
        .post_with_token(&opened_as("n-unchecked", "ALERT_OPENED"))
        .await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert!(
        !detail(action(&reply)).contains("Wavefront"),
        "{}",
        reply.text
    );
    // Only the first request read the alert (the events of both are posted besides).
    assert_eq!(scene.reads(), 1);
}

#[tokio::test]
async fn without_an_alert_id_or_a_client_the_rule_follows_on_wavefront_error() {
    let scene = Scene::new().await;
    scene.api.set_alert(ALERT_ID, &["FIRING"]);
    let t = scene.responder("require_firing = true").await;
    let mut alert: Value = serde_json::from_str(&firing()).unwrap();
    alert.as_object_mut().unwrap().remove("alertId");
    let reply = t.post_with_token(&alert.to_string()).await;
    assert_eq!(action(&reply)["guard"], "not_firing", "{}", reply.text);
    assert!(
        detail(action(&reply)).starts_with(
            "not known to be firing: the payload has no alertId to ask Wavefront about"
        ),
        "{}",
        reply.text
    );
    assert_eq!(scene.reads(), 0);

    // A token that cannot be read at start-up: no client, and the rule acts as it says.
    let text = format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}{}",
        scene
            .api
            .config_table()
            .replace("WAVEFRONT_API_TOKEN", "NOT_SET_ANYWHERE"),
        Scene::rule(
            "checkout-errors",
            &scene.function,
            "require_firing = true\non_wavefront_error = \"act\""
        )
    );
    let config = Config::parse(&text, Path::new("firing.toml")).expect("valid config");
    let t = scene.responder_for(config).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert!(
        detail(action(&reply)).contains("the responder has no Wavefront client"),
        "{}",
        reply.text
    );
    assert_eq!(scene.live().await, "1");
    assert_eq!(scene.api.requests().len(), 0);
    assert_quiet(&t, &reply);
}

/// The guard's value, as records and audit lines write it, is the one the docs name, and the
/// configuration page lists both keys.
#[test]
fn the_docs_name_the_guard_and_the_keys() {
    let read = |page: &str| std::fs::read_to_string(crate::support::repo_path(page)).unwrap();
    let guard = serde_json::to_string(&wavefront_responder::ledger::Guard::NotFiring).unwrap();
    assert_eq!(guard, "\"not_firing\"");
    assert!(read("docs/requests.md").contains("`not_firing`"));
    assert!(read("docs/safety.md").contains("`\"guard\": \"not_firing\"`"));
    let configuration = read("docs/configuration.md");
    for key in ["`rule.require_firing`", "`rule.on_wavefront_error`"] {
        assert!(configuration.contains(key), "{key}");
    }
}

/// Plan-only, nothing is read: the plan says the action waits on Wavefront's answer.
#[tokio::test]
async fn the_plan_says_an_action_acts_only_if_the_alert_is_firing() {
    let api = WavefrontApi::start().await;
    let text = format!(
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{}{}",
        api.config_table(),
        Scene::rule("checkout-errors", "checkout", "require_firing = true")
    );
    let config = Config::parse(&text, Path::new("firing.toml")).expect("valid config");
    let t = TestResponder::new(config).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(action(&reply)["outcome"], "planned", "{}", reply.text);
    assert!(
        detail(action(&reply)).ends_with(", if Wavefront says the alert is firing"),
        "{}",
        reply.text
    );
    assert_eq!(api.requests().len(), 0);
}
