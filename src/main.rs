//! The `wavefront-responder` binary: parses arguments and hands over to the library.
//! Runs as a Lambda function when `AWS_LAMBDA_RUNTIME_API` is set and no command is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wavefront_responder::alert::Alert;
use wavefront_responder::app::{Options, Responder, lambda, local};
use wavefront_responder::auth::Authenticator;
use wavefront_responder::aws;
use wavefront_responder::cli::{self, Secrets};
use wavefront_responder::config::{self, Config};
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::Execution;
use wavefront_responder::execute::{Clients, Executor};
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};
use wavefront_responder::ledger::memory::MemoryStore;
use wavefront_responder::ledger::{Ledger, Store};
use wavefront_responder::plan::Plan;
use wavefront_responder::record::Record;
use wavefront_responder::secret::Resolver;
use wavefront_responder::telemetry::Telemetry;
use wavefront_responder::text::plural;

const CONFIG_HELP: &str = "Config file [default: $RESPONDER_CONFIG, then responder.toml in \
                           $LAMBDA_TASK_ROOT, then in the working directory]";

#[derive(Parser)]
#[command(
    version,
    about = "Rolls back a bad release when a Wavefront alert fires."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook over plain HTTP, as it runs on Lambda. By default actions are only
    /// described (plan-only): AWS is never called.
    Serve {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Call AWS, read-only: every action is a dry run, whatever the config says.
        #[arg(long, group = "mode")]
        dry_run: bool,
        /// Call AWS and act as the config says: rules that are not dry runs change real
        /// resources.
        #[arg(long, group = "mode")]
        live: bool,
        /// Describe actions without calling AWS at all, no credentials needed (the default).
        #[arg(long, group = "mode", hide = true)]
        plan_only: bool,
    },
    /// Validate a config file, resolve its secrets as start-up would, and print what it
    /// understood. Exits 1 on any error.
    Check {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Validate the file only; do not resolve secret references (for CI without secrets).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Show which rules an alert payload matches, why the others do not, and what would run.
    /// Makes no network calls.
    Explain {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// A Wavefront alert payload (JSON), as the alert target would POST it.
        payload: PathBuf,
        /// Print the decision record as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run as an AWS Lambda function (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Show or reset the ledger (handled notifications, incident latches, cooldowns, circuit
    /// breaker, freezes) in the DynamoDB table the config names.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
        #[arg(long, global = true, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Hands off: every action that would change something (of every rule, or of --rule) is
    /// skipped until the freeze ends or `unfreeze` lifts it. Needs the DynamoDB ledger.
    Freeze {
        /// How long it lasts, at most 7d: "30m", "2h", "1d".
        #[arg(long = "for", value_name = "DURATION", value_parser = HumanDuration::parse)]
        lasts: HumanDuration,
        /// Why, for whoever reads the records and the chat.
        #[arg(long)]
        reason: String,
        /// Freeze only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Who sets it [default: the local user name].
        #[arg(long)]
        by: Option<String>,
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Lift the freeze of every rule, or with --rule the freeze of one rule.
    Unfreeze {
        /// Lift only this rule's freeze.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// List every entry, oldest first.
    List,
    /// Delete entries: all of them but the records of the responder's own undo deployments
    /// (which expire by themselves), or with --circuit only the circuit breaker's.
    Clear {
        /// Only close the circuit breaker.
        #[arg(long)]
        circuit: bool,
    },
}

/// Targets whose TRACE or DEBUG output contains request headers or bodies (and so tokens or
/// AWS credentials): capped, whatever RUST_LOG asks for.
const QUIET_TARGETS: [&str; 7] = [
    "lambda_runtime=info",
    "lambda_runtime_api_client=info",
    "lambda_http=info",
    "aws_smithy_runtime=info",
    "aws_smithy_http_client=info",
    "hyper=info",
    "h2=info",
];

fn main() -> ExitCode {
    let args = Args::parse();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in QUIET_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();

    let command = match args.command {
        Some(command) => command,
        None if on_lambda => Command::Lambda { config: None },
        None => {
            eprintln!(
                "wavefront-responder: give a command (serve, check, explain, ledger, freeze, \
                 unfreeze); see --help.\n\
                 On AWS Lambda it runs as the function handler by itself."
            );
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The process environment, as the library's injectable lookups want it.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Check { config, no_secrets } => check(config, no_secrets),
        Command::Explain {
            config,
            payload,
            json,
        } => {
            let config = load(config.as_deref())?;
            let body = std::fs::read(&payload)
                .with_context(|| format!("cannot read payload {}", payload.display()))?;
            let alert =
                Alert::parse(&body).with_context(|| format!("payload {}", payload.display()))?;
            if json {
                let plan = Plan::new("explain", &alert, &config.rules, config.dry_run);
                let decision = Record::new(&plan, Execution::planned(&plan));
                // Through a Value, so the records rendered once at start-up (rules missed on
                // the name) are pretty-printed like the rest instead of copied as one line.
                let record = serde_json::to_value(&decision)?;
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", cli::explain_report(&config, &alert));
            }
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            dry_run,
            live,
            plan_only: _,
        } => {
            let mode = match (dry_run, live) {
                (true, _) => Mode::DryRun,
                (_, true) => Mode::Live,
                _ => Mode::PlanOnly,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let responder = build(config.as_deref(), mode).await?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(
                    address = %listener.local_addr()?,
                    "serving; POST alerts to any path"
                );
                local::serve(responder, listener).await?;
                Ok(())
            })
        }
        Command::Ledger { command, config } => ledger_command(command, config),
        Command::Freeze {
            lasts,
            reason,
            rule,
            by,
            config,
        } => freeze(lasts, reason, rule, by, config),
        Command::Unfreeze { rule, config } => unfreeze(rule, config),
        Command::Lambda { config } => {
            // One invocation at a time per instance: a single thread is all Lambda gives us.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let responder = build(config.as_deref(), Mode::Live).await?;
                lambda::run(responder).await.map_err(|e| anyhow::anyhow!(e))
            })
        }
    }
}

/// `check`: what the config says, in words, with its secrets resolved as start-up would
/// (unless `no_secrets`).
fn check(config: Option<PathBuf>, no_secrets: bool) -> Result<()> {
    let config = load(config.as_deref())?;
    let report = if no_secrets {
        cli::check_report(&config, &Secrets::NotChecked)
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let setup = runtime.block_on(async {
            // Secrets Manager is only asked when the config names a secret there.
            let uses_secrets_manager = config.auth.uses_secrets_manager();
            let client = if uses_secrets_manager {
                Some(aws_sdk_secretsmanager::Client::new(&aws::load().await))
            } else {
                None
            };
            let resolver = Resolver {
                env: &env,
                secrets_manager: client.as_ref(),
            };
            Authenticator::from_config(&config.auth, resolver).await
        });
        let setup = setup.with_context(|| format!("config {}", config.path.display()))?;
        cli::check_report(
            &config,
            &Secrets::Usable {
                tokens: setup.authenticator.token_count(),
                signing_secrets: setup.authenticator.signing_secret_count(),
                warnings: &setup.warnings,
            },
        )
    };
    print!("{report}");
    Ok(())
}

/// `ledger list|clear` on the config's DynamoDB table.
fn ledger_command(command: LedgerCommand, config: Option<PathBuf>) -> Result<()> {
    let config = load(config.as_deref())?;
    let config = &config;
    on_shared_ledger(config, "ledger", |ledger| async move {
        match command {
            LedgerCommand::List => {
                let now = jiff::Timestamp::now();
                let (freezes, entries) = ledger.list_with_freezes(now).await?;
                println!("{}: {}", ledger.describe(), plural(entries.len(), "entry"));
                for freeze in &freezes {
                    println!("{}", cli::freeze_line(freeze, config));
                }
                for entry in entries {
                    println!("{}", cli::ledger_line(&entry, now));
                }
            }
            LedgerCommand::Clear { circuit } => {
                let cleared = ledger.clear(circuit).await?;
                let what = if circuit {
                    "circuit breaker slot"
                } else {
                    "entry"
                };
                println!("{}: deleted {}", ledger.describe(), plural(cleared, what));
            }
        }
        Ok(())
    })
}

/// `freeze`: records a freeze in the config's DynamoDB ledger.
fn freeze(
    lasts: HumanDuration,
    reason: String,
    rule: Option<String>,
    by: Option<String>,
    config: Option<PathBuf>,
) -> Result<()> {
    let config = load(config.as_deref())?;
    let scope = freeze_scope(&config, rule, "freeze")?;
    let by = by
        .or_else(user_name)
        .unwrap_or_else(|| "unknown".to_owned());
    let freeze = Freeze::new(scope, &reason, &by, jiff::Timestamp::now(), lasts)
        .map_err(anyhow::Error::msg)?;
    let config = &config;
    on_shared_ledger(config, "freeze", |ledger| async move {
        ledger.freeze(&freeze).await?;
        print!("{}", cli::froze_report(&freeze, &ledger.describe(), config));
        Ok(())
    })
}

/// `unfreeze`: lifts a freeze, and says which are still on.
fn unfreeze(rule: Option<String>, config: Option<PathBuf>) -> Result<()> {
    let config = load(config.as_deref())?;
    let scope = freeze_scope(&config, rule, "unfreeze")?;
    let config = &config;
    on_shared_ledger(config, "unfreeze", |ledger| async move {
        let now = jiff::Timestamp::now();
        let lifted = ledger.unfreeze(&scope, now).await?;
        let left = ledger.freezes(now).await?;
        print!(
            "{}",
            cli::unfroze_report(&scope, lifted.as_ref(), &left, config)
        );
        Ok(())
    })
}

/// What `--rule` names, checked against the config: a typo must not freeze nothing.
fn freeze_scope(config: &Config, rule: Option<String>, command: &str) -> Result<FreezeScope> {
    let Some(rule) = rule else {
        return Ok(FreezeScope::Every);
    };
    if config.rules.iter().any(|r| r.name == rule) {
        return Ok(FreezeScope::Rule(rule));
    }
    let names: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
    anyhow::bail!(
        "{command} --rule {rule}: {} has no rule of that name; its rules are {}",
        config.path.display(),
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// Runs `command`'s `work` on the config's shared DynamoDB ledger; a config without one is an
/// error, since an in-memory ledger lives inside each running responder, out of reach.
fn on_shared_ledger<F, Fut>(config: &Config, command: &str, work: F) -> Result<()>
where
    F: FnOnce(Ledger) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    if config.ledger.table.is_none() {
        anyhow::bail!(
            "`wavefront-responder {command}` needs the shared DynamoDB ledger, and {} names no \
             [ledger] table: each running responder keeps its ledger in its own memory, out of \
             this command's reach; set [ledger] table (the deployment template creates one and \
             passes its name)",
            config.path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = aws::load().await;
        work(ledger(config, &sdk)?).await
    })
}

/// The local user's name, for who set a freeze.
fn user_name() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
}

/// The ledger the config asks for: its DynamoDB table, or memory.
fn ledger(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Ledger> {
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

/// `RESPONDER_DRY_RUN=true` (the deployment template's DryRun parameter) makes every action a
/// dry run; `false` or unset leaves it to the config.
fn dry_run_from_env() -> Result<bool> {
    match env("RESPONDER_DRY_RUN").as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => anyhow::bail!("RESPONDER_DRY_RUN is \"{other}\"; set it to true or false"),
    }
}

/// Finds and reads the config; says loudly when nothing was found and the rules compiled into
/// the binary are used instead.
fn load(explicit: Option<&Path>) -> Result<Config> {
    let found = config::search(explicit, &env)?;
    if let Some(warning) = found.fallback_warning() {
        tracing::warn!("{warning}");
    }
    Ok(Config::load(&found.path)?)
}

/// How a responder treats AWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Actions are described; AWS is never called (`serve`'s default).
    PlanOnly,
    /// Read-only AWS calls: every action is a dry run (`serve --dry-run`).
    DryRun,
    /// Actions run as the config says (`serve --live`, and on Lambda).
    Live,
}

/// Builds the responder once per process: config, secrets, and (unless plan-only) the AWS
/// clients from the standard configuration chain. Logs the mode, since it decides whether
/// real resources change.
async fn build(explicit: Option<&Path>, mode: Mode) -> Result<Arc<Responder>> {
    let config = load(explicit)?;
    let path = config.path.display().to_string();
    let env_dry_run = dry_run_from_env()?;
    let force_dry_run = mode == Mode::DryRun || env_dry_run;
    let announcement = match mode {
        Mode::PlanOnly => format!(
            "mode: PLAN-ONLY: actions are described and AWS is never called; --dry-run makes \
             read-only AWS calls, --live acts as {path} says"
        ),
        Mode::DryRun => "mode: DRY RUN: read-only AWS calls with the standard credentials; \
                         every action only reports what it would do"
            .to_owned(),
        Mode::Live if env_dry_run => {
            "mode: LIVE, but RESPONDER_DRY_RUN=true makes every action a dry run".to_owned()
        }
        Mode::Live if config.dry_run => {
            format!("mode: LIVE, but {path} sets dry_run = true, so every action is a dry run")
        }
        Mode::Live => format!(
            "mode: LIVE: actions change real AWS resources as {path} says, with the standard \
             credentials (rules marked dry_run and the Test button stay dry runs)"
        ),
    };
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    // On Lambda acting is the point, so it is news only on a workstation.
    if on_lambda {
        tracing::info!("{announcement}");
    } else {
        tracing::warn!("{announcement}");
    }
    let mut secrets_manager = None;
    let executor = if mode != Mode::PlanOnly {
        let sdk = aws::load().await;
        secrets_manager = Some(aws_sdk_secretsmanager::Client::new(&sdk));
        let ledger = ledger(&config, &sdk).with_context(|| format!("config {path}"))?;
        if config.ledger.table.is_none() && on_lambda {
            tracing::warn!(
                "no [ledger] table: each Lambda instance remembers only its own deliveries and \
                 actions; configure a DynamoDB table so instances share them"
            );
        }
        Some(Executor::new(Clients::new(&sdk), ledger))
    } else {
        None
    };
    let options = Options {
        force_dry_run,
        executor,
        secrets_manager,
        ..Options::default()
    };
    let setup = Responder::setup(config, Arc::new(env), Telemetry::stdout(), options)
        .await
        .with_context(|| format!("config {path}"))?;
    for warning in &setup.warnings {
        tracing::warn!("{warning}");
    }
    Ok(Arc::new(setup.responder))
}
