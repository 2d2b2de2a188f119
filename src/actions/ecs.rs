//! `ecs-rollback`: what the action is. It names an Amazon ECS service whose service deployment
//! in progress is stopped with rollback (`StopServiceDeployment`, stop type `ROLLBACK`), so ECS
//! moves the service back to the service revision it ran before. Running it is `execute::ecs`.
//!
//! The cluster and the service are each a name or an ARN, as the ECS API takes them. A name is
//! 1 to 255 letters, digits, hyphens and underscores (the ECS API reference, `CreateCluster`
//! and `CreateService`).

use crate::aws::Home;

/// The longest ECS cluster or service name.
const MAX_NAME: usize = 255;

/// Roll back one ECS service's deployment in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRollback {
    /// The cluster, as written: a name or a cluster ARN. Sent to ECS as is.
    pub cluster: String,
    /// The service, as written: a name or a service ARN. Sent to ECS as is.
    pub service: String,
    /// The cluster's name (from its ARN when an ARN was written).
    cluster_name: String,
    /// The service's name (from its ARN when an ARN was written).
    service_name: String,
}

impl ServiceRollback {
    /// Validates the cluster and the service: each a usable ECS name or an ARN of its kind, and
    /// a service ARN that names a cluster names this one.
    pub fn new(cluster: String, service: String) -> Result<Self, String> {
        let cluster_name = match parse_arn(&cluster) {
            Some(arn) => cluster_of(&cluster, &arn)?,
            None => check_ecs_name("cluster", &cluster, CLUSTER_ARN)?,
        };
        let service_name = match parse_arn(&service) {
            Some(arn) => {
                let (in_cluster, name) = service_of(&service, &arn)?;
                if let Some(in_cluster) = in_cluster
                    && in_cluster != cluster_name
                {
                    return Err(format!(
                        "service \"{service}\" is in cluster \"{in_cluster}\", but cluster = \
                         \"{cluster}\": name the cluster the service runs in"
                    ));
                }
                name
            }
            None => check_ecs_name("service", &service, SERVICE_ARN)?,
        };
        Ok(Self {
            cluster,
            service,
            cluster_name,
            service_name,
        })
    }

    /// `cluster/service`, by name.
    pub fn target(&self) -> String {
        format!("{}/{}", self.cluster_name, self.service_name)
    }

    /// The service's ARN: as written, or `arn:…:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE` in
    /// the cluster ARN's partition, Region and account, else in `home`.
    pub fn arn(&self, home: &Home<'_>) -> String {
        if parse_arn(&self.service).is_some() {
            return self.service.clone();
        }
        let resource = format!("service/{}", self.target());
        match parse_arn(&self.cluster) {
            Some(cluster) => Home {
                partition: cluster.partition,
                region: cluster.region,
                account: cluster.account,
            }
            .arn("ecs", &resource),
            None => home.arn("ecs", &resource),
        }
    }

    /// What the action would do.
    pub fn plan(&self) -> String {
        format!(
            "would stop the service deployment in progress of ECS service {} with rollback to \
             the service revision before it",
            self.target()
        )
    }
}

const CLUSTER_ARN: &str = "arn:aws:ecs:REGION:ACCOUNT:cluster/NAME";
const SERVICE_ARN: &str = "arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME";

/// An ECS ARN, split: `arn:PARTITION:ecs:REGION:ACCOUNT:RESOURCE`.
struct EcsArn<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

/// `text` as an ECS ARN, or `None` when it does not start with `arn:` (a name). An `arn:` text
/// that is not a well-formed ECS ARN comes back with an empty resource, which no kind accepts.
fn parse_arn(text: &str) -> Option<EcsArn<'_>> {
    let rest = text.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (partition, service, region, account, resource) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let valid = partition.starts_with("aws")
        && service == "ecs"
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    Some(EcsArn {
        partition,
        region,
        account,
        resource: if valid { resource } else { "" },
    })
}

/// The cluster name of a cluster ARN.
fn cluster_of(text: &str, arn: &EcsArn<'_>) -> Result<String, String> {
    arn.resource
        .strip_prefix("cluster/")
        .filter(|name| is_ecs_name(name))
        .map(str::to_owned)
        .ok_or_else(|| format!("cluster \"{text}\" is not a cluster ARN ({CLUSTER_ARN})"))
}

/// The cluster (when the ARN names one: the long ARN format) and the name of a service ARN.
fn service_of(text: &str, arn: &EcsArn<'_>) -> Result<(Option<String>, String), String> {
    let wrong = || format!("service \"{text}\" is not a service ARN ({SERVICE_ARN})");
    let path = arn.resource.strip_prefix("service/").ok_or_else(wrong)?;
    let (cluster, name) = match path.split_once('/') {
        Some((cluster, name)) => (Some(cluster), name),
        // The short ARN format, from before ECS put the cluster in service ARNs.
        None => (None, path),
    };
    if !is_ecs_name(name) || cluster.is_some_and(|c| !is_ecs_name(c)) {
        return Err(wrong());
    }
    Ok((cluster.map(str::to_owned), name.to_owned()))
}

/// Checks `value` is an ECS name; `arn` is how an ARN of the kind is written, for the message.
fn check_ecs_name(field: &str, value: &str, arn: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err(format!("{field} cannot be empty"));
    }
    if !is_ecs_name(value) {
        return Err(format!(
            "{field} \"{value}\" is neither an ECS name (1 to {MAX_NAME} letters, digits, hyphens \
             and underscores) nor an ARN ({arn})"
        ));
    }
    Ok(value.to_owned())
}

fn is_ecs_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Home<'static> = Home {
        partition: "aws",
        region: "us-east-1",
        account: "123456789012",
    };

    fn rollback(cluster: &str, service: &str) -> Result<ServiceRollback, String> {
        ServiceRollback::new(cluster.into(), service.into())
    }

    #[test]
    fn names_give_the_target_and_the_service_arn_in_the_home() {
        let r = rollback("prod", "checkout").unwrap();
        assert_eq!(r.target(), "prod/checkout");
        assert_eq!(
            r.arn(&HOME),
            "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout"
        );
        assert_eq!(
            r.plan(),
            "would stop the service deployment in progress of ECS service prod/checkout with \
             rollback to the service revision before it"
        );
    }

    #[test]
    fn arns_are_kept_as_written_and_named_by_their_names() {
        let cluster = "arn:aws:ecs:eu-west-1:210987654321:cluster/prod";
        let r = rollback(cluster, "checkout").unwrap();
        assert_eq!(r.target(), "prod/checkout");
        assert_eq!(r.cluster, cluster);
        // The service is where its cluster is, not in the responder's home.
        assert_eq!(
            r.arn(&HOME),
            "arn:aws:ecs:eu-west-1:210987654321:service/prod/checkout"
        );
        let service = "arn:aws:ecs:eu-west-1:210987654321:service/prod/checkout";
        let r = rollback("prod", service).unwrap();
        assert_eq!(r.target(), "prod/checkout");
        assert_eq!(r.arn(&HOME), service);
        // The short service ARN format names no cluster.
        let short = "arn:aws:ecs:us-east-1:123456789012:service/checkout";
        assert_eq!(rollback("prod", short).unwrap().target(), "prod/checkout");
    }

    #[test]
    fn names_must_be_ecs_names() {
        assert_eq!(
            rollback("", "checkout").unwrap_err(),
            "cluster cannot be empty"
        );
        assert_eq!(
            rollback("prod", " ").unwrap_err(),
            "service cannot be empty"
        );
        let spaced = rollback("prod", "check out").unwrap_err();
        assert_eq!(
            spaced,
            "service \"check out\" is neither an ECS name (1 to 255 letters, digits, hyphens and \
             underscores) nor an ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME)"
        );
        assert!(rollback(&"c".repeat(256), "checkout").is_err());
        assert!(rollback(&"c".repeat(255), &"s".repeat(255)).is_ok());
        assert!(rollback("prod.eu", "checkout").is_err());
    }

    #[test]
    fn arns_must_be_of_their_kind_and_agree() {
        let wrong_kind = rollback("arn:aws:ecs:us-east-1:123456789012:service/prod/x", "x");
        assert_eq!(
            wrong_kind.unwrap_err(),
            "cluster \"arn:aws:ecs:us-east-1:123456789012:service/prod/x\" is not a cluster ARN \
             (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)"
        );
        let not_ecs = rollback("prod", "arn:aws:lambda:us-east-1:123456789012:function:x");
        assert!(not_ecs.unwrap_err().contains("is not a service ARN"));
        let bad_account = rollback("arn:aws:ecs:us-east-1:1234:cluster/prod", "x");
        assert!(bad_account.is_err());
        let elsewhere = rollback(
            "prod",
            "arn:aws:ecs:us-east-1:123456789012:service/staging/checkout",
        );
        assert_eq!(
            elsewhere.unwrap_err(),
            "service \"arn:aws:ecs:us-east-1:123456789012:service/staging/checkout\" is in \
             cluster \"staging\", but cluster = \"prod\": name the cluster the service runs in"
        );
    }
}
