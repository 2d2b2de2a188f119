//! The decision record: everything decided for one accepted request: the alert, every rule
//! with whether it matched and why, and every action with its outcome. It is the HTTP response
//! body (so Wavefront's Test button shows it) and the source of the audit and METRIC lines.

use serde::Serialize;

use crate::alert::{Alert, Reason};
use crate::ledger::Guard;
use crate::rules::{Rule, RuleEvaluation};
use crate::telemetry::{Audit, Batch, Metric};

/// What happened to one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Described, not executed.
    Planned,
    /// Changed something in AWS.
    Executed,
    /// Nothing to do, or not allowed to act.
    Skipped,
    /// Tried and failed.
    Failed,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Executed => "executed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    fn metric(self) -> Metric {
        match self {
            Self::Planned => Metric::ActionPlanned,
            Self::Executed => Metric::ActionExecuted,
            Self::Skipped => Metric::ActionSkipped,
            Self::Failed => Metric::ActionFailed,
        }
    }
}

/// The alert, as far as the record needs it.
#[derive(Clone, Debug, Serialize)]
pub struct AlertSummary {
    pub id: Option<String>,
    pub notification_id: Option<String>,
    pub name: String,
    pub reason: String,
    pub severity: Option<&'static str>,
    pub started: Option<String>,
}

impl From<&Alert> for AlertSummary {
    fn from(alert: &Alert) -> Self {
        Self {
            id: alert.id.clone(),
            notification_id: alert.notification_id.clone(),
            name: alert.name.clone(),
            reason: alert.reason.to_string(),
            severity: alert.severity.map(|s| s.as_str()),
            started: alert.started.map(|t| t.to_string()),
        }
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
#[derive(Clone, Debug, Serialize)]
pub struct RuleRecord {
    pub rule: String,
    pub matched: bool,
    /// Every check, failed ones first.
    pub why: Vec<String>,
    /// Whether this rule's actions run as a dry run.
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionRecord>,
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
        }
    }
}

/// The earlier handling of a duplicate delivery.
#[derive(Clone, Debug, Serialize)]
pub struct Earlier {
    pub request_id: String,
    pub at: String,
}

/// The record of one accepted request.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub request_id: String,
    pub outcome: Outcome,
    /// One sentence for humans.
    pub message: String,
    /// True when no action of this request may change anything.
    pub dry_run: bool,
    pub alert: AlertSummary,
    /// Payload fields that were present but unreadable, and ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the ledger did or could not do for this request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For a duplicate: the request that handled this notification first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Earlier>,
    pub rules: Vec<RuleRecord>,
}

impl Decision {
    /// Checks every rule against the alert and plans the actions of those that match.
    pub fn for_alert(
        request_id: &str,
        alert: &Alert,
        rules: &[Rule],
        global_dry_run: bool,
    ) -> Self {
        let evaluations = crate::rules::evaluate(rules, alert);
        Self::plan(request_id, alert, &evaluations, global_dry_run)
    }

    /// Builds the record from rule evaluations, with every action of a matched rule planned.
    /// `global_dry_run` is the config's (or the command line's) switch.
    pub fn plan(
        request_id: &str,
        alert: &Alert,
        evaluations: &[RuleEvaluation<'_>],
        global_dry_run: bool,
    ) -> Self {
        let rules: Vec<RuleRecord> = evaluations
            .iter()
            .map(|evaluation| {
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
                RuleRecord {
                    rule: evaluation.rule.name.clone(),
                    matched,
                    why: evaluation.reasons(),
                    dry_run: global_dry_run || evaluation.dry_run(),
                    actions,
                }
            })
            .collect();
        // A request is a dry run when nothing it matched may change anything. With no match
        // at all, only the global switch and the Test button make it one.
        let mut matched = rules.iter().filter(|r| r.matched).peekable();
        let dry_run = global_dry_run
            || alert.reason == Reason::Testing
            || (matched.peek().is_some() && matched.all(|r| r.dry_run));
        let mut decision = Self {
            request_id: request_id.to_owned(),
            outcome: Outcome::NoMatch,
            message: String::new(),
            dry_run,
            alert: AlertSummary::from(alert),
            warnings: alert.warnings.clone(),
            notes: Vec::new(),
            duplicate_of: None,
            rules,
        };
        decision.summarize();
        decision
    }

    /// Records that this notification was handled before, by `request_id` at `at_ms`: no
    /// action runs.
    pub fn mark_duplicate(&mut self, request_id: &str, at_ms: i64) {
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
        self.summarize();
    }

    /// Recomputes the outcome and message from the rule records (after actions ran).
    pub fn summarize(&mut self) {
        if let Some(earlier) = &self.duplicate_of {
            self.outcome = Outcome::Duplicate;
            self.message = format!(
                "notification already handled by request {} at {}; nothing was run again",
                earlier.request_id, earlier.at
            );
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
        let matched = self.rules.iter().filter(|r| r.matched).count();
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
    }

    /// Whether any action failed (the HTTP answer is then 502).
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }

    /// Writes the METRIC and audit lines of this decision: one audit line per action (or one
    /// for the whole request when nothing matched), one METRIC line per matched rule and per
    /// action outcome.
    pub fn record(&self, batch: &mut Batch<'_>, context: &RequestContext<'_>) {
        let base = Audit {
            request_id: &self.request_id,
            alert_id: self.alert.id.as_deref(),
            alert_name: Some(&self.alert.name),
            reason: Some(&self.alert.reason),
            severity: self.alert.severity,
            rule: None,
            action: None,
            target: None,
            outcome: self.outcome.as_str(),
            dry_run: self.dry_run,
            detail: &self.message,
            aws_request_ids: &[],
            auth: context.auth,
            source_ip: context.source_ip,
            user_agent: context.user_agent,
        };
        let mut wrote_any = false;
        for rule in self.rules.iter().filter(|r| r.matched) {
            batch.metric(Metric::RuleMatched, 1.0);
            for action in &rule.actions {
                batch.metric(action.outcome.metric(), 1.0);
                if action.guard == Some(Guard::CircuitOpen) {
                    batch.metric(Metric::CircuitOpen, 1.0);
                }
                batch.audit(&Audit {
                    action: Some(action.action),
                    target: Some(&action.target),
                    outcome: action.outcome.as_str(),
                    dry_run: rule.dry_run,
                    detail: &action.detail,
                    aws_request_ids: &action.aws_request_ids,
                    rule: Some(&rule.rule),
                    ..base
                });
                wrote_any = true;
            }
        }
        if self.duplicate_of.is_some() {
            batch.metric(Metric::WebhookDuplicate, 1.0);
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

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        return format!("1 {word}");
    }
    if let Some(stem) = word.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else if ["ch", "sh", "s", "x"].iter().any(|end| word.ends_with(end)) {
        format!("{n} {word}es")
    } else {
        format!("{n} {word}s")
    }
}
