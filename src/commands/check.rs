//! `check`: reads a config, resolves its secrets as start-up would (unless `--no-secrets`): the
//! `[auth]` tokens and signing secrets, and `[wavefront] api_token`, and prints what it
//! understood ([`report`]).

mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use wavefront_responder::app;
use wavefront_responder::auth::{self, Authenticator};
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
        let (setup, wavefront) = resolve_secrets(&config)?;
        check_report(
            &config,
            &Secrets::Usable {
                tokens: setup.authenticator.token_count(),
                signing_secrets: setup.authenticator.signing_secret_count(),
                warnings: &setup.warnings,
                wavefront: wavefront
                    .as_ref()
                    .map(|r| r.as_ref().map(|_| ()).map_err(String::as_str)),
            },
        )
    };
    print!("{report}");
    Ok(())
}

/// The config's tokens and signing secrets, and `[wavefront] api_token` (if there is one: its
/// start-up warning when it gives no value), resolved exactly as at start-up.
fn resolve_secrets(config: &Config) -> Result<(auth::Setup, Option<Result<(), String>>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let setup = runtime.block_on(async {
        let client = super::secrets_manager_for(config).await;
        let resolver = Resolver {
            env: &env,
            secrets_manager: client.as_ref(),
            previous_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        };
        let setup = Authenticator::from_config(&config.auth, resolver).await;
        let wavefront = match &config.wavefront {
            Some(settings) => Some(app::wavefront_client(settings, resolver).await.map(drop)),
            None => None,
        };
        (setup, wavefront)
    });
    let (setup, wavefront) = setup;
    let setup = setup.with_context(|| format!("config {}", config.path.display()))?;
    Ok((setup, wavefront))
}
