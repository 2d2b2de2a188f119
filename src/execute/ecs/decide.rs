//! What an `ecs-rollback` does with each service deployment it finds, as pure code: stop it,
//! or leave it alone and say why (a rollback, a stop already requested, finished, or maybe the
//! fix), and the sentences the record gives.

use aws_sdk_ecs::types::{ServiceDeployment, ServiceDeploymentBrief, ServiceDeploymentStatus};
use jiff::Timestamp;

use crate::execute::attribution::{self, sdk_time};
use crate::ledger::attribution::IncidentStart;

/// The statuses of a service deployment that has not finished: the ones `ListServiceDeployments`
/// is asked for. `StopServiceDeployment` accepts each of them; only the first two are stopped.
pub const IN_FLIGHT: [ServiceDeploymentStatus; 5] = [
    ServiceDeploymentStatus::Pending,
    ServiceDeploymentStatus::InProgress,
    ServiceDeploymentStatus::StopRequested,
    ServiceDeploymentStatus::RollbackRequested,
    ServiceDeploymentStatus::RollbackInProgress,
];

/// One service deployment, as `DescribeServiceDeployments` (or, failing that for it,
/// `ListServiceDeployments`) gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub arn: String,
    pub status: Option<ServiceDeploymentStatus>,
    pub created: Option<Timestamp>,
    /// Why it is in its status (the circuit breaker, an alarm, a person), when ECS says.
    pub status_reason: Option<String>,
    /// The service revisions it replaces: what a rollback goes back to.
    pub sources: Vec<String>,
    /// The service revision a rollback under way deploys, when ECS says.
    pub rolling_back_to: Option<String>,
}

impl Found {
    /// From `DescribeServiceDeployments`.
    pub fn described(d: &ServiceDeployment) -> Self {
        Self {
            arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
            status: d.status().cloned(),
            created: d.created_at().and_then(sdk_time),
            status_reason: d.status_reason().map(str::to_owned),
            sources: d
                .source_service_revisions()
                .iter()
                .filter_map(|r| r.arn())
                .map(str::to_owned)
                .collect(),
            rolling_back_to: d
                .rollback()
                .and_then(|r| r.service_revision_arn())
                .map(str::to_owned),
        }
    }

    /// From `ListServiceDeployments`, for one `DescribeServiceDeployments` could not describe.
    pub fn listed(d: &ServiceDeploymentBrief) -> Self {
        Self {
            arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
            status: d.status().cloned(),
            created: d.created_at().and_then(sdk_time),
            status_reason: d.status_reason().map(str::to_owned),
            sources: Vec::new(),
            rolling_back_to: None,
        }
    }

    /// The deployment's id: the last part of its ARN
    /// (`arn:…:service-deployment/CLUSTER/SERVICE/ID`).
    pub fn id(&self) -> &str {
        last_part(&self.arn).unwrap_or("(unknown id)")
    }

    /// Its status as ECS writes it.
    pub fn status_text(&self) -> &str {
        self.status
            .as_ref()
            .map_or("(unknown status)", |s| s.as_str())
    }

    /// What a rollback of it goes back to: `service revision 123`, `service revisions 1, 2`, or
    /// the words when ECS did not say.
    pub fn rollback_target(&self) -> String {
        revisions(&self.sources)
    }
}

/// What to do with one service deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Stop it with rollback.
    Stop,
    /// Leave it alone; the sentence says why.
    Leave(String),
    /// Leave it alone because the attribution guard holds it (it may be the fix).
    Held(String),
}

/// What to do with `found`, the incident having started at `since` (`None`: the rule turned
/// the attribution guard off). A rollback is never stopped, nor a deployment someone already
/// asked to stop; a finished one has nothing to stop; one created at or after the incident
/// started may be the fix.
pub fn decide(found: &Found, since: Option<&IncidentStart>) -> Decision {
    let id = found.id();
    let status = found.status_text();
    let because = found
        .status_reason
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match &found.status {
        Some(ServiceDeploymentStatus::RollbackRequested)
        | Some(ServiceDeploymentStatus::RollbackInProgress) => {
            let to = found
                .rolling_back_to
                .as_deref()
                .map(|r| format!(" to {}", revisions(&[r.to_owned()])))
                .unwrap_or_default();
            Decision::Leave(format!(
                "service deployment {id} is already rolling back{to} ({status}{because}); a \
                 rollback is never stopped"
            ))
        }
        Some(ServiceDeploymentStatus::StopRequested) => Decision::Leave(format!(
            "service deployment {id} is already being stopped ({status}{because}): someone \
             stopped it before this request, so it is left alone"
        )),
        Some(ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress) => {
            let held = since.and_then(|since| {
                let what = format!("service deployment {id} was created");
                attribution::hold(&what, found.created, since, "it")
            });
            held.map_or(Decision::Stop, Decision::Held)
        }
        _ => Decision::Leave(format!(
            "service deployment {id} is {status}{because}: it is not in progress, so there is \
             nothing to stop"
        )),
    }
}

/// Whether a status read back means the deployment is being stopped or rolled back (or was).
pub fn stopping_or_stopped(status: Option<&ServiceDeploymentStatus>) -> bool {
    matches!(
        status,
        Some(
            ServiceDeploymentStatus::StopRequested
                | ServiceDeploymentStatus::Stopped
                | ServiceDeploymentStatus::RollbackRequested
                | ServiceDeploymentStatus::RollbackInProgress
                | ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed
        )
    )
}

/// `service revision 123`, `service revisions 1, 2` (by the last part of each ARN), or `the
/// service revision before it` when there is none.
fn revisions(arns: &[String]) -> String {
    let ids: Vec<&str> = arns.iter().filter_map(|a| last_part(a)).collect();
    match ids.as_slice() {
        [] => "the service revision before it".to_owned(),
        [one] => format!("service revision {one}"),
        many => format!("service revisions {}", many.join(", ")),
    }
}

fn last_part(arn: &str) -> Option<&str> {
    arn.rsplit('/').next().filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::attribution::StartSource;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/checkout/dep-1";

    fn found(status: ServiceDeploymentStatus, created: &str) -> Found {
        Found {
            arn: ARN.into(),
            status: Some(status),
            created: created.parse().ok(),
            status_reason: None,
            sources: vec![
                "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/checkout/41".into(),
            ],
            rolling_back_to: None,
        }
    }

    fn since(at: &str) -> IncidentStart {
        IncidentStart {
            at: at.parse().unwrap(),
            from: StartSource::StartedTime,
        }
    }

    #[test]
    fn a_deployment_in_progress_before_the_incident_is_stopped() {
        let start = since("2026-11-25T20:41:07Z");
        for status in [
            ServiceDeploymentStatus::Pending,
            ServiceDeploymentStatus::InProgress,
        ] {
            let d = found(status, "2026-11-25T20:30:00Z");
            assert_eq!(decide(&d, Some(&start)), Decision::Stop);
            assert_eq!(decide(&d, None), Decision::Stop);
        }
        assert_eq!(
            found(ServiceDeploymentStatus::Pending, "x").rollback_target(),
            "service revision 41"
        );
    }

    #[test]
    fn a_deployment_created_at_or_after_the_incident_may_be_the_fix() {
        let start = since("2026-11-25T20:41:07Z");
        let fix = found(ServiceDeploymentStatus::InProgress, "2026-11-25T20:45:30Z");
        assert_eq!(
            decide(&fix, Some(&start)),
            Decision::Held(
                "service deployment dep-1 was created 4m after the alert started firing \
                 (2026-11-25T20:41:07Z); it may be the fix, so it is left alone"
                    .into()
            )
        );
        // `attribution = false` on the rule: no start, no guard.
        assert_eq!(decide(&fix, None), Decision::Stop);
        // A creation time ECS did not give cannot be shown to predate the incident.
        let unknown = found(ServiceDeploymentStatus::InProgress, "unknown");
        assert!(matches!(decide(&unknown, Some(&start)), Decision::Held(_)));
    }

    #[test]
    fn rollbacks_and_stops_already_requested_are_left_alone() {
        let start = since("2026-11-25T20:41:07Z");
        let mut rolling = found(ServiceDeploymentStatus::RollbackInProgress, "x");
        rolling.rolling_back_to =
            Some("arn:aws:ecs:us-east-1:123456789012:service-revision/prod/checkout/41".into());
        rolling.status_reason = Some("Circuit breaker triggered".into());
        assert_eq!(
            decide(&rolling, Some(&start)),
            Decision::Leave(
                "service deployment dep-1 is already rolling back to service revision 41 \
                 (ROLLBACK_IN_PROGRESS: Circuit breaker triggered); a rollback is never stopped"
                    .into()
            )
        );
        let requested = found(ServiceDeploymentStatus::RollbackRequested, "x");
        let Decision::Leave(why) = decide(&requested, None) else {
            panic!("a rollback requested is left alone");
        };
        assert!(
            why.contains("(ROLLBACK_REQUESTED); a rollback is never stopped"),
            "{why}"
        );
        let stopping = found(ServiceDeploymentStatus::StopRequested, "x");
        assert_eq!(
            decide(&stopping, None),
            Decision::Leave(
                "service deployment dep-1 is already being stopped (STOP_REQUESTED): someone \
                 stopped it before this request, so it is left alone"
                    .into()
            )
        );
        let done = found(ServiceDeploymentStatus::Successful, "x");
        assert!(
            matches!(decide(&done, None), Decision::Leave(why) if why.contains("SUCCESSFUL: it is not in progress"))
        );
    }

    #[test]
    fn revisions_and_ids_read_from_the_ends_of_their_arns() {
        let mut d = found(ServiceDeploymentStatus::Pending, "x");
        assert_eq!(d.id(), "dep-1");
        d.sources
            .push("arn:aws:ecs:us-east-1:1:service-revision/prod/checkout/40".into());
        assert_eq!(d.rollback_target(), "service revisions 41, 40");
        d.sources.clear();
        assert_eq!(d.rollback_target(), "the service revision before it");
        d.arn.clear();
        assert_eq!(d.id(), "(unknown id)");
    }

    #[test]
    fn only_stopped_or_stopping_statuses_count_as_stopped() {
        assert!(stopping_or_stopped(Some(
            &ServiceDeploymentStatus::RollbackRequested
        )));
        assert!(stopping_or_stopped(Some(&ServiceDeploymentStatus::Stopped)));
        assert!(!stopping_or_stopped(Some(
            &ServiceDeploymentStatus::Successful
        )));
        assert!(!stopping_or_stopped(Some(
            &ServiceDeploymentStatus::InProgress
        )));
        assert!(!stopping_or_stopped(None));
    }
}
