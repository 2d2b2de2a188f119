//! Which code runs which kind of action, and the AWS clients they run with: the one place that
//! names every kind, so adding a kind adds a client and an arm here.

use super::calls::Calls;
use super::handover::HandedOver;
use super::{ActionOutcome, Context};
use crate::actions::Action;

/// The AWS clients actions use. Built once per Lambda instance (or `serve` process); cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Clients {
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ecs: aws_sdk_ecs::Client,
    /// AppConfig, with the ids `appconfig-rollback` actions resolved.
    pub appconfig: super::appconfig::AppConfig,
}

impl Clients {
    /// Clients from the SDK configuration ([`crate::aws::loader`]'s settings).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            appconfig: super::appconfig::AppConfig::new(aws_sdk_appconfig::Client::new(config)),
        }
    }
}

/// Runs `action` against AWS, recording its calls in `calls` (which outlive the action if its
/// time budget cuts it off); in a dry run, only read-only calls are made. It runs after the
/// earlier actions of the same request: `handed_over` holds the Lambda aliases they left to
/// CodeDeploy to move back. A `codedeploy-rollback` adds to it; a `lambda-alias` on one of
/// them leaves it alone.
pub async fn run_action(
    action: &Action,
    clients: &Clients,
    context: &Context<'_>,
    calls: &mut Calls,
    handed_over: &mut HandedOver,
) -> (ActionOutcome, String) {
    match action {
        Action::CodeDeployRollback(a) => a.execute(clients, context, calls, handed_over).await,
        Action::LambdaAlias(a) => {
            let mode = (context.dry_run, context.since.as_ref());
            a.execute(&clients.lambda, mode, handed_over, calls).await
        }
        Action::EcsRollback(a) => a.execute(&clients.ecs, context, calls).await,
        Action::AppConfigRollback(a) => a.execute(&clients.appconfig, context, calls).await,
    }
}
