//! `codedeploy-rollback`: what the action is. It names a CodeDeploy deployment group whose
//! active deployments are stopped with rollback, and, with `redeploy_within`, undoes a
//! deployment that succeeded that recently when nothing is active. Running it is
//! `execute::codedeploy`.

use crate::aws::Home;
use crate::duration::HumanDuration;

use super::check_name;

/// The longest `redeploy_within`.
pub const MAX_REDEPLOY_WITHIN: HumanDuration =
    HumanDuration::new(std::time::Duration::from_secs(7 * 86_400));

/// Roll back one deployment group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// CodeDeploy application name.
    pub application: String,
    /// Deployment group name within the application.
    pub deployment_group: String,
    /// When nothing is in progress, also undo a deployment that succeeded this recently.
    pub redeploy_within: Option<HumanDuration>,
}

impl Rollback {
    /// Validates the names (1 to 100 characters, as CodeDeploy allows).
    pub fn new(
        application: String,
        deployment_group: String,
        redeploy_within: Option<HumanDuration>,
    ) -> Result<Self, String> {
        check_name("application", &application, 100)?;
        check_name("deployment_group", &deployment_group, 100)?;
        if let Some(window) = redeploy_within
            && window > MAX_REDEPLOY_WITHIN
        {
            return Err(format!(
                "redeploy_within = \"{window}\" must be at most {MAX_REDEPLOY_WITHIN}: an older \
                 success is not the release an alert of today is about"
            ));
        }
        Ok(Self {
            application,
            deployment_group,
            redeploy_within,
        })
    }

    /// `application/deployment_group`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.application, self.deployment_group)
    }

    /// `arn:…:codedeploy:REGION:ACCOUNT:deploymentgroup:APPLICATION/GROUP`.
    pub fn arn(&self, home: &Home<'_>) -> String {
        home.arn("codedeploy", &format!("deploymentgroup:{}", self.target()))
    }

    /// What the action would do.
    pub fn plan(&self) -> String {
        let mut plan = format!(
            "would stop the active deployments of {} with rollback",
            self.target()
        );
        if let Some(window) = self.redeploy_within {
            plan.push_str(&format!(
                ", or, if none is active and the last deployment succeeded within {window}, \
                 redeploy the revision before it"
            ));
        }
        plan
    }
}

/// or undoes its own undo.
pub const UNDO_MARKER: &str = "wavefront-responder: undo ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_is_the_deployment_group_s_in_the_home() {
        let r = Rollback::new("checkout".into(), "checkout-prod".into(), None).unwrap();
        let home = Home {
            partition: "aws",
            region: "us-east-1",
            account: "123456789012",
        };
        assert_eq!(
            r.arn(&home),
            "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:checkout/checkout-prod"
        );
    }

    #[test]
    fn plan_names_the_group_and_the_window() {
        let r = Rollback::new("checkout".into(), "checkout-prod".into(), None).unwrap();
        assert_eq!(
            r.plan(),
            "would stop the active deployments of checkout/checkout-prod with rollback"
        );
        let window = HumanDuration::parse("1h").ok();
        let r = Rollback::new("checkout".into(), "checkout-prod".into(), window).unwrap();
        assert!(
            r.plan()
                .ends_with("succeeded within 1h, redeploy the revision before it")
        );
    }

    #[test]
    fn names_must_be_usable() {
        assert_eq!(
            Rollback::new(String::new(), "g".into(), None).unwrap_err(),
            "application cannot be empty"
        );
        assert!(Rollback::new("a".into(), "g".repeat(101), None).is_err());
    }
}
