//! Remediation actions: the `[[rule.action]]` entries of the config, validated, and what each
//! one is going to do to which AWS resource.
//!
//! One [`Action`] enum holds every kind; each kind lives in its own file and owns its config
//! fields, its description and its execution:
//! - [`codedeploy`]: `codedeploy-rollback`, stop a deployment group's active deployments with
//!   rollback (or undo a recent success).
//! - [`lambda_alias`]: `lambda-alias`, move a Lambda alias back to a known good version.
//! - [`attribution`]: the attribution guard both kinds apply (undo only what began before the
//!   incident started).
//! - [`aws`]: the clients and the bookkeeping every AWS call shares.
//! - [`handover`]: the aliases a `codedeploy-rollback` left to CodeDeploy, which a later
//!   `lambda-alias` action of the same request leaves alone.
//! - [`executor`]: runs the actions of a decision, guarded by the ledger, within the time
//!   budget.

pub mod attribution;
pub mod aws;
pub mod codedeploy;
pub mod executor;
pub mod handover;
pub mod lambda_alias;

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;

use crate::decision::ActionOutcome;
use crate::duration::HumanDuration;
use crate::ledger::Ledger;
use crate::ledger::attribution::IncidentStart;
use aws::{Aws, Calls};
pub use executor::{AFTER_DEADLINE, Executor};

/// One remediation step of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAction")]
pub enum Action {
    /// Stop the deployment group's active deployments with rollback.
    CodeDeployRollback(codedeploy::Rollback),
    /// Move a Lambda alias to a known good version.
    LambdaAlias(lambda_alias::AliasShift),
}

impl Action {
    /// The action's `type` in config, also used in records and audit lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CodeDeployRollback(_) => "codedeploy-rollback",
            Self::LambdaAlias(_) => "lambda-alias",
        }
    }

    /// The resource it acts on, short: `checkout/checkout-prod`, `checkout:live`.
    pub fn target(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.target(),
            Self::LambdaAlias(a) => a.target(),
        }
    }

    /// What the action would do, in one sentence starting with "would".
    pub fn plan(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.plan(),
            Self::LambdaAlias(a) => a.plan(),
        }
    }
}

/// What running an action needs besides its own config.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Make only read-only calls, and say what would be done.
    pub dry_run: bool,
    /// When the request arrived.
    pub now: Timestamp,
    /// When the incident started, for the attribution guard; `None` when the rule turns the
    /// guard off.
    pub since: Option<IncidentStart>,
    /// Where the responder records the undo deployments it creates.
    pub ledger: &'a Ledger,
    pub request_id: &'a str,
}

impl Action {
    /// Runs the action against AWS, recording its calls in `calls` (which outlive the action
    /// if its time budget cuts it off); in a dry run, only read-only calls are made. It runs
    /// after the earlier actions of the same request: `handed_over` holds the Lambda aliases
    /// they left to CodeDeploy to move back. A `codedeploy-rollback` adds to
    /// it; a `lambda-alias` on one of them leaves it alone.
    pub async fn execute_after(
        &self,
        aws: &Aws,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut codedeploy::HandedOver,
    ) -> (ActionOutcome, String) {
        match self {
            Self::CodeDeployRollback(a) => a.execute(aws, context, calls, handed_over).await,
            Self::LambdaAlias(a) => {
                let mode = (context.dry_run, context.since.as_ref());
                a.execute(&aws.lambda, mode, handed_over, calls).await
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.target())
    }
}

/// The action table as written; [`Action`] is built from it after validation.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum RawAction {
    CodedeployRollback(RawCodeDeploy),
    LambdaAlias(RawLambdaAlias),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeDeploy {
    application: String,
    deployment_group: String,
    redeploy_within: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLambdaAlias {
    function: String,
    alias: String,
    to_version: Option<VersionText>,
    to_alias: Option<String>,
    drop_canary: Option<bool>,
}

/// `to_version` may be written as `"7"` or `7`.
struct VersionText(String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(deserializer) {
            Ok(Either::Text(text)) => Ok(Self(text)),
            Ok(Either::Number(n)) => Ok(Self(n.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "to_version must be a published version number, like \"7\"",
            )),
        }
    }
}

impl TryFrom<RawAction> for Action {
    type Error = String;

    fn try_from(raw: RawAction) -> Result<Self, String> {
        match raw {
            RawAction::CodedeployRollback(r) => {
                codedeploy::Rollback::new(r.application, r.deployment_group, r.redeploy_within)
                    .map(Self::CodeDeployRollback)
            }
            RawAction::LambdaAlias(r) => {
                let destination = match (r.to_version, r.to_alias, r.drop_canary) {
                    (Some(v), None, None | Some(false)) => {
                        lambda_alias::Destination::version(&v.0)?
                    }
                    (None, Some(a), None | Some(false)) => lambda_alias::Destination::alias(&a)?,
                    (None, None, Some(true)) => lambda_alias::Destination::DropCanary,
                    _ => {
                        return Err("a lambda-alias action needs exactly one destination: \
                             to_version = \"41\", to_alias = \"stable\", or drop_canary = true"
                            .into());
                    }
                };
                lambda_alias::AliasShift::new(r.function, r.alias, destination)
                    .map(Self::LambdaAlias)
            }
        }
    }
}

/// Checks a name is non-empty and within a length AWS accepts.
fn check_name(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} cannot be empty"));
    }
    if value.len() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if value.trim() != value {
        return Err(format!(
            "{field} \"{value}\" has leading or trailing spaces"
        ));
    }
    Ok(())
}
