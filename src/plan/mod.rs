//! The plan: what one alert makes the responder do, and why, decided before any I/O.
//!
//! Every rule is checked against the alert ([`rules`]); the actions of the rules that match
//! are planned, each as a dry run or live; and what the ledger will need follows from the
//! alert: the delivery's de-duplication key, the incident its latches belong to, and whether
//! an `ALERT_RESOLVED` ends one. `explain`, plan-only `serve`, dry runs and live runs all start
//! from the same plan; `execute` runs it and `record` writes it down.

pub mod rules;

use serde_json::value::RawValue;

use crate::actions::Action;
use crate::alert::{Alert, Reason};
use crate::ledger::{Incident, Key, notification_key};
use rules::{Check, Rule, RuleEvaluation, Rules};

/// What one accepted request would do. It borrows the rules and the alert it is about.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    pub request_id: &'a str,
    pub alert: &'a Alert,
    /// Every rule, in file order, with whether it matched and why.
    pub rules: Vec<RulePlan<'a>>,
    /// True when no action of this request may change anything.
    pub dry_run: bool,
}

/// One rule of a plan.
#[derive(Clone, Copy, Debug)]
pub struct RulePlan<'a> {
    /// Every check of the rule against the alert.
    pub evaluation: RuleEvaluation<'a>,
    /// Whether this rule's actions run as a dry run (meaningful for matched rules only).
    pub dry_run: bool,
    /// The rule's record, already rendered, when it missed on the name (see [`Rules`]).
    pub name_miss: Option<&'a RawValue>,
}

impl<'a> RulePlan<'a> {
    pub fn rule(&self) -> &'a Rule {
        self.evaluation.rule
    }

    /// Whether every check of the rule held.
    pub fn matched(&self) -> bool {
        self.evaluation.matched()
    }

    /// The actions planned: the rule's when it matched, none otherwise.
    pub fn actions(&self) -> &'a [Action] {
        if self.matched() {
            &self.evaluation.rule.actions
        } else {
            &[]
        }
    }
}

impl<'a> Plan<'a> {
    /// Checks every rule against the alert and plans the actions of those that match.
    /// `global_dry_run` is the config's (or the command line's) switch.
    pub fn new(
        request_id: &'a str,
        alert: &'a Alert,
        rules: &'a Rules,
        global_dry_run: bool,
    ) -> Self {
        Self::from_evaluations(
            request_id,
            alert,
            rules,
            rules.evaluate(alert),
            global_dry_run,
        )
    }

    /// The plan for rule evaluations (of `rules`, in order).
    fn from_evaluations(
        request_id: &'a str,
        alert: &'a Alert,
        rules: &'a Rules,
        evaluations: Vec<RuleEvaluation<'a>>,
        global_dry_run: bool,
    ) -> Self {
        let rules: Vec<RulePlan<'a>> = evaluations
            .into_iter()
            .enumerate()
            .map(|(index, evaluation)| RulePlan {
                dry_run: global_dry_run || evaluation.dry_run(),
                name_miss: (evaluation.first_failure() == Some(Check::Name))
                    .then(|| rules.name_miss(index))
                    .flatten(),
                evaluation,
            })
            .collect();
        // A request is a dry run when nothing it matched may change anything. With no match
        // at all, only the global switch and the Test button make it one.
        let mut matched = rules.iter().filter(|r| r.matched()).peekable();
        let dry_run = global_dry_run
            || alert.reason == Reason::Testing
            || (matched.peek().is_some() && matched.all(|r| r.dry_run));
        Self {
            request_id,
            alert,
            rules,
            dry_run,
        }
    }

    /// The matched rules.
    pub fn matched(&self) -> impl Iterator<Item = &RulePlan<'a>> + '_ {
        self.rules.iter().filter(|r| r.matched())
    }

    /// The matched rules that have actions.
    pub fn acting(&self) -> impl Iterator<Item = &RulePlan<'a>> + '_ {
        self.matched().filter(|r| !r.actions().is_empty())
    }

    /// Every planned action with its rule, in order: rules in file order, then each rule's
    /// actions in order. Results of running the plan come back in this order.
    pub fn actions(&self) -> impl Iterator<Item = (&RulePlan<'a>, &'a Action)> + '_ {
        self.matched()
            .flat_map(|rule| rule.actions().iter().map(move |action| (rule, action)))
    }

    /// Whether some matched rule is live: its actions may change something.
    pub fn live(&self) -> bool {
        self.matched().any(|r| !r.dry_run)
    }

    /// Whether this request ends an incident: an `ALERT_RESOLVED` that is not a dry run
    /// clears the incident's latches.
    pub fn resolving(&self) -> bool {
        !self.dry_run && self.alert.reason == Reason::Resolved
    }

    /// The delivery's de-duplication key, when the ledger must claim it (a live action, or an
    /// incident ended) and the payload gives one.
    pub fn notification(&self) -> Option<Key> {
        if self.live() || self.resolving() {
            notification_key(self.alert)
        } else {
            None
        }
    }

    /// The incident the actions' latches belong to.
    pub fn incident(&self) -> Incident {
        Incident::of(self.alert)
    }
}
