//! Checking the versions before an alias moves: that a fixed target version exists, and, under
//! the attribution guard, that every version the alias routes traffic to was published before
//! the incident started (a newer one may be the fix).

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_function_configuration::{
    GetFunctionConfigurationError, GetFunctionConfigurationOutput,
};

use super::{AliasState, Prepared};
use crate::actions::lambda_alias::{AliasShift, Destination};
use crate::execute::calls::{CallFailure, Calls};
use crate::execute::{ActionOutcome, attribution};
use crate::ledger::Guard;
use crate::ledger::attribution::IncidentStart;

/// What `GetFunctionConfiguration` answered.
type ConfigurationResult =
    Result<GetFunctionConfigurationOutput, SdkError<GetFunctionConfigurationError, HttpResponse>>;

/// The versions read, each once, and what was read of each.
struct VersionReads<'a> {
    versions: Vec<&'a str>,
    reads: Vec<VersionRead>,
}

impl VersionReads<'_> {
    /// What was read of `version`, if it was read.
    fn of(&self, version: &str) -> Option<&VersionRead> {
        self.versions
            .iter()
            .position(|v| *v == version)
            .and_then(|i| self.reads.get(i))
    }
}

impl AliasShift {
    /// Reads, all at once, what must be known before the alias moves: whether a fixed target
    /// version exists (one another alias points at does: Lambda refuses to delete a version an
    /// alias references), and, with `since`, when each version the alias routes traffic to was
    /// published. Each version is read once, and every answer is recorded before anything is
    /// decided. `None` when it may move; otherwise the refusal, or the attribution guard's hold.
    pub(super) async fn check_versions(
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
        let reads = self.read_versions(client, versions, calls).await;
        if check_target {
            match reads.of(target) {
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
        self.hold_for_attribution(&routed, &reads, since, calls)
    }

    /// The attribution guard's hold, when a version the alias routes traffic to (its primary
    /// version, or a canary at `weight`) was published at or after the incident started.
    fn hold_for_attribution(
        &self,
        routed: &[(&str, Option<f64>)],
        reads: &VersionReads<'_>,
        since: &IncidentStart,
        calls: &mut Calls,
    ) -> Result<Option<Prepared>, CallFailure> {
        for &(version, weight) in routed {
            let published = match reads.of(version) {
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

    /// `GetFunctionConfiguration` of every version at once, each answer recorded in order.
    async fn read_versions<'a>(
        &self,
        client: &Client,
        versions: Vec<&'a str>,
        calls: &mut Calls,
    ) -> VersionReads<'a> {
        let answers = futures_util::future::join_all(
            versions
                .iter()
                .map(|version| self.configuration(client, version)),
        )
        .await;
        let reads = answers
            .into_iter()
            .map(|answer| VersionRead::record(answer, calls))
            .collect();
        VersionReads { versions, reads }
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
