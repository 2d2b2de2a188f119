//! `appconfig-rollback`: what the action is. It names an AWS AppConfig environment (and
//! optionally one configuration profile deployed to it) whose deployment in progress is stopped,
//! which rolls the configuration back, and, with `revert_within`, whose last deployment is
//! reverted when it completed that recently and nothing is in progress. Running it is
//! `execute::appconfig`.

use crate::aws::Home;
use crate::duration::HumanDuration;

use super::check_name;

/// The longest `revert_within`: AppConfig reverts a completed deployment only within 72 hours
/// of its completion (the `StopDeployment` API reference).
pub const MAX_REVERT_WITHIN: HumanDuration =
    HumanDuration::new(std::time::Duration::from_secs(72 * 3_600));

/// Roll back the configuration deployed to one AppConfig environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// The application, by name or id.
    pub application: String,
    /// The environment within the application, by name or id.
    pub environment: String,
    /// Only deployments of this configuration profile (name or id) count; all of them when
    /// unset.
    pub configuration_profile: Option<String>,
    /// When nothing is in progress, also revert a deployment that completed this recently.
    pub revert_within: Option<HumanDuration>,
}

impl Rollback {
    /// Validates the names (1 to 64 characters for the application and environment, 1 to 128
    /// for the profile, as AppConfig allows) and the window (at most 72 hours).
    pub fn new(
        application: String,
        environment: String,
        configuration_profile: Option<String>,
        revert_within: Option<HumanDuration>,
    ) -> Result<Self, String> {
        check_name("application", &application, 64)?;
        check_name("environment", &environment, 64)?;
        if let Some(profile) = &configuration_profile {
            check_name("configuration_profile", profile, 128)?;
        }
        if let Some(window) = revert_within
            && window > MAX_REVERT_WITHIN
        {
            return Err(format!(
                "revert_within = \"{window}\" must be at most 72h: AppConfig reverts a \
                 deployment only within 72 hours of its completion"
            ));
        }
        Ok(Self {
            application,
            environment,
            configuration_profile,
            revert_within,
        })
    }

    /// `application/environment`, or `application/environment/profile`.
    pub fn target(&self) -> String {
        match &self.configuration_profile {
            Some(profile) => format!("{}/{}/{profile}", self.application, self.environment),
            None => format!("{}/{}", self.application, self.environment),
        }
    }

    /// `arn:…:appconfig:REGION:ACCOUNT:application/APPLICATION/environment/ENVIRONMENT`. AppConfig
    /// ARNs name ids: written with names in the config, the ARN carries the names.
    pub fn arn(&self, home: &Home<'_>) -> String {
        home.arn(
            "appconfig",
            &format!(
                "application/{}/environment/{}",
                self.application, self.environment
            ),
        )
    }

    /// What the action would do.
    pub fn plan(&self) -> String {
        let of = self
            .configuration_profile
            .as_ref()
            .map(|p| format!(" of configuration profile {p}"))
            .unwrap_or_default();
        let mut plan = format!(
            "would stop the AppConfig deployment{of} in progress in {}/{}, rolling its \
             configuration back",
            self.application, self.environment
        );
        if let Some(window) = self.revert_within {
            plan.push_str(&format!(
                ", or, if none is in progress and the last one completed within {window}, revert \
                 it to the configuration before it"
            ));
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollback(profile: Option<&str>, window: Option<&str>) -> Result<Rollback, String> {
        Rollback::new(
            "checkout".into(),
            "prod".into(),
            profile.map(str::to_owned),
            window.and_then(|w| HumanDuration::parse(w).ok()),
        )
    }

    #[test]
    fn the_arn_is_the_environment_s_in_the_home() {
        let home = Home {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
        };
        assert_eq!(
            rollback(None, None).unwrap().arn(&home),
            "arn:aws:appconfig:eu-west-1:123456789012:application/checkout/environment/prod"
        );
    }

    #[test]
    fn target_and_plan_name_the_environment_the_profile_and_the_window() {
        let plain = rollback(None, None).unwrap();
        assert_eq!(plain.target(), "checkout/prod");
        assert_eq!(
            plain.plan(),
            "would stop the AppConfig deployment in progress in checkout/prod, rolling its \
             configuration back"
        );
        let narrow = rollback(Some("flags"), Some("2h")).unwrap();
        assert_eq!(narrow.target(), "checkout/prod/flags");
        assert_eq!(
            narrow.plan(),
            "would stop the AppConfig deployment of configuration profile flags in progress in \
             checkout/prod, rolling its configuration back, or, if none is in progress and the \
             last one completed within 2h, revert it to the configuration before it"
        );
    }

    #[test]
    fn names_must_be_usable_and_the_window_at_most_72_hours() {
        assert_eq!(
            Rollback::new(String::new(), "prod".into(), None, None).unwrap_err(),
            "application cannot be empty"
        );
        assert_eq!(
            Rollback::new("a".into(), "e".repeat(65), None, None).unwrap_err(),
            "environment is longer than 64 characters"
        );
        assert_eq!(
            rollback(Some(" flags"), None).unwrap_err(),
            "configuration_profile \" flags\" has leading or trailing spaces"
        );
        assert!(rollback(None, Some("72h")).is_ok());
        assert!(rollback(None, Some("3d")).is_ok());
        assert_eq!(
            rollback(None, Some("73h")).unwrap_err(),
            "revert_within = \"73h\" must be at most 72h: AppConfig reverts a deployment only \
             within 72 hours of its completion"
        );
    }
}
