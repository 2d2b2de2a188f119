//! Reading an alias before a `lambda-alias` action moves it: the handover check, the reads of
//! the alias (and of the alias it moves to), and the first decision.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_alias::{GetAliasError, GetAliasOutput};

use super::{AliasState, Move, Prepared, Resolved, decide};
use crate::actions::lambda_alias::{AliasShift, Destination};
use crate::execute::ActionOutcome;
use crate::execute::calls::{CallFailure, Calls};
use crate::execute::handover::{HandedOver, Handover};
use crate::ledger::attribution::IncidentStart;

/// What `GetAlias` answered.
type GetAliasResult = Result<GetAliasOutput, SdkError<GetAliasError, HttpResponse>>;

/// Records a `GetAlias` call and reads the alias from its answer.
fn record(calls: &mut Calls, result: GetAliasResult) -> Result<AliasState, CallFailure> {
    let output = result.map_err(|e| calls.failed("GetAlias", &e))?;
    let output = calls.ok(output);
    Ok(AliasState {
        version: output.function_version.unwrap_or_default(),
        weights: output
            .routing_config
            .and_then(|r| r.additional_version_weights)
            .unwrap_or_default()
            .into_iter()
            // A weight of 0 routes nothing: no canary.
            .filter(|(_, weight)| *weight > 0.0)
            .collect(),
        revision_id: output.revision_id,
    })
}

impl AliasShift {
    /// Everything before the write, none of which changes anything: reads the alias (and the
    /// alias it moves to, at the same time), decides, and checks the target version exists
    /// and, with `since` (the incident's start, for the attribution guard), that every version
    /// the alias routes traffic to was published before it. With `dry_run`, the sentence says
    /// what would have happened. An alias in `handed_over` is left to CodeDeploy, without a
    /// call.
    pub(super) async fn prepare(
        &self,
        client: &Client,
        (dry_run, since): (bool, Option<&IncidentStart>),
        handed_over: &HandedOver,
        calls: &mut Calls,
    ) -> Prepared {
        if let Some(handover) = handed_over.find(&self.function, &self.alias) {
            let leaving = if dry_run { "would leave" } else { "leaving" };
            // The rollback of a stop of ours that AWS answered handles the alias for the
            // incident when it takes the alias where this action would. Any other may not get
            // there (an undo of ours runs without automatic rollback; a stop whose answer was
            // lost may not have been applied; one found under way is someone else's), so a
            // later delivery stays free to act.
            if !dry_run && handover.confirmed {
                if let Some(short) = self.falls_short(client, handover, calls).await {
                    return Prepared::Decided(
                        ActionOutcome::Skipped,
                        format!(
                            "CodeDeploy is moving {} back ({}), {short}: leaving the alias to it \
                             for now, since two movers must not race; a later delivery of this \
                             incident moves it once CodeDeploy is done",
                            self.target(),
                            handover.by
                        ),
                    );
                }
                calls.left_to_codedeploy();
            }
            let mut detail = format!(
                "CodeDeploy is moving {} back ({}); {leaving} the alias to it",
                self.target(),
                handover.by
            );
            if handover.ours && !handover.confirmed {
                detail.push_str(
                    " for now: it may not get there, so a later delivery of this incident stays \
                     free to act",
                );
            }
            return Prepared::Decided(ActionOutcome::Skipped, detail);
        }
        match self.decide_first(client, (dry_run, since), calls).await {
            Ok(prepared) => prepared,
            Err(failure) => Prepared::Decided(ActionOutcome::Failed, failure.message),
        }
    }

    /// How CodeDeploy's rollback of ours falls short of where this action would take the alias
    /// (`to version 41, not to version 40 where stable points`), or `None` when it takes it
    /// there. A `to_alias` destination is read for it.
    async fn falls_short(
        &self,
        client: &Client,
        handover: &Handover,
        calls: &mut Calls,
    ) -> Option<String> {
        let Some(to) = handover.to.as_deref() else {
            return Some("to a version the deployment does not name".to_owned());
        };
        match &self.destination {
            // CodeDeploy's rollback puts back the version that ran before, without the canary.
            Destination::DropCanary => None,
            Destination::Version(version) => {
                (version != to).then(|| format!("to version {to}, not to version {version}"))
            }
            Destination::Alias(other) => match self.read(client, other, calls).await {
                Ok(state) if state.version == to => None,
                Ok(state) => Some(format!(
                    "to version {to}, not to version {} where {other} points",
                    state.version
                )),
                Err(failure) => Some(format!(
                    "to version {to}, and where {other} points could not be read ({failure})"
                )),
            },
        }
    }

    /// Reads the alias (and the alias it moves to, at the same time), decides where it should
    /// go and checks the versions involved: the change to make, unless the outcome is already
    /// known.
    async fn decide_first(
        &self,
        client: &Client,
        (dry_run, since): (bool, Option<&IncidentStart>),
        calls: &mut Calls,
    ) -> Result<Prepared, CallFailure> {
        let (first, other) = match &self.destination {
            // Both aliases at once: neither read depends on the other.
            Destination::Alias(other) => {
                let (first, second) =
                    tokio::join!(self.get(client, &self.alias), self.get(client, other));
                let first = record(calls, first);
                let second = record(calls, second);
                (first?, Some(second?))
            }
            _ => (self.read(client, &self.alias, calls).await?, None),
        };
        if self.destination == Destination::DropCanary && first.weights.is_empty() {
            let detail = format!(
                "{} has no canary (it routes all traffic to version {}); nothing to drop",
                self.alias, first.version
            );
            return Ok(Prepared::Decided(ActionOutcome::Skipped, detail));
        }
        let target = match self.resolve(&first, other.as_ref()) {
            Resolved::To(target) => target,
            Resolved::Refused(reason) => {
                return Ok(Prepared::Decided(ActionOutcome::Failed, reason));
            }
        };
        let change = match decide(&self.alias, &first, &target) {
            Move::Stay(detail) => return Ok(Prepared::Decided(ActionOutcome::Skipped, detail)),
            Move::Change(change) => change,
        };
        if let Some(decided) = self
            .check_versions(client, &first, &target, since, calls)
            .await?
        {
            return Ok(decided);
        }
        if dry_run {
            return Ok(Prepared::Decided(ActionOutcome::Planned, change.planned()));
        }
        Ok(Prepared::Move {
            first,
            target,
            change,
        })
    }

    /// Reads `alias` of the function (`GetAlias`), recording the call.
    pub(super) async fn read(
        &self,
        client: &Client,
        alias: &str,
        calls: &mut Calls,
    ) -> Result<AliasState, CallFailure> {
        record(calls, self.get(client, alias).await)
    }

    /// `GetAlias` of `alias`, not yet recorded: for reads sent at once.
    pub(super) async fn get(&self, client: &Client, alias: &str) -> GetAliasResult {
        client
            .get_alias()
            .function_name(&self.function)
            .name(alias)
            .send()
            .await
    }
}
