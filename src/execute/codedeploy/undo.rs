//! Undoing the group's last success with a new deployment: for the Lambda compute platform an
//! AppSpec that moves the alias back from the version now live to the one before, for the other
//! platforms the revision that was live before. The undo is recorded in the ledger, and the
//! alias it moves handed over, before the call that creates it is sent.

use std::fmt::Write as _;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{
    AlarmConfiguration, AppSpecContent, AutoRollbackConfiguration, ComputePlatform, DeploymentInfo,
    LambdaFunctionInfo, RevisionLocation, RevisionLocationType,
};

use super::find::{lambda_target, our_undos, rollback_of};
use super::last_success::Success;
use super::stop::handover_note;
use crate::actions::codedeploy::{Rollback, UNDO_MARKER};
use crate::duration::HumanDuration;
use crate::execute::calls::{CallFailure, Calls};
use crate::execute::handover::HandedOver;
use crate::execute::{ActionOutcome, Clients, Context};

impl Rollback {
    /// With nothing in progress: undoes the group's last success, if it is inside `window`
    /// and every check on it passes.
    pub(super) async fn redeploy(
        &self,
        clients: &Clients,
        window: HumanDuration,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let client = &clients.codedeploy;
        let success = match self
            .undoable_success(client, window, context, calls)
            .await?
        {
            Ok(success) => success,
            Err(step) => return Ok(step),
        };
        let undo = match self.undo_of(clients, &success, context, calls).await? {
            Ok(undo) => undo,
            Err(step) => return Ok(step),
        };
        let (last_id, age) = (&success.id, &success.age);
        let (what, how) = (&undo.what, undo.how());
        if context.dry_run {
            return Ok((
                ActionOutcome::Planned,
                format!(
                    "would undo {last_id} (succeeded {age}, inside redeploy_within={window}): \
                     {what}, with {how}"
                ),
            ));
        }
        self.create_undo(client, &success, undo, context, calls, handed_over)
            .await
    }

    /// How to undo `success`: for the Lambda platform, an AppSpec moving its alias back (if
    /// the alias still runs what it made live); otherwise the revision live before it. Why not,
    /// when it is itself a rollback or cannot be reversed.
    async fn undo_of(
        &self,
        clients: &Clients,
        success: &Success,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<Result<Undo, (ActionOutcome, String)>, CallFailure> {
        let (client, last_id) = (&clients.codedeploy, &success.id);
        let deployment = client
            .get_deployment()
            .deployment_id(last_id)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        let deployment = calls
            .ok(deployment)
            .deployment_info
            .unwrap_or_else(|| DeploymentInfo::builder().build());
        let undos = our_undos(context, std::slice::from_ref(&deployment)).await?;
        if let Some(reason) = rollback_of(&deployment, &undos) {
            return Ok(Err((
                ActionOutcome::Skipped,
                format!(
                    "the last successful deployment {last_id} is itself a rollback{reason}; \
                     not undoing it"
                ),
            )));
        }
        let config = undo_config(success.platform.as_ref());
        if success.platform != Some(ComputePlatform::Lambda) {
            return Ok(match deployment.previous_revision() {
                Some(previous) if previous.revision_type().is_some() => Ok(Undo {
                    revision: previous.clone(),
                    what: "redeploy the revision that was live before it".to_owned(),
                    moves: None,
                    config,
                }),
                _ => Err((
                    ActionOutcome::Failed,
                    format!(
                        "{last_id} records no previous revision to redeploy; roll back by hand"
                    ),
                )),
            });
        }
        let Some(target) = lambda_target(client, last_id, calls).await? else {
            return Ok(Err((
                ActionOutcome::Failed,
                format!("{last_id} has no Lambda target to reverse; roll back by hand"),
            )));
        };
        let (revision, what) = match lambda_reversal(&target) {
            Ok(reversal) => reversal,
            Err(reason) => return Ok(Err((ActionOutcome::Failed, reason))),
        };
        // The AppSpec names the version it replaces; if the alias moved since, it is stale.
        if let Some(moved) = alias_moved(clients, &target, calls).await? {
            return Ok(Err((ActionOutcome::Skipped, moved)));
        }
        Ok(Ok(Undo {
            revision,
            what,
            moves: Some(target),
            config,
        }))
    }

    /// Creates the undo deployment, recorded in the ledger first; its alias, if it moves one,
    /// is handed over to CodeDeploy before the call is sent.
    async fn create_undo(
        &self,
        client: &Client,
        success: &Success,
        undo: Undo,
        context: &Context<'_>,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let (last_id, age) = (&success.id, &success.age);
        record_undo(context, last_id).await?;
        // Handed over before the call: once it is sent, CodeDeploy may be moving the alias,
        // even if the answer never comes.
        let handover = undo.moves.as_ref().and_then(|target| {
            handed_over.record(target, format!("undo of {last_id} requested"), true)
        });
        let how = undo.how();
        let attempts = calls.changing("CreateDeployment");
        let created = client
            .create_deployment()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .revision(undo.revision)
            .set_deployment_config_name(undo.config.map(str::to_owned))
            // An alarm on the same incident must not stop the undo and roll it back onto
            // the bad release; nor may a failed undo roll back to it.
            .override_alarm_configuration(AlarmConfiguration::builder().enabled(false).build())
            .auto_rollback_configuration(
                AutoRollbackConfiguration::builder().enabled(false).build(),
            )
            .description(format!("{UNDO_MARKER}{last_id}"))
            .customize()
            .interceptor(attempts)
            .send()
            .await;
        let created = match created {
            Ok(created) => created,
            Err(err) => {
                let failure = calls.failed("CreateDeployment", &err);
                return Err(self.undo_failed(failure, last_id, handover, handed_over));
            }
        };
        let new_id = calls
            .ok(created)
            .deployment_id
            .unwrap_or_else(|| "(no id returned)".to_owned());
        handed_over.update(handover, format!("{new_id} undoes {last_id}"));
        Ok((
            ActionOutcome::Executed,
            format!(
                "created deployment {new_id} to undo {last_id} (succeeded {age}): {}, with {how}",
                undo.what
            ),
        ))
    }

    /// A `CreateDeployment` of the undo of `last_id` that failed: refused on every attempt,
    /// nothing moves and the handover is withdrawn; otherwise the undo may be under way, its
    /// alias stays CodeDeploy's, and the message says where to look for it.
    fn undo_failed(
        &self,
        mut failure: CallFailure,
        last_id: &str,
        handover: Option<usize>,
        handed_over: &mut HandedOver,
    ) -> CallFailure {
        if !failure.may_be_applied {
            // Refused on every attempt: no undo, nothing moves.
            handed_over.withdraw(handover);
            return failure;
        }
        // With no answer, or after a retry, the undo may be under way: its alias stays
        // CodeDeploy's, and a refusal may be because of it.
        let why = if failure.code.as_deref() == Some("DeploymentLimitExceededException") {
            "the deployment blocking it may be this request's own undo, created by an \
             earlier attempt"
        } else {
            "the undo may have been created"
        };
        let _ = write!(
            failure.message,
            "; {why}: look in {} for a deployment described \"{UNDO_MARKER}{last_id}\"{}",
            self.target(),
            handover_note(handed_over, handover)
        );
        failure
    }
}

/// Records in the ledger that this request undoes `last_id`, before the call that creates the
/// undo: so the undo is known for ours however the call ends; a description alone would let any
/// deployment pass for one.
async fn record_undo(context: &Context<'_>, last_id: &str) -> Result<(), CallFailure> {
    let recorded = context
        .ledger
        .record_undo(last_id, context.request_id, context.now);
    if let Err(err) = recorded.await {
        return Err(CallFailure {
            code: None,
            message: format!(
                "{err}: the undo of {last_id} was not created, because without a record of \
                 it a later alert could take it for a release and stop it"
            ),
            may_be_applied: false,
        });
    }
    Ok(())
}

/// How a success is undone.
struct Undo {
    revision: RevisionLocation,
    /// What the undo does, in words.
    what: String,
    /// The Lambda alias it moves back, if it moves one.
    moves: Option<LambdaFunctionInfo>,
    /// The deployment config it deploys with; the group's own when `None`.
    config: Option<&'static str>,
}

impl Undo {
    /// How it is deployed, in words.
    fn how(&self) -> String {
        match self.config {
            Some(config) => format!("{config}, without alarms or automatic rollback"),
            None => "the group's deployment config, without alarms or automatic rollback".into(),
        }
    }
}

/// The deployment config an undo uses: all at once where the platform has one for it.
fn undo_config(platform: Option<&ComputePlatform>) -> Option<&'static str> {
    match platform {
        Some(ComputePlatform::Lambda) => Some("CodeDeployDefault.LambdaAllAtOnce"),
        Some(ComputePlatform::Ecs) => Some("CodeDeployDefault.ECSAllAtOnce"),
        _ => None,
    }
}

/// Why undoing would be stale (the alias no longer runs the version the deployment made live),
/// or `None` when it still does.
async fn alias_moved(
    clients: &Clients,
    target: &LambdaFunctionInfo,
    calls: &mut Calls,
) -> Result<Option<String>, CallFailure> {
    let (Some(function), Some(alias), Some(live)) = (
        target.function_name(),
        target.function_alias(),
        target.target_version(),
    ) else {
        return Ok(None);
    };
    let output = clients
        .lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .map_err(|e| calls.failed("GetAlias", &e))?;
    let now_live = calls.ok(output).function_version.unwrap_or_default();
    Ok((now_live != live).then(|| {
        format!(
            "{function}:{alias} is on version {now_live}, no longer on {live} that the last \
             deployment made live; nothing to undo"
        )
    }))
}

/// The AppSpec that moves the alias back: current = the version the deployment made live,
/// target = the version it replaced.
pub fn lambda_reversal(info: &LambdaFunctionInfo) -> Result<(RevisionLocation, String), String> {
    let (Some(function), Some(alias), Some(live), Some(previous)) = (
        info.function_name(),
        info.function_alias(),
        info.target_version(),
        info.current_version(),
    ) else {
        return Err(
            "the last deployment does not say which function, alias and versions it moved; \
             roll back by hand"
                .into(),
        );
    };
    if live == previous {
        return Err(format!(
            "the last deployment left {function}:{alias} on version {live}, the version it \
             started from; there is nothing to undo"
        ));
    }
    let appspec = serde_json::json!({
        "version": 0.0,
        "Resources": [{
            function: {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": function,
                    "Alias": alias,
                    "CurrentVersion": live,
                    "TargetVersion": previous,
                }
            }
        }]
    })
    .to_string();
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(AppSpecContent::builder().content(appspec).build())
        .build();
    Ok((
        revision,
        format!("move {function}:{alias} from version {live} back to {previous}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_appspec_swaps_current_and_target() {
        let info = LambdaFunctionInfo::builder()
            .function_name("checkout")
            .function_alias("live")
            .current_version("41")
            .target_version("42")
            .build();
        let (revision, what) = lambda_reversal(&info).unwrap();
        assert_eq!(what, "move checkout:live from version 42 back to 41");
        let content = revision.app_spec_content().unwrap().content().unwrap();
        let appspec: serde_json::Value = serde_json::from_str(content).unwrap();
        let properties = &appspec["Resources"][0]["checkout"]["Properties"];
        assert_eq!(properties["CurrentVersion"], "42");
        assert_eq!(properties["TargetVersion"], "41");
        assert_eq!(properties["Alias"], "live");
        let unchanged = LambdaFunctionInfo::builder()
            .function_name("f")
            .function_alias("a")
            .current_version("7")
            .target_version("7")
            .build();
        assert!(
            lambda_reversal(&unchanged)
                .unwrap_err()
                .contains("nothing to undo")
        );
    }
}
