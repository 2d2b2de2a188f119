//! Turning the raw TOML shapes into validated types, one function per table. Each records
//! every problem it finds (with the span it is about) and goes on, so one run reports them
//! all; the value returned alongside a problem is never used.

use std::collections::HashSet;

use http::HeaderName;
use toml::Spanned;

use super::diagnostics::Problems;
use super::raw::{
    KnownOnError, KnownReason, RawAuth, RawCircuitBreaker, RawLedger, RawRule, RawWavefront,
};
use super::{
    DEFAULT_CIRCUIT_BREAKER, DEFAULT_COOLDOWN, DEFAULT_SIGNATURE_TOLERANCE, DEFAULT_TIME_BUDGET,
    DEFAULT_TRIGGERS, LedgerConfig, RESERVED_HEADERS, TableName,
};
use crate::alert::Reason;
use crate::auth::AuthConfig;
use crate::duration::HumanDuration;
use crate::ledger::{CircuitBreaker, DEFAULT_RETENTION};
use crate::plan::rules::{OnWavefrontError, Rule, Rules};
use crate::wavefront::{self, BaseUrl};

/// The top-level `triggers`, or the default reasons.
pub(super) fn triggers(
    raw: Option<Spanned<Vec<KnownReason>>>,
    problems: &mut Problems<'_>,
) -> Vec<Reason> {
    match raw {
        Some(list) if list.get_ref().is_empty() => {
            problems.add(
                list.span(),
                "triggers is empty, so no alert would ever trigger an action; remove the \
                 key to use the default [\"ALERT_OPENED\", \"ALERT_RETRIGGERED\"]"
                    .into(),
            );
            Vec::new()
        }
        Some(list) => list.into_inner().into_iter().map(|r| r.0).collect(),
        None => DEFAULT_TRIGGERS.to_vec(),
    }
}

/// `time_budget`: from 1 s to Lambda's longest timeout.
pub(super) fn time_budget(
    raw: Option<Spanned<HumanDuration>>,
    problems: &mut Problems<'_>,
) -> HumanDuration {
    let Some(budget) = raw else {
        return DEFAULT_TIME_BUDGET;
    };
    let value = *budget.get_ref();
    if !(1..=900).contains(&value.get().as_secs()) {
        problems.add(
            budget.span(),
            format!(
                "time_budget = \"{value}\" must be from 1s to 15m (Lambda's longest \
                 timeout); keep it under the function's timeout"
            ),
        );
    }
    value
}

/// The `[ledger]` table.
pub(super) fn ledger(raw: RawLedger, problems: &mut Problems<'_>) -> LedgerConfig {
    let table = raw.table.map(|table| table_name(table, problems));
    let retention = bounded(
        raw.retention,
        DEFAULT_RETENTION,
        "retention",
        (3600, 365 * 86_400),
        "shorter, and repeats of a notification or an incident would act again",
        problems,
    );
    LedgerConfig { table, retention }
}

/// `[ledger] table`: a DynamoDB table name or an `env:VARIABLE` reference.
fn table_name(table: Spanned<String>, problems: &mut Problems<'_>) -> TableName {
    let text = table.get_ref().trim();
    let (name, parsed) = match text.strip_prefix("env:") {
        Some(variable) => (variable, TableName::Env(variable.to_owned())),
        None => (text, TableName::Literal(text.to_owned())),
    };
    let valid = if matches!(parsed, TableName::Env(_)) {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    } else {
        (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if !valid {
        problems.add(
            table.span(),
            format!(
                "ledger table \"{text}\" is not a DynamoDB table name (3 to 255 of letters, \
                 digits, '_', '-', '.') or an env:VARIABLE reference"
            ),
        );
    }
    parsed
}

/// The `[circuit_breaker]` table: on by default, `None` when `enabled = false`.
pub(super) fn circuit_breaker(
    raw: Option<Spanned<RawCircuitBreaker>>,
    problems: &mut Problems<'_>,
) -> Option<CircuitBreaker> {
    let Some(spanned) = raw else {
        return Some(DEFAULT_CIRCUIT_BREAKER);
    };
    let span = spanned.span();
    let raw = spanned.into_inner();
    if raw.enabled == Some(false) {
        return None;
    }
    let (max_actions, max_span) = raw
        .max_actions
        .map_or((DEFAULT_CIRCUIT_BREAKER.max_actions, span.clone()), |max| {
            (*max.get_ref(), max.span())
        });
    if !(1..=50).contains(&max_actions) {
        problems.add(
            max_span,
            format!(
                "circuit_breaker max_actions = {max_actions} must be from 1 to 50; \
                 to turn the breaker off, set enabled = false"
            ),
        );
    }
    let window = bounded(
        raw.window,
        DEFAULT_CIRCUIT_BREAKER.window,
        "window",
        (60, 7 * 86_400),
        "a breaker needs a window it can count over",
        problems,
    );
    Some(CircuitBreaker {
        max_actions,
        window,
    })
}

/// The `[auth]` table: something to authenticate with, no literal secrets unless allowed, and
/// nothing that would defeat authentication.
pub(super) fn auth(raw: Spanned<RawAuth>, problems: &mut Problems<'_>) -> AuthConfig {
    let auth_span = raw.span();
    let auth = raw.into_inner();
    if !auth.insecure_allow_literal_secrets {
        for secret in auth.tokens.iter().chain(&auth.signing_secrets) {
            if secret.get_ref().is_literal() {
                problems.add(
                    secret.span(),
                    "literal secrets would be committed with the config; use \
                     \"env:VARIABLE_NAME\", or set insecure_allow_literal_secrets = true \
                     in [auth] for local experiments only"
                        .into(),
                );
            }
        }
    }
    if auth.tokens.is_empty() && auth.signing_secrets.is_empty() {
        problems.add(
            auth_span,
            "[auth] names no tokens and no signing_secrets, so every request would be \
             rejected; add tokens = [\"env:WEBHOOK_TOKEN\"]"
                .into(),
        );
    }
    let token_header = token_header(&auth.token_header, problems);
    let signature_tolerance = signature_tolerance(auth.signature_tolerance, problems);
    AuthConfig {
        tokens: auth.tokens.into_iter().map(Spanned::into_inner).collect(),
        signing_secrets: auth
            .signing_secrets
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        token_header,
        signature_tolerance,
        insecure_allow_literal_secrets: auth.insecure_allow_literal_secrets,
    }
}

/// The `[wavefront]` table: an https base URL (http only for loopback) and a token that is a
/// reference, never the token itself.
pub(super) fn wavefront(
    raw: Option<Spanned<RawWavefront>>,
    problems: &mut Problems<'_>,
) -> Option<wavefront::Settings> {
    let raw = raw?.into_inner();
    let url = match BaseUrl::parse(raw.url.get_ref()) {
        Ok(url) => Some(url),
        Err(why) => {
            problems.add(raw.url.span(), format!("[wavefront] url: {why}"));
            None
        }
    };
    if raw.api_token.get_ref().is_literal() {
        problems.add(
            raw.api_token.span(),
            "[wavefront] api_token must not be the token itself (it would be committed with \
             the config); use \"env:VARIABLE_NAME\" or \"secretsmanager:SECRET_NAME\""
                .into(),
        );
        return None;
    }
    Some(wavefront::Settings {
        url: url?,
        api_token: raw.api_token.into_inner(),
    })
}

/// `[auth] token_header`: a valid header name that neither HTTP nor signatures use.
fn token_header(raw: &Spanned<String>, problems: &mut Problems<'_>) -> HeaderName {
    match HeaderName::from_bytes(raw.get_ref().as_bytes()) {
        Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => {
            problems.add(
                raw.span(),
                format!(
                    "token_header \"{name}\" is used by HTTP or by Standard Webhooks \
                     signatures; pick a header of its own, like \"X-Webhook-Token\", or \
                     keep the default Authorization"
                ),
            );
            http::header::AUTHORIZATION
        }
        Ok(name) => name,
        Err(_) => {
            problems.add(
                raw.span(),
                // Not repeated: a token pasted here by mistake must not be printed.
                "token_header is not a valid HTTP header name (the value is not shown); \
                 name the header only, like \"X-Webhook-Token\", and keep the token out \
                 of the file"
                    .into(),
            );
            http::header::AUTHORIZATION
        }
    }
}

/// `[auth] signature_tolerance`: whole seconds from 1 s to 1 h.
fn signature_tolerance(
    raw: Option<Spanned<HumanDuration>>,
    problems: &mut Problems<'_>,
) -> HumanDuration {
    let Some(tolerance) = raw else {
        return DEFAULT_SIGNATURE_TOLERANCE;
    };
    let value = *tolerance.get_ref();
    let secs = value.get().as_secs();
    if value.get().subsec_nanos() != 0 || !(1..=3600).contains(&secs) {
        problems.add(
            tolerance.span(),
            format!(
                "signature_tolerance = \"{value}\" must be whole seconds from 1s to \
                 1h: a signed request can be replayed for that long"
            ),
        );
    }
    value
}

/// The `[[rule]]` tables, in file order; `triggers` are the global ones, `wavefront` whether
/// the file has a `[wavefront]` table.
pub(super) fn rules(
    raw: Vec<Spanned<RawRule>>,
    (triggers, wavefront): (&[Reason], bool),
    problems: &mut Problems<'_>,
) -> Rules {
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.len());
    for spanned in raw {
        rules.push(rule(spanned, (triggers, wavefront), &mut names, problems));
    }
    match Rules::new(rules) {
        Ok(rules) => rules,
        Err(err) => {
            problems.add(
                0..0,
                format!("the rules' alert patterns cannot be compiled together: {err}"),
            );
            Rules::default()
        }
    }
}

/// One `[[rule]]`; `names` are those of the rules before it.
fn rule(
    spanned: Spanned<RawRule>,
    (triggers, wavefront): (&[Reason], bool),
    names: &mut HashSet<String>,
    problems: &mut Problems<'_>,
) -> Rule {
    let span = spanned.span();
    let rule = spanned.into_inner();
    let name = rule_name(&rule.name, names, problems);
    let alert = rule.alert.map(|a| a.0).unwrap_or_default();
    let alert_ids = rule.alert_id.map(|a| a.0).unwrap_or_default();
    if alert.is_empty() && alert_ids.is_empty() {
        problems.add(
            span.clone(),
            format!(
                "rule \"{name}\" would match every alert; set alert = \"<name or glob>\" \
                 or alert_id (alert = \"*\" matches every name, if that is really meant)"
            ),
        );
    }
    if rule.action.is_empty() {
        problems.add(
            span,
            format!("rule \"{name}\" has no actions; add a [[rule.action]] table after it"),
        );
    }
    if let Some(tags) = &rule.tags
        && tags.get_ref().iter().any(|t| t.trim().is_empty())
    {
        problems.add(
            tags.span(),
            format!("rule \"{name}\" lists an empty tag, which no alert carries"),
        );
    }
    let keys = (&rule.require_firing, &rule.on_wavefront_error);
    let require_firing = require_firing(&name, keys, wavefront, problems);
    let rule_triggers = rule_triggers(&name, rule.triggers, triggers, problems);
    let cooldown = match &rule.cooldown {
        None => Some(DEFAULT_COOLDOWN),
        Some(text) => parse_cooldown(text.get_ref()).unwrap_or_else(|message| {
            problems.add(text.span(), message);
            None
        }),
    };
    Rule {
        name,
        alert,
        alert_ids: alert_ids.into_iter().map(|id| id.0).collect(),
        severities: rule
            .severity
            .map(|s| s.0.into_iter().map(|s| s.0).collect())
            .unwrap_or_default(),
        tags: rule.tags.map(Spanned::into_inner).unwrap_or_default(),
        triggers: rule_triggers,
        dry_run: rule.dry_run,
        cooldown,
        attribution: rule.attribution,
        require_firing,
        actions: rule.action,
    }
}

/// A rule's `require_firing` and `on_wavefront_error`: the check needs a `[wavefront]` table
/// to read the alert from (`wavefront`), and `on_wavefront_error` means something only with
/// the check on.
fn require_firing(
    name: &str,
    (require_firing, on_error): (&Option<Spanned<bool>>, &Option<Spanned<KnownOnError>>),
    wavefront: bool,
    problems: &mut Problems<'_>,
) -> Option<OnWavefrontError> {
    let required = require_firing.as_ref().filter(|r| *r.get_ref());
    if let (Some(required), false) = (required, wavefront) {
        problems.add(
            required.span(),
            format!(
                "rule \"{name}\" sets require_firing = true, but there is no [wavefront] table \
                 to read the alert from; add one with url and api_token, or remove the key"
            ),
        );
    }
    if let (None, Some(on_error)) = (required, on_error) {
        problems.add(
            on_error.span(),
            format!(
                "rule \"{name}\" sets on_wavefront_error without require_firing = true, so it \
                 would decide nothing; add require_firing = true, or remove the key"
            ),
        );
    }
    required.map(|_| {
        on_error
            .as_ref()
            .map_or(OnWavefrontError::default(), |o| o.get_ref().0)
    })
}

/// A rule's `name`: valid in metrics and audit queries, and unique among `names`.
fn rule_name(
    raw: &Spanned<String>,
    names: &mut HashSet<String>,
    problems: &mut Problems<'_>,
) -> String {
    let name = raw.get_ref().clone();
    if !valid_rule_name(&name) {
        problems.add(
            raw.span(),
            format!(
                "rule name \"{name}\" must be 1 to 64 letters, digits, '-', '_' or '.', \
                 because it appears in metrics and audit queries"
            ),
        );
    }
    if !names.insert(name.clone()) {
        problems.add(
            raw.span(),
            format!("a rule named \"{name}\" already exists; rule names must be unique"),
        );
    }
    name
}

/// A rule's own `triggers`, or the global ones (`triggers`) when it sets none.
fn rule_triggers(
    name: &str,
    raw: Option<Spanned<Vec<KnownReason>>>,
    triggers: &[Reason],
    problems: &mut Problems<'_>,
) -> Vec<Reason> {
    match raw {
        Some(list) if list.get_ref().is_empty() => {
            problems.add(
                list.span(),
                format!(
                    "rule \"{name}\" sets triggers = [], so it would never act; remove \
                     the key to use the global triggers"
                ),
            );
            Vec::new()
        }
        Some(list) => list.into_inner().into_iter().map(|r| r.0).collect(),
        None => triggers.to_vec(),
    }
}

/// A duration within `min..=max` seconds, or the default when absent; a value out of bounds
/// is a problem.
fn bounded(
    value: Option<Spanned<HumanDuration>>,
    default: HumanDuration,
    key: &str,
    (min, max): (u64, u64),
    why: &str,
    problems: &mut Problems<'_>,
) -> HumanDuration {
    let Some(value) = value else {
        return default;
    };
    let secs = value.get_ref().get().as_secs();
    if !(min..=max).contains(&secs) {
        let message = format!(
            "{key} = \"{}\" must be from {} to {}: {why}",
            value.get_ref(),
            HumanDuration::new(std::time::Duration::from_secs(min)),
            HumanDuration::new(std::time::Duration::from_secs(max))
        );
        problems.add(value.span(), message);
    }
    *value.get_ref()
}

fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A rule's `cooldown`: `"0s"` turns it off (`None`); otherwise from 1m to 7d.
fn parse_cooldown(text: &str) -> Result<Option<HumanDuration>, String> {
    let zero = text
        .trim()
        .parse::<jiff::Span>()
        .is_ok_and(|span| span.is_zero());
    if zero {
        return Ok(None);
    }
    let cooldown = HumanDuration::parse(text).map_err(|e| format!("cooldown {e}"))?;
    let secs = cooldown.get().as_secs();
    if secs < 60 {
        return Err(format!(
            "cooldown = \"{cooldown}\" is under a minute, which holds back nothing a re-sent \
             alert would not already be: set at least \"1m\", or \"0s\" to turn it off"
        ));
    }
    if secs > 7 * 86_400 {
        return Err(format!(
            "cooldown = \"{cooldown}\" must be at most 7d: a longer one would keep the rule \
             from acting on the next release's incident too"
        ));
    }
    Ok(Some(cooldown))
}
