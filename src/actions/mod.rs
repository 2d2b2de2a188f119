//! What a remediation action is: the `[[rule.action]]` entries of the config, validated, the
//! resource each acts on and the sentence saying what it would do. Nothing here calls AWS;
//! running an action is `execute`.
//!
//! - [`appconfig`]: `appconfig-rollback`, stop an AppConfig environment's deployment in progress
//!   (or revert a recent one).
//! - [`codedeploy`]: `codedeploy-rollback`, stop a deployment group's active deployments with
//!   rollback (or undo a recent success).
//! - [`ecs`]: `ecs-rollback`, stop an ECS service's deployment in progress with rollback.
//! - [`lambda_alias`]: `lambda-alias`, move a Lambda alias back to a known good version.

pub mod appconfig;
pub mod codedeploy;
pub mod ecs;
pub mod lambda_alias;

use std::fmt;

use serde::Deserialize;

use crate::aws::Home;

use crate::duration::HumanDuration;

/// One remediation step of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAction")]
pub enum Action {
    /// Stop the deployment group's active deployments with rollback.
    CodeDeployRollback(codedeploy::Rollback),
    /// Move a Lambda alias to a known good version.
    LambdaAlias(lambda_alias::AliasShift),
    /// Stop an ECS service's deployment in progress with rollback.
    EcsRollback(ecs::ServiceRollback),
    /// Stop an AppConfig environment's deployment in progress (or revert a recent one).
    AppConfigRollback(appconfig::Rollback),
}

impl Action {
    /// The action's `type` in config, also used in records and audit lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CodeDeployRollback(_) => "codedeploy-rollback",
            Self::LambdaAlias(_) => "lambda-alias",
            Self::EcsRollback(_) => "ecs-rollback",
            Self::AppConfigRollback(_) => "appconfig-rollback",
        }
    }

    /// The resource it acts on, short: `checkout/checkout-prod`, `checkout:live`.
    pub fn target(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.target(),
            Self::LambdaAlias(a) => a.target(),
            Self::EcsRollback(a) => a.target(),
            Self::AppConfigRollback(a) => a.target(),
        }
    }

    /// The ARN of the resource it acts on, in `home` unless the config gives a full ARN: the
    /// alias, the deployment group, or the AppConfig environment.
    pub fn arn(&self, home: &Home<'_>) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.arn(home),
            Self::LambdaAlias(a) => a.arn(home),
            Self::EcsRollback(a) => a.arn(home),
            Self::AppConfigRollback(a) => a.arn(home),
        }
    }

    /// What the action would do, in one sentence starting with "would".
    pub fn plan(&self) -> String {
        match self {
            Self::CodeDeployRollback(a) => a.plan(),
            Self::LambdaAlias(a) => a.plan(),
            Self::EcsRollback(a) => a.plan(),
            Self::AppConfigRollback(a) => a.plan(),
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
    EcsRollback(RawEcs),
    AppconfigRollback(RawAppConfig),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    cluster: String,
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppConfig {
    application: String,
    environment: String,
    configuration_profile: Option<String>,
    revert_within: Option<HumanDuration>,
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
            RawAction::AppconfigRollback(r) => appconfig::Rollback::new(
                r.application,
                r.environment,
                r.configuration_profile,
                r.revert_within,
            )
            .map(Self::AppConfigRollback),
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
            RawAction::EcsRollback(r) => {
                ecs::ServiceRollback::new(r.cluster, r.service).map(Self::EcsRollback)
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
