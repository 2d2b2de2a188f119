//! The decision record: everything decided for one accepted request: the alert, every rule
//! with whether it matched and why, and every action with its outcome. It is the HTTP response
//! body (so Wavefront's Test button shows it) and the source of the audit and METRIC lines.

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde_json::value::RawValue;

use crate::alert::{Alert, Reason};
use crate::execute::ActionOutcome;
use crate::ledger::Guard;
use crate::ledger::attribution::IncidentStart;
use crate::rules::{Check, Describe, Rule, RuleEvaluation, Rules};
use crate::telemetry::{Audit, Batch, Metric};
use crate::text::plural;

/// The METRIC line an action's outcome counts under.
fn outcome_metric(outcome: ActionOutcome) -> Metric {
    match outcome {
        ActionOutcome::Planned => Metric::ActionPlanned,
        ActionOutcome::Executed => Metric::ActionExecuted,
        ActionOutcome::Skipped => Metric::ActionSkipped,
        ActionOutcome::Failed => Metric::ActionFailed,
    }
}

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

/// One action of a matched rule.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord {
    /// The action's type: `codedeploy-rollback`, `lambda-alias`.
    pub action: &'static str,
    /// What it acts on: `checkout/checkout-prod`, `checkout:live`.
    pub target: String,
    pub outcome: ActionOutcome,
    /// What it did or would do, or why not.
    pub detail: String,
    /// Request ids of the AWS calls made, for AWS support and CloudTrail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aws_request_ids: Vec<String>,
    /// What in the ledger stopped it, if anything did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Guard>,
}

/// One rule, matched or not.
#[derive(Clone, Debug)]
pub struct RuleRecord<'a> {
    /// For a matched rule every check; for the others, the first that failed.
    pub why: Why<'a>,
    /// Whether this rule's actions run as a dry run (recorded for matched rules only).
    pub dry_run: bool,
    pub actions: Vec<ActionRecord>,
    /// This record, already rendered, when the rule missed on the name (see [`Rules`]).
    rendered: Option<&'a RawValue>,
}

impl<'a> RuleRecord<'a> {
    /// The rule's name.
    pub fn rule(&self) -> &'a str {
        &self.why.0.rule.name
    }

    /// Whether every check of the rule held.
    pub fn matched(&self) -> bool {
        self.why.0.matched()
    }
}

impl Serialize for RuleRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(rendered) = self.rendered {
            return rendered.serialize(serializer);
        }
        let mut record = serializer.serialize_struct("RuleRecord", 5)?;
        record.serialize_field("rule", self.rule())?;
        record.serialize_field("matched", &self.matched())?;
        record.serialize_field("why", &self.why)?;
        if self.matched() {
            record.serialize_field("dry_run", &self.dry_run)?;
        } else {
            record.skip_field("dry_run")?;
        }
        if self.actions.is_empty() {
            record.skip_field("actions")?;
        } else {
            record.serialize_field("actions", &self.actions)?;
        }
        record.end()
    }
}

/// The record of `rule` for an alert whose name it does not match; it must read exactly as
/// [`RuleRecord`] would write it (a unit test holds the two together).
pub(crate) fn name_miss_record(rule: &Rule) -> Result<Box<RawValue>, serde_json::Error> {
    struct Sentence<'a>(&'a Rule);
    impl Serialize for Sentence<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut sentence = String::new();
            // Writing to a String cannot fail.
            let _ = crate::rules::name_sentence(&mut sentence, self.0, false);
            serializer.serialize_str(&sentence)
        }
    }
    #[derive(Serialize)]
    struct NameMiss<'a> {
        rule: &'a str,
        matched: bool,
        why: [Sentence<'a>; 1],
    }
    RawValue::from_string(serde_json::to_string(&NameMiss {
        rule: &rule.name,
        matched: false,
        why: [Sentence(rule)],
    })?)
}

/// Why a rule matched or not: the sentences are written straight into the output when the
/// record is serialized, so a record of hundreds of rules builds no strings for them.
#[derive(Clone, Copy, Debug)]
pub struct Why<'a>(pub RuleEvaluation<'a>);

impl Why<'_> {
    /// A matched rule's every check; an unmatched rule's first failed check, which is why it
    /// did not match (`explain` lists them all).
    fn each(&self, mut f: impl FnMut(&Describe<'_>)) {
        if self.0.matched() {
            self.0.explained().for_each(|s| f(&s));
        } else if let Some(first) = self.0.explained().next() {
            // Failed checks come first.
            f(&first);
        }
    }
}

thread_local! {
    /// Where a sentence is written before it is escaped into the output in one pass: escaping
    /// each fragment as `Display` writes it costs more than the writing.
    static SENTENCE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Serialize for Why<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let mut result = Ok(());
        SENTENCE.with_borrow_mut(|sentence| {
            self.each(|s| {
                if result.is_ok() {
                    sentence.clear();
                    // Writing to a String cannot fail.
                    let _ = s.render(sentence);
                    result = seq.serialize_element(sentence.as_str());
                }
            });
        });
        result?;
        seq.end()
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

/// The earlier handling of a duplicate delivery.
#[derive(Clone, Debug, Serialize)]
pub struct Earlier {
    pub request_id: String,
    pub at: String,
}

/// The record of one accepted request. It borrows the rules and the alert it is about.
#[derive(Clone, Debug, Serialize)]
pub struct Decision<'a> {
    pub request_id: String,
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
    pub duplicate_of: Option<Earlier>,
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

impl<'a> Decision<'a> {
    /// Checks every rule against the alert and plans the actions of those that match.
    pub fn for_alert(
        request_id: &str,
        alert: &'a Alert,
        rules: &'a Rules,
        global_dry_run: bool,
    ) -> Self {
        Self::plan(
            request_id,
            alert,
            rules,
            rules.evaluate(alert),
            global_dry_run,
        )
    }

    /// Builds the record from rule evaluations (of `rules`, in order), with every action of a
    /// matched rule planned. `global_dry_run` is the config's (or the command line's) switch.
    fn plan(
        request_id: &str,
        alert: &'a Alert,
        rules: &'a Rules,
        evaluations: Vec<RuleEvaluation<'a>>,
        global_dry_run: bool,
    ) -> Self {
        let rules: Vec<RuleRecord<'a>> = evaluations
            .into_iter()
            .enumerate()
            .map(|(index, evaluation)| {
                let matched = evaluation.matched();
                let actions = if matched {
                    evaluation
                        .rule
                        .actions
                        .iter()
                        .map(|action| ActionRecord {
                            action: action.kind(),
                            target: action.target(),
                            outcome: ActionOutcome::Planned,
                            detail: action.plan(),
                            aws_request_ids: Vec::new(),
                            guard: None,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let rendered = if evaluation.first_failure() == Some(Check::Name) {
                    rules.name_miss(index)
                } else {
                    None
                };
                RuleRecord {
                    dry_run: global_dry_run || evaluation.dry_run(),
                    why: Why(evaluation),
                    actions,
                    rendered,
                }
            })
            .collect();
        // A request is a dry run when nothing it matched may change anything. With no match
        // at all, only the global switch and the Test button make it one.
        let mut matched = rules.iter().filter(|r| r.matched()).peekable();
        let dry_run = global_dry_run
            || alert.reason == Reason::Testing
            || (matched.peek().is_some() && matched.all(|r| r.dry_run));
        let mut decision = Self {
            request_id: request_id.to_owned(),
            outcome: Outcome::NoMatch,
            message: String::new(),
            dry_run,
            alert: AlertSummary::from(alert),
            warnings: &alert.warnings,
            notes: Vec::new(),
            duplicate_of: None,
            retry_after: None,
            incident_started: None,
            rules,
            ledger_failure: None,
        };
        decision.summarize();
        decision
    }

    /// Records that the ledger could not do what this request needed (`why`, a sentence, also
    /// kept as a note): the request fails (502, so Wavefront's retry can try again) and writes a `ledger_failed`
    /// METRIC line, whatever its actions did.
    pub fn fail_ledger(&mut self, why: String) {
        self.notes.push(why.clone());
        self.ledger_failure = Some(why);
        self.summarize();
    }

    /// Records that this notification was handled before, by `request_id` at `at_ms` (or is
    /// being handled, until `pending_until` unless that request confirms or gives it back): no
    /// action runs.
    pub fn mark_duplicate(
        &mut self,
        request_id: &str,
        at_ms: i64,
        pending_until: Option<jiff::Timestamp>,
    ) {
        let at = jiff::Timestamp::from_millisecond(at_ms)
            .map(|t| format!("{t:.0}"))
            .unwrap_or_else(|_| at_ms.to_string());
        for rule in &mut self.rules {
            rule.actions.clear();
        }
        self.duplicate_of = Some(Earlier {
            request_id: request_id.to_owned(),
            at,
        });
        self.retry_after = pending_until;
        self.summarize();
    }

    /// Records that something that may still change held an action of this request up until
    /// `until` (another request's claim that it may give back, or a rollback that could not
    /// be seen): the request is not done with.
    pub fn hold_up(&mut self, until: jiff::Timestamp) {
        self.retry_after = Some(self.retry_after.map_or(until, |t| t.max(until)));
    }

    /// When to send this delivery again, if it is not done with.
    pub fn retry(&self) -> Option<jiff::Timestamp> {
        self.retry_after
            .filter(|_| self.outcome == Outcome::InProgress)
    }

    /// Recomputes the outcome and message from the rule records (after actions ran).
    pub fn summarize(&mut self) {
        if let Some(earlier) = &self.duplicate_of {
            (self.outcome, self.message) = match self.retry_after {
                Some(until) => (
                    Outcome::InProgress,
                    format!(
                        "notification is being handled by request {} (since {}); {}",
                        earlier.request_id,
                        earlier.at,
                        retry_sentence(until)
                    ),
                ),
                None => (
                    Outcome::Duplicate,
                    format!(
                        "notification already handled by request {} at {}; nothing was run again",
                        earlier.request_id, earlier.at
                    ),
                ),
            };
            return;
        }
        let actions = || self.rules.iter().flat_map(|r| r.actions.iter());
        let count = |outcome| actions().filter(|a| a.outcome == outcome).count();
        let (planned, executed, skipped, failed) = (
            count(ActionOutcome::Planned),
            count(ActionOutcome::Executed),
            count(ActionOutcome::Skipped),
            count(ActionOutcome::Failed),
        );
        let matched = self.rules.iter().filter(|r| r.matched()).count();
        self.outcome = if matched == 0 {
            Outcome::NoMatch
        } else if failed > 0 {
            Outcome::Failed
        } else if executed > 0 {
            Outcome::Executed
        } else if planned > 0 {
            Outcome::Planned
        } else {
            Outcome::Skipped
        };
        self.message = if matched == 0 {
            format!(
                "no rule matched alert \"{}\" ({} checked); nothing to do",
                self.alert.name,
                plural(self.rules.len(), "rule")
            )
        } else {
            let mut parts = Vec::new();
            for (n, word) in [
                (executed, "executed"),
                (planned, "planned"),
                (skipped, "skipped"),
                (failed, "failed"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {word}"));
                }
            }
            format!(
                "{} matched alert \"{}\"; actions: {}{}",
                plural(matched, "rule"),
                self.alert.name,
                parts.join(", "),
                if self.dry_run { " (dry run)" } else { "" }
            )
        };
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

    /// Whether any action failed, or the ledger could not do what the request needed (see
    /// [`Decision::fail_ledger`]): the HTTP answer is then 502.
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }

    /// Writes the METRIC and audit lines of this decision: one audit line per action (or one
    /// for the whole request when nothing matched), one METRIC line per matched rule and per
    /// action outcome.
    pub fn record(&self, batch: &mut Batch<'_>, context: &RequestContext<'_>) {
        let base = Audit {
            request_id: &self.request_id,
            alert_id: self.alert.id,
            alert_name: Some(self.alert.name),
            reason: Some(self.alert.reason),
            severity: self.alert.severity,
            rule: None,
            action: None,
            target: None,
            guard: None,
            outcome: self.outcome.as_str(),
            dry_run: self.dry_run,
            detail: &self.message,
            aws_request_ids: &[],
            auth: context.auth,
            source_ip: context.source_ip,
            user_agent: context.user_agent,
        };
        let mut wrote_any = false;
        for rule in self.rules.iter().filter(|r| r.matched()) {
            batch.metric(Metric::RuleMatched, 1.0);
            for action in &rule.actions {
                batch.metric(outcome_metric(action.outcome), 1.0);
                // A dry run held back refused nothing: only real refusals count, so the
                // metric (and any alarm on it) means automation was held back.
                let held = match action.guard {
                    _ if rule.dry_run => None,
                    Some(Guard::CircuitOpen) => Some(Metric::CircuitOpen),
                    Some(Guard::Frozen) => Some(Metric::ActionFrozen),
                    Some(Guard::Attribution) => Some(Metric::ActionHeld),
                    _ => None,
                };
                if let Some(metric) = held {
                    batch.metric(metric, 1.0);
                }
                batch.audit(&Audit {
                    action: Some(action.action),
                    target: Some(&action.target),
                    guard: action.guard,
                    outcome: action.outcome.as_str(),
                    dry_run: rule.dry_run,
                    detail: &action.detail,
                    aws_request_ids: &action.aws_request_ids,
                    rule: Some(rule.rule()),
                    ..base
                });
                wrote_any = true;
            }
        }
        if self.outcome == Outcome::InProgress {
            batch.metric(Metric::WebhookInProgress, 1.0);
        } else if self.duplicate_of.is_some() {
            batch.metric(Metric::WebhookDuplicate, 1.0);
        }
        if self.ledger_failure.is_some() {
            batch.metric(Metric::LedgerFailed, 1.0);
        }
        if !wrote_any {
            batch.audit(&base);
        }
    }
}

/// Who sent a request, for audit lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContext<'a> {
    pub auth: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

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

    fn record(rule: &RuleRecord<'_>) -> serde_json::Value {
        let text = serde_json::to_string(rule).expect("serializes");
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn a_rule_missed_on_the_name_is_recorded_as_it_would_be_written() {
        let config = Config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
        let alert = alert("payments p99 latency", "SEVERE");
        let decision = Decision::for_alert("r-1", &alert, &config.rules, false);
        let missed = &decision.rules[0];
        assert!(
            missed.rendered.is_some(),
            "a name miss uses its rendered record"
        );
        let written = RuleRecord {
            rendered: None,
            ..missed.clone()
        };
        assert_eq!(record(missed), record(&written));
        assert_eq!(
            record(missed),
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
        let decision = Decision::for_alert("r-1", &alert, &config.rules, false);
        // The name held and the severity did not: the reason depends on the alert.
        let severity_miss = &decision.rules[1];
        assert!(severity_miss.rendered.is_none());
        assert_eq!(
            record(severity_miss)["why"],
            serde_json::json!(["severity WARN is not SEVERE"])
        );
        // A rule without name patterns cannot miss on the name.
        assert!(decision.rules[2].rendered.is_none());

        let alert = alert_matching();
        let decision = Decision::for_alert("r-2", &alert, &config.rules, false);
        let matched = record(&decision.rules[1]);
        assert_eq!(matched["matched"], true);
        assert_eq!(matched["dry_run"], false);
        assert_eq!(matched["actions"][0]["outcome"], "planned");
    }

    /// The METRIC names a decision writes, in order.
    fn metrics_of(decision: &Decision<'_>) -> Vec<String> {
        let captured = crate::telemetry::Captured::default();
        let telemetry = crate::telemetry::Telemetry::to_writer(captured.clone());
        let mut batch = telemetry.batch("r-1");
        decision.record(&mut batch, &RequestContext::default());
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
        let mut decision = Decision::for_alert("r-1", &alert, &config.rules, false);
        let rule = &mut decision.rules[1];
        assert!(rule.matched());
        rule.actions[0].outcome = ActionOutcome::Skipped;
        rule.actions[0].guard = Some(Guard::CircuitOpen);
        assert_eq!(
            metrics_of(&decision),
            ["rule_matched", "action_skipped", "circuit_open"]
        );

        decision.rules[1].dry_run = true;
        assert_eq!(metrics_of(&decision), ["rule_matched", "action_skipped"]);
    }

    fn alert_matching() -> Alert {
        alert("checkout EU error rate", "SEVERE")
    }
}
