//! `serve` and `lambda`: the responder answering webhooks, over plain HTTP on a workstation or
//! as the Lambda function handler, and building that responder once per process (config,
//! secrets, AWS clients, ledger) in the mode the command asks for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use wavefront_responder::app::{Options, Responder, lambda, local};
use wavefront_responder::aws;
use wavefront_responder::execute::{Clients, Executor};
use wavefront_responder::telemetry::Telemetry;

use super::{CONFIG_HELP, Fallback, env, load_config, on_lambda, open_ledger};

/// `serve`'s arguments.
#[derive(Args)]
pub struct ServeArgs {
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
}

/// `lambda`'s arguments.
#[derive(Args, Default)]
pub struct LambdaArgs {
    #[arg(long, help = CONFIG_HELP)]
    config: Option<PathBuf>,
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

/// `serve`: answers webhooks on `listen` until the process is stopped.
pub fn serve(args: ServeArgs) -> Result<()> {
    let mode = match (args.dry_run, args.live) {
        (true, _) => Mode::DryRun,
        (_, true) => Mode::Live,
        _ => Mode::PlanOnly,
    };
    let listen = args.listen;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let responder = build(args.config.as_deref(), mode).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        if !listen.ip().is_loopback() {
            tracing::warn!(
                "listening on {listen}, which other machines can reach, over plain HTTP: the \
                 token (or the signed payloads) would cross the network in the clear; listen \
                 on 127.0.0.1, or put TLS in front"
            );
        }
        tracing::info!(
            address = %listener.local_addr()?,
            "serving; POST alerts to any path"
        );
        local::serve(responder, listener, local::Limits::default()).await?;
        Ok(())
    })
}

/// `lambda`: the function handler, acting as the config says.
pub fn lambda(args: LambdaArgs) -> Result<()> {
    // One invocation at a time per instance: a single thread is all Lambda gives us.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let responder = build(args.config.as_deref(), Mode::Live).await?;
        lambda::run(responder).await.map_err(|e| anyhow::anyhow!(e))
    })
}

/// Builds the responder once per process: config, secrets, and (unless plan-only) the AWS
/// clients from the standard configuration chain. Logs the mode, since it decides whether
/// real resources change.
async fn build(explicit: Option<&Path>, mode: Mode) -> Result<Arc<Responder>> {
    // Acting on rules nobody chose is worse than not starting: `serve --live` needs a file.
    let fallback = if mode == Mode::Live && !on_lambda() {
        Fallback::Refuse("serve --live changes real resources")
    } else {
        Fallback::Warn
    };
    let config = load_config(explicit, fallback)?;
    let path = config.path.display().to_string();
    let env_dry_run = dry_run_from_env()?;
    let announcement = announcement(mode, env_dry_run, config.dry_run, &path);
    // On Lambda acting is the point, so it is news only on a workstation.
    if on_lambda() {
        tracing::info!("{announcement}");
    } else {
        tracing::warn!("{announcement}");
    }
    let mut options = Options {
        force_dry_run: mode == Mode::DryRun || env_dry_run,
        ..Options::default()
    };
    if mode != Mode::PlanOnly {
        let sdk = aws::load().await;
        options.secrets_manager = Some(aws_sdk_secretsmanager::Client::new(&sdk));
        // Built only with [notify]: no client, no cost, for a responder without it.
        if config.notify.is_some() {
            options.sns = Some(aws_sdk_sns::Client::new(&sdk));
        }
        let ledger = open_ledger(&config, &sdk).with_context(|| format!("config {path}"))?;
        if config.ledger.table.is_none() && on_lambda() {
            tracing::warn!(
                "no [ledger] table: each Lambda instance remembers only its own deliveries and \
                 actions; configure a DynamoDB table so instances share them"
            );
        }
        options.executor = Some(Executor::new(Clients::new(&sdk), ledger));
    }
    let setup = Responder::setup(config, Arc::new(env), Telemetry::stdout(), options)
        .await
        .with_context(|| format!("config {path}"))?;
    for warning in &setup.warnings {
        tracing::warn!("{warning}");
    }
    Ok(Arc::new(setup.responder))
}

/// What the log says of `mode` at start-up, with what else makes every action a dry run: the
/// environment (`env_dry_run`) or the config at `path` (`config_dry_run`).
fn announcement(mode: Mode, env_dry_run: bool, config_dry_run: bool, path: &str) -> String {
    match mode {
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
        Mode::Live if config_dry_run => {
            format!("mode: LIVE, but {path} sets dry_run = true, so every action is a dry run")
        }
        Mode::Live => format!(
            "mode: LIVE: actions change real AWS resources as {path} says, with the standard \
             credentials (rules marked dry_run and the Test button stay dry runs)"
        ),
    }
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
