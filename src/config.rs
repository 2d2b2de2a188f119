//! Configuration: finding the TOML file, parsing it, and validating it once at start-up into
//! the types the rest of the crate uses. Every error names the file, line and column and says
//! how to fix it; unknown keys are errors, so a typo never silently disables a rule.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use http::HeaderName;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::actions::Action;
use crate::alert::{Reason, Severity};
use crate::duration::HumanDuration;
use crate::ledger::{CircuitBreaker, DEFAULT_RETENTION};
use crate::plan::rules::{NamePattern, Rule, Rules};
use crate::secret::SecretRef;

/// The file name looked for when no path is given.
pub const DEFAULT_FILE_NAME: &str = "responder.toml";
/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "RESPONDER_CONFIG";
/// Reasons that trigger actions when the config does not say.
pub const DEFAULT_TRIGGERS: [Reason; 2] = [Reason::Opened, Reason::Retriggered];
/// Headers a token cannot travel in: HTTP's own, and the Standard Webhooks signature headers.
pub const RESERVED_HEADERS: [&str; 7] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
];
/// Time a request may spend on actions, by default: inside API Gateway's 29 s integration
/// timeout, with room to answer.
pub const DEFAULT_TIME_BUDGET: HumanDuration =
    HumanDuration::new(std::time::Duration::from_secs(20));
/// How long a rule leaves a target alone after acting on it, unless it sets `cooldown`.
pub const DEFAULT_COOLDOWN: HumanDuration =
    HumanDuration::new(std::time::Duration::from_secs(15 * 60));
/// How old (or how far in the future) a signature's timestamp may be, by default.
pub const DEFAULT_SIGNATURE_TOLERANCE: HumanDuration =
    HumanDuration::new(std::time::Duration::from_secs(300));

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    /// Whether it was read from the rule files compiled into the binary, not from disk.
    pub compiled_in: bool,
    /// Plan and describe every action, but change nothing.
    pub dry_run: bool,
    /// Alert reasons that trigger actions, unless a rule sets its own.
    pub triggers: Vec<Reason>,
    /// How callers prove who they are.
    pub auth: AuthConfig,
    /// The most time one request may spend running actions. On Lambda the invocation's own
    /// deadline (less a second to answer) caps it too.
    pub time_budget: HumanDuration,
    /// Where handled notifications and actions are remembered.
    pub ledger: LedgerConfig,
    /// The most actions that may change something in a window; `None` when disabled.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// The rules, in file order.
    pub rules: Rules,
}

/// The `[ledger]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The DynamoDB table; `None` keeps the ledger in memory (one process only).
    pub table: Option<TableName>,
    /// How long handled notifications and incident latches are remembered.
    pub retention: HumanDuration,
}

/// A DynamoDB table name, written in the config or read from the environment at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableName {
    Literal(String),
    /// `env:NAME`: the deployment template sets the variable.
    Env(String),
}

impl TableName {
    /// The name, reading the environment for `env:` references.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        match self {
            Self::Literal(name) => Ok(name.clone()),
            Self::Env(variable) => env(variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!(
                    "the ledger table is named by env:{variable}, which is not set; set it to the \
                     table's name, or remove [ledger] table to keep the ledger in memory"
                )
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(name) => f.write_str(name),
            Self::Env(variable) => write!(f, "env:{variable}"),
        }
    }
}

/// The circuit breaker, on unless `[circuit_breaker] enabled = false`.
pub const DEFAULT_CIRCUIT_BREAKER: CircuitBreaker = CircuitBreaker {
    max_actions: 5,
    window: HumanDuration::new(std::time::Duration::from_secs(3600)),
};

/// The `[auth]` table.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Shared tokens, any of which is accepted (several during a rotation).
    pub tokens: Vec<SecretRef>,
    /// Standard Webhooks signing secrets (`whsec_...`), any of which is accepted.
    pub signing_secrets: Vec<SecretRef>,
    /// The header that carries the token. `Authorization` expects `Bearer <token>`; any other
    /// header carries the bare token.
    pub token_header: HeaderName,
    /// How far a signature's `webhook-timestamp` may be from now.
    pub signature_tolerance: HumanDuration,
    /// Whether `literal:` secrets are accepted.
    pub insecure_allow_literal_secrets: bool,
}

impl AuthConfig {
    /// Whether any token or signing secret is read from Secrets Manager.
    pub fn uses_secrets_manager(&self) -> bool {
        self.tokens
            .iter()
            .chain(&self.signing_secrets)
            .any(SecretRef::is_secrets_manager)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file was named and none was found where one is looked for.
    #[error(
        "no config file found (looked for {}); pass --config FILE or set {CONFIG_ENV}",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    /// The file could not be read. The I/O error is part of the message and not also a
    /// source: callers print the whole chain, which would repeat it.
    #[error("cannot read config file {}: {cause}; {}", .path.display(), read_hint(.cause))]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// What to do about a config file that cannot be read.
fn read_hint(cause: &std::io::Error) -> String {
    if cause.kind() == std::io::ErrorKind::NotFound {
        format!("name an existing file with --config FILE or {CONFIG_ENV}")
    } else {
        format!("make it readable, or name another file with --config FILE or {CONFIG_ENV}")
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// The rule file compiled in at `path` (`rules/responder.toml`), if there is one.
pub fn embedded(path: &Path) -> Option<&'static str> {
    let wanted = path.strip_prefix("./").unwrap_or(path);
    EMBEDDED_RULES
        .iter()
        .find(|(name, _)| Path::new(name) == wanted)
        .map(|(_, text)| *text)
}

/// The default rule file when nothing else names one and no file is found.
pub const EMBEDDED_DEFAULT: &str = "rules/responder.toml";

/// Where [`search`] found the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    /// Set when no file was named or found and the rule file compiled into the binary is used:
    /// the places looked at.
    pub fell_back_after: Option<Vec<PathBuf>>,
}

impl Located {
    /// What to tell the operator when the compiled-in rules are used because nothing was
    /// found: a surprise worth a loud line, since those may not be the rules meant.
    pub fn fallback_warning(&self) -> Option<String> {
        let searched = self.fell_back_after.as_ref()?;
        Some(format!(
            "no config file found (looked at {}); using the rules compiled into this binary \
             from {EMBEDDED_DEFAULT}; pass --config FILE or set {CONFIG_ENV} to use another",
            searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Finds the config file: `explicit`, else `$RESPONDER_CONFIG`, else `responder.toml` in
/// `$LAMBDA_TASK_ROOT`, else in the working directory, else `rules/responder.toml` as
/// compiled into the binary, saying when it fell back to that. A named file that does not
/// exist on disk is looked up among the compiled-in rule files too.
pub fn search(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Located, ConfigError> {
    let named = |path: PathBuf| Located {
        path,
        fell_back_after: None,
    };
    if let Some(path) = explicit {
        return Ok(named(path.to_owned()));
    }
    if let Some(path) = env(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(named(PathBuf::from(path)));
    }
    let mut searched = Vec::new();
    if let Some(root) = env("LAMBDA_TASK_ROOT").filter(|p| !p.is_empty()) {
        searched.push(Path::new(&root).join(DEFAULT_FILE_NAME));
    }
    searched.push(PathBuf::from(DEFAULT_FILE_NAME));
    if let Some(found) = searched.iter().find(|p| p.is_file()) {
        return Ok(named(found.clone()));
    }
    if embedded(Path::new(EMBEDDED_DEFAULT)).is_some() {
        return Ok(Located {
            path: PathBuf::from(EMBEDDED_DEFAULT),
            fell_back_after: Some(searched),
        });
    }
    searched.push(PathBuf::from(format!("{EMBEDDED_DEFAULT} (compiled in)")));
    Err(ConfigError::NotFound { searched })
}

impl Config {
    /// Reads and validates a config file; a path that is not on disk but names a rule file
    /// compiled into the binary reads that.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => match embedded(path) {
                Some(text) => Self::parse(text, path).map(|config| Config {
                    compiled_in: true,
                    ..config
                }),
                None => Err(ConfigError::Read {
                    path: path.to_owned(),
                    cause: source,
                }),
            },
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                cause: source,
            }),
        }
    }

    /// Validates config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            Problem {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (span, message) = describe_toml_error(text, &e);
            ConfigError::Invalid {
                problems: vec![at(span, message)],
            }
        })?;

        let mut problems = Vec::new();
        let mut problem = |span: std::ops::Range<usize>, message: String| {
            problems.push(at(Some(span), message));
        };

        let triggers = match raw.triggers {
            Some(list) if list.get_ref().is_empty() => {
                problem(
                    list.span(),
                    "triggers is empty, so no alert would ever trigger an action; remove the \
                     key to use the default [\"ALERT_OPENED\", \"ALERT_RETRIGGERED\"]"
                        .into(),
                );
                Vec::new()
            }
            Some(list) => list.into_inner().into_iter().map(|r| r.0).collect(),
            None => DEFAULT_TRIGGERS.to_vec(),
        };

        let time_budget = match raw.time_budget {
            Some(budget) => {
                let value = *budget.get_ref();
                if !(1..=900).contains(&value.get().as_secs()) {
                    problem(
                        budget.span(),
                        format!(
                            "time_budget = \"{value}\" must be from 1s to 15m (Lambda's longest \
                             timeout); keep it under the function's timeout"
                        ),
                    );
                }
                value
            }
            None => DEFAULT_TIME_BUDGET,
        };

        let table = raw.ledger.table.map(|table| {
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
                problem(
                    table.span(),
                    format!(
                        "ledger table \"{text}\" is not a DynamoDB table name (3 to 255 of letters, \
                         digits, '_', '-', '.') or an env:VARIABLE reference"
                    ),
                );
            }
            parsed
        });
        let retention = bounded(
            raw.ledger.retention,
            DEFAULT_RETENTION,
            "retention",
            (3600, 365 * 86_400),
            "shorter, and repeats of a notification or an incident would act again",
        )
        .unwrap_or_else(|(span, message, value)| {
            problem(span, message);
            value
        });
        let ledger = LedgerConfig { table, retention };
        let circuit_breaker = match raw.circuit_breaker {
            None => Some(DEFAULT_CIRCUIT_BREAKER),
            Some(spanned) => {
                let span = spanned.span();
                let raw = spanned.into_inner();
                if raw.enabled == Some(false) {
                    None
                } else {
                    let max_actions = raw
                        .max_actions
                        .unwrap_or(DEFAULT_CIRCUIT_BREAKER.max_actions);
                    if !(1..=50).contains(&max_actions) {
                        problem(
                            span,
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
                    )
                    .unwrap_or_else(|(span, message, value)| {
                        problem(span, message);
                        value
                    });
                    Some(CircuitBreaker {
                        max_actions,
                        window,
                    })
                }
            }
        };

        let auth_span = raw.auth.span();
        let auth = raw.auth.into_inner();
        if !auth.insecure_allow_literal_secrets {
            for secret in auth.tokens.iter().chain(&auth.signing_secrets) {
                if secret.get_ref().is_literal() {
                    problem(
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
            problem(
                auth_span,
                "[auth] names no tokens and no signing_secrets, so every request would be \
                 rejected; add tokens = [\"env:WEBHOOK_TOKEN\"]"
                    .into(),
            );
        }
        let token_header = match HeaderName::from_bytes(auth.token_header.get_ref().as_bytes()) {
            Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => {
                problem(
                    auth.token_header.span(),
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
                problem(
                    auth.token_header.span(),
                    // Not repeated: a token pasted here by mistake must not be printed.
                    "token_header is not a valid HTTP header name (the value is not shown); \
                     name the header only, like \"X-Webhook-Token\", and keep the token out \
                     of the file"
                        .into(),
                );
                http::header::AUTHORIZATION
            }
        };

        let signature_tolerance = match auth.signature_tolerance {
            Some(tolerance) => {
                let value = *tolerance.get_ref();
                let secs = value.get().as_secs();
                if value.get().subsec_nanos() != 0 || !(1..=3600).contains(&secs) {
                    problem(
                        tolerance.span(),
                        format!(
                            "signature_tolerance = \"{value}\" must be whole seconds from 1s to \
                             1h: a signed request can be replayed for that long"
                        ),
                    );
                }
                value
            }
            None => DEFAULT_SIGNATURE_TOLERANCE,
        };

        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(raw.rules.len());
        for spanned in raw.rules {
            let span = spanned.span();
            let rule = spanned.into_inner();
            let name = rule.name.get_ref().clone();
            if !valid_rule_name(&name) {
                problem(
                    rule.name.span(),
                    format!(
                        "rule name \"{name}\" must be 1 to 64 letters, digits, '-', '_' or '.', \
                         because it appears in metrics and audit queries"
                    ),
                );
            }
            if !names.insert(name.clone()) {
                problem(
                    rule.name.span(),
                    format!("a rule named \"{name}\" already exists; rule names must be unique"),
                );
            }
            let alert = rule.alert.map(|a| a.0).unwrap_or_default();
            let alert_ids = rule.alert_id.map(|a| a.0).unwrap_or_default();
            if alert.is_empty() && alert_ids.is_empty() {
                problem(
                    span.clone(),
                    format!(
                        "rule \"{name}\" would match every alert; set alert = \"<name or glob>\" \
                         or alert_id (alert = \"*\" matches every name, if that is really meant)"
                    ),
                );
            }
            if rule.action.is_empty() {
                problem(
                    span.clone(),
                    format!("rule \"{name}\" has no actions; add a [[rule.action]] table after it"),
                );
            }
            if let Some(tags) = &rule.tags
                && tags.get_ref().iter().any(|t| t.trim().is_empty())
            {
                problem(
                    tags.span(),
                    format!("rule \"{name}\" lists an empty tag, which no alert carries"),
                );
            }
            let rule_triggers = match rule.triggers {
                Some(list) if list.get_ref().is_empty() => {
                    problem(
                        list.span(),
                        format!(
                            "rule \"{name}\" sets triggers = [], so it would never act; remove \
                             the key to use the global triggers"
                        ),
                    );
                    Vec::new()
                }
                Some(list) => list.into_inner().into_iter().map(|r| r.0).collect(),
                None => triggers.clone(),
            };
            let cooldown = match &rule.cooldown {
                None => Some(DEFAULT_COOLDOWN),
                Some(text) => parse_cooldown(text.get_ref()).unwrap_or_else(|message| {
                    problem(text.span(), message);
                    None
                }),
            };
            rules.push(Rule {
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
                actions: rule.action,
            });
        }

        let rules = match Rules::new(rules) {
            Ok(rules) => rules,
            Err(err) => {
                problem(
                    0..0,
                    format!("the rules' alert patterns cannot be compiled together: {err}"),
                );
                Rules::default()
            }
        };
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        Ok(Config {
            path: path.to_owned(),
            compiled_in: false,
            dry_run: raw.dry_run,
            triggers,
            time_budget,
            ledger,
            circuit_breaker,
            auth: AuthConfig {
                tokens: auth.tokens.into_iter().map(Spanned::into_inner).collect(),
                signing_secrets: auth
                    .signing_secrets
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                token_header,
                signature_tolerance,
                insecure_allow_literal_secrets: auth.insecure_allow_literal_secrets,
            },
            rules,
        })
    }
}

/// A duration within `min..=max` seconds, the default when absent, or the problem with it.
fn bounded(
    value: Option<Spanned<HumanDuration>>,
    default: HumanDuration,
    key: &str,
    (min, max): (u64, u64),
    why: &str,
) -> Result<HumanDuration, (std::ops::Range<usize>, String, HumanDuration)> {
    let Some(value) = value else {
        return Ok(default);
    };
    let secs = value.get_ref().get().as_secs();
    if (min..=max).contains(&secs) {
        return Ok(*value.get_ref());
    }
    let message = format!(
        "{key} = \"{}\" must be from {} to {}: {why}",
        value.get_ref(),
        HumanDuration::new(std::time::Duration::from_secs(min)),
        HumanDuration::new(std::time::Duration::from_secs(max))
    );
    Err((value.span(), message, *value.get_ref()))
}

/// Where an error `toml` reports is, and what to say about it. Values under `[auth]` are never
/// repeated: a secret pasted there by mistake must not reach a terminal or a CI log. Errors
/// inside a `[[rule.action]]` table, which `toml` places at the table's header, point at the
/// key they are about when there is one. Common mistakes get their fix.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> (Option<Span>, String) {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return (None, explain_toml_error(message));
    };
    // A syntax error: toml's messages say what was expected, never the text it found.
    let Ok(root) = DeTable::parse(text) else {
        return (Some(span), explain_toml_error(message));
    };
    let root = root.get_ref();
    if let Some(auth) = entry(root, "auth")
        && let Some((span, message)) = auth_error(auth, span.clone(), message)
    {
        return (Some(span), message);
    }
    for rule in tables(entry(root, "rule")) {
        if rule.span() == span {
            if let Some(field) = missing_field(message) {
                return (Some(span), missing_rule_field(field));
            }
            break;
        }
        for action in tables(as_table(rule).and_then(|t| entry(t, "action"))) {
            if action.span() == span
                && let Some(table) = as_table(action)
            {
                return action_error(table, span, message);
            }
        }
    }
    (Some(span), explain_toml_error(message))
}

type Span = std::ops::Range<usize>;
type DeEntry<'i> = Spanned<DeValue<'i>>;

/// `key` in `table`: the key as written, and its value.
fn key_value<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a DeEntry<'i>)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

/// The value of `key` in `table`.
fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeEntry<'i>> {
    key_value(table, key).map(|(_, v)| v)
}

fn as_table<'a, 'i>(value: &'a DeEntry<'i>) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(table),
        _ => None,
    }
}

/// The tables of an array of tables (`[[rule]]`), none for anything else.
fn tables<'a, 'i>(value: Option<&'a DeEntry<'i>>) -> impl Iterator<Item = &'a DeEntry<'i>> {
    let items: &[DeEntry<'i>] = match value.map(Spanned::get_ref) {
        Some(DeValue::Array(array)) => array,
        _ => &[],
    };
    items
        .iter()
        .filter(|v| matches!(v.get_ref(), DeValue::Table(_)))
}

/// Whether the error at `span` is inside `outer` (an empty span counts at its start).
fn within(outer: Span, span: &Span) -> bool {
    outer.start <= span.start && span.start < outer.end.max(outer.start + 1)
}

/// `x` of "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    backticked(message, "missing field `")
}

/// The name in backticks right after `prefix` in a serde message.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message
        .strip_prefix(prefix)
        .and_then(|rest| rest.split('`').next())
}

/// What is wrong inside `[auth]` and where, said without the value, or `None` when the error
/// is not there.
fn auth_error(auth: &DeEntry<'_>, span: Span, message: &str) -> Option<(Span, String)> {
    let Some(table) = as_table(auth) else {
        return within(auth.span(), &span).then(|| {
            let message = "auth must be a table: write [auth] with tokens = \
                           [\"env:WEBHOOK_TOKEN\"] on the next line (the value is not shown)";
            (span, message.to_owned())
        });
    };
    let (key, value) = table
        .iter()
        .find(|(k, v)| within(k.span(), &span) || within(v.span(), &span))?;
    if message.starts_with("unknown field") {
        // Names the key and the keys expected; no value.
        return Some((span, message.to_owned()));
    }
    let key = key.get_ref().as_ref();
    let whole = value.span() == span;
    let message = match key {
        "tokens" | "signing_secrets" => {
            // A refused reference's message never repeats the text it refuses; toml places it
            // at the list, so point at the entry refused with that very message.
            let entries: &[DeEntry<'_>] = match value.get_ref() {
                DeValue::Array(entries) => entries,
                _ => &[],
            };
            let refused = entries.iter().find(|entry| match entry.get_ref() {
                DeValue::String(text) => {
                    SecretRef::parse(text).is_err_and(|e| e.to_string() == message)
                }
                _ => false,
            });
            if let Some(entry) = refused {
                return Some((entry.span(), message.to_owned()));
            }
            let example = if key == "tokens" {
                "env:WEBHOOK_TOKEN"
            } else {
                "env:WEBHOOK_SIGNING_SECRET"
            };
            if whole {
                format!(
                    "auth.{key} must be a list of references such as [\"{example}\"] (the value \
                     is not shown); keep the secret itself out of the file"
                )
            } else {
                format!(
                    "each entry of auth.{key} must be a reference in quotes, such as \
                     \"{example}\" (the value is not shown)"
                )
            }
        }
        "token_header" => "auth.token_header must be a header name in quotes, such as \
                           \"X-Webhook-Token\" (the value is not shown)"
            .to_owned(),
        "signature_tolerance" => "auth.signature_tolerance must be a duration in quotes, whole \
                                  seconds from \"1s\" to \"1h\", such as \"5m\" (the value is \
                                  not shown)"
            .to_owned(),
        "insecure_allow_literal_secrets" => {
            "auth.insecure_allow_literal_secrets must be true or false (the value is not shown)"
                .to_owned()
        }
        _ => format!("auth.{key} is not valid here (the value is not shown)"),
    };
    Some((span, message))
}

/// An error `toml` placed at a `[[rule.action]]` header: moved to the key it is about.
fn action_error(table: &DeTable<'_>, header: Span, message: &str) -> (Option<Span>, String) {
    let find = |name: &str| key_value(table, name);
    if let Some(name) = backticked(message, "unknown field `")
        && let Some((key, _)) = find(name)
    {
        return (Some(key.span()), message.to_owned());
    }
    if message.starts_with("unknown variant")
        && let Some((_, value)) = find("type")
    {
        return (Some(value.span()), explain_toml_error(message));
    }
    if let Some(field) = missing_field(message) {
        let kind = find("type").and_then(|(_, v)| match v.get_ref() {
            DeValue::String(kind) => Some(kind.as_ref()),
            _ => None,
        });
        return (Some(header), missing_action_field(field, kind));
    }
    // The actions' own checks start with the key they are about: "to_version = ...".
    let first_word = message.split([' ', '=']).next().unwrap_or_default();
    if let Some((_, value)) = find(first_word) {
        return (Some(value.span()), message.to_owned());
    }
    (Some(header), explain_toml_error(message))
}

fn missing_action_field(field: &str, kind: Option<&str>) -> String {
    let needs = match kind {
        _ if field == "type" => {
            return "this [[rule.action]] has no type; add type = \"codedeploy-rollback\" or \
                    type = \"lambda-alias\""
                .to_owned();
        }
        Some("codedeploy-rollback") => {
            "a codedeploy-rollback action needs application = \"APPLICATION\" and \
             deployment_group = \"GROUP\" (and may set redeploy_within = \"1h\")"
        }
        Some("lambda-alias") => {
            "a lambda-alias action needs function = \"NAME\", alias = \"ALIAS\" and one of \
             to_version = \"41\", to_alias = \"stable\" or drop_canary = true"
        }
        _ => "see the [[rule.action]] keys in the README's configuration reference",
    };
    format!("missing field `{field}`: add {field} = ... to this [[rule.action]]; {needs}")
}

fn missing_rule_field(field: &str) -> String {
    if field == "name" {
        "missing field `name`: every [[rule]] needs a unique name = \"...\" (1 to 64 letters, \
         digits, '-', '_' or '.')"
            .to_owned()
    } else {
        format!("missing field `{field}`: add {field} = ... to this [[rule]]")
    }
}

/// Adds the fix to the TOML errors people hit most.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("missing field `auth`") {
        return format!(
            "{message}; add an [auth] table with tokens = [\"env:WEBHOOK_TOKEN\"] so callers \
             can authenticate"
        );
    }
    if message.starts_with("unknown variant") {
        return format!("{message} (the action's `type`)");
    }
    message.to_owned()
}

fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    dry_run: bool,
    triggers: Option<Spanned<Vec<KnownReason>>>,
    time_budget: Option<Spanned<HumanDuration>>,
    auth: Spanned<RawAuth>,
    #[serde(default)]
    ledger: RawLedger,
    circuit_breaker: Option<Spanned<RawCircuitBreaker>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    table: Option<Spanned<String>>,
    retention: Option<Spanned<HumanDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCircuitBreaker {
    enabled: Option<bool>,
    max_actions: Option<u32>,
    window: Option<Spanned<HumanDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    tokens: Vec<Spanned<SecretRef>>,
    #[serde(default)]
    signing_secrets: Vec<Spanned<SecretRef>>,
    #[serde(default = "default_token_header")]
    token_header: Spanned<String>,
    signature_tolerance: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    insecure_allow_literal_secrets: bool,
}

fn default_token_header() -> Spanned<String> {
    Spanned::new(0..0, "Authorization".to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    alert: Option<OneOrMany<NamePattern>>,
    alert_id: Option<OneOrMany<IdText>>,
    severity: Option<OneOrMany<ConfigSeverity>>,
    tags: Option<Spanned<Vec<String>>>,
    triggers: Option<Spanned<Vec<KnownReason>>>,
    #[serde(default)]
    dry_run: bool,
    cooldown: Option<Spanned<String>>,
    #[serde(default = "yes")]
    attribution: bool,
    #[serde(default)]
    action: Vec<Action>,
}

fn yes() -> bool {
    true
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

/// A value written either alone or as a list: `alert = "x"` or `alert = ["x", "y"]`.
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::<E>::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list matches nothing; remove the key instead",
                    ));
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NamePattern::parse(&text).map_err(de::Error::custom)
    }
}

/// A reason Wavefront documents; typos are errors.
struct KnownReason(Reason);

impl<'de> Deserialize<'de> for KnownReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Reason::parse_known(&text).map(KnownReason).ok_or_else(|| {
            de::Error::custom(format!(
                "\"{text}\" is not a Wavefront alert reason; use one of {}",
                Reason::known().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

struct ConfigSeverity(Severity);

impl<'de> Deserialize<'de> for ConfigSeverity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::parse(&text).map(ConfigSeverity).ok_or_else(|| {
            de::Error::custom(format!(
                "\"{text}\" is not a severity; use INFO, SMOKE, WARN or SEVERE"
            ))
        })
    }
}

/// An alert id, written as a string or a number.
struct IdText(String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = IdText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an alert id such as \"1460761882996\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdText, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("an alert id cannot be empty"));
                }
                Ok(IdText(v.trim().to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::lambda_alias::Destination;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
    }

    const AUTH: &str = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n";

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let config = parse(AUTH).unwrap();
        assert!(!config.dry_run);
        assert_eq!(config.triggers, DEFAULT_TRIGGERS);
        assert_eq!(config.auth.token_header, http::header::AUTHORIZATION);
        assert_eq!(config.auth.signature_tolerance.to_string(), "5m");
        assert!(config.rules.is_empty());
    }

    #[test]
    fn unknown_keys_are_errors_with_a_location() {
        let err = parse(&format!("{AUTH}dry-run = true\n")).unwrap_err();
        assert!(
            err.starts_with("test.toml:3:1: unknown field `dry-run`"),
            "{err}"
        );
        let err = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\nseverty = [\"WARN\"]\n"
        ))
        .unwrap_err();
        assert!(
            err.starts_with("test.toml:6:1: unknown field `severty`"),
            "{err}"
        );
    }

    #[test]
    fn action_fields_are_checked_too() {
        let err = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"lambda-alias\"\n\
             function = \"f\"\nalias = \"live\"\nto_version = \"$LATEST\"\n"
        ))
        .unwrap_err();
        // At the value it is about, not at the [[rule.action]] header on line 6.
        assert!(err.starts_with("test.toml:10:14: "), "{err}");
        assert!(
            err.contains("$LATEST is whatever was uploaded last"),
            "{err}"
        );
        let err = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"rollback\"\n"
        ))
        .unwrap_err();
        assert!(err.starts_with("test.toml:7:8: "), "{err}");
        assert!(err.contains("unknown variant `rollback`"), "{err}");
        assert!(err.contains("`codedeploy-rollback`"), "{err}");
    }

    /// A rule setting `keys`, with one action.
    fn rule_with(keys: &str) -> String {
        format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n{keys}\n[[rule.action]]\n\
             type = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\ndrop_canary = true\n"
        )
    }

    #[test]
    fn every_rule_cools_down_for_15_minutes_unless_it_says_otherwise() {
        let config = parse(&rule_with("")).unwrap();
        assert_eq!(config.rules[0].cooldown, Some(DEFAULT_COOLDOWN));
        assert_eq!(DEFAULT_COOLDOWN.to_string(), "15m");
        assert!(config.rules[0].attribution, "the attribution guard is on");
        let config = parse(&rule_with("cooldown = \"1m\"")).unwrap();
        assert_eq!(
            config.rules[0].cooldown.map(|c| c.to_string()),
            Some("1m".into())
        );
        let config = parse(&rule_with("cooldown = \"7d\"")).unwrap();
        assert_eq!(
            config.rules[0].cooldown.map(|c| c.to_string()),
            Some("7d".into())
        );
        for off in ["0s", "0m"] {
            let config = parse(&rule_with(&format!("cooldown = \"{off}\""))).unwrap();
            assert_eq!(config.rules[0].cooldown, None, "{off}");
        }
        let config = parse(&rule_with("attribution = false")).unwrap();
        assert!(!config.rules[0].attribution);
    }

    #[test]
    fn a_cooldown_under_a_minute_or_over_a_week_is_an_error_at_its_value() {
        let err = parse(&rule_with("cooldown = \"30s\"")).unwrap_err();
        assert_eq!(
            err,
            "test.toml:6:12: cooldown = \"30s\" is under a minute, which holds back nothing a \
             re-sent alert would not already be: set at least \"1m\", or \"0s\" to turn it off"
        );
        let err = parse(&rule_with("cooldown = \"8d\"")).unwrap_err();
        assert!(
            err.starts_with("test.toml:6:12: cooldown = \"8d\" must be at most 7d"),
            "{err}"
        );
        let err = parse(&rule_with("cooldown = \"soon\"")).unwrap_err();
        assert!(
            err.starts_with("test.toml:6:12: cooldown \"soon\" is not a duration"),
            "{err}"
        );
        let err = parse(&rule_with("attribution = \"no\"")).unwrap_err();
        assert!(err.starts_with("test.toml:6:"), "{err}");
    }

    #[test]
    fn redeploy_within_is_at_most_a_week_and_the_error_names_the_limit() {
        let rollback = |window: &str| {
            with_action(&format!(
                "  type = \"codedeploy-rollback\"\n  application = \"a\"\n  \
                 deployment_group = \"g\"\n  redeploy_within = \"{window}\"\n"
            ))
        };
        assert!(parse(&rollback("7d")).is_ok());
        let err = parse(&rollback("8d")).unwrap_err();
        assert!(
            err.starts_with("test.toml:10:21: redeploy_within = \"8d\" must be at most 7d"),
            "{err}"
        );
    }

    /// A rule with one indented action table holding `action` (its lines after `type`).
    fn with_action(action: &str) -> String {
        format!("{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n  [[rule.action]]\n{action}")
    }

    #[test]
    fn unknown_keys_inside_an_action_point_at_the_key() {
        let err = parse(&with_action(
            "  type = \"codedeploy-rollback\"\n  application = \"a\"\n  \
             deployment_group = \"g\"\n  redeploy_witin = \"1h\"\n",
        ))
        .unwrap_err();
        assert!(
            err.starts_with("test.toml:10:3: unknown field `redeploy_witin`, expected one of"),
            "{err}"
        );
        assert!(err.contains("`redeploy_within`"), "{err}");
        let err = parse(&with_action(
            "  type = \"lambda-alias\"\n  function = \"f\"\n  alias = \"live\"\n  \
             to_version = \"4\"\n  deployment_group = \"g\"\n",
        ))
        .unwrap_err();
        assert!(
            err.starts_with("test.toml:11:3: unknown field `deployment_group`"),
            "{err}"
        );
    }

    #[test]
    fn an_action_missing_a_key_says_what_to_add() {
        let err = parse(&with_action(
            "  type = \"codedeploy-rollback\"\n  application = \"a\"\n",
        ))
        .unwrap_err();
        assert!(
            err.starts_with(
                "test.toml:6:3: missing field `deployment_group`: add deployment_group"
            ),
            "{err}"
        );
        assert!(
            err.contains("a codedeploy-rollback action needs application"),
            "{err}"
        );
        let err = parse(&with_action(
            "  type = \"lambda-alias\"\n  function = \"f\"\n",
        ))
        .unwrap_err();
        assert!(err.contains("missing field `alias`"), "{err}");
        assert!(
            err.contains("a lambda-alias action needs function"),
            "{err}"
        );
        let err = parse(&with_action("  function = \"f\"\n")).unwrap_err();
        assert!(err.starts_with("test.toml:6:3: "), "{err}");
        assert!(err.contains("add type = \"codedeploy-rollback\""), "{err}");
        // A check an action makes on one key points at that key's value.
        let err = parse(&with_action(
            "  type = \"lambda-alias\"\n  function = \"f\"\n  alias = \"live\"\n  \
             to_alias = \"live\"\n",
        ))
        .unwrap_err();
        assert!(
            err.starts_with("test.toml:10:14: to_alias \"live\""),
            "{err}"
        );
        let err = parse(&format!("{AUTH}[[rule]]\nalert = \"a\"\n")).unwrap_err();
        assert!(
            err.starts_with("test.toml:3:1: missing field `name`: every [[rule]] needs"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_inside_auth_point_at_the_key() {
        let err = parse("[auth]\ntokens = [\"env:T\"]\ntoken = [\"env:U\"]\n").unwrap_err();
        assert!(
            err.starts_with("test.toml:3:1: unknown field `token`, expected one of `tokens`"),
            "{err}"
        );
    }

    const PASTED: &str = "tok-9f8e7d6c5b4a39281706";
    const PASTED_SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn secrets_pasted_into_auth_are_never_repeated() {
        let cases = [
            (
                format!("[auth]\ntokens = \"{PASTED}\"\n"),
                "test.toml:2:10: auth.tokens must be a list of references such as \
                 [\"env:WEBHOOK_TOKEN\"]",
            ),
            (
                format!("[auth]\nsigning_secrets = \"{PASTED_SIGNING}\"\n"),
                "test.toml:2:19: auth.signing_secrets must be a list of references such as \
                 [\"env:WEBHOOK_SIGNING_SECRET\"]",
            ),
            (
                format!("[auth]\nsigning_secrets = [\"{PASTED_SIGNING}\"]\n"),
                "test.toml:2:20: not a secret reference (the value is not shown)",
            ),
            (
                format!("[auth]\ntokens = [\"env:T\", {{ value = \"{PASTED}\" }}]\n"),
                "test.toml:2:20: each entry of auth.tokens must be a reference in quotes",
            ),
            (
                format!("[auth]\ntokens = {{ current = \"{PASTED}\" }}\n"),
                "test.toml:2:10: auth.tokens must be a list of references",
            ),
            (
                "[auth]\ntokens = 90817263545463\n".to_owned(),
                "test.toml:2:10: auth.tokens must be a list of references",
            ),
            (
                "[auth]\nsigning_secrets = [90817263545463]\n".to_owned(),
                "test.toml:2:20: each entry of auth.signing_secrets must be a reference",
            ),
            (
                format!("auth.tokens = \"{PASTED}\"\n"),
                "test.toml:1:15: auth.tokens must be a list of references",
            ),
            (
                format!("auth = \"{PASTED}\"\n"),
                "test.toml:1:8: auth must be a table",
            ),
            (
                format!("[auth]\ntokens = [\"env:T\"]\ntoken_header = \"Bearer {PASTED}\"\n"),
                "test.toml:3:16: token_header is not a valid HTTP header name (the value is not \
                 shown)",
            ),
            (
                format!("[auth]\ntokens = [\"env:T\"]\ntoken_header = [\"{PASTED}\"]\n"),
                "test.toml:3:16: auth.token_header must be a header name in quotes",
            ),
            (
                format!("[auth]\ntokens = [\"env:T\"]\nsignature_tolerance = \"{PASTED}\"\n"),
                "test.toml:3:23: auth.signature_tolerance must be a duration",
            ),
            (
                format!(
                    "[auth]\ntokens = [\"env:T\"]\ninsecure_allow_literal_secrets = \"{PASTED}\"\n"
                ),
                "test.toml:3:34: auth.insecure_allow_literal_secrets must be true or false",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.starts_with(expected), "{text}\ngave: {err}");
            assert!(!err.contains(PASTED), "{err}");
            assert!(!err.contains(&PASTED_SIGNING[6..]), "{err}");
            assert!(!err.contains("90817263545463"), "{err}");
        }
    }

    #[test]
    fn to_version_may_be_a_number() {
        let config = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"lambda-alias\"\n\
             function = \"f\"\nalias = \"live\"\nto_version = 7\n"
        ))
        .unwrap();
        let Action::LambdaAlias(shift) = &config.rules[0].actions[0] else {
            panic!("expected a lambda-alias action");
        };
        assert_eq!(shift.destination, Destination::Version("7".into()));
    }

    #[test]
    fn semantic_problems_are_all_reported_with_locations() {
        let err = parse(
            "[auth]\ntokens = [\"literal:abc\"]\n\n[[rule]]\nname = \"dup\"\nalert = \"a\"\n\
             [[rule.action]]\ntype = \"codedeploy-rollback\"\napplication = \"a\"\n\
             deployment_group = \"g\"\n\n[[rule]]\nname = \"dup\"\n",
        )
        .unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with("test.toml:2:11: literal secrets"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("test.toml:13:8: a rule named \"dup\" already"),
            "{err}"
        );
        assert!(lines[2].contains("would match every alert"), "{err}");
        assert!(lines[3].contains("has no actions"), "{err}");
        assert!(
            !err.contains("abc"),
            "the literal must not be echoed: {err}"
        );
    }

    #[test]
    fn bad_values_point_at_the_value() {
        let err = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"checkout [\"\n"
        ))
        .unwrap_err();
        assert!(err.starts_with("test.toml:5:9: "), "{err}");
        assert!(err.contains("escape a literal ["), "{err}");
        let err = parse("triggers = [\"ALERT_OPEN\"]\n[auth]\ntokens = [\"env:T\"]\n").unwrap_err();
        assert!(
            err.starts_with("test.toml:1:12: \"ALERT_OPEN\" is not a Wavefront"),
            "{err}"
        );
        let err = parse("[auth]\ntokens = [\"env:T\", \"s3cr3t\"]\n").unwrap_err();
        assert!(
            err.starts_with("test.toml:2:20: not a secret reference"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn auth_settings_that_would_defeat_authentication_are_refused() {
        let err = parse("[auth]\ntokens = [\"env:T\"]\ntoken_header = \"Webhook-Signature\"\n")
            .unwrap_err();
        assert!(
            err.starts_with("test.toml:3:16: token_header \"webhook-signature\""),
            "{err}"
        );
        for tolerance in ["\"2h\"", "\"500ms\""] {
            let err = parse(&format!(
                "[auth]\ntokens = [\"env:T\"]\nsignature_tolerance = {tolerance}\n"
            ))
            .unwrap_err();
            assert!(err.contains("must be whole seconds from 1s to 1h"), "{err}");
        }
        let err = parse(&format!(
            "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\ntags = [\"\"]\n"
        ))
        .unwrap_err();
        assert!(err.contains("lists an empty tag"), "{err}");
    }

    #[test]
    fn missing_auth_says_how_to_add_it() {
        let err = parse("dry_run = true\n").unwrap_err();
        assert!(err.contains("add an [auth] table"), "{err}");
    }

    #[test]
    fn locate_prefers_flag_then_env_then_task_root() {
        let env = |name: &str| match name {
            CONFIG_ENV => Some("/etc/r.toml".to_owned()),
            _ => None,
        };
        assert_eq!(
            search(Some(Path::new("x.toml")), &env).unwrap().path,
            PathBuf::from("x.toml")
        );
        assert_eq!(
            search(None, &env).unwrap().path,
            PathBuf::from("/etc/r.toml")
        );
        // Nothing on disk: the rule file compiled into the binary.
        let task_root = |name: &str| (name == "LAMBDA_TASK_ROOT").then(|| "/nonexistent".into());
        assert_eq!(
            search(None, &task_root).unwrap().path,
            PathBuf::from("rules/responder.toml")
        );
        assert_eq!(
            search(Some(Path::new("x.toml")), &env)
                .unwrap()
                .fallback_warning(),
            None
        );
        let found = search(None, &task_root).unwrap();
        assert_eq!(
            found.fallback_warning().unwrap(),
            "no config file found (looked at /nonexistent/responder.toml, responder.toml); \
             using the rules compiled into this binary from rules/responder.toml; pass --config \
             FILE or set RESPONDER_CONFIG to use another"
        );
    }

    #[test]
    fn an_unreadable_file_is_described_once_with_a_hint() {
        let err = Config::load(Path::new("no-such-dir/responder.toml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read config file no-such-dir/responder.toml: "),
            "{text}"
        );
        assert!(
            text.ends_with("; name an existing file with --config FILE or RESPONDER_CONFIG"),
            "{text}"
        );
        // The cause is in the message, so it is not also a source a chain would repeat.
        assert!(std::error::Error::source(&err).is_none(), "{err:?}");
        let chain = anyhow_like(&err);
        assert_eq!(chain.matches("(os error 2)").count(), 1, "{chain}");
    }

    /// The message and every source, joined as `{:#}` on an `anyhow::Error` joins them.
    fn anyhow_like(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(next) = source {
            text += &format!(": {next}");
            source = next.source();
        }
        text
    }

    #[test]
    fn compiled_in_rule_files_load_by_their_path() {
        let on_disk = std::fs::read_to_string("rules/responder.toml").unwrap();
        assert_eq!(
            embedded(Path::new("rules/responder.toml")),
            Some(on_disk.as_str())
        );
        assert_eq!(
            embedded(Path::new("./rules/responder.toml")),
            Some(on_disk.as_str())
        );
        assert_eq!(embedded(Path::new("rules/other.toml")), None);
        let dir = std::env::temp_dir();
        let config = Config::load(&dir.join("no-such-dir/rules/responder.toml"));
        assert!(matches!(config, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(line_column("ab\ncdé\nf", 8), (3, 1));
        assert_eq!(line_column("ab\ncdé\nf", 7), (2, 4));
    }
}
