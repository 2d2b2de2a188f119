//! Writing the alias: `UpdateAlias` with the `RevisionId` that was read, so a concurrent
//! deploy is never overwritten; on a conflict the alias is re-read once and, when nothing that
//! routes traffic changed, decided on again.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::{AliasState, Change, Move, Resolved, decide};
use crate::actions::lambda_alias::{AliasShift, Destination};
use crate::execute::ActionOutcome;
use crate::execute::calls::{CallFailure, Calls};

/// How an `UpdateAlias` with a `RevisionId` ended, when AWS answered it.
enum Update {
    Done,
    /// The alias changed since it was read. When [`CallFailure::may_be_applied`], the call was
    /// retried after an attempt AWS did not refuse, so that attempt may have been applied, and
    /// be the change it ran into (the action then keeps its ledger claims).
    Conflict(CallFailure),
}

/// `detail`, with [`RETRIED_UPDATE_NOTE`] added when a retried `UpdateAlias` may have made the
/// change it ran into.
fn with_retried_update_note(detail: String, retried: bool) -> String {
    if retried {
        format!("{detail}; {RETRIED_UPDATE_NOTE}")
    } else {
        detail
    }
}

/// Said when a retried `UpdateAlias` ran into a change it may have made itself.
const RETRIED_UPDATE_NOTE: &str = "this request's UpdateAlias was retried, and an earlier attempt \
                                   may have been applied, so the action keeps its ledger claims";

impl AliasShift {
    /// Moves the alias from `first` (as read) to `target`; on a conflict, reads it again once
    /// and leaves it, or decides again.
    pub(super) async fn change(
        &self,
        client: &Client,
        first: &AliasState,
        target: &str,
        change: &Change,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let retried = match self.update(client, first, target, calls).await? {
            Err(refusal) => return Ok((ActionOutcome::Failed, refusal)),
            Ok(Update::Done) => return Ok((ActionOutcome::Executed, change.done())),
            Ok(Update::Conflict(failure)) => failure.may_be_applied,
        };

        // The alias changed since it was read: read it again, once.
        let now = self.read(client, &self.alias, calls).await?;
        let left_alone = if let Move::Stay(detail) = decide(&self.alias, &now, target) {
            if retried {
                format!(
                    "{detail}; this request's UpdateAlias was retried, and an earlier attempt may \
                     have moved it there, so the action keeps its ledger claims"
                )
            } else {
                detail
            }
        } else if !now.routes_as(first) {
            // Someone else moved it (a deploy, a person, CodeDeploy): theirs is the newer
            // decision, and overwriting it is what the RevisionId is there to prevent.
            let revision = now
                .revision_id
                .as_deref()
                .map(|r| format!(" (revision {r})"))
                .unwrap_or_default();
            with_retried_update_note(
                format!(
                    "{} changed from {} to {} while we were deciding{revision}; leaving it alone",
                    self.alias,
                    first.routing(),
                    now.routing()
                ),
                retried,
            )
        } else {
            // Only its description or revision changed: decide again, against the new revision.
            return self.decide_again(client, &now, retried, calls).await;
        };
        Ok((ActionOutcome::Skipped, left_alone))
    }

    /// The second decision, after a conflict that changed nothing that routes traffic.
    async fn decide_again(
        &self,
        client: &Client,
        now: &AliasState,
        retried_before: bool,
        calls: &mut Calls,
    ) -> Result<(ActionOutcome, String), CallFailure> {
        let other = match &self.destination {
            Destination::Alias(other) => Some(self.read(client, other, calls).await?),
            _ => None,
        };
        let target = match self.resolve(now, other.as_ref()) {
            Resolved::To(target) => target,
            Resolved::Refused(reason) => {
                return Ok((
                    ActionOutcome::Failed,
                    with_retried_update_note(reason, retried_before),
                ));
            }
        };
        let change = match decide(&self.alias, now, &target) {
            Move::Stay(detail) => {
                return Ok((
                    ActionOutcome::Skipped,
                    with_retried_update_note(detail, retried_before),
                ));
            }
            Move::Change(change) => change,
        };
        // Nothing to check again: a fixed version was checked before the conflict, and one
        // another alias points at exists.
        match self.update(client, now, &target, calls).await? {
            Err(refusal) => Ok((
                ActionOutcome::Failed,
                with_retried_update_note(refusal, retried_before),
            )),
            Ok(Update::Done) => Ok((ActionOutcome::Executed, change.done())),
            Ok(Update::Conflict(failure)) => {
                // A retried second update says so in its own message.
                let detail = format!(
                    "{}; the alias changed twice while we tried, so it was left alone",
                    failure.message
                );
                Ok((
                    ActionOutcome::Failed,
                    with_retried_update_note(detail, retried_before && !failure.may_be_applied),
                ))
            }
        }
    }

    /// `UpdateAlias` to `target` with no canary weights, if the alias is still at the revision
    /// of `state`. The inner `Err` is a refusal: there is no revision to compare.
    async fn update(
        &self,
        client: &Client,
        state: &AliasState,
        target: &str,
        calls: &mut Calls,
    ) -> Result<Result<Update, String>, CallFailure> {
        let Some(revision) = state.revision_id.clone() else {
            return Ok(Err(format!(
                "GetAlias gave no RevisionId for {}; refusing to update it without \
                 compare-and-swap",
                self.target()
            )));
        };
        let attempts = calls.changing("UpdateAlias");
        let result = client
            .update_alias()
            .function_name(&self.function)
            .name(&self.alias)
            .function_version(target)
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(Default::default()))
                    .build(),
            )
            .revision_id(revision)
            .customize()
            .interceptor(attempts)
            .send()
            .await;
        match result {
            Ok(output) => {
                calls.ok(output);
                Ok(Ok(Update::Done))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_precondition_failed_exception()) =>
            {
                Ok(Ok(Update::Conflict(calls.failed("UpdateAlias", &err))))
            }
            Err(err) => Err(calls.failed("UpdateAlias", &err)),
        }
    }
}
