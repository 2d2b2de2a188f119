//! Handovers: the Lambda aliases the `codedeploy-rollback` actions of one request left to
//! CodeDeploy to move back, so a later `lambda-alias` action of the same request leaves them
//! alone rather than race CodeDeploy with a move of its own.

use aws_sdk_codedeploy::types::LambdaFunctionInfo;

/// The Lambda aliases the `codedeploy-rollback` actions of one request left to CodeDeploy to
/// move back: the target of a Lambda deployment stopped with rollback, of an undo deployment
/// of ours, or of one found under way. A later `lambda-alias` action on one of them leaves it
/// alone rather than race CodeDeploy's rollback with one of its own; while
/// [`HandedOver::uncertain`] is set, it leaves every alias alone. Dry runs hand nothing over.
///
/// Handovers are only added, and withdrawn in place, so an index stays valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandedOver {
    list: Vec<Handover>,
    /// Why this request cannot tell which aliases CodeDeploy may be moving, if it cannot.
    pub uncertain: Option<Uncertain>,
}

/// One alias CodeDeploy is moving back, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The function's name (not its ARN).
    pub function: String,
    pub alias: String,
    /// Which deployment moves it: `d-ABC123 stopped with rollback`.
    pub by: String,
    /// Whether this request sent the call that sets the rollback going (a stop or an undo),
    /// rather than finding one under way: withdrawn if the action is cut off before it
    /// changed anything.
    pub ours: bool,
    /// Whether AWS answered that call with a stop: CodeDeploy's own rollback of the stopped
    /// deployment is then set going. Only such a handover can make the alias handled for the
    /// incident. A stop whose answer was lost may not have been applied, an undo of ours runs
    /// without automatic rollback and may fail, and a rollback someone else started may fail
    /// too: after any of those, a later delivery must still be free to act.
    pub confirmed: bool,
    /// The version CodeDeploy moves the alias to, when the deployment says: for a rollback of
    /// ours, the one the deployment replaced; otherwise the one it deploys.
    pub to: Option<String>,
    withdrawn: bool,
}

/// Why a request cannot tell which aliases CodeDeploy may be moving: a `lambda-alias` action
/// after it leaves its alias alone, and the request is not done with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncertain {
    /// `the deployments under way in checkout/checkout-prod could not be read (...)`.
    pub why: String,
    /// Until when, when known (another request's claim lapses then); otherwise a minute.
    pub until: Option<jiff::Timestamp>,
}

impl HandedOver {
    /// Records the alias a Lambda deployment target names; its index, if it names one.
    pub fn record(&mut self, target: &LambdaFunctionInfo, by: String, ours: bool) -> Option<usize> {
        let (Some(function), Some(alias)) = (target.function_name(), target.function_alias())
        else {
            return None;
        };
        let to = if ours {
            target.current_version()
        } else {
            target.target_version()
        };
        self.list.push(Handover {
            function: function_name(function).to_owned(),
            alias: alias.to_owned(),
            by,
            ours,
            confirmed: false,
            to: to.map(str::to_owned),
            withdrawn: false,
        });
        Some(self.list.len() - 1)
    }

    /// How many aliases have been handed over so far.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Withdraws the handovers to rollbacks of ours recorded after the first `len`: those of
    /// an action cut off before it changed anything, whose rollback therefore never started.
    /// Rollbacks it found under way (not ours) are still moving their aliases, so they stay.
    pub(crate) fn withdraw_ours_since(&mut self, len: usize) {
        for handover in self.list.iter_mut().skip(len).filter(|h| h.ours) {
            handover.withdrawn = true;
        }
    }

    /// The handover of `function`'s `alias` (a name, partial ARN or ARN), if there is one:
    /// a confirmed one if any, since that one makes the alias handled for the incident.
    pub fn find(&self, function: &str, alias: &str) -> Option<&Handover> {
        let function = function_name(function);
        let mut matching = self
            .list
            .iter()
            .rev()
            .filter(|h| !h.withdrawn && h.function == function && h.alias == alias);
        let newest = matching.clone().next();
        matching.find(|h| h.confirmed).or(newest)
    }

    /// Records that this request cannot tell which aliases CodeDeploy may be moving, and why.
    pub fn cannot_tell(&mut self, why: String, until: Option<jiff::Timestamp>) {
        self.uncertain.get_or_insert(Uncertain { why, until });
    }

    pub(super) fn get(&self, index: Option<usize>) -> Option<&Handover> {
        index
            .and_then(|i| self.list.get(i))
            .filter(|h| !h.withdrawn)
    }

    fn get_mut(&mut self, index: Option<usize>) -> Option<&mut Handover> {
        index
            .and_then(|i| self.list.get_mut(i))
            .filter(|h| !h.withdrawn)
    }

    /// Leaves a handover in place, but to a rollback someone else started.
    pub(super) fn hand_to_others(&mut self, index: Option<usize>, by: String) {
        if let Some(handover) = self.get_mut(index) {
            handover.by = by;
            handover.ours = false;
        }
    }

    /// Says what moves the alias now, e.g. once the undo deployment's id is known.
    pub(super) fn update(&mut self, index: Option<usize>, by: String) {
        if let Some(handover) = self.get_mut(index) {
            handover.by = by;
        }
    }

    /// Records that AWS answered the stop: CodeDeploy's rollback is set going.
    pub(super) fn confirm(&mut self, index: Option<usize>, by: String) {
        if let Some(handover) = self.get_mut(index) {
            handover.by = by;
            handover.confirmed = true;
        }
    }

    pub(super) fn withdraw(&mut self, index: Option<usize>) {
        if let Some(handover) = self.get_mut(index) {
            handover.withdrawn = true;
        }
    }
}

/// The name in a function name, partial ARN (`123456789012:function:checkout`) or ARN, without
/// a qualifier.
fn function_name(function: &str) -> &str {
    let name = function
        .rsplit_once(":function:")
        .map_or(function, |(_, name)| name);
    name.split(':').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_over_alias_is_found_by_name_partial_arn_or_arn() {
        let mut handed = HandedOver::default();
        let target = LambdaFunctionInfo::builder()
            .function_name("checkout")
            .function_alias("live")
            .build();
        let index = handed.record(&target, "d-1 stopped with rollback".into(), true);
        assert_eq!(index, Some(0));
        for function in [
            "checkout",
            "123456789012:function:checkout",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout",
        ] {
            let found = handed.find(function, "live").map(|h| h.by.as_str());
            assert_eq!(found, Some("d-1 stopped with rollback"), "{function}");
        }
        assert!(handed.find("checkout", "beta").is_none());
        assert!(handed.find("checkout-eu", "live").is_none());
        handed.update(index, "d-2 undoes d-1".into());
        assert_eq!(
            handed.find("checkout", "live").unwrap().by,
            "d-2 undoes d-1"
        );
        handed.withdraw(index);
        assert!(handed.find("checkout", "live").is_none());
        // A target that names no alias hands nothing over.
        let unnamed = LambdaFunctionInfo::builder()
            .function_name("checkout")
            .build();
        assert_eq!(handed.record(&unnamed, "d-3".into(), true), None);

        // Two handovers of one alias: a stop this request sent and AWS answered wins over a
        // rollback found under way, which may be newer, since it makes the alias handled.
        let stop = handed.record(&target, "stop of d-1 requested".into(), true);
        handed.record(&target, "d-R, a rollback in progress".into(), false);
        assert_eq!(
            handed.find("checkout", "live").unwrap().by,
            "d-R, a rollback in progress"
        );
        handed.confirm(stop, "d-1 stopped with rollback".into());
        let found = handed.find("checkout", "live").unwrap();
        assert!(found.confirmed, "{found:?}");
        assert_eq!(found.by, "d-1 stopped with rollback");
    }
}
