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
//!
//! - `prepare`: everything before the write: the reads and the first decision.
//! - `versions`: the checks on the versions involved.
//! - `update`: the write, and what a conflict leads to.

mod prepare;
mod update;
mod versions;

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;

use super::ActionOutcome;
use super::calls::Calls;
use super::handover::HandedOver;
use crate::actions::lambda_alias::{AliasShift, Destination};
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

/// What an alias action found before writing anything: either its outcome is already known
/// (left to CodeDeploy, already there, refused, a dry run's plan, a read that failed), or the
/// change to make and the alias as it was read.
#[derive(Debug)]
enum Prepared {
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

    /// Makes the change [`AliasShift::prepare`] decided on, if it decided on one.
    async fn apply(
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
