//! `explain`: reads an alert payload and shows which rules it matches, why the others do not,
//! and what would run, as text ([`report`]) or as the decision record in JSON. No network
//! calls.

mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use wavefront_responder::alert::Alert;

use self::report::{decide, explain_report};
use super::{CONFIG_HELP, Fallback, load_config};

/// `explain`'s arguments.
#[derive(Args)]
pub struct ExplainArgs {
    #[arg(long, help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// A Wavefront alert payload (JSON), as the alert target would POST it.
    payload: PathBuf,
    /// Print the decision record as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `explain`: the alert in `args.payload` against the config's rules.
pub fn explain(args: ExplainArgs) -> Result<()> {
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let payload = &args.payload;
    let body = std::fs::read(payload)
        .with_context(|| format!("cannot read payload {}", payload.display()))?;
    let alert = Alert::parse(&body).with_context(|| format!("payload {}", payload.display()))?;
    if args.json {
        // Through a Value, so the records rendered once at start-up (rules missed on the name)
        // are pretty-printed like the rest instead of copied as one line.
        let record = serde_json::to_value(decide(&config, &alert))?;
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print!("{}", explain_report(&config, &alert));
    }
    Ok(())
}
