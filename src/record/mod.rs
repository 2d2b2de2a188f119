//! The record: everything decided and done for one accepted request, built once from its
//! [`Plan`] and [`Execution`]: the alert, every rule with whether it matched and why, and
//! every action with its outcome. It is the HTTP response body (so Wavefront's Test button
//! shows it) and the source of the audit and METRIC lines (`lines.rs`).

mod lines;
mod rule;

use serde::{Serialize, Serializer};

pub use rule::{ActionRecord, RuleRecord};

use crate::alert::Alert;
use crate::execute::{ActionOutcome, Execution, FirstHandled};
use crate::ledger::attribution::IncidentStart;
use crate::plan::Plan;
use crate::text::{millis_text, plural};

/// The alert, as far as the record needs it (borrowed from it).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AlertSummary<'a> {
    pub id: Option<&'a str>,
    pub notification_id: Option<&'a str>,
    pub name: &'a str,
    pub reason: &'a str,
    pub severity: Option<&'static str>,
    #[serde(serialize_with = "as_text")]
    pub started: Option<jiff::Timestamp>,
}

impl<'a> From<&'a Alert> for AlertSummary<'a> {
    fn from(alert: &'a Alert) -> Self {
        Self {
            id: alert.id.as_deref(),
            notification_id: alert.notification_id.as_deref(),
            name: &alert.name,
            reason: alert.reason.as_str(),
            severity: alert.severity.map(|s| s.as_str()),
            started: alert.started,
        }
    }
}

fn as_text<S: Serializer>(
    value: &Option<jiff::Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => serializer.collect_str(t),
        None => serializer.serialize_none(),
    }
}

/// The overall outcome of an accepted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No rule matched.
    NoMatch,
    /// At least one action was planned and none failed or executed.
    Planned,
    /// At least one action changed something and none failed.
    Executed,
    /// Every action was skipped.
    Skipped,
    /// At least one action failed.
    Failed,
    /// The same notification was already handled; nothing ran.
    Duplicate,
    /// Not done with: something that may still change held it up (another request's claim
    /// that request may give back: the same notification being handled, or an action's latch
    /// or cooldown; or a rollback CodeDeploy may be running that could not be seen). Answered
    /// 503, so that a later delivery can still act.
    InProgress,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::Planned => "planned",
            Self::Executed => "executed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Duplicate => "duplicate",
            Self::InProgress => "in_progress",
        }
    }
}

/// What a request held up by another's claim says about being sent again.
fn retry_sentence(until: jiff::Timestamp) -> String {
    format!(
        "answered 503, so that a later delivery can still act: that request gives its claim \
         back if it changes nothing, and the claim lapses at {until:.0} at the latest"
    )
}

/// A duplicate's outcome and message: in progress while its first request may still give
/// the delivery back (until `retry_after`), a duplicate once it is handled.
fn duplicate_summary(
    earlier: &FirstHandled,
    retry_after: Option<jiff::Timestamp>,
) -> (Outcome, String) {
    match retry_after {
        Some(until) => (
            Outcome::InProgress,
            format!(
                "notification is being handled by request {} (since {}); {}",
                earlier.request_id,
                millis_text(earlier.at_ms),
                retry_sentence(until)
            ),
        ),
        None => (
            Outcome::Duplicate,
            format!(
                "notification already handled by request {} at {}; nothing was run again",
                earlier.request_id,
                millis_text(earlier.at_ms)
            ),
        ),
    }
}

/// The record of one accepted request. It borrows the rules and the alert it is about.
#[derive(Clone, Debug, Serialize)]
pub struct Record<'a> {
    pub request_id: &'a str,
    pub outcome: Outcome,
    /// One sentence for humans.
    pub message: String,
    /// True when no action of this request may change anything.
    pub dry_run: bool,
    pub alert: AlertSummary<'a>,
    /// Payload fields that were present but unreadable, and ignored.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
    /// What the ledger did or could not do for this request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For a duplicate: the request that handled this notification first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<FirstHandled>,
    /// When the claim of another request that held this one up lapses, if one did: the
    /// request is not done with, and Wavefront should send it again.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub retry_after: Option<jiff::Timestamp>,
    /// When the incident started, and where that came from, when an action applied the
    /// attribution guard against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_started: Option<IncidentStart>,
    pub rules: Vec<RuleRecord<'a>>,
    /// Why the ledger could not do what this request needed although no action failed (an
    /// `ALERT_RESOLVED` that could not clear latches): the request fails, and the message
    /// starts with it.
    #[serde(skip)]
    ledger_failure: Option<String>,
}

impl<'a> Record<'a> {
    /// The record of `plan`, run as `execution` says ([`Execution::planned`] when nothing
    /// ran). A duplicate lists no actions: none ran again.
    pub fn new(plan: &Plan<'a>, execution: Execution) -> Self {
        debug_assert_eq!(
            execution.actions.len(),
            plan.actions().count(),
            "an execution has one result per planned action"
        );
        let duplicate = execution.duplicate_of.is_some();
        let mut results = execution.actions.into_iter();
        let rules = plan
            .rules
            .iter()
            .map(|rule| {
                let actions = match duplicate {
                    true => Vec::new(),
                    false => rule
                        .actions()
                        .iter()
                        .zip(results.by_ref())
                        .map(|(action, result)| ActionRecord::new(action, result))
                        .collect(),
                };
                RuleRecord {
                    plan: *rule,
                    actions,
                }
            })
            .collect();
        let mut record = Self {
            request_id: plan.request_id,
            outcome: Outcome::NoMatch,
            message: String::new(),
            dry_run: plan.dry_run,
            alert: AlertSummary::from(plan.alert),
            warnings: &plan.alert.warnings,
            notes: execution.notes,
            duplicate_of: execution.duplicate_of,
            retry_after: execution.retry_after,
            incident_started: execution.incident_started,
            rules,
            ledger_failure: execution.ledger_failure,
        };
        record.summarize();
        record
    }

    /// When to send this delivery again, if it is not done with.
    pub fn retry(&self) -> Option<jiff::Timestamp> {
        self.retry_after
            .filter(|_| self.outcome == Outcome::InProgress)
    }

    /// The outcome and message, from the rule records and what the ledger said.
    fn summarize(&mut self) {
        if let Some(earlier) = &self.duplicate_of {
            (self.outcome, self.message) = duplicate_summary(earlier, self.retry_after);
            return;
        }
        self.summarize_actions();
        if let Some(failure) = &self.ledger_failure {
            self.outcome = Outcome::Failed;
            self.message = format!("{failure}; {}", self.message);
        } else if let (Some(until), false) = (self.retry_after, self.outcome == Outcome::Failed) {
            self.outcome = Outcome::InProgress;
            self.message = format!(
                "{}; not done with: an action was held up by what may still change (its detail \
                 says what), until {until:.0} at the latest; answered 503, so that a later \
                 delivery can still act",
                self.message
            );
        }
    }

    /// The outcome and message from the actions' outcomes alone.
    fn summarize_actions(&mut self) {
        let actions = || self.rules.iter().flat_map(|r| r.actions.iter());
        let count = |outcome| actions().filter(|a| a.outcome == outcome).count();
        let (planned, executed, skipped, failed) = (
            count(ActionOutcome::Planned),
            count(ActionOutcome::Executed),
            count(ActionOutcome::Skipped),
            count(ActionOutcome::Failed),
        );
        let matched = self.rules.iter().filter(|r| r.matched()).count();
        if matched == 0 {
            self.outcome = Outcome::NoMatch;
            self.message = format!(
                "no rule matched alert \"{}\" ({} checked); nothing to do",
                self.alert.name,
                plural(self.rules.len(), "rule")
            );
            return;
        }
        self.outcome = if failed > 0 {
            Outcome::Failed
        } else if executed > 0 {
            Outcome::Executed
        } else if planned > 0 {
            Outcome::Planned
        } else {
            Outcome::Skipped
        };
        let parts: Vec<String> = [
            (executed, "executed"),
            (planned, "planned"),
            (skipped, "skipped"),
            (failed, "failed"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, word)| format!("{n} {word}"))
        .collect();
        self.message = format!(
            "{} matched alert \"{}\"; actions: {}{}",
            plural(matched, "rule"),
            self.alert.name,
            parts.join(", "),
            if self.dry_run { " (dry run)" } else { "" }
        );
    }

    /// Whether any action failed, or the ledger could not do what the request needed (see
    /// [`Execution::ledger_failure`]): the HTTP answer is then 502.
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::ledger::Guard;
    use crate::plan::RulePlan;

    const CONFIG: &str = r#"
[auth]
tokens = ["env:UNUSED_TOKEN"]

[[rule]]
name = "orders"
alert = ["orders \"eu\" * latency", "Orders [A-Z]*"]
[[rule.action]]
type = "lambda-alias"
function = "orders"
alias = "live"
to_alias = "stable"

[[rule]]
name = "checkout-errors"
alert = ["checkout * error rate*"]
severity = ["SEVERE"]
[[rule.action]]
type = "lambda-alias"
function = "checkout"
alias = "live"
to_alias = "stable"

[[rule]]
name = "by-id"
alert_id = ["1460761882996"]
[[rule.action]]
type = "lambda-alias"
function = "by-id"
alias = "live"
to_alias = "stable"
"#;

    fn alert(name: &str, severity: &str) -> Alert {
        let body = format!(
            r#"{{"alertId":"1","notificationId":"n-1","reason":"ALERT_OPENED","name":"{name}","severity":"{severity}"}}"#
        );
        Alert::parse(body.as_bytes()).expect("valid alert")
    }

    fn json_of(rule: &RuleRecord<'_>) -> serde_json::Value {
        let text = serde_json::to_string(rule).expect("serializes");
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn a_rule_missed_on_the_name_is_recorded_as_it_would_be_written() {
        let config = Config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let alert = alert("payments p99 latency", "SEVERE");
        let plan = Plan::new("r-1", &alert, &config.rules, false);
        let record = Record::new(&plan, Execution::planned(&plan));
        let missed = &record.rules[0];
        assert!(
            missed.plan.name_miss.is_some(),
            "a name miss uses its rendered record"
        );
        let written = RuleRecord {
            plan: RulePlan {
                name_miss: None,
                ..missed.plan
            },
            ..missed.clone()
        };
        assert_eq!(json_of(missed), json_of(&written));
        assert_eq!(
            json_of(missed),
            serde_json::json!({
                "rule": "orders",
                "matched": false,
                "why": ["name does not match \"orders \"eu\" * latency\" or \"Orders [A-Z]*\""],
            })
        );
    }

    #[test]
    fn other_misses_and_matches_are_written_for_the_alert() {
        let config = Config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let alert = alert("checkout EU error rate", "WARN");
        let plan = Plan::new("r-1", &alert, &config.rules, false);
        let record = Record::new(&plan, Execution::planned(&plan));
        // The name held and the severity did not: the reason depends on the alert.
        let severity_miss = &record.rules[1];
        assert!(severity_miss.plan.name_miss.is_none());
        assert_eq!(
            json_of(severity_miss)["why"],
            serde_json::json!(["severity WARN is not SEVERE"])
        );
        // A rule without name patterns cannot miss on the name.
        assert!(record.rules[2].plan.name_miss.is_none());

        let alert = alert_matching();
        let plan = Plan::new("r-2", &alert, &config.rules, false);
        let record = Record::new(&plan, Execution::planned(&plan));
        let matched = json_of(&record.rules[1]);
        assert_eq!(matched["matched"], true);
        assert_eq!(matched["dry_run"], false);
        assert_eq!(matched["actions"][0]["outcome"], "planned");
    }

    /// The METRIC names a record writes, in order.
    fn metrics_of(record: &Record<'_>) -> Vec<String> {
        let captured = crate::telemetry::Captured::default();
        let telemetry = crate::telemetry::Telemetry::to_writer(captured.clone());
        let mut batch = telemetry.batch("r-1");
        record.write(&mut batch, &crate::telemetry::RequestContext::default());
        batch.finish();
        captured
            .text()
            .lines()
            .filter(|line| line.starts_with("[METRIC]"))
            .map(|line| crate::telemetry::metric_filter_fields(line)[3].clone())
            .collect()
    }

    #[test]
    fn only_a_real_refusal_by_the_circuit_counts_as_circuit_open() {
        let config = Config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let alert = alert_matching();
        let plan = Plan::new("r-1", &alert, &config.rules, false);
        let mut record = Record::new(&plan, Execution::planned(&plan));
        let rule = &mut record.rules[1];
        assert!(rule.matched());
        rule.actions[0].outcome = ActionOutcome::Skipped;
        rule.actions[0].guard = Some(Guard::CircuitOpen);
        assert_eq!(
            metrics_of(&record),
            ["rule_matched", "action_skipped", "circuit_open"]
        );

        record.rules[1].plan.dry_run = true;
        assert_eq!(metrics_of(&record), ["rule_matched", "action_skipped"]);
    }

    fn alert_matching() -> Alert {
        alert("checkout EU error rate", "SEVERE")
    }
}
