//! Running a `lambda-alias` ([`crate::actions::lambda_alias::AliasShift`]): undo a Lambda
//! release by moving an alias (typically `live`) back to a known
//! good version: a fixed version, wherever another alias (typically `stable`) points, or the
//! alias's own primary version with its canary weights removed.
//!
//! The alias is read first; if it is already where it should be, nothing is written. Otherwise
//! `UpdateAlias` carries the `RevisionId` that was read, so a concurrent deploy is never
//! overwritten: on a conflict the alias is re-read once. Already where it should be, it is left
//! so; routed differently than at the first read (primary version or canary weights), someone
//! else moved it and it is left alone; only when nothing that routes traffic changed is the
//! decision made again, against the new `RevisionId`. A retried `UpdateAlias` that conflicts
//! may have been applied by its own earlier attempt: the action then keeps its ledger claims.
//! `$LATEST` and versions that do not exist are refused, and an alias an earlier
//! `codedeploy-rollback` of the same request left to CodeDeploy is not touched. Under the
//! attribution guard, the alias is moved only when every version it routes traffic to was
//! published (`LastModified`) before the incident started: a newer one may be the fix.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_alias::{GetAliasError, GetAliasOutput};
use aws_sdk_lambda::operation::get_function_configuration::{
    GetFunctionConfigurationError, GetFunctionConfigurationOutput,
};
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::calls::{CallFailure, Calls};
use super::handover::{HandedOver, Handover};
use super::{ActionOutcome, attribution};
use crate::actions::lambda_alias::{AliasShift, Destination};
use crate::ledger::Guard;
use crate::ledger::attribution::IncidentStart;

/// An alias as read: its primary version, canary weights and revision.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasState {
    pub version: String,
    /// Additional versions and their share of traffic (0.0 to 1.0).
    pub weights: BTreeMap<String, f64>,
    pub revision_id: Option<String>,
}

impl AliasState {
    /// Where it routes traffic: `42`, or `42 with a canary (43 at 10%)`.
    pub fn routing(&self) -> String {
        if self.weights.is_empty() {
            self.version.clone()
        } else {
            format!("{} with a canary ({})", self.version, self.canary())
        }
    }

    /// Whether it routes traffic as `other` does; its description and revision aside.
    fn routes_as(&self, other: &Self) -> bool {
        self.version == other.version && self.weights == other.weights
    }

    fn canary(&self) -> String {
        self.weights
            .iter()
            .map(|(version, weight)| format!("{version} at {}%", (weight * 100.0).round()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to do with the alias, decided from what was read.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    /// Nothing: it is already there. The sentence says where.
    Stay(String),
    /// Point the alias at a version, with no canary weights.
    Change(Change),
}

/// One change to an alias, described the same way before and after it is made.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    alias: String,
    from: String,
    to: String,
    /// The canary being removed, `43 at 10%`, if there is one.
    canary: Option<String>,
}

impl Change {
    /// `would move live 42 -> 41`, `would drop the canary of live (...)`.
    pub fn planned(&self) -> String {
        self.describe("would move", "would drop", "drop")
    }

    /// `moved live 42 -> 41`, `dropped the canary of live (...)`.
    pub fn done(&self) -> String {
        self.describe("moved", "dropped", "dropped")
    }

    fn describe(&self, moved: &str, dropped: &str, dropped_too: &str) -> String {
        let Self {
            alias,
            from,
            to,
            canary,
        } = self;
        match canary {
            Some(canary) if from == to => format!(
                "{dropped} the canary of {alias} ({canary}); version {to} keeps all traffic"
            ),
            Some(canary) => {
                format!("{moved} {alias} {from} -> {to} and {dropped_too} its canary ({canary})")
            }
            None => format!("{moved} {alias} {from} -> {to}"),
        }
    }
}

/// Pure decision: is the alias already at `target` with no canary?
pub fn decide(alias: &str, state: &AliasState, target: &str) -> Move {
    if state.version == target && state.weights.is_empty() {
        return Move::Stay(format!("{alias} is already at version {target}"));
    }
    Move::Change(Change {
        alias: alias.to_owned(),
        from: state.version.clone(),
        to: target.to_owned(),
        canary: (!state.weights.is_empty()).then(|| state.canary()),
    })
}

/// Where the alias should go, or why it must not move.
enum Resolved {
    To(String),
    Refused(String),
}

/// How an `UpdateAlias` with a `RevisionId` ended, when AWS answered it.
enum Update {
    Done,
    /// The alias changed since it was read. When [`CallFailure::may_be_applied`], the call was
    /// retried after an attempt AWS did not refuse, so that attempt may have been applied, and
    /// be the change it ran into (the action then keeps its ledger claims).
    Conflict(CallFailure),
}

/// What `GetAlias` answered.
type GetAliasResult = Result<GetAliasOutput, SdkError<GetAliasError, HttpResponse>>;

/// What `GetFunctionConfiguration` answered.
type ConfigurationResult =
    Result<GetFunctionConfigurationOutput, SdkError<GetFunctionConfigurationError, HttpResponse>>;

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

/// `detail`, saying so when a retried `UpdateAlias` may have made the change it ran into.
fn own_write(detail: String, retried: bool) -> String {
    if retried {
        format!("{detail}; {OWN_WRITE}")
    } else {
        detail
    }
}

/// Said when a retried `UpdateAlias` ran into a change it may have made itself.
const OWN_WRITE: &str = "this request's UpdateAlias was retried, and an earlier attempt may have \
                         been applied, so the action keeps its ledger claims";

/// What an alias action found before writing anything: either its outcome is already known
/// (left to CodeDeploy, already there, refused, a dry run's plan, a read that failed), or the
/// change to make and the alias as it was read.
#[derive(Debug)]
pub enum Prepared {
    Decided(ActionOutcome, String),
    Move {
        first: AliasState,
        target: String,
        change: Change,
    },
}

impl AliasShift {
    /// Runs the shift, recording its AWS calls in `calls`: [`AliasShift::prepare`], then
    /// [`AliasShift::apply`].
    pub async fn execute(
        &self,
        client: &Client,
        (dry_run, since): (bool, Option<&IncidentStart>),
        handed_over: &HandedOver,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        let prepared = self
            .prepare(client, (dry_run, since), handed_over, calls)
            .await;
        self.apply(client, prepared, calls).await
    }

    /// Everything before the write, none of which changes anything: reads the alias (and the
    /// alias it moves to, at the same time), decides, and checks the target version exists
    /// and, with `since` (the incident's start, for the attribution guard), that every version
    /// the alias routes traffic to was published before it. With `dry_run`, the sentence says
    /// what would have happened. An alias in `handed_over` is left to CodeDeploy, without a
    /// call. Because it only reads, it may run before the ledger admits the action, beside the
    /// admission.
    pub async fn prepare(
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

    /// Makes the change [`AliasShift::prepare`] decided on, if it decided on one.
    pub async fn apply(
        &self,
        client: &Client,
        prepared: Prepared,
        calls: &mut Calls,
    ) -> (ActionOutcome, String) {
        match prepared {
            Prepared::Decided(outcome, detail) => (outcome, detail),
            Prepared::Move {
                first,
                target,
                change,
            } => match self.change(client, &first, &target, &change, calls).await {
                Ok(step) => step,
                Err(failure) => (ActionOutcome::Failed, failure.message),
            },
        }
    }

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

    async fn change(
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
            own_write(
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
                return Ok((ActionOutcome::Failed, own_write(reason, retried_before)));
            }
        };
        let change = match decide(&self.alias, now, &target) {
            Move::Stay(detail) => {
                return Ok((ActionOutcome::Skipped, own_write(detail, retried_before)));
            }
            Move::Change(change) => change,
        };
        // Nothing to check again: a fixed version was checked before the conflict, and one
        // another alias points at exists.
        match self.update(client, now, &target, calls).await? {
            Err(refusal) => Ok((ActionOutcome::Failed, own_write(refusal, retried_before))),
            Ok(Update::Done) => Ok((ActionOutcome::Executed, change.done())),
            Ok(Update::Conflict(failure)) => {
                // A retried second update says so in its own message.
                let detail = format!(
                    "{}; the alias changed twice while we tried, so it was left alone",
                    failure.message
                );
                Ok((
                    ActionOutcome::Failed,
                    own_write(detail, retried_before && !failure.may_be_applied),
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

    async fn read(
        &self,
        client: &Client,
        alias: &str,
        calls: &mut Calls,
    ) -> Result<AliasState, CallFailure> {
        record(calls, self.get(client, alias).await)
    }

    async fn get(&self, client: &Client, alias: &str) -> GetAliasResult {
        client
            .get_alias()
            .function_name(&self.function)
            .name(alias)
            .send()
            .await
    }

    /// The version the alias should point at, or why it cannot be moved: `state` is the alias
    /// as read, `other` the alias it moves to (read for [`Destination::Alias`]).
    fn resolve(&self, state: &AliasState, other: Option<&AliasState>) -> Resolved {
        let target = match (&self.destination, other) {
            (Destination::Version(version), _) => version.clone(),
            (Destination::DropCanary, _) => state.version.clone(),
            (Destination::Alias(other), Some(other_state)) => {
                if other_state.version.eq_ignore_ascii_case("$LATEST") {
                    return Resolved::Refused(format!(
                        "alias {other} points at $LATEST, which is not a known good version; \
                         refusing to move {} there",
                        self.alias
                    ));
                }
                other_state.version.clone()
            }
            (Destination::Alias(other), None) => {
                // Never so: `other` is read whenever the destination is an alias.
                return Resolved::Refused(format!("alias {other} could not be read"));
            }
        };
        if target.eq_ignore_ascii_case("$LATEST") || target.is_empty() {
            return Resolved::Refused(format!(
                "refusing to move {} to \"{target}\": not a published version",
                self.alias
            ));
        }
        Resolved::To(target)
    }

    /// Reads, all at once, what must be known before the alias moves: whether a fixed target
    /// version exists (one another alias points at does: Lambda refuses to delete a version an
    /// alias references), and, with `since`, when each version the alias routes traffic to was
    /// published. Each version is read once, and every answer is recorded before anything is
    /// decided. `None` when it may move; otherwise the refusal, or the attribution guard's hold.
    async fn check_versions(
        &self,
        client: &Client,
        state: &AliasState,
        target: &str,
        since: Option<&IncidentStart>,
        calls: &mut Calls,
    ) -> Result<Option<Prepared>, CallFailure> {
        let check_target =
            matches!(self.destination, Destination::Version(_)) && target != state.version;
        let routed: Vec<(&str, Option<f64>)> = match since {
            None => Vec::new(),
            Some(_) => std::iter::once((state.version.as_str(), None))
                .chain(
                    state
                        .weights
                        .iter()
                        .filter(|(_, weight)| **weight > 0.0)
                        .map(|(version, weight)| (version.as_str(), Some(*weight))),
                )
                .collect(),
        };
        let mut versions: Vec<&str> = routed.iter().map(|(version, _)| *version).collect();
        if check_target && !versions.contains(&target) {
            versions.push(target);
        }
        let answers = futures_util::future::join_all(
            versions
                .iter()
                .map(|version| self.configuration(client, version)),
        )
        .await;
        let reads: Vec<VersionRead> = answers
            .into_iter()
            .map(|answer| VersionRead::record(answer, calls))
            .collect();
        let read = |version: &str| {
            versions
                .iter()
                .position(|v| *v == version)
                .and_then(|i| reads.get(i))
        };
        if check_target {
            match read(target) {
                Some(VersionRead::Missing(failure)) => {
                    let refusal = format!(
                        "version {target} of {} does not exist ({}); refusing to move {} there",
                        self.function, failure.message, self.alias
                    );
                    return Ok(Some(Prepared::Decided(ActionOutcome::Failed, refusal)));
                }
                Some(VersionRead::Failed(failure)) => return Err(failure.clone()),
                _ => {}
            }
        }
        let Some(since) = since else {
            return Ok(None);
        };
        for (version, weight) in routed {
            let published = match read(version) {
                Some(VersionRead::Published(published)) => *published,
                Some(VersionRead::Missing(failure) | VersionRead::Failed(failure)) => {
                    return Err(failure.clone());
                }
                None => None,
            };
            let what = match weight {
                None => format!(
                    "version {version}, which {} routes traffic to, was published",
                    self.alias
                ),
                Some(weight) => format!(
                    "version {version}, {}'s canary at {}%, was published",
                    self.alias,
                    (weight * 100.0).round()
                ),
            };
            if let Some(held) = attribution::hold(&what, published, since, &self.alias) {
                calls.held_back(Guard::Attribution);
                return Ok(Some(Prepared::Decided(ActionOutcome::Skipped, held)));
            }
        }
        Ok(None)
    }

    /// `GetFunctionConfiguration` of one version.
    async fn configuration(&self, client: &Client, version: &str) -> ConfigurationResult {
        client
            .get_function_configuration()
            .function_name(&self.function)
            .qualifier(version)
            .send()
            .await
    }
}

/// What `GetFunctionConfiguration` said of one version, recorded in the action's calls.
enum VersionRead {
    /// It exists, published then (if Lambda said when).
    Published(Option<jiff::Timestamp>),
    /// It does not exist.
    Missing(CallFailure),
    /// The read failed.
    Failed(CallFailure),
}

impl VersionRead {
    fn record(answer: ConfigurationResult, calls: &mut Calls) -> Self {
        match answer {
            Ok(output) => {
                let output = calls.ok(output);
                Self::Published(output.last_modified().and_then(attribution::lambda_time))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Self::Missing(calls.failed("GetFunctionConfiguration", &err))
            }
            Err(err) => Self::Failed(calls.failed("GetFunctionConfiguration", &err)),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn state(version: &str, weights: &[(&str, f64)]) -> AliasState {
        AliasState {
            version: version.into(),
            weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            revision_id: Some("rev-1".into()),
        }
    }

    #[test]
    fn an_alias_already_there_stays() {
        assert_eq!(
            decide("live", &state("41", &[]), "41"),
            Move::Stay("live is already at version 41".into())
        );
        assert!(
            matches!(
                decide("live", &state("41", &[("42", 0.1)]), "41"),
                Move::Change(_)
            ),
            "a canary still routes traffic to another version"
        );
        assert!(matches!(
            decide("live", &state("42", &[]), "41"),
            Move::Change(_)
        ));
    }

    #[test]
    fn moves_are_described_in_both_tenses() {
        let change = |state: AliasState, to: &str| match decide("live", &state, to) {
            Move::Change(change) => change,
            Move::Stay(why) => panic!("expected a change, got {why}"),
        };
        let plain = change(state("42", &[]), "41");
        assert_eq!(plain.planned(), "would move live 42 -> 41");
        assert_eq!(plain.done(), "moved live 42 -> 41");
        let with_canary = change(state("42", &[("43", 0.1)]), "41");
        assert_eq!(
            with_canary.planned(),
            "would move live 42 -> 41 and drop its canary (43 at 10%)"
        );
        assert_eq!(
            with_canary.done(),
            "moved live 42 -> 41 and dropped its canary (43 at 10%)"
        );
        let drop = change(state("42", &[("43", 0.25)]), "42");
        assert_eq!(
            drop.planned(),
            "would drop the canary of live (43 at 25%); version 42 keeps all traffic"
        );
        assert_eq!(
            drop.done(),
            "dropped the canary of live (43 at 25%); version 42 keeps all traffic"
        );
    }

    #[test]
    fn only_routing_counts_as_a_change() {
        let first = state("42", &[]);
        let mut described = state("42", &[]);
        described.revision_id = Some("rev-2".into());
        assert!(
            described.routes_as(&first),
            "a new revision alone routes the same"
        );
        assert!(!state("43", &[]).routes_as(&first));
        assert!(!state("42", &[("43", 0.1)]).routes_as(&first));
        assert!(!state("42", &[("43", 0.1)]).routes_as(&state("42", &[("43", 0.2)])));
        assert_eq!(first.routing(), "42");
        assert_eq!(
            state("42", &[("43", 0.1)]).routing(),
            "42 with a canary (43 at 10%)"
        );
    }
}
