//! The chat notification of one request, built from its [`Record`]: pure, no I/O.
//!
//! The format is the *custom notification* of Amazon Q Developer in chat applications
//! (formerly AWS Chatbot), which relays an SNS topic's messages to Slack, Microsoft Teams and
//! Chime: <https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>. What
//! happened is said by the same function as the Wavefront event's name ([`super::event`]'s
//! headline), so the chart and the chat never word one rollback two ways.
//!
//! No secret and no raw alert body: only the alert's id, name, severity and link, the rules'
//! names, and each action's target, outcome and detail (which the audit line carries too).

use serde_json::{Value, json};

use super::event::{Counted, Happened, bounded, counted, headline, listed};
use super::notify::Outcomes;
use crate::aws::Home;
use crate::ledger::Guard;
use crate::record::{Outcome, Record};
use crate::text::truncate;

/// The `source` every custom notification carries.
pub const SOURCE: &str = "custom";
// The format's page lists the fields but no length limits: these bounds are ours, each field
// under the 3,000 characters Slack allows one block of text, and a whole message a few KiB,
// far under SNS's 256 KiB.
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 250;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 3000;
/// Longest next step, in characters; and how many there are at most.
pub const MAX_STEP_CHARS: usize = 350;
const MAX_STEPS: usize = 5;
/// Longest summary (the notification's preview), in characters.
const MAX_SUMMARY_CHARS: usize = 250;
/// Most related resources, and the longest one.
const MAX_RESOURCES: usize = 10;
const MAX_RESOURCE_CHARS: usize = 512;
/// Longest value of `additionalContext`.
const MAX_CONTEXT_CHARS: usize = 256;
/// Longest alert name in the description, so it cannot crowd out the action lines.
const MAX_ALERT_NAME_CHARS: usize = 200;
/// Longest line of the record's message in the description.
const MAX_MESSAGE_CHARS: usize = 300;

/// Which kind of request a notification is about: what `[notify] on` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A live action changed something.
    Executed,
    /// A live action failed.
    Failed,
    /// The circuit breaker, a freeze or the attribution guard refused a live action.
    Refused,
    /// Every action was a dry run.
    DryRun,
    /// The same notification was handled before; nothing ran.
    Duplicate,
    /// No rule matched.
    NoMatch,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Self::Executed,
        Self::Failed,
        Self::Refused,
        Self::DryRun,
        Self::Duplicate,
        Self::NoMatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Executed => "executed",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::DryRun => "dry_run",
            Self::Duplicate => "duplicate",
            Self::NoMatch => "no_match",
        }
    }

    fn of(happened: Happened) -> Self {
        match happened {
            Happened::Executed => Self::Executed,
            Happened::Failed => Self::Failed,
            Happened::Refused(_) => Self::Refused,
        }
    }
}

/// What the notification says about the alert beyond the record: its link (Wavefront's
/// `url`), which the record leaves out.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlertLink<'a> {
    pub url: Option<&'a str>,
}

/// The notification of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// What happened in a few words: also what the ledger marks it by.
    pub title: String,
    /// The worst kind of what it reports: the `eventType`.
    pub kind: Kind,
    /// The SNS message: the custom notification's JSON.
    pub body: Value,
}

impl Message {
    /// The notification of `record`, when `on` selects something in it; `None` otherwise.
    /// `relatedResources` are the ARNs of the resources acted on, completed from `home` (the
    /// responder's own function's); without it (off Lambda), their short names.
    pub fn of(
        record: &Record<'_>,
        link: AlertLink<'_>,
        on: &Outcomes,
        home: Option<&Home<'_>>,
    ) -> Option<Self> {
        let counted: Vec<Counted<'_>> = counted(record)
            .into_iter()
            .filter(|c| on.contains(Kind::of(c.happened)))
            .collect();
        let (kind, title) = if let Some(worst) = counted
            .iter()
            .map(|c| c.happened)
            .max_by_key(|h| h.severity())
        {
            (Kind::of(worst), headline(&counted))
        } else {
            let kind = quiet_kind(record)?;
            if !on.contains(kind) {
                return None;
            }
            (kind, quiet_title(kind))
        };
        let title = bounded(capitalised(&title), MAX_TITLE_CHARS);
        let body = body(record, link, &counted, kind, &title, home);
        Some(Self { title, kind, body })
    }
}

/// The kind of a request with no action that counts, when it is one `on` may list.
fn quiet_kind(record: &Record<'_>) -> Option<Kind> {
    if record.duplicate_of.is_some() {
        return Some(Kind::Duplicate);
    }
    match record.outcome {
        Outcome::NoMatch => Some(Kind::NoMatch),
        _ if record.dry_run || record.outcome == Outcome::Planned => Some(Kind::DryRun),
        _ => None,
    }
}

fn quiet_title(kind: Kind) -> String {
    match kind {
        Kind::DryRun => "dry run: nothing changed",
        Kind::Duplicate => "repeated notification: nothing ran again",
        Kind::NoMatch => "no rule matched: nothing done",
        _ => "nothing changed",
    }
    .to_owned()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The custom notification's JSON.
fn body(
    record: &Record<'_>,
    link: AlertLink<'_>,
    counted: &[Counted<'_>],
    kind: Kind,
    title: &str,
    home: Option<&Home<'_>>,
) -> Value {
    let mut resources: Vec<String> = Vec::new();
    for c in counted {
        let resource = home.map_or_else(|| c.action.target.clone(), |home| c.spec.arn(home));
        let target = truncate(&resource, MAX_RESOURCE_CHARS).to_owned();
        if !resources.contains(&target) && resources.len() < MAX_RESOURCES {
            resources.push(target);
        }
    }
    let mut rules: Vec<&str> = Vec::new();
    for c in counted {
        if !rules.contains(&c.rule) {
            rules.push(c.rule);
        }
    }
    let context = |text: &str| truncate(text, MAX_CONTEXT_CHARS).to_owned();
    json!({
        "version": "1.0",
        "source": SOURCE,
        "id": record.request_id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description(record, link, counted),
            "nextSteps": next_steps(kind, counted, &rules, record.request_id),
        },
        "metadata": {
            "threadId": thread_id(record),
            "summary": bounded(format!("wavefront-responder: {title}"), MAX_SUMMARY_CHARS),
            "eventType": kind.as_str(),
            "relatedResources": resources,
            "additionalContext": {
                "requestId": context(record.request_id),
                "alert": context(record.alert.name),
                "alertId": context(record.alert.id.unwrap_or("")),
                "outcome": record.outcome.as_str(),
            },
        },
    })
}

/// The incident: the alert's id and when this firing started, so every message of one
/// incident lands in one chat thread; the notification id, or the request's, without them.
pub fn thread_id(record: &Record<'_>) -> String {
    let alert = &record.alert;
    let thread = match (alert.id, alert.started) {
        (Some(id), Some(started)) => format!("{id}@{}", started.as_second()),
        (Some(id), None) => id.to_owned(),
        (None, _) => alert
            .notification_id
            .unwrap_or(record.request_id)
            .to_owned(),
    };
    truncate(&thread, MAX_CONTEXT_CHARS).to_owned()
}

/// The alert (name, severity, link), the record's message, each action that counts, and the
/// request id, as Markdown.
fn description(record: &Record<'_>, link: AlertLink<'_>, counted: &[Counted<'_>]) -> String {
    let alert = &record.alert;
    let alert_name = truncate(alert.name, MAX_ALERT_NAME_CHARS);
    // A link cut short would lead nowhere: one too long is left out.
    let name = match link.url.filter(|u| {
        (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= MAX_RESOURCE_CHARS
    }) {
        Some(url) => format!("[{alert_name}]({url})"),
        None => format!("\"{alert_name}\""),
    };
    let severity = alert
        .severity
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let mut lines = vec![
        format!("*Alert* {name}{severity}, {}", alert.reason),
        truncate(&record.message, MAX_MESSAGE_CHARS).to_owned(),
    ];
    let listed = listed(counted, |rule, target, outcome, detail| {
        format!("rule `{rule}`: `{target}` {outcome}: {detail}")
    });
    lines.extend(listed.into_iter().map(|line| format!("• {line}")));
    lines.push(format!("Request `{}`", record.request_id));
    bounded(lines.join("\n"), MAX_DESCRIPTION_CHARS)
}

/// What a human does now: freeze, read the ledger, undo by hand or lift what refused the
/// action, find the audit line.
fn next_steps(
    kind: Kind,
    counted: &[Counted<'_>],
    rules: &[&str],
    request_id: &str,
) -> Vec<String> {
    let freeze = match rules {
        [one] => format!(
            "Stop further automatic rollbacks of this rule: `wavefront-responder freeze --config FILE --rule {one} --for 2h --reason \"...\"`"
        ),
        _ => "Stop further automatic rollbacks: `wavefront-responder freeze --config FILE --for 2h --reason \"...\"`".to_owned(),
    };
    let mut steps = vec![
        freeze,
        "See freezes, the breaker and recent actions: `wavefront-responder ledger list --config FILE`".to_owned(),
    ];
    match kind {
        Kind::Executed => steps.push(
            "To put the release back by hand: `aws lambda update-alias`, a CodeDeploy or AppConfig deployment, or `aws ecs update-service` (docs/operating.md)".to_owned(),
        ),
        Kind::Failed => steps.push(
            "The rollback did not happen: roll back by hand (docs/operating.md), then check the action's error above".to_owned(),
        ),
        Kind::Refused => steps.extend(refusals(counted).into_iter().map(after_refusal)),
        _ => {}
    }
    steps.push(format!(
        "Audit line: CloudWatch Logs Insights on the stack's LogGroupName, `filter request_id = \"{}\"` (docs/operating.md)",
        truncate(request_id, MAX_CONTEXT_CHARS)
    ));
    steps
        .into_iter()
        .take(MAX_STEPS)
        .map(|step| bounded(step, MAX_STEP_CHARS))
        .collect()
}

/// What refused the refused actions, each once, with its rule when one rule alone was refused
/// by it: a one-rule freeze is lifted with `--rule`.
fn refusals<'a>(counted: &[Counted<'a>]) -> Vec<(Guard, Option<&'a str>)> {
    let mut found: Vec<(Guard, Option<&str>)> = Vec::new();
    for c in counted {
        let Happened::Refused(guard) = c.happened else {
            continue;
        };
        match found.iter_mut().find(|(g, _)| *g == guard) {
            Some((_, rule)) if *rule != Some(c.rule) => *rule = None,
            Some(_) => {}
            None => found.push((guard, Some(c.rule))),
        }
    }
    found
}

/// The next step after an action `guard` refused: what lifts it, or why not to.
fn after_refusal((guard, rule): (Guard, Option<&str>)) -> String {
    match guard {
        Guard::Frozen => match rule {
            Some(rule) => format!(
                "Nothing was rolled back (frozen): decide by hand, or lift the freeze with `wavefront-responder unfreeze --config FILE --rule {rule}` (or without `--rule` for one on every rule)"
            ),
            None => "Nothing was rolled back (frozen): decide by hand, or lift the freezes with `wavefront-responder unfreeze --config FILE` (`--rule NAME` for a one-rule freeze)".to_owned(),
        },
        Guard::CircuitOpen => "Nothing was rolled back (circuit breaker open: too many actions lately): decide by hand, or reset it with `wavefront-responder ledger clear --config FILE --circuit`".to_owned(),
        Guard::Attribution => "Nothing was rolled back: the release began after the alert started firing, so it may be the fix; decide by hand".to_owned(),
        _ => "Nothing was rolled back: decide by hand".to_owned(),
    }
}

#[cfg(test)]
mod tests;
