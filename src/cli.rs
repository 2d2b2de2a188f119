//! What the `check` and `explain` commands print: a config read back in plain words, and an
//! alert walked through every rule. Both are pure functions of their inputs, so they can be
//! tested without running the binary and make no network calls.

use std::fmt::Write as _;

use crate::actions::Action;
use crate::alert::{Alert, Reason};
use crate::config::Config;
use crate::duration::HumanDuration;
use crate::execute::Execution;
use crate::ledger::Entry;
use crate::ledger::attribution::IncidentStart;
use crate::ledger::freeze::{Freeze, FreezeScope};
use crate::plan::Plan;
use crate::record::Record;
use crate::rules::{NamePattern, Rule};
use crate::secret::SecretRef;
use crate::text::plural;

/// What `check` learned about the secrets in this environment.
#[derive(Debug)]
pub enum Secrets<'a> {
    /// `--no-secrets`: references were not resolved.
    NotChecked,
    /// Resolved exactly as at start-up.
    Usable {
        tokens: usize,
        signing_secrets: usize,
        /// References that were skipped, and why.
        warnings: &'a [String],
    },
}

/// The `check` report: what the config says, in words, and what this environment provides.
pub fn check_report(config: &Config, secrets: &Secrets<'_>) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let source = if config.compiled_in {
        " (compiled into this binary)"
    } else {
        ""
    };
    line(format!(
        "{}{source}: configuration is valid",
        config.path.display()
    ));
    line(format!(
        "dry run: {}",
        if config.dry_run {
            "on (every action is planned, nothing is changed)"
        } else {
            "off (rules that are not dry runs change AWS resources)"
        }
    ));
    line(format!(
        "triggers: {} (ALERT_TESTING always runs as a dry run)",
        reasons(&config.triggers)
    ));
    line(format!(
        "time budget: {} per request for all actions",
        config.time_budget
    ));
    match &config.ledger.table {
        Some(table) => line(format!(
            "ledger: DynamoDB table {table}; notifications and incidents remembered for {}",
            config.ledger.retention
        )),
        None => line(
            "ledger: in memory (each process remembers only its own deliveries; configure \
             [ledger] table on Lambda)"
                .into(),
        ),
    }
    match config.circuit_breaker {
        Some(breaker) => line(format!(
            "circuit breaker: at most {} that change something per {}",
            plural(breaker.max_actions as usize, "action"),
            breaker.window
        )),
        None => line("circuit breaker: off".into()),
    }

    let auth = &config.auth;
    line("authentication:".into());
    if auth.token_header == http::header::AUTHORIZATION {
        line("  token header: Authorization: Bearer <token>".into());
    } else {
        line(format!("  token header: {}: <token>", auth.token_header));
    }
    line(format!("  tokens: {}", references(&auth.tokens)));
    line(format!(
        "  signing secrets: {}",
        references(&auth.signing_secrets)
    ));
    line(format!(
        "  signature tolerance: {}",
        auth.signature_tolerance
    ));
    if auth.insecure_allow_literal_secrets {
        line(
            "  WARNING: insecure_allow_literal_secrets is on; use it for local experiments only"
                .into(),
        );
    }
    match secrets {
        Secrets::NotChecked => line("  (secret references not resolved: --no-secrets)".into()),
        Secrets::Usable {
            tokens,
            signing_secrets,
            warnings,
        } => {
            line(format!(
                "  usable here: {} and {}",
                plural(*tokens, "token"),
                plural(*signing_secrets, "signing secret")
            ));
            for warning in *warnings {
                line(format!("  WARNING: {warning}"));
            }
        }
    }

    line(format!("rules ({}):", config.rules.len()));
    for (i, rule) in config.rules.iter().enumerate() {
        for text in rule_lines(i + 1, rule, &config.triggers) {
            line(text);
        }
    }
    if config.rules.is_empty() {
        line("  (none: every alert will be answered \"no rule matched\")".into());
    }
    out
}

/// What `check` says of rule number `n`: when it acts, its guards, and its actions.
fn rule_lines(n: usize, rule: &Rule, global_triggers: &[Reason]) -> Vec<String> {
    let dry_run = if rule.dry_run { " (dry run)" } else { "" };
    let mut lines = vec![
        format!("  {n}. {}{dry_run}", rule.name),
        format!("     when: {}", conditions(rule, global_triggers)),
    ];
    lines.push(match rule.cooldown {
        Some(cooldown) => {
            format!("     cooldown: {cooldown} after acting on a target, whatever the incident")
        }
        None => "     WARNING: cooldown = \"0s\" turns the cooldown off: the rule may act on the \
                 same target again for every new incident, and a caller holding the token can \
                 make up incidents, up to the circuit breaker"
            .into(),
    });
    lines.push(if rule.attribution {
        "     attribution guard: undoes only what began before the alert started firing".into()
    } else {
        "     WARNING: attribution = false: the rule may undo a change made after the alert \
         started firing, such as the fix"
            .into()
    });
    for reason in rule.triggers.iter().filter(|r| !ACTS_ON.contains(r)) {
        lines.push(format!(
            "     WARNING: triggers on {reason}, when the alert is not newly firing; make sure \
             rolling back then is intended"
        ));
    }
    for (j, action) in rule.actions.iter().enumerate() {
        lines.push(format!("     then {}. {}", j + 1, action_line(action)));
    }
    lines
}

/// One `ledger list` line: key, who claimed it when, until when it counts, and what it is.
pub fn ledger_line(entry: &Entry, now: jiff::Timestamp) -> String {
    let at = jiff::Timestamp::from_millisecond(entry.claimed_at)
        .map(|t| format!("{t:.0}"))
        .unwrap_or_default();
    let until = jiff::Timestamp::from_second(entry.expires_at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let state = if entry.live(now) { "until" } else { "expired" };
    format!(
        "{}  claimed {at} by {}  {state} {until}  {}",
        entry.key, entry.claimed_by, entry.note
    )
}

/// One `ledger list` line for a freeze that is on.
pub fn freeze_line(freeze: &Freeze, config: &Config) -> String {
    format!(
        "FROZEN: {freeze}; lift it with `{}`",
        unfreeze_command(&freeze.scope, config)
    )
}

/// What `freeze` prints once the freeze is recorded.
pub fn froze_report(freeze: &Freeze, ledger: &str, config: &Config) -> String {
    let lasts = freeze.until.duration_since(freeze.set_at).as_secs().max(0);
    let lasts = HumanDuration::new(std::time::Duration::from_secs(lasts.unsigned_abs()));
    format!(
        "froze {} until {} ({lasts}) in {ledger}\n\
         reason: \"{}\"; set by {}\n\
         every action of {} that would change something is skipped with guard \"frozen\"; dry \
         runs and the Test button still say what they would do\n\
         lift it early with: {}\n",
        freeze.scope,
        freeze.until,
        freeze.reason,
        freeze.by,
        match &freeze.scope {
            FreezeScope::Every => "every rule".to_owned(),
            FreezeScope::Rule(rule) => format!("rule {rule}"),
        },
        unfreeze_command(&freeze.scope, config)
    )
}

/// What `unfreeze` prints: what it lifted, and the freezes still on.
pub fn unfroze_report(
    scope: &FreezeScope,
    lifted: Option<&Freeze>,
    left: &[Freeze],
    config: &Config,
) -> String {
    let mut out = match lifted {
        Some(freeze) => format!("lifted: {freeze}\n"),
        None => format!("no freeze of {scope} was on; nothing to lift\n"),
    };
    for freeze in left {
        let _ = writeln!(out, "{}", freeze_line(freeze, config));
    }
    if left.is_empty() {
        out.push_str("no freeze is on: the rules act as configured\n");
    }
    out
}

/// The exact command that lifts a freeze of `scope` for `config`.
fn unfreeze_command(scope: &FreezeScope, config: &Config) -> String {
    format!(
        "{} --config {}",
        scope.lift_command(),
        config.path.display()
    )
}

/// Reasons that mean an alert is firing (again, or worse).
const ACTS_ON: [Reason; 4] = [
    Reason::Opened,
    Reason::Retriggered,
    Reason::Updated,
    Reason::SeverityUpdate,
];

fn references(refs: &[SecretRef]) -> String {
    if refs.is_empty() {
        return "none".into();
    }
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `explain` report: every rule checked against the alert, why it matched or not, and what
/// would run.
pub fn explain_report(config: &Config, alert: &Alert) -> String {
    let plan = Plan::new("explain", alert, &config.rules, config.dry_run);
    let decision = Record::new(&plan, Execution::planned(&plan));
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
    for rule in &decision.rules {
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
            if let Some(guarded) = config.rules.iter().find(|r| r.name == rule.rule()) {
                let _ = write!(out, "{}", guards(guarded, alert));
            }
        }
    }
    let _ = writeln!(out, "\n{}", decision.message);
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

fn conditions(rule: &Rule, global_triggers: &[Reason]) -> String {
    let mut parts = Vec::new();
    if !rule.alert.is_empty() {
        let names: Vec<String> = rule
            .alert
            .iter()
            .map(|p: &NamePattern| {
                if p.is_glob() {
                    format!("matches \"{}\"", p.as_str())
                } else {
                    format!("is \"{}\"", p.as_str())
                }
            })
            .collect();
        parts.push(format!("alert name {} (ignoring case)", names.join(" or ")));
    }
    if !rule.alert_ids.is_empty() {
        parts.push(format!("alert id is {}", rule.alert_ids.join(" or ")));
    }
    if !rule.severities.is_empty() {
        let severities: Vec<&str> = rule.severities.iter().map(|s| s.as_str()).collect();
        parts.push(format!("severity is {}", severities.join(" or ")));
    }
    if !rule.tags.is_empty() {
        parts.push(format!("alert tags include {}", rule.tags.join(" and ")));
    }
    if rule.triggers != global_triggers {
        parts.push(format!("reason is {}", reasons(&rule.triggers)));
    }
    parts.join("; ")
}

fn action_line(action: &Action) -> String {
    format!("{} {}: {}", action.kind(), action.target(), action.plan())
}

fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(Reason::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
