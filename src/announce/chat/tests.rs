use std::path::Path;

use super::*;
use crate::alert::Alert;
use crate::announce::Event;
use crate::announce::notify::Outcomes;
use crate::config::Config;
use crate::execute::{ActionOutcome, Execution};
use crate::ledger::Guard;
use crate::plan::Plan;

const CONFIG: &str = r#"
[auth]
tokens = ["env:UNUSED_TOKEN"]

[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"
[[rule.action]]
type = "lambda-alias"
function = "checkout"
alias = "live"
to_alias = "stable"
"#;

const URL: &str = "https://acme.wavefront.com/alerts/1700000000001";

fn alert() -> Alert {
    let body = r#"{"alertId":"1700000000001","notificationId":"n-1","reason":"ALERT_OPENED",
        "name":"checkout API error rate high","severity":"SEVERE","startedTime":"09/12/2020 21:47:39 +0000",
        "url":"https://acme.wavefront.com/alerts/1700000000001"}"#;
    Alert::parse(body.as_bytes()).expect("valid alert")
}

/// The message (and the event) of the plan for [`alert`] after `set` changed its record.
fn message_after(
    dry_run: bool,
    on: &Outcomes,
    set: impl FnOnce(&mut Record<'_>),
) -> (Option<Message>, Option<Event>) {
    message_at(None, dry_run, on, set)
}

/// [`message_after`] for a responder whose function is in `home`.
fn message_at(
    home: Option<&Home<'_>>,
    dry_run: bool,
    on: &Outcomes,
    set: impl FnOnce(&mut Record<'_>),
) -> (Option<Message>, Option<Event>) {
    let config = Config::parse(CONFIG, Path::new("chat.toml")).expect("valid config");
    let alert = alert();
    let plan = Plan::new("r-1", &alert, &config.rules, dry_run);
    let mut record = Record::new(&plan, Execution::planned(&plan));
    set(&mut record);
    let link = AlertLink { url: Some(URL) };
    (
        Message::of(&record, link, on, home),
        Event::of(&record, &alert.tags),
    )
}

fn executed(record: &mut Record<'_>) {
    let a = &mut record.rules[0].actions[0];
    a.outcome = ActionOutcome::Executed;
    a.detail = "moved live 42 -> 41".to_owned();
}

#[test]
fn an_executed_action_is_a_custom_notification_threaded_by_incident() {
    let (message, event) = message_after(false, &Outcomes::default(), executed);
    let message = message.expect("a message");
    assert_eq!(
        message.title,
        "Rolled back checkout:live: moved live 42 -> 41"
    );
    // One wording for the chart and the chat.
    assert_eq!(
        event.expect("an event").name,
        format!(
            "wavefront-responder: {}",
            "rolled back checkout:live: moved live 42 -> 41"
        )
    );
    let body = &message.body;
    assert_eq!(body["version"], "1.0");
    assert_eq!(body["source"], "custom");
    assert_eq!(body["id"], "r-1");
    assert_eq!(body["content"]["textType"], "client-markdown");
    assert_eq!(body["content"]["title"], message.title);
    let description = body["content"]["description"].as_str().unwrap();
    for part in [
        URL,
        "checkout API error rate high",
        "(SEVERE)",
        "checkout-errors",
        "moved live 42 -> 41",
        "r-1",
    ] {
        assert!(description.contains(part), "{part} in {description}");
    }
    let steps = body["content"]["nextSteps"].as_array().unwrap();
    let steps: Vec<&str> = steps.iter().map(|s| s.as_str().unwrap()).collect();
    assert!(steps[0].contains("wavefront-responder freeze --config FILE --rule checkout-errors"));
    assert!(
        steps
            .iter()
            .any(|s| s.contains("wavefront-responder ledger list"))
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("put the release back by hand"))
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("Logs Insights") && s.contains("\"r-1\""))
    );
    let metadata = &body["metadata"];
    assert_eq!(metadata["threadId"], "1700000000001@1599947259");
    assert_eq!(metadata["eventType"], "executed");
    assert_eq!(
        metadata["relatedResources"],
        serde_json::json!(["checkout:live"])
    );
    assert_eq!(metadata["additionalContext"]["requestId"], "r-1");
}

#[test]
fn on_lambda_the_related_resources_are_the_arns_acted_on() {
    let home = Home {
        partition: "aws",
        region: "eu-west-1",
        account: "111122223333",
    };
    let (message, _) = message_at(Some(&home), false, &Outcomes::default(), executed);
    assert_eq!(
        message.expect("a message").body["metadata"]["relatedResources"],
        serde_json::json!(["arn:aws:lambda:eu-west-1:111122223333:function:checkout:live"])
    );
}

#[test]
fn failures_and_refusals_notify_and_quiet_requests_do_not_unless_listed() {
    let failed = |r: &mut Record<'_>| {
        r.rules[0].actions[0].outcome = ActionOutcome::Failed;
        r.rules[0].actions[0].detail = "throttled".to_owned();
    };
    let (message, _) = message_after(false, &Outcomes::default(), failed);
    let message = message.expect("a failure notifies");
    assert_eq!(message.kind, Kind::Failed);
    assert_eq!(message.title, "Could not roll back checkout:live");
    let frozen = |r: &mut Record<'_>| {
        r.rules[0].actions[0].outcome = ActionOutcome::Skipped;
        r.rules[0].actions[0].guard = Some(Guard::Frozen);
    };
    let (message, _) = message_after(false, &Outcomes::default(), frozen);
    assert_eq!(
        message.expect("a refusal notifies").title,
        "Did not roll back checkout:live (frozen)"
    );
    // A dry run: nothing by default, a message when listed.
    let (message, _) = message_after(true, &Outcomes::default(), |_| {});
    assert_eq!(message, None);
    let dry = Outcomes::parse(["dry_run"]).unwrap();
    let (message, _) = message_after(true, &dry, |_| {});
    assert_eq!(message.expect("listed").kind, Kind::DryRun);
    // An executed action a list without `executed` leaves out.
    let (message, _) = message_after(false, &Outcomes::parse(["failed"]).unwrap(), executed);
    assert_eq!(message, None);
}

#[test]
fn every_field_is_bounded() {
    let long = |r: &mut Record<'_>| {
        let a = &mut r.rules[0].actions[0];
        a.outcome = ActionOutcome::Executed;
        a.detail = "x".repeat(10_000);
        a.target = "t".repeat(10_000);
        r.message = "m".repeat(10_000);
    };
    let (message, _) = message_after(false, &Outcomes::default(), long);
    let body = message.expect("a message").body;
    let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();
    assert!(chars(&body["content"]["title"]) <= MAX_TITLE_CHARS);
    assert!(chars(&body["content"]["description"]) <= MAX_DESCRIPTION_CHARS);
    for step in body["content"]["nextSteps"].as_array().unwrap() {
        assert!(chars(step) <= MAX_STEP_CHARS);
    }
    assert!(chars(&body["metadata"]["relatedResources"][0]) <= MAX_RESOURCE_CHARS);
    assert!(body.to_string().len() < 16_000, "far under SNS's 256 KB");
}

#[test]
fn a_refusal_s_next_step_is_what_lifts_that_guard() {
    let step = |guard: Guard| {
        let refused = |r: &mut Record<'_>| {
            r.rules[0].actions[0].outcome = ActionOutcome::Skipped;
            r.rules[0].actions[0].guard = Some(guard);
        };
        let (message, _) = message_after(false, &Outcomes::default(), refused);
        let body = message.expect("a refusal notifies").body;
        let steps = body["content"]["nextSteps"].as_array().unwrap().clone();
        steps[2].as_str().unwrap().to_owned()
    };
    let frozen = step(Guard::Frozen);
    assert!(
        frozen.contains("`wavefront-responder unfreeze --config FILE --rule checkout-errors`"),
        "{frozen}"
    );
    let circuit = step(Guard::CircuitOpen);
    assert!(
        circuit.contains("`wavefront-responder ledger clear --config FILE --circuit`"),
        "{circuit}"
    );
    assert!(!circuit.contains("unfreeze"), "{circuit}");
    let attribution = step(Guard::Attribution);
    assert!(attribution.contains("may be the fix"), "{attribution}");
    assert!(!attribution.contains("unfreeze"), "{attribution}");
}

#[test]
fn a_long_alert_name_is_cut_and_a_long_link_left_out() {
    let config = Config::parse(CONFIG, Path::new("chat.toml")).expect("valid config");
    let name = format!("checkout API error rate {}", "x".repeat(990));
    let body = format!(
        r#"{{"alertId":"1","notificationId":"n-1","reason":"ALERT_OPENED","name":"{name}"}}"#
    );
    let alert = Alert::parse(body.as_bytes()).expect("valid alert");
    let plan = Plan::new("r-1", &alert, &config.rules, false);
    let mut record = Record::new(&plan, Execution::planned(&plan));
    executed(&mut record);
    let long_link = format!("https://acme.wavefront.com/alerts/{}", "1".repeat(600));
    let link = AlertLink {
        url: Some(&long_link),
    };
    let message = Message::of(&record, link, &Outcomes::default(), None).expect("a message");
    let description = message.body["content"]["description"].as_str().unwrap();
    assert!(!description.contains(&long_link), "{description}");
    let alert_line = description.lines().next().unwrap();
    assert!(
        alert_line.chars().count() < MAX_ALERT_NAME_CHARS + 50,
        "{alert_line}"
    );
    assert!(
        description.contains("moved live 42 -> 41"),
        "the action line survives: {description}"
    );
}
