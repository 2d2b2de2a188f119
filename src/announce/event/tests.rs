use std::path::Path;

use super::*;
use crate::alert::Alert;
use crate::config::Config;
use crate::execute::Execution;
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
[[rule.action]]
type = "codedeploy-rollback"
application = "checkout"
deployment_group = "checkout-prod"

[[rule]]
name = "checkout-canary"
alert = "checkout *"
[[rule.action]]
type = "lambda-alias"
function = "checkout-worker"
alias = "live"
to_alias = "stable"
"#;

fn alert() -> Alert {
    let body = r#"{"alertId":"1700000000001","notificationId":"n-1","reason":"ALERT_OPENED",
        "name":"checkout API error rate high","severity":"SEVERE","alertTags":["production"]}"#;
    Alert::parse(body.as_bytes()).expect("valid alert")
}

/// The event of the plan for [`alert`] after `set` changed its record's actions.
fn event_after(set: impl FnOnce(&mut Record<'_>)) -> Option<Event> {
    let config = Config::parse(CONFIG, Path::new("events.toml")).expect("valid config");
    let alert = alert();
    let plan = Plan::new("r-1", &alert, &config.rules, false);
    let mut record = Record::new(&plan, Execution::planned(&plan));
    set(&mut record);
    Event::of(&record, &alert.tags)
}

fn set(record: &mut Record<'_>, (rule, action): (usize, usize), outcome: ActionOutcome) {
    let a = &mut record.rules[rule].actions[action];
    a.outcome = outcome;
    a.detail = match outcome {
        ActionOutcome::Executed => "moved live 42 -> 41; the canary was dropped".to_owned(),
        ActionOutcome::Failed => "could not read alias live: throttled".to_owned(),
        _ => "nothing to do".to_owned(),
    };
}

fn refuse(record: &mut Record<'_>, at: (usize, usize), guard: Guard) {
    set(record, at, ActionOutcome::Skipped);
    record.rules[at.0].actions[at.1].guard = Some(guard);
}

#[test]
fn one_executed_action_is_an_info_event_that_says_what_moved() {
    let event = event_after(|r| {
        set(r, (0, 0), ActionOutcome::Executed);
        set(r, (0, 1), ActionOutcome::Skipped);
        set(r, (1, 0), ActionOutcome::Skipped);
    })
    .expect("an event");
    assert_eq!(
        event.name,
        "wavefront-responder: rolled back checkout:live: moved live 42 -> 41"
    );
    assert_eq!(event.severity, Severity::Info);
    assert_eq!(event.tags, ["wavefront-responder", "checkout-errors"]);
    assert_eq!(event.alert_tags, ["production"]);
    let body = event.body(1_700_000_000_000);
    assert_eq!(
        body,
        json!({
            "name": event.name,
            "annotations": {
                "type": "wavefront-responder",
                "severity": "info",
                "details": event.details,
            },
            "startTime": 1_700_000_000_000_i64,
            "endTime": 1_700_000_000_001_i64,
            "tags": ["wavefront-responder", "checkout-errors"],
            "alertTags": ["production"],
        })
    );
    let lines: Vec<&str> = event.details.lines().collect();
    assert_eq!(
        lines[1],
        "alert \"checkout API error rate high\" (id 1700000000001); request r-1"
    );
    assert_eq!(
        lines[2],
        "rule checkout-errors: checkout:live executed: moved live 42 -> 41; the canary was dropped"
    );
    assert_eq!(lines.len(), 3, "{}", event.details);
}

#[test]
fn refusals_that_matter_warn_and_a_failure_is_severe() {
    for (guard, why) in [
        (Guard::CircuitOpen, "circuit breaker open"),
        (Guard::Frozen, "frozen"),
        (Guard::Attribution, "it may be the fix"),
    ] {
        let event = event_after(|r| {
            refuse(r, (0, 0), guard);
            set(r, (0, 1), ActionOutcome::Skipped);
            set(r, (1, 0), ActionOutcome::Skipped);
        })
        .expect("an event");
        assert_eq!(event.severity, Severity::Warn);
        assert_eq!(
            event.name,
            format!("wavefront-responder: did not roll back checkout:live ({why})")
        );
        assert!(
            event
                .details
                .contains("checkout:live refused: nothing to do")
        );
    }
    let event = event_after(|r| {
        set(r, (0, 0), ActionOutcome::Failed);
        set(r, (0, 1), ActionOutcome::Skipped);
        set(r, (1, 0), ActionOutcome::Skipped);
    })
    .expect("an event");
    assert_eq!(event.severity, Severity::Severe);
    assert_eq!(
        event.name,
        "wavefront-responder: could not roll back checkout:live"
    );
}

#[test]
fn several_actions_make_one_event_worst_first() {
    let event = event_after(|r| {
        set(r, (0, 0), ActionOutcome::Executed);
        set(r, (0, 1), ActionOutcome::Failed);
        refuse(r, (1, 0), Guard::Frozen);
    })
    .expect("an event");
    assert_eq!(event.severity, Severity::Severe);
    assert_eq!(
        event.name,
        "wavefront-responder: could not roll back checkout/checkout-prod; did not roll back \
         checkout-worker:live (frozen); rolled back checkout:live"
    );
    assert_eq!(
        event.tags,
        ["wavefront-responder", "checkout-errors", "checkout-canary"]
    );
    assert_eq!(event.details.lines().count(), 5, "{}", event.details);
}

#[test]
fn nothing_that_matters_is_no_event() {
    // Planned (dry run or plan-only), skipped by a latch or a cooldown, or nothing to do.
    assert_eq!(event_after(|_| {}), None);
    assert_eq!(
        event_after(|r| {
            refuse(r, (0, 0), Guard::IncidentLatch);
            refuse(r, (0, 1), Guard::Cooldown);
            set(r, (1, 0), ActionOutcome::Skipped);
        }),
        None
    );
    // A dry run rule, or a whole dry run, reports nothing even when a guard held it back.
    assert_eq!(
        event_after(|r| {
            refuse(r, (0, 0), Guard::CircuitOpen);
            r.rules[0].plan.dry_run = true;
        }),
        None
    );
    assert_eq!(
        event_after(|r| {
            set(r, (0, 0), ActionOutcome::Failed);
            r.dry_run = true;
        }),
        None
    );
}

#[test]
fn names_and_details_stay_bounded_however_long_what_they_say() {
    let event = event_after(|r| {
        set(r, (0, 0), ActionOutcome::Executed);
        r.rules[0].actions[0].detail = "moved ".repeat(500);
        r.rules[0].actions[0].target = "t".repeat(400);
        r.message = "m".repeat(5000);
    })
    .expect("an event");
    assert_eq!(event.name.chars().count(), MAX_NAME_CHARS);
    assert!(event.name.ends_with('…'));
    assert_eq!(event.details.chars().count(), MAX_DETAILS_CHARS);

    let targets: Vec<String> = (0..5).map(|i| format!("f{i}:live")).collect();
    let counted: Vec<&str> = targets.iter().map(String::as_str).collect();
    assert_eq!(
        phrase(Happened::Executed, &counted),
        "rolled back f0:live, f1:live and 3 more"
    );
    assert_eq!(
        phrase(Happened::Executed, &counted[..2]),
        "rolled back f0:live and f1:live"
    );
}
