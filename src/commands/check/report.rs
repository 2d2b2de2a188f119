//! What `check` prints: a config read back in plain words, and what this environment makes of
//! its secrets. A pure function of its inputs: no I/O.
//!
//! It uses only the library (no `super`), because the fuzz checks (`fuzz/src/lib.rs`) compile
//! this file in as it is: a binary's modules are out of any other crate's reach.

use wavefront_responder::actions::Action;
use wavefront_responder::alert::Reason;
use wavefront_responder::announce::notify::Topic;
use wavefront_responder::auth::AuthConfig;
use wavefront_responder::config::Config;
use wavefront_responder::plan::rules::{NamePattern, OnWavefrontError, Rule};
use wavefront_responder::secret::SecretRef;
use wavefront_responder::text::plural;
use wavefront_responder::wavefront::Settings;

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
        /// Whether `[wavefront] api_token` gave a value, or the start-up warning saying why
        /// not; `None` without a `[wavefront]` table.
        wavefront: Option<Result<(), &'a str>>,
    },
}

/// The `check` report: what the config says, in words, and what this environment provides.
pub fn check_report(config: &Config, secrets: &Secrets<'_>) -> String {
    let mut lines = settings_lines(config);
    lines.extend(auth_lines(&config.auth, secrets));
    lines.extend(wavefront_lines(config.wavefront.as_ref(), secrets));
    lines.extend(notify_lines(config.notify.as_ref()));
    lines.push(format!("rules ({}):", config.rules.len()));
    for (i, rule) in config.rules.iter().enumerate() {
        lines.extend(rule_lines(i + 1, rule, &config.triggers));
    }
    if config.rules.is_empty() {
        lines.push("  (none: every alert will be answered \"no rule matched\")".into());
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// The report's first lines: the file, and the settings that apply to every rule.
fn settings_lines(config: &Config) -> Vec<String> {
    let source = if config.compiled_in {
        " (compiled into this binary)"
    } else {
        ""
    };
    let dry_run = if config.dry_run {
        "on (every action is planned, nothing is changed)"
    } else {
        "off (rules that are not dry runs change AWS resources)"
    };
    vec![
        format!("{}{source}: configuration is valid", config.path.display()),
        format!("dry run: {dry_run}"),
        format!(
            "triggers: {} (ALERT_TESTING always runs as a dry run)",
            reasons(&config.triggers)
        ),
        format!(
            "time budget: {} per request for all actions",
            config.time_budget
        ),
        match &config.ledger.table {
            Some(table) => format!(
                "ledger: DynamoDB table {table}; notifications and incidents remembered for {}",
                config.ledger.retention
            ),
            None => "ledger: in memory (each process remembers only its own deliveries; \
                     configure [ledger] table on Lambda)"
                .into(),
        },
        match config.circuit_breaker {
            Some(breaker) => format!(
                "circuit breaker: at most {} that change something per {}",
                plural(breaker.max_actions as usize, "action"),
                breaker.window
            ),
            None => "circuit breaker: off".into(),
        },
    ]
}

/// The `authentication:` section: where tokens and signing secrets come from, and (unless
/// `--no-secrets`) how many of them this environment provides.
fn auth_lines(auth: &AuthConfig, secrets: &Secrets<'_>) -> Vec<String> {
    let mut lines = vec!["authentication:".to_owned()];
    if auth.token_header == http::header::AUTHORIZATION {
        lines.push("  token header: Authorization: Bearer <token>".into());
    } else {
        lines.push(format!("  token header: {}: <token>", auth.token_header));
    }
    lines.push(format!("  tokens: {}", references(&auth.tokens)));
    lines.push(format!(
        "  signing secrets: {}",
        references(&auth.signing_secrets)
    ));
    lines.push(format!(
        "  signature tolerance: {}",
        auth.signature_tolerance
    ));
    if auth.insecure_allow_literal_secrets {
        lines.push(
            "  WARNING: insecure_allow_literal_secrets is on; use it for local experiments only"
                .into(),
        );
    }
    match secrets {
        Secrets::NotChecked => {
            lines.push("  (secret references not resolved: --no-secrets)".into());
        }
        Secrets::Usable {
            tokens,
            signing_secrets,
            warnings,
            ..
        } => {
            lines.push(format!(
                "  usable here: {} and {}",
                plural(*tokens, "token"),
                plural(*signing_secrets, "signing secret")
            ));
            for warning in *warnings {
                lines.push(format!("  WARNING: {warning}"));
            }
        }
    }
    lines
}

/// The `wavefront:` section: which cluster's API the responder calls, with which token, and
/// (unless `--no-secrets`) whether this environment provides the token.
fn wavefront_lines(settings: Option<&Settings>, secrets: &Secrets<'_>) -> Vec<String> {
    let Some(settings) = settings else {
        return vec![
            "wavefront: not configured (no [wavefront] table: no Wavefront API calls, and \
             `register` cannot run)"
                .into(),
        ];
    };
    let mut lines = vec![
        format!("wavefront: {}", settings.url),
        format!("  api token: {}", settings.api_token),
    ];
    match secrets {
        Secrets::NotChecked => {
            lines.push("  (secret references not resolved: --no-secrets)".into());
        }
        Secrets::Usable { wavefront, .. } => lines.push(match wavefront {
            Some(Err(warning)) => format!("  WARNING: {warning}"),
            _ => "  usable here: the api token has a value".into(),
        }),
    }
    lines
}

/// The `notify:` section: which SNS topic chat notifications go to, and for which outcomes.
fn notify_lines(settings: Option<&wavefront_responder::announce::notify::Settings>) -> Vec<String> {
    let Some(settings) = settings else {
        return vec!["notify: not configured (no [notify] table: no chat notifications)".into()];
    };
    let mut lines = vec![format!("notify: SNS topic {}", settings.topic)];
    if let Topic::Env(variable) = &settings.topic {
        lines.push(format!(
            "  the topic's ARN is read from {variable} at start-up; unset, notifications are off"
        ));
    }
    lines.push(format!("  on: {}", settings.on.names().join(", ")));
    lines
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
    match rule.require_firing {
        Some(OnWavefrontError::Skip) => lines.push(
            "     still firing?: acts only while Wavefront says the alert is firing, not \
             snoozed, not in maintenance; leaves the target alone when Wavefront cannot say"
                .into(),
        ),
        Some(OnWavefrontError::Act) => lines.push(
            "     still firing?: acts only while Wavefront says the alert is firing, not \
             snoozed, not in maintenance; acts anyway when Wavefront cannot say \
             (on_wavefront_error = \"act\")"
                .into(),
        ),
        None => {}
    }
    for reason in rule.triggers.iter().filter(|r| !ACTS_ON.contains(r)) {
        lines.push(format!(
            "     WARNING: triggers on {reason}, when the alert is not newly firing; make sure \
             rolling back then is intended"
        ));
    }
    for (j, action) in rule.actions.iter().enumerate() {
        lines.push(format!("     then {}. {}", j + 1, action_line(action)));
        lines.extend(template_note(action));
    }
    lines
}

/// What the deployment template must grant for `action` beyond its defaults, if anything.
fn template_note(action: &Action) -> Option<String> {
    let note = match action {
        Action::CodeDeployRollback(rollback) if rollback.redeploy_within.is_some() => {
            "redeploy_within creates deployments: deploy the template with AllowRedeploy=true \
             (or attach policies/codedeploy-redeploy.json), or the undo fails with AccessDenied"
                .to_owned()
        }
        Action::EcsRollback(rollback) => format!(
            "the role may stop deployments of ECS service {} only when the template is \
             deployed with EcsClusterName and EcsServiceName naming it (or \
             policies/ecs-rollback.json is attached for it); otherwise its calls fail with \
             AccessDenied",
            rollback.target()
        ),
        Action::AppConfigRollback(_) => "deploy the template with AppConfigApplicationId = the \
             application's id (and AppConfigEnvironmentId, default *), or attach \
             policies/appconfig-rollback.json; without it every call fails with AccessDenied"
            .to_owned(),
        _ => return None,
    };
    Some(format!("        NOTE: {note}"))
}

/// Reasons that mean an alert is firing (again, or worse).
const ACTS_ON: [Reason; 4] = [
    Reason::Opened,
    Reason::Retriggered,
    Reason::Updated,
    Reason::SeverityUpdate,
];

/// Secret references as the config spells them, or "none".
fn references(refs: &[SecretRef]) -> String {
    if refs.is_empty() {
        return "none".into();
    }
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// When a rule acts, in words: every condition it sets, joined with "; ".
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

/// One action: its kind, its target, and what it would do.
fn action_line(action: &Action) -> String {
    format!("{} {}: {}", action.kind(), action.target(), action.plan())
}

/// Alert reasons as Wavefront spells them, joined with ", ".
fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(Reason::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appconfig_rollback_says_what_it_would_do_and_what_the_template_needs() {
        let text = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\n\
                    name = \"flags\"\nalert = \"checkout*\"\n[[rule.action]]\n\
                    type = \"appconfig-rollback\"\napplication = \"checkout\"\n\
                    environment = \"prod\"\nrevert_within = \"1h\"\n";
        let config = Config::parse(text, std::path::Path::new("flags.toml")).unwrap();
        let report = check_report(&config, &Secrets::NotChecked);
        assert!(
            report.contains(
                "then 1. appconfig-rollback checkout/prod: would stop the AppConfig deployment \
                 in progress in checkout/prod"
            ),
            "{report}"
        );
        assert!(
            report.contains("NOTE: deploy the template with AppConfigApplicationId"),
            "{report}"
        );
    }
}
