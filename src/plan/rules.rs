//! Rules: which alerts a rule answers, and the pure decision of which rules an alert matches.
//!
//! A rule matches when every criterion it sets holds: the alert's name matches one of its
//! `alert` patterns (exact names or globs, case-insensitive), its id is one of `alert_id`, its
//! severity is one of `severity`, it carries every tag in `tags`, and its reason is one of the
//! triggers. `ALERT_TESTING` (Wavefront's Test button) passes the trigger check and is always a
//! dry run. Each evaluation keeps every check with its verdict, so the record can explain why a
//! rule matched or not without anyone reading code.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::actions::Action;
use crate::alert::{Alert, Reason, Severity};

/// One `alert` pattern: a name, possibly with glob wildcards.
#[derive(Clone, Debug)]
pub struct NamePattern {
    pattern: String,
    glob: Glob,
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
            glob,
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

    /// Whether `name` matches, compiling the pattern on each call: for checks (tests, the
    /// fuzzers), which hold [`Rules`]'s one compiled set, what requests use, to this.
    pub fn matches(&self, name: &str) -> bool {
        self.glob.compile_matcher().is_match(name)
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
    /// After acting on a target, leave it alone this long, whatever the incident; `None` when
    /// the config turns it off (`cooldown = "0s"`).
    pub cooldown: Option<crate::duration::HumanDuration>,
    /// Whether the attribution guard applies: only changes that began before the incident
    /// started are undone (on unless the config sets `attribution = false`).
    pub attribution: bool,
    /// `require_firing = true`: before a change, the alert is read from Wavefront and the rule
    /// acts only while it is firing (not snoozed, not in maintenance); the value says what to
    /// do when its status cannot be read. `None`: no check, Wavefront is never asked.
    pub require_firing: Option<OnWavefrontError>,
    /// What to do, in order.
    pub actions: Vec<Action>,
}

/// What a `require_firing` rule does when the alert's status cannot be read from Wavefront
/// (`on_wavefront_error`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnWavefrontError {
    /// Leave the target alone (the default): an unknown status is not a firing one.
    #[default]
    Skip,
    /// Act as if the alert were firing.
    Act,
}

/// One criterion of a rule, checked against one alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Check {
    #[default]
    Name,
    AlertId,
    Severity,
    Tags,
    Trigger,
}

/// The result of checking one rule against one alert.
#[derive(Clone, Copy)]
pub struct RuleEvaluation<'a> {
    /// The rule checked.
    pub rule: &'a Rule,
    checks: Checks,
    alert: &'a Alert,
}

/// The criteria a rule sets (at most one of each kind), with whether each held; kept inline,
/// so evaluating a rule allocates nothing.
#[derive(Clone, Copy, Debug, Default)]
struct Checks {
    items: [(Check, bool); 5],
    len: usize,
}

impl Checks {
    fn push(&mut self, check: Check, held: bool) {
        self.items[self.len] = (check, held);
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = (Check, bool)> + '_ {
        self.items[..self.len].iter().copied()
    }
}

impl fmt::Debug for RuleEvaluation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEvaluation")
            .field("rule", &self.rule.name)
            .field("checks", &self.checks)
            .finish()
    }
}

impl<'a> RuleEvaluation<'a> {
    /// Whether every criterion held.
    pub fn matched(&self) -> bool {
        self.checks.iter().all(|(_, held)| held)
    }

    /// Every criterion the rule sets, with whether it held.
    pub fn checks(&self) -> impl Iterator<Item = (Check, bool)> + '_ {
        self.checks.iter()
    }

    /// Whether this evaluation runs as a dry run: the rule says so, or it is a test alert.
    /// The global dry-run switch is applied by the caller.
    pub fn dry_run(&self) -> bool {
        self.rule.dry_run || self.alert.reason == Reason::Testing
    }

    /// One sentence per check, failed checks first, for records and `explain`. Each is
    /// rendered when displayed, so nothing is built for checks no one reads.
    pub fn explained(&self) -> impl Iterator<Item = CheckSentence<'_>> + '_ {
        let failed = self.checks.iter().filter(|(_, held)| !*held);
        let held = self.checks.iter().filter(|(_, held)| *held);
        failed
            .chain(held)
            .map(move |(check, held)| self.describe(check, held))
    }

    /// The first check that failed, which is what the record gives as the reason a rule did
    /// not match.
    pub fn first_failure(&self) -> Option<Check> {
        self.checks
            .iter()
            .find(|(_, held)| !*held)
            .map(|(check, _)| check)
    }

    /// The sentences of [`RuleEvaluation::explained`], as strings, for tests.
    #[cfg(test)]
    fn reasons(&self) -> Vec<String> {
        self.explained().map(|d| d.to_string()).collect()
    }

    /// The reasons joined into one line, for tests.
    #[cfg(test)]
    fn why(&self) -> String {
        self.reasons().join("; ")
    }

    fn describe(&self, check: Check, held: bool) -> CheckSentence<'_> {
        CheckSentence {
            evaluation: self,
            check,
            held,
        }
    }
}

/// One check's sentence.
pub struct CheckSentence<'a> {
    evaluation: &'a RuleEvaluation<'a>,
    check: Check,
    held: bool,
}

impl fmt::Display for CheckSentence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f)
    }
}

impl CheckSentence<'_> {
    /// Writes the sentence with plain string writes: it runs for every rule of every request,
    /// and formatting machinery would cost more than the rest of the record.
    pub fn render(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let rule = self.evaluation.rule;
        let alert = self.evaluation.alert;
        let is = if self.held { " is " } else { " is not " };
        match self.check {
            Check::Name => name_sentence(f, rule, self.held),
            Check::AlertId => {
                match &alert.id {
                    Some(id) => {
                        f.write_str("alert id ")?;
                        f.write_str(id)?;
                        f.write_str(is)?;
                    }
                    None => {
                        f.write_str("the alert has no id, so it")?;
                        f.write_str(is)?;
                    }
                }
                list(f, rule.alert_ids.iter().map(String::as_str), "or", false)
            }
            Check::Severity => {
                match alert.severity {
                    Some(severity) => {
                        f.write_str("severity ")?;
                        f.write_str(severity.as_str())?;
                        f.write_str(is)?;
                    }
                    None => {
                        f.write_str("the alert has no severity, so it")?;
                        f.write_str(is)?;
                    }
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
                f.write_str("reason ")?;
                f.write_str(alert.reason.as_str())?;
                f.write_str(is)?;
                f.write_str("a trigger (")?;
                list(f, rule.triggers.iter().map(Reason::as_str), "or", false)?;
                f.write_str(")")
            }
        }
    }
}

/// The name check's sentence. It depends on the rule alone (the alert's name is in the record
/// once; repeating it per rule would grow records by the name times the number of rules), so
/// [`Rules`] renders the common case, a rule whose names miss, once.
fn name_sentence(f: &mut impl fmt::Write, rule: &Rule, held: bool) -> fmt::Result {
    f.write_str(if held {
        "name matches "
    } else {
        "name does not match "
    })?;
    list(f, rule.alert.iter().map(NamePattern::as_str), "or", true)
}

/// `a, b or c`, written as it goes (no list is built: this runs for every rule).
fn list<'a>(
    f: &mut impl fmt::Write,
    items: impl Iterator<Item = &'a str>,
    conjunction: &str,
    quote: bool,
) -> fmt::Result {
    let mut items = items.peekable();
    let mut first = true;
    while let Some(item) = items.next() {
        if !first {
            if items.peek().is_none() {
                f.write_str(" ")?;
                f.write_str(conjunction)?;
                f.write_str(" ")?;
            } else {
                f.write_str(", ")?;
            }
        }
        first = false;
        if quote {
            f.write_str("\"")?;
            f.write_str(item)?;
            f.write_str("\"")?;
        } else {
            f.write_str(item)?;
        }
    }
    Ok(())
}

fn list_brackets(f: &mut impl fmt::Write, items: &[String]) -> fmt::Result {
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
    /// Checks this rule against an alert on its own; [`Rules::evaluate`] is what requests use.
    #[cfg(test)]
    fn evaluate<'a>(&'a self, alert: &'a Alert) -> RuleEvaluation<'a> {
        let name_matched =
            (!self.alert.is_empty()).then(|| self.alert.iter().any(|p| p.matches(&alert.name)));
        self.evaluate_with(alert, name_matched)
    }

    /// Checks this rule, with the name check already decided (`None` when the rule sets no
    /// names) by a [`Rules`] set matching every pattern at once.
    fn evaluate_with<'a>(
        &'a self,
        alert: &'a Alert,
        name_matched: Option<bool>,
    ) -> RuleEvaluation<'a> {
        let mut checks = Checks::default();
        if let Some(held) = name_matched {
            checks.push(Check::Name, held);
        }
        if !self.alert_ids.is_empty() {
            let held = alert
                .id
                .as_ref()
                .is_some_and(|id| self.alert_ids.contains(id));
            checks.push(Check::AlertId, held);
        }
        if !self.severities.is_empty() {
            let held = alert.severity.is_some_and(|s| self.severities.contains(&s));
            checks.push(Check::Severity, held);
        }
        if !self.tags.is_empty() {
            let held = self.tags.iter().all(|t| has_tag(alert, t));
            checks.push(Check::Tags, held);
        }
        let triggered = alert.reason == Reason::Testing || self.triggers.contains(&alert.reason);
        checks.push(Check::Trigger, triggered);
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

/// The rules of a config, in file order, with every name pattern compiled into one set, so
/// an alert's name is matched against all of them in a single pass.
///
/// Most rules miss most alerts on the name, and a rule's record then depends on the rule
/// alone; it is rendered here once, so a record of hundreds of rules is mostly copied.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    names: GlobSet,
    /// For each pattern in `names`, the rule it belongs to.
    owners: Vec<usize>,
    /// For each rule, its record when the alert's name does not match; none for a
    /// rule without name patterns, which cannot miss on the name.
    name_misses: Vec<Option<Box<RawValue>>>,
}

impl Rules {
    /// Compiles the name patterns of `rules` into one set.
    pub fn new(rules: Vec<Rule>) -> Result<Self, String> {
        let mut set = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            for pattern in &rule.alert {
                set.add(pattern.glob.clone());
                owners.push(index);
            }
        }
        let names = set.build().map_err(|e| e.to_string())?;
        let name_misses = rules
            .iter()
            .map(|rule| {
                (!rule.alert.is_empty())
                    .then(|| name_miss_record(rule))
                    .transpose()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot render a rule's record: {e}"))?;
        Ok(Self {
            rules,
            names,
            owners,
            name_misses,
        })
    }

    /// The record of rule `index` for an alert whose name it does not match.
    pub(crate) fn name_miss(&self, index: usize) -> Option<&RawValue> {
        self.name_misses.get(index)?.as_deref()
    }

    /// Checks every rule against an alert, in file order.
    pub fn evaluate<'a>(&'a self, alert: &'a Alert) -> Vec<RuleEvaluation<'a>> {
        let mut named = vec![false; self.rules.len()];
        for pattern in self.names.matches(&alert.name) {
            if let Some(&owner) = self.owners.get(pattern) {
                named[owner] = true;
            }
        }
        self.rules
            .iter()
            .zip(named)
            .map(|(rule, named)| {
                rule.evaluate_with(alert, (!rule.alert.is_empty()).then_some(named))
            })
            .collect()
    }
}

impl std::ops::Deref for Rules {
    type Target = [Rule];

    fn deref(&self) -> &[Rule] {
        &self.rules
    }
}

/// The record of `rule` for an alert whose name it does not match; it must read exactly as
/// `record` writes a rule (a unit test there holds the two together).
fn name_miss_record(rule: &Rule) -> Result<Box<RawValue>, serde_json::Error> {
    struct Sentence<'a>(&'a Rule);
    impl Serialize for Sentence<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut sentence = String::new();
            // Writing to a String cannot fail.
            let _ = name_sentence(&mut sentence, self.0, false);
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
            attribution: true,
            require_firing: None,
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

    proptest::proptest! {
        /// The one glob set of [`Rules`] decides every rule's name check exactly as the rule
        /// alone would, whatever the patterns (wildcards, classes, alternatives, escapes,
        /// case) and however they are spread over rules, including rules without patterns.
        #[test]
        fn the_glob_set_decides_names_as_each_rule_would(
            patterns in proptest::collection::vec(
                proptest::collection::vec(r"([aAbB ]|\*|\?|\[ab\]|\{a,b\}|\\\*){1,6}", 0..3),
                1..6,
            ),
            names in proptest::collection::vec("[aAbB *?]{0,8}", 1..8),
        ) {
            let rules: Vec<Rule> = patterns
                .iter()
                .enumerate()
                .map(|(i, alts)| Rule {
                    name: format!("r{i}"),
                    alert: alts.iter().filter_map(|p| NamePattern::parse(p).ok()).collect(),
                    ..rule()
                })
                .collect();
            let set = Rules::new(rules.clone()).expect("patterns compile");
            for name in &names {
                let a = alert(name, Reason::Opened, Severity::Severe, &["production"]);
                for (together, alone) in set.evaluate(&a).iter().zip(&rules) {
                    let alone = alone.evaluate(&a);
                    proptest::prop_assert_eq!(
                        together.checks().collect::<Vec<_>>(),
                        alone.checks().collect::<Vec<_>>(),
                        "rule {} on {:?}", alone.rule.name, name
                    );
                }
            }
        }
    }
}
