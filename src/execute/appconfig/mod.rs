//! Running an `appconfig-rollback` ([`crate::actions::appconfig::Rollback`]): undo an AWS
//! AppConfig configuration deployment. The only code that names the AppConfig SDK.
//!
//! - The application, environment and configuration profile, each a name or an id, are
//!   resolved to ids once per instance and cached in [`AppConfig`] (`resolve`).
//! - The environment's deployments are listed newest first (`find`). One in progress is stopped
//!   with `StopDeployment`: a `DEPLOYING` one without `AllowRevert`, a `VALIDATING` or `BAKING`
//!   one with it, which AppConfig requires; either ends `ROLLED_BACK`. One rolling back (or
//!   rolled back, or reverted) is never stopped, nor a `MANAGED` deployment (made by AppConfig
//!   itself), nor one that started at or after the incident (the attribution guard: it may be
//!   the fix).
//! - With nothing in progress and `revert_within` set, the last deployment, if `COMPLETE`
//!   within that window, is reverted: `StopDeployment` with `AllowRevert` (it ends `REVERTED`).
//!   AppConfig reverts only within 72 hours of completion, the longest window the config
//!   accepts. A revert ignores the environment's alarm monitors.
//! - A stop AWS refuses because the deployment moved on is re-read and reported as it ended;
//!   one that completed first may still be reverted when the window allows.
//!
//! Deciding is pure code (`decide`); the calls are in `find` and `stop`.

mod decide;
mod find;
mod resolve;
mod stop;

use jiff::Timestamp;

use super::calls::{CallFailure, Calls};
use super::{ActionOutcome, Context, attribution, combine};
use crate::actions::appconfig::Rollback;
use crate::ledger::Guard;
use decide::{Deployment, Situation, Step, decide, revertible};
use stop::{Environment, Sent, Stop};

pub use resolve::AppConfig;

impl Rollback {
    /// Runs the rollback, recording its AWS calls in `calls`. With `context.dry_run`, only
    /// read-only calls are made and the sentence says what would have happened.
    pub async fn execute(
        &self,
        appconfig: &AppConfig,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        match self.run(appconfig, context, calls).await {
            Ok(step) => step,
            Err(failure) => {
                // A resolved id AppConfig no longer knows: resolve afresh next time.
                if failure.code.as_deref() == Some("ResourceNotFoundException") {
                    appconfig.forget();
                }
                (ActionOutcome::Failed, failure.message)
            }
        }
    }

    async fn run(
        &self,
        appconfig: &AppConfig,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let ids = appconfig.ids(self, calls).await?;
        let deployments = appconfig.deployments(&ids, calls).await?;
        let target = self.target();
        let situation = Situation {
            deployments: &deployments,
            profile_id: ids.profile.as_deref(),
            revert_within: self.revert_within,
            since: context.since.as_ref(),
            now: context.now,
            target: &target,
        };
        let environment = Environment {
            appconfig,
            ids: &ids,
            target: &target,
        };
        let mut results = Vec::new();
        for step in decide(&situation) {
            let result = if context.dry_run {
                would(&step, &situation, calls)
            } else {
                apply(&environment, step, &situation, calls).await
            };
            results.push(result);
        }
        Ok(combine(results))
    }
}

/// A dry run's sentence for `step`.
fn would(step: &Step, situation: &Situation<'_>, calls: &mut Calls) -> (ActionOutcome, String) {
    let target = situation.target;
    match step {
        Step::Stop {
            deployment,
            allow_revert,
        } => {
            let with = if *allow_revert {
                format!(
                    " with AllowRevert, which a {} deployment needs",
                    deployment.state.as_str()
                )
            } else {
                String::new()
            };
            let detail = format!(
                "would stop {} of {target}{with}; it is {}, and AppConfig would roll it back",
                deployment.describe(),
                deployment.state.as_str()
            );
            (ActionOutcome::Planned, detail)
        }
        Step::Revert { deployment } => {
            let detail = format!(
                "would revert {} of {target}, which completed {} ago, to the configuration \
                 before it",
                deployment.describe(),
                completed_ago(deployment, situation.now)
            );
            (ActionOutcome::Planned, detail)
        }
        Step::Leave { why, attribution } => leave(why, *attribution, calls),
    }
}

/// Carries out `step` against AppConfig.
async fn apply(
    environment: &Environment<'_>,
    step: Step,
    situation: &Situation<'_>,
    calls: &mut Calls,
) -> (ActionOutcome, String) {
    let (deployment, how) = match step {
        Step::Leave { why, attribution } => return leave(&why, attribution, calls),
        Step::Stop {
            deployment,
            allow_revert,
        } => (deployment, Stop::InProgress { allow_revert }),
        Step::Revert { deployment } => (deployment, Stop::Revert),
    };
    match environment.send(&deployment, how, calls).await {
        Sent::Done(outcome, detail) => (outcome, detail),
        Sent::Completed(done) => completed_first(environment, &done, situation, calls).await,
    }
}

/// A deployment that completed before it could be stopped: the bad configuration is now fully
/// deployed, so a window lets it be reverted like any recent completion.
async fn completed_first(
    environment: &Environment<'_>,
    done: &Deployment,
    situation: &Situation<'_>,
    calls: &mut Calls,
) -> (ActionOutcome, String) {
    let first = format!(
        "{} of {} completed before it could be stopped",
        done.describe(),
        situation.target
    );
    let Some(window) = situation.revert_within else {
        return (ActionOutcome::Skipped, first);
    };
    match revertible(situation, done, window) {
        Step::Revert { deployment } => {
            match environment.send(&deployment, Stop::Revert, calls).await {
                Sent::Done(outcome, detail) => (outcome, format!("{first}; {detail}")),
                Sent::Completed(_) => (ActionOutcome::Skipped, first),
            }
        }
        Step::Leave { why, attribution } => {
            let (outcome, why) = leave(&why, attribution, calls);
            (outcome, format!("{first}; {why}"))
        }
        Step::Stop { .. } => (ActionOutcome::Skipped, first),
    }
}

/// A step that changes nothing; the attribution guard is recorded when it held the action back.
fn leave(why: &str, attribution: bool, calls: &mut Calls) -> (ActionOutcome, String) {
    if attribution {
        calls.held_back(Guard::Attribution);
    }
    (ActionOutcome::Skipped, why.to_owned())
}

/// `20m`: how long ago `deployment` completed.
fn completed_ago(deployment: &Deployment, now: Timestamp) -> String {
    deployment
        .completed
        .map_or_else(|| "(unknown)".into(), |at| attribution::elapsed(at, now))
}
