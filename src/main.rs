//! The `wavefront-responder` binary: parses arguments and hands over to the library.
//! Runs as a Lambda function when `AWS_LAMBDA_RUNTIME_API` is set and no command is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wavefront_responder::alert::Alert;
use wavefront_responder::cli;
use wavefront_responder::config::{self, Config};
use wavefront_responder::front_door::{Responder, lambda, local};
use wavefront_responder::telemetry::Telemetry;

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
    /// Serve the webhook over plain HTTP, as it runs on Lambda.
    Serve {
        /// Config file (default: $RESPONDER_CONFIG, then ./responder.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Plan every action but change nothing, whatever the config says.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate a config file and print what it understood. Exits 1 on any error.
    Check {
        /// Config file (default: $RESPONDER_CONFIG, then ./responder.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show which rules an alert payload matches, why the others do not, and what would run.
    /// Makes no network calls.
    Explain {
        /// Config file (default: $RESPONDER_CONFIG, then ./responder.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A Wavefront alert payload (JSON), as the alert target would POST it.
        payload: PathBuf,
        /// Print the decision record as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run as an AWS Lambda function (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda {
        /// Config file (default: $RESPONDER_CONFIG, then $LAMBDA_TASK_ROOT/responder.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let command = match args.command {
        Some(command) => command,
        None if on_lambda => Command::Lambda { config: None },
        None => {
            eprintln!(
                "wavefront-responder: give a command (serve, check, explain); see --help.\n\
                 On AWS Lambda it runs as the function handler by itself."
            );
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    match command {
        Command::Check { config } => {
            let config = load(config.as_deref())?;
            let (report, _usable) = cli::check_report(&config, &env);
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
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
                let evaluations = wavefront_responder::rules::evaluate(&config.rules, &alert);
                let decision = wavefront_responder::decision::Decision::plan(
                    "explain",
                    &alert,
                    &evaluations,
                    config.dry_run,
                );
                println!("{}", serde_json::to_string_pretty(&decision)?);
            } else {
                print!("{}", cli::explain_report(&config, &alert));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            config,
            listen,
            dry_run,
        } => {
            let responder = build(config.as_deref(), dry_run)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(
                    address = %listener.local_addr()?,
                    "serving; POST alerts to any path"
                );
                local::serve(responder, listener).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Lambda { config } => {
            let responder = build(config.as_deref(), false)?;
            // One invocation at a time per instance: a single thread is all Lambda gives us.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(lambda::run(responder))
                .map_err(|e| anyhow::anyhow!(e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(explicit: Option<&Path>) -> Result<Config> {
    let path = config::locate(explicit, &|name| std::env::var(name).ok())?;
    Ok(Config::load(&path)?)
}

fn build(explicit: Option<&Path>, force_dry_run: bool) -> Result<Arc<Responder>> {
    let config = load(explicit)?;
    let path = config.path.display().to_string();
    let setup = Responder::setup(
        config,
        &|name| std::env::var(name).ok(),
        Telemetry::stdout(),
        force_dry_run,
    )
    .with_context(|| format!("config {path}"))?;
    for warning in &setup.warnings {
        tracing::warn!("{warning}");
    }
    Ok(Arc::new(setup.responder))
}
