//! The binary's commands: one enum of everything it can be asked to do, and the set-up they
//! share (logging, finding the config, opening the ledger). Each command lives in its own file
//! with the same two steps: its arguments as clap parses them, then running them.
//!
//! - [`serve`]: `serve` (plain HTTP on a workstation) and `lambda` (the function handler), and
//!   building the responder both run.
//! - [`check`]: `check`, the config read back in plain words.
//! - [`explain`]: `explain`, an alert walked through every rule.
//! - [`ledger`]: `ledger list|clear`, `freeze` and `unfreeze` on the shared DynamoDB ledger.
//! - [`register`]: `register`, the Wavefront alert target that calls the responder.
//!
//! These are modules of the binary, not of the library: `anyhow` stays at this edge.

mod check;
mod explain;
mod ledger;
mod register;
mod serve;

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use clap::Subcommand;
use wavefront_responder::aws;
use wavefront_responder::config::{self, Config};
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::memory::MemoryStore;
use wavefront_responder::ledger::{Ledger, Store};

/// The help of every command's `--config`.
const CONFIG_HELP: &str = "Config file [default: $RESPONDER_CONFIG, then responder.toml in \
                           $LAMBDA_TASK_ROOT, then in the working directory]";

/// Everything the binary can do, as clap parses it from the command line.
#[derive(Subcommand)]
pub enum Command {
    /// Serve the webhook over plain HTTP, as it runs on Lambda. By default actions are only
    /// described (plan-only): AWS is never called.
    Serve(serve::ServeArgs),
    /// Validate a config file, resolve its secrets as start-up would, and print what it
    /// understood. Exits 1 on any error.
    Check(check::CheckArgs),
    /// Show which rules an alert payload matches, why the others do not, and what would run.
    /// Makes no network calls.
    Explain(explain::ExplainArgs),
    /// Run as an AWS Lambda function (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda(serve::LambdaArgs),
    /// Show or reset the ledger (handled notifications, incident latches, cooldowns, circuit
    /// breaker, freezes) in the DynamoDB table the config names.
    Ledger(ledger::LedgerArgs),
    /// Hands off: every action that would change something (of every rule, or of --rule) is
    /// skipped until the freeze ends or `unfreeze` lifts it. Needs the DynamoDB ledger.
    Freeze(ledger::FreezeArgs),
    /// Lift the freeze of every rule, or with --rule the freeze of one rule.
    Unfreeze(ledger::UnfreezeArgs),
    /// Create or update the Wavefront alert target that calls the responder (through the API
    /// of the cluster in [wavefront]), and print the target:<id> to attach to alerts.
    Register(register::RegisterArgs),
}

impl Command {
    /// What runs when no command is given: the function handler on Lambda, else nothing.
    pub fn default_here() -> Option<Command> {
        on_lambda().then(|| Command::Lambda(serve::LambdaArgs::default()))
    }

    /// Runs the command to its end; an error is printed by `main`, which exits 1.
    pub fn run(self) -> Result<()> {
        match self {
            Command::Serve(args) => serve::serve(args),
            Command::Check(args) => check::check(args),
            Command::Explain(args) => explain::explain(args),
            Command::Lambda(args) => serve::lambda(args),
            Command::Ledger(args) => ledger::ledger(args),
            Command::Freeze(args) => ledger::freeze(args),
            Command::Unfreeze(args) => ledger::unfreeze(args),
            Command::Register(args) => register::register(args),
        }
    }
}

/// Crates whose TRACE or DEBUG output contains request headers or bodies (and so tokens or AWS
/// credentials): capped at INFO, they and every module in them, whatever RUST_LOG asks for.
const QUIET_CRATES: [&str; 7] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "hyper",
    "h2",
];

/// Whether `target` (a `tracing` target, `crate::module::...`) belongs to a quiet crate.
fn is_quiet(target: &str) -> bool {
    QUIET_CRATES.iter().any(|quiet| {
        target
            .strip_prefix(quiet)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Logs to stderr, plain text, at `RUST_LOG` (default info). Events and spans of the
/// [`QUIET_CRATES`] are kept to INFO and above by a second filter, after RUST_LOG's: a
/// directive naming one of their modules (`lambda_runtime::layers::api_response=trace`) cannot
/// lift it.
pub fn init_logging() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let requested = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let capped =
        filter_fn(|meta| *meta.level() <= tracing::Level::INFO || !is_quiet(meta.target()));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(requested.and(capped));
    tracing_subscriber::registry().with(layer).init();
}

/// Whether this process runs as a Lambda function.
fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The process environment, as the library's injectable lookups want it.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What to do when no config file is found and only the rules compiled into the binary are
/// left.
#[derive(Clone, Copy, Debug)]
enum Fallback {
    /// Use them, saying so loudly.
    Warn,
    /// Refuse to start, for this reason.
    Refuse(&'static str),
}

/// Finds and reads the config; when nothing was found, falls back to the rules compiled into
/// the binary (saying so loudly) or refuses, as `fallback` says.
fn load_config(explicit: Option<&Path>, fallback: Fallback) -> Result<Config> {
    let found = config::search(explicit, &env)?;
    match (&found.searched_before_fallback, fallback) {
        (None, _) => {}
        (Some(searched), Fallback::Refuse(why)) => {
            let searched: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
            anyhow::bail!(
                "no config file found (looked at {}); {why}, so it does not fall back to the \
                 rules compiled into this binary: pass --config FILE or set RESPONDER_CONFIG",
                searched.join(", ")
            );
        }
        (Some(_), Fallback::Warn) => {
            if let Some(warning) = found.fallback_warning() {
                tracing::warn!("{warning}");
            }
        }
    }
    Ok(Config::load(&found.path)?)
}

/// The ledger the config asks for: its DynamoDB table, or memory.
/// A Secrets Manager client when the config names a secret there (the SDK's settings are
/// loaded only then), for the commands that resolve secrets as start-up does.
async fn secrets_manager_for(config: &Config) -> Option<aws_sdk_secretsmanager::Client> {
    if config.uses_secrets_manager() {
        Some(aws_sdk_secretsmanager::Client::new(&aws::load().await))
    } else {
        None
    }
}

fn open_ledger(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Ledger> {
    let store: Arc<dyn Store> = match &config.ledger.table {
        Some(table) => {
            let name = table.resolve(&env).map_err(anyhow::Error::msg)?;
            Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), name))
        }
        None => Arc::new(MemoryStore::default()),
    };
    Ok(Ledger::new(
        store,
        config.ledger.retention,
        config.circuit_breaker,
    ))
}

#[cfg(test)]
mod tests {
    use super::is_quiet;

    #[test]
    fn a_quiet_crate_covers_its_modules_and_nothing_else() {
        for target in [
            "hyper",
            "hyper::proto::h1",
            "lambda_runtime::layers::api_response",
        ] {
            assert!(is_quiet(target), "{target}");
        }
        for target in [
            "hyper_util",
            "h2o",
            "wavefront_responder::app",
            "lambda_runtimes",
        ] {
            assert!(!is_quiet(target), "{target}");
        }
    }
}
