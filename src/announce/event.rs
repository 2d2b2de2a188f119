//! The Wavefront event of one request, built from its [`Record`]: pure, no I/O.
//!
//! Only live actions that changed something, failed, or were refused by the circuit breaker, a
//! freeze or the attribution guard count. A request with none of them (a dry run, a duplicate,
//! no match, a latch or a cooldown) has no event. A request with several has one, whose name
//! says all of them in a bounded sentence and whose severity is the worst: `severe` when one
//! failed, else `warn` when one was refused, else `info`.

use serde_json::{Value, json};

use crate::actions::Action;
use crate::execute::ActionOutcome;
use crate::ledger::Guard;
use crate::record::{ActionRecord, Record, RuleRecord};
use crate::text::truncate;

/// The event's `type` annotation, and its first tag: what the chart query selects on,
/// `events(type="wavefront-responder")`.
pub const EVENT_TYPE: &str = "wavefront-responder";
/// Longest event name, in characters: it is the label drawn on charts.
pub const MAX_NAME_CHARS: usize = 160;
/// Longest `details` annotation, in characters.
pub const MAX_DETAILS_CHARS: usize = 2000;
/// Longest action detail repeated in the details.
const MAX_ACTION_CHARS: usize = 300;
/// Most actions listed one by one in the details.
const MAX_LISTED: usize = 10;
/// Most targets named in the event's name for one kind of outcome.
const MAX_NAMED: usize = 2;
/// Most alert tags carried over.
const MAX_ALERT_TAGS: usize = 50;

/// How bad what the event reports is, as Wavefront's `severity` annotation says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Every action that counts changed something.
    Info,
    /// One was refused, none failed.
    Warn,
    /// One failed.
    Severe,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Severe => "severe",
        }
    }
}

/// What happened to one action that counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Happened {
    Executed,
    Refused(Guard),
    Failed,
}

impl Happened {
    /// What happened to a live action, when it is worth an event.
    fn of(rule: &RuleRecord<'_>, action: &ActionRecord) -> Option<Self> {
        if rule.plan.dry_run {
            return None;
        }
        match (action.outcome, action.guard) {
            (ActionOutcome::Executed, _) => Some(Self::Executed),
            (ActionOutcome::Failed, _) => Some(Self::Failed),
            (
                ActionOutcome::Skipped,
                Some(guard @ (Guard::CircuitOpen | Guard::Frozen | Guard::Attribution)),
            ) => Some(Self::Refused(guard)),
            _ => None,
        }
    }

    pub(super) fn severity(self) -> Severity {
        match self {
            Self::Executed => Severity::Info,
            Self::Refused(_) => Severity::Warn,
            Self::Failed => Severity::Severe,
        }
    }

    /// The words before the targets in the event's name.
    fn verb(self) -> &'static str {
        match self {
            Self::Executed => "rolled back",
            Self::Failed => "could not roll back",
            Self::Refused(_) => "did not roll back",
        }
    }

    /// Why, after the targets, for a refusal.
    fn why(self) -> Option<&'static str> {
        match self {
            Self::Refused(Guard::CircuitOpen) => Some("circuit breaker open"),
            Self::Refused(Guard::Frozen) => Some("frozen"),
            Self::Refused(Guard::Attribution) => Some("it may be the fix"),
            _ => None,
        }
    }
}

/// The event of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `wavefront-responder: rolled back checkout:live: moved live 2 -> 1`.
    pub name: String,
    pub severity: Severity,
    /// The record's message, the alert, the request id, and each action by rule.
    pub details: String,
    /// [`EVENT_TYPE`] and the names of the rules whose actions it reports.
    pub tags: Vec<String>,
    /// The alert's tags.
    pub alert_tags: Vec<String>,
}

/// One action that counts, with its rule.
pub(super) struct Counted<'r> {
    pub(super) rule: &'r str,
    /// The action as configured.
    pub(super) spec: &'r Action,
    /// What it did.
    pub(super) action: &'r ActionRecord,
    pub(super) happened: Happened,
}

/// A line for each of the first [`MAX_LISTED`] counted actions, as `line` writes its rule,
/// target, outcome ("refused" for a refusal) and detail, and one saying how many more the audit
/// lines hold.
pub(super) fn listed(
    counted: &[Counted<'_>],
    line: impl Fn(&str, &str, &str, &str) -> String,
) -> Vec<String> {
    let mut lines: Vec<String> = counted
        .iter()
        .take(MAX_LISTED)
        .map(|c| {
            let outcome = match c.happened {
                Happened::Refused(_) => "refused",
                _ => c.action.outcome.as_str(),
            };
            let detail = truncate(&c.action.detail, MAX_ACTION_CHARS);
            line(c.rule, &c.action.target, outcome, detail)
        })
        .collect();
    if counted.len() > MAX_LISTED {
        let more = counted.len() - MAX_LISTED;
        lines.push(format!("and {more} more in the audit lines of the request"));
    }
    lines
}

/// The live actions of `record` that executed, failed, or were refused by the breaker, a
/// freeze or the attribution guard: what the event and the chat notification report. None
/// for a dry run or a duplicate.
pub(super) fn counted<'r>(record: &'r Record<'_>) -> Vec<Counted<'r>> {
    if record.dry_run || record.duplicate_of.is_some() {
        return Vec::new();
    }
    record
        .rules
        .iter()
        .filter(|rule| rule.matched())
        .flat_map(|rule| {
            let specs = rule.plan.actions().iter();
            specs.zip(&rule.actions).filter_map(move |(spec, action)| {
                Happened::of(rule, action).map(|happened| Counted {
                    rule: rule.rule(),
                    spec,
                    action,
                    happened,
                })
            })
        })
        .collect()
}

impl Event {
    /// The event of `record`, whose alert carries `alert_tags`; `None` when nothing in it is
    /// worth one.
    pub fn of(record: &Record<'_>, alert_tags: &[String]) -> Option<Self> {
        let counted = counted(record);
        let severity = counted.iter().map(|c| c.happened.severity()).max()?;
        let mut tags = vec![EVENT_TYPE.to_owned()];
        for c in &counted {
            if !tags.iter().any(|t| t == c.rule) {
                tags.push(c.rule.to_owned());
            }
        }
        Some(Self {
            name: name(&counted),
            severity,
            details: details(record, &counted),
            tags,
            alert_tags: alert_tags.iter().take(MAX_ALERT_TAGS).cloned().collect(),
        })
    }

    /// The body of `POST /api/v2/event`, an instantaneous event at `start_ms`: `endTime` one
    /// millisecond later, so it never counts against the cluster's cap of ongoing events.
    pub fn body(&self, start_ms: i64) -> Value {
        let mut body = json!({
            "name": self.name,
            "annotations": {
                "type": EVENT_TYPE,
                "severity": self.severity.as_str(),
                "details": self.details,
            },
            "startTime": start_ms,
            "endTime": start_ms + 1,
            "tags": self.tags,
        });
        if !self.alert_tags.is_empty() {
            body["alertTags"] = json!(self.alert_tags);
        }
        body
    }
}

/// The event's name: [`EVENT_TYPE`] and the [`headline`].
fn name(counted: &[Counted<'_>]) -> String {
    bounded(
        format!("{EVENT_TYPE}: {}", headline(counted)),
        MAX_NAME_CHARS,
    )
}

/// What happened, in one line, for the event's name and the chat notification's title: for
/// one action, what happened to which target and the first clause of its detail; for several,
/// each kind of outcome (failed first) with the targets it befell. Unbounded.
pub(super) fn headline(counted: &[Counted<'_>]) -> String {
    let mut name = String::new();
    if let [one] = counted {
        name.push_str(&phrase(one.happened, &[one.action.target.as_str()]));
        let first_clause = one.action.detail.split("; ").next().unwrap_or_default();
        if one.happened == Happened::Executed && !first_clause.is_empty() {
            name.push_str(": ");
            name.push_str(first_clause);
        }
    } else {
        let mut kinds: Vec<Happened> = Vec::new();
        for c in counted {
            if !kinds.contains(&c.happened) {
                kinds.push(c.happened);
            }
        }
        kinds.sort_by_key(|k| std::cmp::Reverse(k.severity()));
        let parts: Vec<String> = kinds
            .iter()
            .map(|kind| {
                let targets: Vec<&str> = counted
                    .iter()
                    .filter(|c| c.happened == *kind)
                    .map(|c| c.action.target.as_str())
                    .collect();
                phrase(*kind, &targets)
            })
            .collect();
        name.push_str(&parts.join("; "));
    }
    name
}

/// `rolled back a:live`, `did not roll back a:live, b:live and 3 more (frozen)`.
fn phrase(happened: Happened, targets: &[&str]) -> String {
    let named = targets.iter().take(MAX_NAMED).copied().collect::<Vec<_>>();
    let rest = targets.len() - named.len();
    let list = match (named.as_slice(), rest) {
        ([one], 0) => (*one).to_owned(),
        (_, 0) => {
            let (last, first) = named.split_last().map_or(("", &[][..]), |(l, f)| (*l, f));
            format!("{} and {last}", first.join(", "))
        }
        _ => format!("{} and {rest} more", named.join(", ")),
    };
    match happened.why() {
        Some(why) => format!("{} {list} ({why})", happened.verb()),
        None => format!("{} {list}", happened.verb()),
    }
}

/// The `details` annotation: the record's message, the alert, the request id, then each
/// counted action (`rule: target outcome: detail`), at most [`MAX_LISTED`] of them.
fn details(record: &Record<'_>, counted: &[Counted<'_>]) -> String {
    let alert = match record.alert.id {
        Some(id) => format!("alert \"{}\" (id {id})", record.alert.name),
        None => format!("alert \"{}\"", record.alert.name),
    };
    let mut lines = vec![
        record.message.clone(),
        format!("{alert}; request {}", record.request_id),
    ];
    lines.extend(listed(counted, |rule, target, outcome, detail| {
        format!("rule {rule}: {target} {outcome}: {detail}")
    }));
    bounded(lines.join("\n"), MAX_DETAILS_CHARS)
}

/// `text` cut to `max` characters, ending in `…` when it was cut.
pub(super) fn bounded(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut = truncate(&text, max.saturating_sub(1)).to_owned();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
