//! Rules: which alerts a rule answers, and the pure decision of which rules an alert matches.
//!
//! A rule matches when every criterion it sets holds: the alert's name matches one of its
//! `alert` patterns (exact names or globs, case-insensitive), its id is one of `alert_id`, its
//! severity is one of `severity`, it carries every tag in `tags`, and its reason is one of the
//! triggers. `ALERT_TESTING` (Wavefront's Test button) passes the trigger check and is always a
//! dry run. Each evaluation keeps every check with its verdict, so the record can explain why a
//! rule matched or not without anyone reading code.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};

use crate::actions::Action;
use crate::alert::{Alert, Reason, Severity};

/// One `alert` pattern: a name, possibly with glob wildcards.
#[derive(Clone, Debug)]
pub struct NamePattern {
    pattern: String,
    matcher: GlobMatcher,
}

impl NamePattern {
    /// Compiles a pattern. `*` and `?` are wildcards, `[...]` a character class, `{a,b}`
    /// alternatives, and `\` escapes any of them. Matching ignores case.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.trim().is_empty() {
            return Err("an alert pattern cannot be empty".into());
        }
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("{e}; escape a literal [ or {{ with a backslash"))?;
        Ok(Self {
            pattern: pattern.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has wildcards (otherwise it names one alert). Escaped characters
    /// (`\[`) are literal.
    pub fn is_glob(&self) -> bool {
        let mut escaped = false;
        for b in self.pattern.bytes() {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'*' | b'?' | b'[' | b'{' => return true,
                _ => {}
            }
        }
        false
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

/// A validated rule from the config file.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique name, used in records, audit lines and metrics.
    pub name: String,
    /// Alert name patterns; empty means any name (the rule then matches on `alert_id`).
    pub alert: Vec<NamePattern>,
    /// Alert ids; empty means any id.
    pub alert_ids: Vec<String>,
    /// Severities; empty means any severity.
    pub severities: Vec<Severity>,
    /// Tags the alert must all carry.
    pub tags: Vec<String>,
    /// Reasons that trigger this rule (the global list unless the rule sets its own).
    pub triggers: Vec<Reason>,
    /// Plan and describe, but change nothing.
    pub dry_run: bool,
    /// After acting on a target, leave it alone this long, whatever the incident.
    pub cooldown: Option<crate::duration::HumanDuration>,
    /// What to do, in order.
    pub actions: Vec<Action>,
}

/// One criterion of a rule, checked against one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Name,
    AlertId,
    Severity,
    Tags,
    Trigger,
}

/// The result of checking one rule against one alert.
#[derive(Debug)]
pub struct RuleEvaluation<'a> {
    /// The rule checked.
    pub rule: &'a Rule,
    /// Every criterion the rule sets, with whether it held.
    pub checks: Vec<(Check, bool)>,
    alert: &'a Alert,
}

impl RuleEvaluation<'_> {
    /// Whether every criterion held.
    pub fn matched(&self) -> bool {
        self.checks.iter().all(|(_, held)| *held)
    }

    /// Whether this evaluation runs as a dry run: the rule says so, or it is a test alert.
    /// The global dry-run switch is applied by the caller.
    pub fn dry_run(&self) -> bool {
        self.rule.dry_run || self.alert.reason == Reason::Testing
    }

    /// One sentence per check, failed checks first, for records and `explain`.
    pub fn reasons(&self) -> Vec<String> {
        let failed = self.checks.iter().filter(|(_, held)| !*held);
        let held = self.checks.iter().filter(|(_, held)| *held);
        failed
            .chain(held)
            .map(|(check, held)| self.describe(*check, *held).to_string())
            .collect()
    }

    /// The reasons joined into one line.
    pub fn why(&self) -> String {
        self.reasons().join("; ")
    }

    fn describe(&self, check: Check, held: bool) -> Describe<'_> {
        Describe {
            evaluation: self,
            check,
            held,
        }
    }
}

struct Describe<'a> {
    evaluation: &'a RuleEvaluation<'a>,
    check: Check,
    held: bool,
}

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self.evaluation.rule;
        let alert = self.evaluation.alert;
        let not = if self.held { "" } else { " not" };
        match self.check {
            Check::Name => {
                // The alert's name is in the record once; repeating it per rule would make
                // records grow with the name times the number of rules.
                let verb = if self.held {
                    "matches"
                } else {
                    "does not match"
                };
                write!(f, "name {verb} ")?;
                list(f, rule.alert.iter().map(NamePattern::as_str), "or", true)
            }
            Check::AlertId => {
                match &alert.id {
                    Some(id) => write!(f, "alert id {id} is{not} ")?,
                    None => write!(f, "the alert has no id, so it is{not} ")?,
                }
                list(f, rule.alert_ids.iter().map(String::as_str), "or", false)
            }
            Check::Severity => {
                match alert.severity {
                    Some(s) => write!(f, "severity {s} is{not} ")?,
                    None => write!(f, "the alert has no severity, so it is{not} ")?,
                }
                list(f, rule.severities.iter().map(|s| s.as_str()), "or", false)
            }
            Check::Tags => {
                if self.held {
                    f.write_str("alert tags include ")?;
                } else {
                    f.write_str("alert tags ")?;
                    list_brackets(f, &alert.tags)?;
                    f.write_str(" lack ")?;
                }
                let missing = rule
                    .tags
                    .iter()
                    .filter(|t| self.held || !has_tag(alert, t))
                    .map(String::as_str);
                list(f, missing, "and", true)
            }
            Check::Trigger => {
                if alert.reason == Reason::Testing {
                    return f.write_str(
                        "reason ALERT_TESTING (Wavefront's Test button) always runs as a dry run",
                    );
                }
                write!(f, "reason {} is{not} a trigger (", alert.reason)?;
                list(f, rule.triggers.iter().map(Reason::as_str), "or", false)?;
                f.write_str(")")
            }
        }
    }
}

fn list<'a>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = &'a str>,
    conjunction: &str,
    quote: bool,
) -> fmt::Result {
    let items: Vec<&str> = items.collect();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            if i + 1 == items.len() {
                write!(f, " {conjunction} ")?;
            } else {
                f.write_str(", ")?;
            }
        }
        if quote {
            write!(f, "\"{item}\"")?;
        } else {
            f.write_str(item)?;
        }
    }
    Ok(())
}

fn list_brackets(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    f.write_str("]")
}

impl Rule {
    /// Checks this rule against an alert.
    pub fn evaluate<'a>(&'a self, alert: &'a Alert) -> RuleEvaluation<'a> {
        let mut checks = Vec::with_capacity(5);
        if !self.alert.is_empty() {
            let held = self.alert.iter().any(|p| p.matches(&alert.name));
            checks.push((Check::Name, held));
        }
        if !self.alert_ids.is_empty() {
            let held = alert
                .id
                .as_ref()
                .is_some_and(|id| self.alert_ids.contains(id));
            checks.push((Check::AlertId, held));
        }
        if !self.severities.is_empty() {
            let held = alert.severity.is_some_and(|s| self.severities.contains(&s));
            checks.push((Check::Severity, held));
        }
        if !self.tags.is_empty() {
            let held = self.tags.iter().all(|t| has_tag(alert, t));
            checks.push((Check::Tags, held));
        }
        let triggered = alert.reason == Reason::Testing || self.triggers.contains(&alert.reason);
        checks.push((Check::Trigger, triggered));
        RuleEvaluation {
            rule: self,
            checks,
            alert,
        }
    }
}

/// Tags compare without regard to case, like names.
fn has_tag(alert: &Alert, tag: &str) -> bool {
    alert.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

/// Checks every rule against an alert, in config order.
pub fn evaluate<'a>(rules: &'a [Rule], alert: &'a Alert) -> Vec<RuleEvaluation<'a>> {
    rules.iter().map(|rule| rule.evaluate(alert)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule {
            name: "checkout-errors".into(),
            alert: vec![NamePattern::parse("checkout * error rate*").unwrap()],
            alert_ids: vec![],
            severities: vec![Severity::Warn, Severity::Severe],
            tags: vec!["production".into()],
            triggers: vec![Reason::Opened, Reason::Retriggered],
            dry_run: false,
            cooldown: None,
            actions: vec![],
        }
    }

    fn alert(name: &str, reason: Reason, severity: Severity, tags: &[&str]) -> Alert {
        Alert {
            id: Some("1460761882996".into()),
            notification_id: None,
            name: name.into(),
            reason,
            severity: Some(severity),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            url: None,
            created: None,
            started: None,
            since: None,
            ended: None,
            snoozed_until: None,
            warnings: vec![],
        }
    }

    #[test]
    fn a_rule_matches_when_every_check_holds() {
        let rule = rule();
        let a = alert(
            "Checkout API error rate high",
            Reason::Opened,
            Severity::Severe,
            &["Production", "eu"],
        );
        let evaluation = rule.evaluate(&a);
        assert!(evaluation.matched(), "{}", evaluation.why());
        assert_eq!(
            evaluation.why(),
            "name matches \"checkout * error rate*\"; \
             severity SEVERE is WARN or SEVERE; alert tags include \"production\"; \
             reason ALERT_OPENED is a trigger (ALERT_OPENED or ALERT_RETRIGGERED)"
        );
    }

    #[test]
    fn failed_checks_are_listed_first() {
        let rule = rule();
        let a = alert(
            "checkout api error rate",
            Reason::Updated,
            Severity::Smoke,
            &[],
        );
        let evaluation = rule.evaluate(&a);
        assert!(!evaluation.matched());
        assert_eq!(
            evaluation.reasons(),
            [
                "severity SMOKE is not WARN or SEVERE",
                "alert tags [] lack \"production\"",
                "reason ALERT_UPDATED is not a trigger (ALERT_OPENED or ALERT_RETRIGGERED)",
                "name matches \"checkout * error rate*\"",
            ]
        );
    }

    #[test]
    fn test_notifications_trigger_every_rule_as_a_dry_run() {
        let rule = rule();
        let a = alert(
            "checkout api error rate",
            Reason::Testing,
            Severity::Warn,
            &["production"],
        );
        let evaluation = rule.evaluate(&a);
        assert!(evaluation.matched());
        assert!(evaluation.dry_run());
    }

    #[test]
    fn alert_ids_and_missing_fields_are_explained() {
        let mut rule = rule();
        rule.alert.clear();
        rule.alert_ids = vec!["1".into(), "2".into()];
        let mut a = alert("x", Reason::Opened, Severity::Warn, &["production"]);
        a.id = None;
        a.severity = None;
        let evaluation = rule.evaluate(&a);
        assert_eq!(
            evaluation.reasons()[..2],
            [
                "the alert has no id, so it is not 1 or 2",
                "the alert has no severity, so it is not WARN or SEVERE",
            ]
        );
    }

    #[test]
    fn patterns_are_case_insensitive_globs_with_escapes() {
        let exact = NamePattern::parse("payments p99 latency").unwrap();
        assert!(!exact.is_glob());
        assert!(exact.matches("Payments P99 Latency"));
        assert!(!exact.matches("payments p99 latency (eu)"));
        let escaped = NamePattern::parse(r"\[SMOKE\] *").unwrap();
        assert!(escaped.matches("[SMOKE] data rate"));
        assert!(escaped.is_glob());
        assert!(!NamePattern::parse(r"\[SMOKE\] data").unwrap().is_glob());
        let err = NamePattern::parse("checkout [").unwrap_err();
        assert!(err.contains("escape a literal ["), "{err}");
    }
}
