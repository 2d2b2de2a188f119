//! Configuration: finding the TOML file, parsing it, and validating it once at start-up into
//! the types the rest of the crate uses. Every error names the file, line and column and says
//! how to fix it; unknown keys are errors, so a typo never silently disables a rule.
//!
//! - `locate`: where the file is (`--config`, `$RESPONDER_CONFIG`, `$LAMBDA_TASK_ROOT`, the
//!   working directory, or the rule file compiled in).
//! - `raw`: the shapes serde reads the TOML into.
//! - `validate`: raw shapes to validated types, one function per table.
//! - `diagnostics`: the errors, with their locations and the fixes they suggest.

mod diagnostics;
mod locate;
mod notify;
mod raw;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::alert::Reason;
use crate::duration::HumanDuration;
use crate::ledger::CircuitBreaker;
use crate::plan::rules::Rules;

pub use diagnostics::{ConfigError, Problem};
pub use locate::{Located, search};

use crate::auth::AuthConfig;
use locate::{CONFIG_ENV, embedded};

use diagnostics::{Problems, describe_toml_error};
use raw::RawConfig;

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
/// The circuit breaker, on unless `[circuit_breaker] enabled = false`.
pub const DEFAULT_CIRCUIT_BREAKER: CircuitBreaker = CircuitBreaker {
    max_actions: 5,
    window: HumanDuration::new(std::time::Duration::from_secs(3600)),
};

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
    /// Wavefront's API, for events and the "still firing?" check; `None` turns both off.
    pub wavefront: Option<crate::wavefront::Settings>,
    /// Chat notifications through SNS; `None` turns them off.
    pub notify: Option<crate::announce::notify::Settings>,
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

impl Config {
    /// Whether any secret reference in the file names Secrets Manager (`[auth]`'s, or
    /// `[wavefront]`'s API token).
    pub fn uses_secrets_manager(&self) -> bool {
        self.auth.uses_secrets_manager()
            || (self.wavefront.as_ref()).is_some_and(|w| w.api_token.is_secrets_manager())
    }

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

    /// Validates config text; `path` is only used in messages. A TOML error is reported
    /// alone; otherwise every problem in every table is.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(text, path);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (span, message) = describe_toml_error(text, &e);
            ConfigError::Invalid {
                problems: vec![problems.locate(span, message)],
            }
        })?;
        let triggers = validate::triggers(raw.triggers, &mut problems);
        let time_budget = validate::time_budget(raw.time_budget, &mut problems);
        let ledger = validate::ledger(raw.ledger, &mut problems);
        let circuit_breaker = validate::circuit_breaker(raw.circuit_breaker, &mut problems);
        let auth = validate::auth(raw.auth, &mut problems);
        let has_wavefront = raw.wavefront.is_some();
        let rules = validate::rules(raw.rules, (&triggers, has_wavefront), &mut problems);
        let wavefront = validate::wavefront(raw.wavefront, &mut problems);
        let notify = raw.notify.and_then(|n| notify::settings(n, &mut problems));
        problems.into_result()?;
        Ok(Config {
            path: path.to_owned(),
            compiled_in: false,
            dry_run: raw.dry_run,
            triggers,
            auth,
            time_budget,
            ledger,
            circuit_breaker,
            rules,
            wavefront,
            notify,
        })
    }
}

#[cfg(test)]
mod firing_tests;
#[cfg(test)]
mod tests;
