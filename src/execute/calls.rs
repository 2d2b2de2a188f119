//! The bookkeeping every AWS call of an action shares: the request ids for the record, each
//! change's attempts counted (so a retried change that may have been applied keeps the
//! action's ledger claims), and failures as sentences an on-call engineer can act on.

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_lambda::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;

use super::ActionOutcome;
use crate::aws::describe;
use crate::ledger::Guard;

/// What one action did: its outcome, a sentence, and the AWS request ids of every call.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: ActionOutcome,
    pub detail: String,
    pub aws_request_ids: Vec<String>,
    /// Whether something in AWS changed, or may have (a change was under way when time ran
    /// out). Such an action keeps its ledger claims, whatever its outcome.
    pub changed: bool,
    /// Whether the action left its target to a rollback CodeDeploy runs for this incident:
    /// it changed nothing, yet the incident is handled, so it keeps its incident latch and
    /// cooldown and gives back only its circuit-breaker slot.
    pub left_to_codedeploy: bool,
    /// What held a skipped action back from a change it found to make (the attribution
    /// guard); the ledger's guards are the executor's.
    pub guard: Option<Guard>,
}

/// Collects the request ids of the calls one action makes, and which call that changes
/// something is under way, so an action cut off by its time budget can say what it left.
#[derive(Debug, Default)]
pub struct Calls {
    request_ids: Vec<String>,
    /// The call that changes something under way, and the count of its attempts.
    changing: Option<(&'static str, Attempts)>,
    changed: bool,
    /// What `changed` was before the last changing call failed and counted as possibly
    /// applied, so that what is read next can take it back ([`Calls::not_applied`]).
    unconfirmed: Option<bool>,
    left_to_codedeploy: bool,
    held_back: Option<Guard>,
}

/// Said of a call that changes something and got no answer: it may have been applied.
pub const UNANSWERED_CHANGE: &str = "; with no answer it may have been applied, so the \
                                     action's ledger claims are kept: check before acting by hand";

/// How a sentence about a change that failed but may have been applied ends.
const MAY_BE_APPLIED: &str = "may have been applied, so the action's ledger claims are kept: \
                                  check before acting by hand";

/// A failed AWS call, as a sentence: operation, error code, message and request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// The AWS error code (`ResourceNotFoundException`), when AWS answered.
    pub code: Option<String>,
    pub message: String,
    /// A call that changes something and may have been applied all the same: it got no
    /// answer, or an attempt of it was not refused (see [`Calls::failed`]).
    pub may_be_applied: bool,
}

impl Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Calls {
    /// Marks the start of a call that changes something (`StopDeployment`, `UpdateAlias`,
    /// `CreateDeployment`...) and returns the interceptor that counts its attempts, to attach
    /// to that call with `.customize().interceptor(attempts)`. The call counts as under way
    /// until its outcome is recorded with [`Calls::ok`] or [`Calls::failed`].
    #[must_use = "attach the interceptor to the call, or its retries are not counted"]
    pub fn changing(&mut self, operation: &'static str) -> Attempts {
        let attempts = Attempts::default();
        self.changing = Some((operation, attempts.clone()));
        self.unconfirmed = None;
        attempts
    }

    /// The call that changes something, if one was sent and has not answered. One marked but
    /// not yet sent (signing, credentials) reached nothing.
    fn under_way(&self) -> Option<&'static str> {
        self.changing
            .as_ref()
            .filter(|(_, attempts)| attempts.sent() > 0)
            .map(|(operation, _)| *operation)
    }

    /// Records the request id of a successful call and passes its output on.
    pub fn ok<T: RequestId>(&mut self, output: T) -> T {
        // A call that changes something just succeeded.
        self.changed |= self.changing.take().is_some();
        if let Some(id) = output.request_id() {
            self.request_ids.push(id.to_owned());
        }
        output
    }

    /// Records a failed call and describes it: `GetAlias: ResourceNotFoundException: Function
    /// not found: ... (request id 1d2e...)`. A call that changes something may still have
    /// been applied when it got no answer from AWS (the connection failed after it was sent),
    /// or when one of its attempts was not refused: the SDK retried it after a server error or
    /// no answer, whatever the final error (a retry can be refused *because* the first attempt
    /// was applied). Such a call counts as a change, so the action keeps its ledger claims,
    /// and the message says so. Only a call every attempt of which AWS refused (a 4xx answer
    /// with an error code: throttling, validation, a conflict) changed nothing; a final error
    /// without an error code counts as no answer.
    pub fn failed<E>(&mut self, operation: &str, err: &E) -> CallFailure
    where
        E: ProvideErrorMetadata + RequestId + std::error::Error,
    {
        let changing = self.changing.take();
        let request_id = err.request_id().map(str::to_owned);
        if let Some(id) = &request_id {
            self.request_ids.push(id.clone());
        }
        let code = err.code().map(str::to_owned);
        let mut message = format!("{operation}: {}", describe(err));
        if let Some(id) = request_id {
            message.push_str(&format!(" (request id {id})"));
        }
        // No answer is not a no, nor is a server error: err towards not acting twice.
        let applied = match &changing {
            None => None,
            // Never sent (no credentials, a request that could not be built): nothing reached
            // AWS.
            Some((_, attempts)) if attempts.sent() == 0 => None,
            Some(_) if code.is_none() => Some(UNANSWERED_CHANGE.to_owned()),
            Some((_, attempts)) if attempts.unrefused() => Some(match attempts.sent() {
                1 => format!(
                    "; AWS answered with a server error, not a refusal: it {MAY_BE_APPLIED}"
                ),
                sent => format!(
                    "; it was sent {sent} times and AWS did not refuse every attempt: one it did \
                     not refuse {MAY_BE_APPLIED}"
                ),
            }),
            Some(_) => None,
        };
        let may_be_applied = applied.is_some();
        if let Some(applied) = applied {
            self.unconfirmed = Some(self.changed);
            self.changed = true;
            message.push_str(&applied);
        }
        CallFailure {
            code,
            message,
            may_be_applied,
        }
    }

    /// Takes back what [`Calls::failed`] assumed of the changing call that failed last (that
    /// it may have been applied) when what was read since shows it was not: a deployment that
    /// ended `Succeeded` was not stopped.
    pub fn not_applied(&mut self) {
        if let Some(before) = self.unconfirmed.take() {
            self.changed = before;
        }
    }

    /// Records that the action left its target to CodeDeploy's rollback, changing nothing
    /// itself: see [`Report::left_to_codedeploy`].
    pub fn left_to_codedeploy(&mut self) {
        self.left_to_codedeploy = true;
    }

    /// Records that `guard` held the action back from a change it would otherwise make: the
    /// report names it if the action ends `skipped`.
    pub fn held_back(&mut self, guard: Guard) {
        self.held_back = Some(guard);
    }

    /// The request ids of the calls made, for a report made elsewhere.
    pub fn into_request_ids(self) -> Vec<String> {
        self.request_ids
    }

    /// Finishes the action with an outcome.
    pub fn report(self, outcome: ActionOutcome, detail: impl Into<String>) -> Report {
        Report {
            outcome,
            detail: detail.into(),
            aws_request_ids: self.request_ids,
            changed: self.changed,
            left_to_codedeploy: self.left_to_codedeploy,
            guard: self.held_back.filter(|_| outcome == ActionOutcome::Skipped),
        }
    }

    /// Finishes an action its time budget cut off after `had` of it, saying whether a change
    /// was made or may have been.
    pub fn out_of_time(mut self, had: Duration) -> Report {
        let had = had.as_secs_f64();
        let under_way = self.under_way();
        let detail = match under_way {
            Some(operation) => format!(
                "ran out of time (it had {had:.1}s of the time budget) while {operation} was \
                 under way: it may have been applied; check before acting by hand"
            ),
            None if self.changed => format!(
                "ran out of time (it had {had:.1}s of the time budget) after changing something \
                 (see its AWS request ids); it keeps its ledger claims: check what it left \
                 before acting by hand"
            ),
            None => format!(
                "ran out of time (it had {had:.1}s of the time budget) before changing anything"
            ),
        };
        self.changed |= under_way.is_some();
        self.report(ActionOutcome::Failed, detail)
    }
}

/// Counts the attempts the SDK sends of one call, retries included, and those AWS refused
/// (answered 4xx), so an error that followed an attempt which may have been applied (a 5xx
/// answer, or none) is told from a refusal. [`Calls::changing`] hands one out for every call
/// that changes something.
#[derive(Clone, Debug, Default)]
pub struct Attempts(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU32,
    refused: AtomicU32,
}

impl Attempts {
    /// How many attempts were sent.
    pub fn sent(&self) -> u32 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Whether an attempt was sent that AWS did not refuse: it got a server error or no
    /// answer, so it may have been applied.
    pub fn unrefused(&self) -> bool {
        self.sent() > self.0.refused.load(Ordering::Relaxed)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // A 4xx is a refusal: AWS checks, authorizes and throttles before it applies anything.
        if context.response().status().is_client_error() {
            self.0.refused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::error::ErrorMetadata;
    use aws_sdk_lambda::operation::update_alias::{UpdateAliasError, UpdateAliasOutput};

    use super::*;

    /// An `UpdateAlias` error AWS answered with `code`, or one with no answer.
    fn error(code: Option<&str>) -> UpdateAliasError {
        let mut meta = ErrorMetadata::builder().message("it failed");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        UpdateAliasError::generic(meta.build())
    }

    /// What the interceptor would have counted: `sent` attempts, `refused` of them with a 4xx.
    fn counted(attempts: &Attempts, sent: u32, refused: u32) {
        attempts.0.sent.store(sent, Ordering::Relaxed);
        attempts.0.refused.store(refused, Ordering::Relaxed);
    }

    /// A changing call failing with `code` after `sent` attempts, `refused` of them refused.
    fn changing_call(code: Option<&str>, sent: u32, refused: u32) -> (Calls, CallFailure) {
        let mut calls = Calls::default();
        counted(&calls.changing("UpdateAlias"), sent, refused);
        let failure = calls.failed("UpdateAlias", &error(code));
        (calls, failure)
    }

    #[test]
    fn a_change_refused_on_every_attempt_changed_nothing() {
        // Sent once and refused, or throttled on every attempt.
        for (sent, refused) in [(1, 1), (3, 3)] {
            let (calls, failure) = changing_call(Some("ThrottlingException"), sent, refused);
            assert!(!failure.may_be_applied, "{sent} sent: {failure:?}");
            assert_eq!(
                failure.message,
                "UpdateAlias: ThrottlingException: it failed"
            );
            assert!(!calls.report(ActionOutcome::Failed, "").changed);
        }
    }

    #[test]
    fn a_retried_change_may_have_been_applied_whatever_its_final_error() {
        // The first attempt got a 5xx (or no answer); the retries were refused with a code.
        for code in ["ThrottlingException", "PreconditionFailedException"] {
            let (calls, failure) = changing_call(Some(code), 3, 2);
            assert!(failure.may_be_applied, "{failure:?}");
            assert_eq!(
                failure.message,
                format!(
                    "UpdateAlias: {code}: it failed; it was sent 3 times and AWS did not refuse \
                     every attempt: one it did not refuse may have been applied, so the action's \
                     ledger claims are kept: check before acting by hand"
                )
            );
            assert!(calls.report(ActionOutcome::Failed, "").changed);
        }
        // A server error on the only attempt is no refusal either.
        let (calls, failure) = changing_call(Some("ServiceException"), 1, 0);
        assert!(
            failure
                .message
                .ends_with(&format!("not a refusal: it {MAY_BE_APPLIED}"))
        );
        assert!(calls.report(ActionOutcome::Failed, "").changed);
        // No answer at all, as before.
        let (calls, failure) = changing_call(None, 1, 0);
        assert!(failure.message.ends_with(UNANSWERED_CHANGE), "{failure:?}");
        assert!(calls.report(ActionOutcome::Failed, "").changed);
        // A change that never left this process (no attempt sent) reached nothing.
        let (calls, failure) = changing_call(None, 0, 0);
        assert!(!failure.may_be_applied, "{failure:?}");
        assert!(!calls.report(ActionOutcome::Failed, "").changed);
        // A read that fails is never a change.
        let mut calls = Calls::default();
        let failure = calls.failed("GetAlias", &error(None));
        assert!(!failure.may_be_applied);
        assert!(!calls.report(ActionOutcome::Failed, "").changed);
    }

    #[test]
    fn a_change_shown_not_applied_is_taken_back_and_only_that_one() {
        let (mut calls, _) = changing_call(Some("DeploymentAlreadyCompletedException"), 2, 1);
        calls.not_applied();
        assert!(!calls.report(ActionOutcome::Skipped, "").changed);

        // An earlier change of the same action stays.
        let mut calls = Calls::default();
        let _attempts = calls.changing("StopDeployment");
        calls.ok(UpdateAliasOutput::builder().build());
        counted(&calls.changing("StopDeployment"), 2, 1);
        calls.failed("StopDeployment", &error(Some("Conflict")));
        calls.not_applied();
        assert!(calls.report(ActionOutcome::Skipped, "").changed);
    }

    #[test]
    fn running_out_of_time_says_what_was_changed() {
        let untouched = Calls::default().out_of_time(Duration::from_millis(1500));
        assert_eq!(
            untouched.detail,
            "ran out of time (it had 1.5s of the time budget) before changing anything"
        );
        assert!(!untouched.changed);

        let mut under_way = Calls::default();
        counted(&under_way.changing("UpdateAlias"), 1, 0);
        let report = under_way.out_of_time(Duration::from_secs(2));
        assert!(report.detail.contains("while UpdateAlias was under way"));
        assert!(report.changed, "a change under way keeps the claims");

        // Cut off before the change was sent (still signing): it reached nothing.
        let mut unsent = Calls::default();
        let _attempts = unsent.changing("UpdateAlias");
        let report = unsent.out_of_time(Duration::from_secs(2));
        assert!(
            report.detail.ends_with("before changing anything"),
            "{}",
            report.detail
        );
        assert!(!report.changed, "nothing was sent: {report:?}");

        // StopDeployment answered, then a later read ran out of time.
        let mut done = Calls::default();
        let _attempts = done.changing("StopDeployment");
        done.ok(UpdateAliasOutput::builder().build());
        let report = done.out_of_time(Duration::from_secs(2));
        assert!(
            report.detail.contains("after changing something"),
            "{}",
            report.detail
        );
        assert!(report.changed);
        assert_eq!(report.outcome, ActionOutcome::Failed);
    }
}
