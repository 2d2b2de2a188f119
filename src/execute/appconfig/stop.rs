//! Stopping or reverting one AppConfig deployment with `StopDeployment`, and what the record
//! says of it: the deployment, its state before and after. A stop AWS refuses
//! (`BadRequestException`: the deployment moved on between the list and the stop) is followed
//! by a re-read, so the record says how it ended; a stop that got no answer, or a server error,
//! may have been applied, and the action keeps its ledger claims ([`Calls::failed`]).

use aws_sdk_appconfig::operation::stop_deployment::StopDeploymentOutput;

use super::decide::{Deployment, State};
use super::resolve::{AppConfig, Ids};
use crate::execute::ActionOutcome;
use crate::execute::calls::{CallFailure, Calls};

/// Where the deployments are: the client, the ids and how the record names the environment.
pub(super) struct Environment<'a> {
    pub appconfig: &'a AppConfig,
    pub ids: &'a Ids,
    pub target: &'a str,
}

/// What one `StopDeployment` came to.
pub(super) enum Sent {
    /// The outcome and the record's sentence.
    Done(ActionOutcome, String),
    /// The deployment completed before it could be stopped (re-read: it is here), and no attempt
    /// of ours touched it; a window may still let it be reverted.
    Completed(Deployment),
}

/// Which call: a stop in progress (with `AllowRevert` or not), or a revert of a completed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    InProgress { allow_revert: bool },
    Revert,
}

impl Stop {
    fn allow_revert(self) -> bool {
        match self {
            Self::InProgress { allow_revert } => allow_revert,
            Self::Revert => true,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::InProgress { .. } => "stop",
            Self::Revert => "revert",
        }
    }
}

impl Environment<'_> {
    /// Sends `StopDeployment` for `deployment`: without `AllowRevert` for a `DEPLOYING` one,
    /// with it (the `Allow-Revert: true` header) otherwise.
    pub(super) async fn send(&self, deployment: &Deployment, how: Stop, calls: &mut Calls) -> Sent {
        let attempts = calls.changing("StopDeployment");
        let result = self
            .appconfig
            .client()
            .stop_deployment()
            .application_id(&self.ids.application)
            .environment_id(&self.ids.environment)
            .deployment_number(deployment.number)
            .set_allow_revert(how.allow_revert().then_some(true))
            .customize()
            .interceptor(attempts)
            .send()
            .await;
        match result {
            Ok(output) => {
                let output = calls.ok(output);
                Sent::Done(ActionOutcome::Executed, self.done(deployment, how, &output))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bad_request_exception()) =>
            {
                let failure = calls.failed("StopDeployment", &err);
                self.refused(deployment, how, &failure, calls).await
            }
            Err(err) => {
                let failure = calls.failed("StopDeployment", &err);
                let detail = format!(
                    "could not {} {} of {}: {failure}",
                    how.verb(),
                    deployment.describe(),
                    self.target
                );
                Sent::Done(ActionOutcome::Failed, detail)
            }
        }
    }

    /// What the record says of a stop AWS answered: the state before and after.
    fn done(&self, deployment: &Deployment, how: Stop, output: &StopDeploymentOutput) -> String {
        let name = deployment.describe();
        let before = deployment.state.as_str();
        let after = output.state().map_or("(no state given)", |s| s.as_str());
        let did = match how {
            Stop::InProgress {
                allow_revert: false,
            } => format!("stopped {name} of {}", self.target),
            Stop::InProgress { allow_revert: true } => format!(
                "stopped {name} of {} with AllowRevert, which a {before} deployment needs",
                self.target
            ),
            Stop::Revert => format!(
                "reverted {name} of {} to the configuration before it",
                self.target
            ),
        };
        format!("{did}: it was {before}, AppConfig now says {after}")
    }

    /// AWS refused the stop: the deployment is re-read to say how it ended. An attempt of ours
    /// that may have been applied (retried after a server error or no answer) may be why.
    async fn refused(
        &self,
        deployment: &Deployment,
        how: Stop,
        failure: &CallFailure,
        calls: &mut Calls,
    ) -> Sent {
        let name = deployment.describe();
        let ours = failure.may_be_applied;
        let now = match self
            .appconfig
            .deployment(self.ids, deployment.number, calls)
            .await
        {
            Ok(now) => now,
            Err(reread) => {
                let detail = format!(
                    "could not {} {name} of {}: {failure}; re-reading it failed: {reread}",
                    how.verb(),
                    self.target
                );
                return Sent::Done(ActionOutcome::Failed, detail);
            }
        };
        let state = now.state.as_str();
        if now.state.is_undo() && ours {
            return Sent::Done(
                ActionOutcome::Skipped,
                format!(
                    "{name} of {} is {state}, perhaps by this request: its StopDeployment was \
                     retried, and an earlier attempt may have been applied, so the action keeps \
                     its ledger claims",
                    self.target
                ),
            );
        }
        if now.state.is_undo() {
            return Sent::Done(
                ActionOutcome::Skipped,
                format!(
                    "{name} of {} was already {state} when this request tried to {} it",
                    self.target,
                    how.verb()
                ),
            );
        }
        if now.state == State::Complete {
            // Still (or now) COMPLETE: no attempt of ours was applied, since an applied stop
            // leaves it ROLLED_BACK and an applied revert REVERTED.
            calls.not_applied();
            if how != Stop::Revert {
                return Sent::Completed(Deployment {
                    managed: deployment.managed,
                    ..now
                });
            }
        }
        Sent::Done(
            ActionOutcome::Failed,
            format!(
                "could not {} {name} of {}: {failure}; it is now {state}",
                how.verb(),
                self.target
            ),
        )
    }
}
