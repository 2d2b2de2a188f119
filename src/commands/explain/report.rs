//! What `explain` decides and prints: every rule checked against an alert, why it matched or
//! not, what would run, and what guards hold it back. Pure functions of their inputs: no I/O.
//!
//! It uses only the library (no `super`), because the fuzz checks (`fuzz/src/lib.rs`) compile
//! this file in as it is: a binary's modules are out of any other crate's reach.

use std::fmt::Write as _;

use wavefront_responder::alert::Alert;
use wavefront_responder::config::Config;
use wavefront_responder::execute::Execution;
use wavefront_responder::ledger::attribution::IncidentStart;
use wavefront_responder::plan::Plan;
use wavefront_responder::plan::rules::Rule;
use wavefront_responder::record::Record;

/// What the config's rules decide for `alert`, as `explain` shows it in text and in JSON.
pub fn decide<'a>(config: &'a Config, alert: &'a Alert) -> Record<'a> {
    let plan = Plan::new("explain", alert, &config.rules, config.dry_run);
    Record::new(&plan, Execution::planned(&plan))
}

/// The `explain` report: every rule checked against the alert, why it matched or not, and what
/// would run.
pub fn explain_report(config: &Config, alert: &Alert) -> String {
    let record = decide(config, alert);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "alert: {} reason {} severity {}",
        alert.label(),
        alert.reason,
        alert.severity.map_or("unknown", |s| s.as_str())
    );
    for warning in &alert.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for rule in &record.rules {
        let verdict = if rule.matched() {
            "MATCHES"
        } else {
            "does not match"
        };
        let _ = writeln!(out, "\nrule {}: {verdict}", rule.rule());
        // Every check, failed first, also for rules that did not match.
        for why in rule.plan.evaluation.explained() {
            let _ = writeln!(out, "  - {why}");
        }
        if rule.matched() {
            let mode = if rule.plan.dry_run {
                "as a dry run, so nothing is changed"
            } else {
                "for real"
            };
            let _ = writeln!(out, "  actions, in order, {mode}:");
            for (i, action) in rule.actions.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "    {}. {} {}: {}",
                    i + 1,
                    action.action,
                    action.target,
                    action.detail
                );
            }
            out.push_str(&guards(rule.plan.rule(), alert));
        }
    }
    let _ = writeln!(out, "\n{}", record.message);
    out
}

/// What holds `rule`'s actions back besides the ledger's incident latch and circuit breaker:
/// the attribution guard (against this alert's start) and the cooldown, a line each.
fn guards(rule: &Rule, alert: &Alert) -> String {
    let attribution = match (rule.attribution, IncidentStart::of(alert)) {
        (false, _) => "attribution guard off (attribution = false): it may undo a fix".to_owned(),
        (true, Some(start)) => format!(
            "attribution guard: only a change that began before {start} is undone; a newer \
             one may be the fix and is left alone"
        ),
        (true, None) => "attribution guard: only a change that began before the incident's \
                         first delivery is undone (the payload has no startedTime); a newer \
                         one may be the fix and is left alone"
            .to_owned(),
    };
    let cooldown = match rule.cooldown {
        Some(cooldown) => format!("cooldown: {cooldown} after acting on a target"),
        None => "no cooldown (cooldown = \"0s\")".to_owned(),
    };
    format!("  {attribution}\n  {cooldown}\n")
}
