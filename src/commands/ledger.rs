//! `ledger list|clear`, `freeze` and `unfreeze`: reading and changing the shared DynamoDB
//! ledger from a workstation, and the lines they print.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use wavefront_responder::aws;
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::ledger::freeze::{Freeze, FreezeScope};
use wavefront_responder::ledger::{Entry, Ledger};
use wavefront_responder::text::{plural, printable};

use super::{CONFIG_HELP, Fallback, env, load_config, open_ledger};

/// `ledger`'s arguments.
#[derive(Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
    #[arg(long, global = true, help = CONFIG_HELP)]
    config: Option<PathBuf>,
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

/// `freeze`'s arguments.
#[derive(Args)]
pub struct FreezeArgs {
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
}

/// `unfreeze`'s arguments.
#[derive(Args)]
pub struct UnfreezeArgs {
    /// Lift only this rule's freeze.
    #[arg(long)]
    rule: Option<String>,
    #[arg(long, help = CONFIG_HELP)]
    config: Option<PathBuf>,
}

/// `ledger list|clear` on the config's DynamoDB table.
pub fn ledger(args: LedgerArgs) -> Result<()> {
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let config = &config;
    let command = args.command;
    on_shared_ledger(config, "ledger", |ledger| async move {
        match command {
            LedgerCommand::List => {
                let now = jiff::Timestamp::now();
                let (freezes, entries) = ledger.list_with_freezes(now).await?;
                println!("{}: {}", ledger.describe(), plural(entries.len(), "entry"));
                for freeze in &freezes {
                    println!("{}", freeze_line(freeze, config));
                }
                for entry in entries {
                    println!("{}", ledger_line(&entry, now));
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
pub fn freeze(args: FreezeArgs) -> Result<()> {
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let scope = freeze_scope(&config, args.rule, "freeze")?;
    let by = args
        .by
        .or_else(user_name)
        .unwrap_or_else(|| "unknown".to_owned());
    let freeze = Freeze::new(scope, &args.reason, &by, jiff::Timestamp::now(), args.lasts)
        .map_err(anyhow::Error::msg)?;
    let config = &config;
    on_shared_ledger(config, "freeze", |ledger| async move {
        ledger.freeze(&freeze).await?;
        print!("{}", froze_report(&freeze, &ledger.describe(), config));
        Ok(())
    })
}

/// `unfreeze`: lifts a freeze, and says which are still on.
pub fn unfreeze(args: UnfreezeArgs) -> Result<()> {
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let scope = freeze_scope(&config, args.rule, "unfreeze")?;
    let config = &config;
    on_shared_ledger(config, "unfreeze", |ledger| async move {
        let now = jiff::Timestamp::now();
        let lifted = ledger.unfreeze(&scope, now).await?;
        let left = ledger.freezes(now).await?;
        print!("{}", unfroze_report(&scope, lifted.as_ref(), &left, config));
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
        work(open_ledger(config, &sdk)?).await
    })
}

/// The local user's name, for who set a freeze.
fn user_name() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
}

/// One `ledger list` line: key, who claimed it when, until when it counts, and what it is.
/// Keys and notes carry alert data (ids, names), so control characters are escaped: an alert
/// name must not be able to drive the terminal of whoever lists the ledger.
fn ledger_line(entry: &Entry, now: jiff::Timestamp) -> String {
    let at = wavefront_responder::text::millis_text(entry.claimed_at);
    let until = jiff::Timestamp::from_second(entry.expires_at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let state = if entry.live(now) { "until" } else { "expired" };
    format!(
        "{}  claimed {at} by {}  {state} {until}  {}",
        printable(&entry.key.to_string()),
        printable(&entry.claimed_by),
        printable(&entry.note)
    )
}

/// One `ledger list` line for a freeze that is on.
fn freeze_line(freeze: &Freeze, config: &Config) -> String {
    format!(
        "FROZEN: {}; lift it with `{}`",
        printable(&freeze.to_string()),
        unfreeze_command(&freeze.scope, config)
    )
}

/// What `freeze` prints once the freeze is recorded.
fn froze_report(freeze: &Freeze, ledger: &str, config: &Config) -> String {
    let lasts = freeze.until.duration_since(freeze.set_at).as_secs().max(0);
    let lasts = HumanDuration::new(std::time::Duration::from_secs(lasts.unsigned_abs()));
    format!(
        "froze {} until {} ({lasts}) in {ledger}\n\
         reason: \"{}\"; set by {}\n\
         every action of {} that would change something is skipped with guard \"frozen\"; dry \
         runs and the Test button still say what they would do\n\
         lift it early with: {}\n",
        freeze.scope,
        freeze.until,
        freeze.reason,
        freeze.by,
        match &freeze.scope {
            FreezeScope::Every => "every rule".to_owned(),
            FreezeScope::Rule(rule) => format!("rule {rule}"),
        },
        unfreeze_command(&freeze.scope, config)
    )
}

/// What `unfreeze` prints: what it lifted, and the freezes still on.
fn unfroze_report(
    scope: &FreezeScope,
    lifted: Option<&Freeze>,
    left: &[Freeze],
    config: &Config,
) -> String {
    let mut out = match lifted {
        Some(freeze) => format!("lifted: {freeze}\n"),
        None => format!("no freeze of {scope} was on; nothing to lift\n"),
    };
    for freeze in left {
        let _ = writeln!(out, "{}", freeze_line(freeze, config));
    }
    if left.is_empty() {
        out.push_str("no freeze is on: the rules act as configured\n");
    }
    out
}

/// The exact command that lifts a freeze of `scope` for `config`.
fn unfreeze_command(scope: &FreezeScope, config: &Config) -> String {
    format!(
        "{} --config {}",
        scope.lift_command(),
        config.path.display()
    )
}

#[cfg(test)]
mod tests {
    use wavefront_responder::ledger::Key;

    use super::*;

    #[test]
    fn a_listed_entry_cannot_drive_the_terminal() {
        // An alert whose id and name carry escape sequences (clear the screen, set the window
        // title, ring the bell) and a new line that would fake a second entry.
        let entry = Entry {
            key: Key {
                pk: "incident#\u{1b}[2J#1599947259000".into(),
                sk: "latch#checkout:live".into(),
            },
            claimed_at: 1_599_947_259_734,
            claimed_by: "req-1".into(),
            claim_id: "req-1#0".into(),
            expires_at: 1_599_950_000,
            note: "checkout\u{1b}]0;owned\u{7} acted on checkout:live\nnotification#x".into(),
            pending: false,
        };
        let now = jiff::Timestamp::from_second(1_599_947_300).unwrap();
        let line = ledger_line(&entry, now);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains(r"incident#\u{1b}[2J#1599947259000"), "{line}");
        assert!(
            line.contains(r"checkout\u{1b}]0;owned\u{7} acted on checkout:live\nnotification#x")
        );
    }
}
