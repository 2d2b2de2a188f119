//! The record as log lines: one JSON audit line per action (or one for the whole request), and
//! the METRIC lines CloudWatch metric filters count.

use super::{Outcome, Record};
use crate::execute::ActionOutcome;
use crate::ledger::Guard;
use crate::telemetry::{Audit, Batch, Metric, RequestContext};

/// The METRIC line an action's outcome counts under.
fn outcome_metric(outcome: ActionOutcome) -> Metric {
    match outcome {
        ActionOutcome::Planned => Metric::ActionPlanned,
        ActionOutcome::Executed => Metric::ActionExecuted,
        ActionOutcome::Skipped => Metric::ActionSkipped,
        ActionOutcome::Failed => Metric::ActionFailed,
    }
}

impl Record<'_> {
    /// Writes the METRIC and audit lines of this record: one audit line per action (or one
    /// for the whole request when nothing matched), one METRIC line per matched rule and per
    /// action outcome.
    pub fn write(&self, batch: &mut Batch<'_>, context: &RequestContext<'_>) {
        let base = Audit {
            alert_id: self.alert.id,
            alert_name: Some(self.alert.name),
            reason: Some(self.alert.reason),
            severity: self.alert.severity,
            outcome: self.outcome.as_str(),
            dry_run: self.dry_run,
            detail: &self.message,
            ..Audit::request(self.request_id, context)
        };
        let mut wrote_any = false;
        for rule in self.rules.iter().filter(|r| r.matched()) {
            batch.metric(Metric::RuleMatched, 1.0);
            for action in &rule.actions {
                batch.metric(outcome_metric(action.outcome), 1.0);
                // A dry run held back refused nothing: only real refusals count, so the
                // metric (and any alarm on it) means automation was held back.
                let held = match action.guard {
                    _ if rule.plan.dry_run => None,
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
                    dry_run: rule.plan.dry_run,
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
