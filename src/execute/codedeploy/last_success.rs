//! The group's last success, and whether it may be undone: it must be the group's latest
//! release, have ended inside `redeploy_within`, and have been created before the incident
//! started.

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{ComputePlatform, DeploymentGroupInfo};
use jiff::Timestamp;

use super::find::not_a_release;
use crate::actions::codedeploy::Rollback;
use crate::duration::HumanDuration;
use crate::execute::calls::{CallFailure, Calls};
use crate::execute::{ActionOutcome, Context, attribution};
use crate::ledger::Guard;

/// The last success of a group, to be undone.
pub(super) struct Success {
    pub(super) id: String,
    /// How long ago it ended: `12m ago`.
    pub(super) age: String,
    pub(super) platform: Option<ComputePlatform>,
}

impl Rollback {
    /// The group's last success, if it may be undone: the group's latest attempt, ended inside
    /// `window`, created before the incident started. Otherwise why it is left.
    pub(super) async fn undoable_success(
        &self,
        client: &Client,
        window: HumanDuration,
        context: &Context<'_>,
        calls: &mut Calls,
    ) -> Result<Result<Success, (ActionOutcome, String)>, CallFailure> {
        let group = client
            .get_deployment_group()
            .application_name(&self.application)
            .deployment_group_name(&self.deployment_group)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeploymentGroup", &e))?;
        let info = calls
            .ok(group)
            .deployment_group_info
            .unwrap_or_else(|| DeploymentGroupInfo::builder().build());
        let skip = |reason: String| {
            Ok(Err((
                ActionOutcome::Skipped,
                format!("nothing in progress in {}; {reason}", self.target()),
            )))
        };
        let last = info.last_successful_deployment();
        let Some(last_id) = last.and_then(|l| l.deployment_id()).map(str::to_owned) else {
            return skip("it has no successful deployment to undo".into());
        };
        if let Some(reason) = self.later_attempt(client, &info, &last_id, calls).await? {
            return skip(reason);
        }
        let ended = last
            .and_then(|l| l.end_time())
            .and_then(|t| Timestamp::from_second(t.secs()).ok());
        if let Err(reason) = within_window(ended, window, context.now) {
            return skip(reason);
        }
        let created = last
            .and_then(|l| l.create_time())
            .and_then(attribution::sdk_time);
        let what = format!("the last successful deployment {last_id} was created");
        if let Some(since) = &context.since
            && let Some(held) = attribution::hold(&what, created, since, "it")
        {
            calls.held_back(Guard::Attribution);
            return skip(held);
        }
        Ok(Ok(Success {
            age: ended.map(|e| ago(e, context.now)).unwrap_or_default(),
            id: last_id,
            platform: info.compute_platform().cloned(),
        }))
    }

    /// Why the group's last attempt keeps its last success `last_id` from being undone: only
    /// the group's latest deployment is undone, and a later attempt that did not succeed means
    /// the success is not what runs now, or that someone is already on it. The last attempt
    /// being another deployment is enough (its createTime only words the reason), unless it is
    /// not a release (a scale-out, CodeDeploy's own update), which is read to tell.
    async fn later_attempt(
        &self,
        client: &Client,
        info: &DeploymentGroupInfo,
        last_id: &str,
        calls: &mut Calls,
    ) -> Result<Option<String>, CallFailure> {
        let Some(attempt) = info.last_attempted_deployment() else {
            return Ok(None);
        };
        let Some(attempt_id) = attempt.deployment_id().filter(|id| *id != last_id) else {
            return Ok(None);
        };
        let read = client
            .get_deployment()
            .deployment_id(attempt_id)
            .send()
            .await
            .map_err(|e| calls.failed("GetDeployment", &e))?;
        let attempt_info = calls.ok(read).deployment_info;
        if attempt_info.as_ref().and_then(not_a_release).is_some() {
            return Ok(None);
        }
        let status = attempt.status().map_or("unknown", |s| s.as_str());
        let attempted = attempt.create_time().map(|t| t.as_nanos());
        let last = info.last_successful_deployment();
        let succeeded = last.and_then(|l| l.create_time()).map(|t| t.as_nanos());
        Ok(Some(match (attempted, succeeded) {
            (Some(attempted), Some(succeeded)) if attempted > succeeded => format!(
                "the last attempt {attempt_id} ({status}) is newer than the last success \
                 {last_id}; not undoing an older release"
            ),
            // No createTime (or clocks that disagree): the ids alone say the success is not
            // the group's last attempt.
            _ => format!(
                "the last attempt {attempt_id} ({status}) is not the last success {last_id}, so \
                 the success may not be what runs now; not undoing it"
            ),
        }))
    }
}

/// Whether a success that ended at `ended` is inside the window.
pub fn within_window(
    ended: Option<Timestamp>,
    window: HumanDuration,
    now: Timestamp,
) -> Result<(), String> {
    let Some(ended) = ended else {
        return Err("the last success has no end time".into());
    };
    let age = now.duration_since(ended);
    let inside = age.is_negative() || age.unsigned_abs() <= window.get();
    if inside {
        Ok(())
    } else {
        Err(format!(
            "last success {} is outside redeploy_within={window}",
            ago(ended, now)
        ))
    }
}

/// `3h ago`, `12m ago`, rounded down to the largest unit.
fn ago(then: Timestamp, now: Timestamp) -> String {
    format!("{} ago", attribution::elapsed(then, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_window_is_measured_from_the_end_of_the_success() {
        let hour = HumanDuration::parse("1h").unwrap();
        let now = ts("2026-11-25T21:00:00Z");
        assert!(within_window(Some(ts("2026-11-25T20:10:00Z")), hour, now).is_ok());
        assert!(within_window(Some(ts("2026-11-25T20:00:00Z")), hour, now).is_ok());
        assert_eq!(
            within_window(Some(ts("2026-11-25T18:00:00Z")), hour, now),
            Err("last success 3h ago is outside redeploy_within=1h".into())
        );
        assert!(within_window(None, hour, now).is_err());
    }
}
