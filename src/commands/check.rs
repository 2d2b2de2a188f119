//! `check`: reads a config, resolves its secrets as start-up would (unless `--no-secrets`), and
//! prints what it understood ([`report`]).

mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use wavefront_responder::auth::{self, Authenticator};
use wavefront_responder::aws;
use wavefront_responder::config::Config;
use wavefront_responder::secret::Resolver;

use self::report::{Secrets, check_report};
use super::{CONFIG_HELP, Fallback, env, load_config};

/// `check`'s arguments.
#[derive(Args)]
pub struct CheckArgs {
    #[arg(long, help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Validate the file only; do not resolve secret references (for CI without secrets).
    #[arg(long)]
    no_secrets: bool,
}

/// `check`: what the config says, in words, with its secrets resolved as start-up would
/// (unless `--no-secrets`).
pub fn check(args: CheckArgs) -> Result<()> {
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let report = if args.no_secrets {
        check_report(&config, &Secrets::NotChecked)
    } else {
        let setup = resolve_secrets(&config)?;
        check_report(
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

/// The config's tokens and signing secrets, resolved exactly as at start-up.
fn resolve_secrets(config: &Config) -> Result<auth::Setup> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let setup = runtime.block_on(async {
        // Secrets Manager is only asked when the config names a secret there.
        let client = if config.auth.uses_secrets_manager() {
            Some(aws_sdk_secretsmanager::Client::new(&aws::load().await))
        } else {
            None
        };
        let resolver = Resolver {
            env: &env,
            secrets_manager: client.as_ref(),
            previous_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        };
        Authenticator::from_config(&config.auth, resolver).await
    });
    setup.with_context(|| format!("config {}", config.path.display()))
}
