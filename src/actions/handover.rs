//! Handovers: the Lambda aliases the `codedeploy-rollback` actions of one request left to
//! CodeDeploy to move back, so a later `lambda-alias` action of the same request leaves them
//! alone rather than race CodeDeploy with a move of its own.

use aws_sdk_codedeploy::types::LambdaFunctionInfo;

/// The Lambda aliases the `codedeploy-rollback` actions of one request left to CodeDeploy to
/// move back: the target of a Lambda deployment stopped with rollback, or of an undo deployment
/// of ours. A later `lambda-alias` action on one of them leaves it alone rather than race
/// CodeDeploy's rollback with one of its own. Dry runs hand nothing over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandedOver(Vec<Handover>);

/// One alias CodeDeploy is moving back, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The function's name (not its ARN).
    pub function: String,
    pub alias: String,
    /// Which deployment moves it: `d-ABC123 stopped with rollback`.
    pub by: String,
    /// Whether this request set the rollback going (a stop or an undo of ours), rather than
    /// finding one under way. Only then can the alias be handled for the incident: a rollback
    /// someone else started may fail, and a later delivery must still be free to act.
    pub ours: bool,
    /// The version CodeDeploy moves the alias to, when the deployment says: for a rollback of
    /// ours, the one the deployment replaced; otherwise the one it deploys.
    pub to: Option<String>,
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
        self.0.push(Handover {
            function: function_name(function).to_owned(),
            alias: alias.to_owned(),
            by,
            ours,
            to: to.map(str::to_owned),
        });
        Some(self.0.len() - 1)
    }

    /// How many aliases have been handed over so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Withdraws the handovers to rollbacks of ours recorded after the first `len`: those of
    /// an action cut off before it changed anything, whose rollback therefore never started.
    /// Rollbacks it found under way (not ours) are still moving their aliases, so they stay.
    pub(crate) fn withdraw_ours_since(&mut self, len: usize) {
        let mut index = 0;
        self.0.retain(|handover| {
            let keep = index < len || !handover.ours;
            index += 1;
            keep
        });
    }

    /// The handover of `function`'s `alias` (a name, partial ARN or ARN), if there is one:
    /// to a rollback of ours if any, since that one makes the alias handled for the incident.
    pub fn find(&self, function: &str, alias: &str) -> Option<&Handover> {
        let function = function_name(function);
        let mut matching = self
            .0
            .iter()
            .rev()
            .filter(|h| h.function == function && h.alias == alias);
        let newest = matching.clone().next();
        matching.find(|h| h.ours).or(newest)
    }

    pub(super) fn get(&self, index: Option<usize>) -> Option<&Handover> {
        index.and_then(|i| self.0.get(i))
    }

    /// Leaves a handover in place, but to a rollback someone else started.
    pub(super) fn hand_to_others(&mut self, index: Option<usize>, by: String) {
        if let Some(handover) = index.and_then(|i| self.0.get_mut(i)) {
            handover.by = by;
            handover.ours = false;
        }
    }

    pub(super) fn update(&mut self, index: Option<usize>, by: String) {
        if let Some(handover) = index.and_then(|i| self.0.get_mut(i)) {
            handover.by = by;
        }
    }

    pub(super) fn withdraw(&mut self, index: Option<usize>) {
        if let Some(i) = index.filter(|&i| i < self.0.len()) {
            self.0.remove(i);
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

        // Two handovers of one alias: ours (a stop this request sent) wins over a rollback
        // found under way, which may be newer, since ours makes the alias handled.
        handed.record(&target, "d-1 stopped with rollback".into(), true);
        handed.record(&target, "d-R, a rollback in progress".into(), false);
        let found = handed.find("checkout", "live").unwrap();
        assert!(found.ours, "{found:?}");
        assert_eq!(found.by, "d-1 stopped with rollback");
    }
}
