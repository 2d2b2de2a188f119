//! The edge where actions talk to AWS: clients built once per process from the standard AWS
//! configuration chain, and the bookkeeping every call shares (request ids for the record,
//! errors turned into sentences an on-call engineer can act on).

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;

use crate::decision::ActionOutcome;

/// The AWS clients actions use. Built once per Lambda instance (or `serve` process); cheap to
/// share by reference.
#[derive(Clone, Debug)]
pub struct Aws {
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// For the ledger table, when one is configured.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// For `secretsmanager:` secrets.
    pub secretsmanager: aws_sdk_secretsmanager::Client,
}

impl Aws {
    /// Clients from the standard chain: `AWS_REGION`, `AWS_ENDPOINT_URL`, environment
    /// credentials (as on Lambda), profiles, with [`loader`]'s retries and timeouts.
    pub async fn from_env() -> Self {
        Self::from_sdk_config(&loader().load().await)
    }

    /// Clients from an existing SDK configuration.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// TLS crypto: *ring*. The `aws-lc` feature builds the SDK's default, AWS-LC, instead, only to
/// compare the two in BENCHMARKS.md.
#[cfg(not(feature = "aws-lc"))]
const CRYPTO: CryptoMode = CryptoMode::Ring;
#[cfg(feature = "aws-lc")]
const CRYPTO: CryptoMode = CryptoMode::AwsLc;

/// The SDK settings every client uses: HTTPS through rustls with *ring* (no AWS-LC to build,
/// and no CPU-jitter entropy gathering on the first request), standard retries (3 attempts with
/// backoff, for throttling and 5xx), a 2 s connect timeout, 5 s per attempt and 10 s per call,
/// so a stalled endpoint fails inside the time budget. Tests start from this too, adding an
/// endpoint.
pub fn loader() -> aws_config::ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CRYPTO))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
}

/// What one action did: its outcome, a sentence, and the AWS request ids of every call.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: ActionOutcome,
    pub detail: String,
    pub aws_request_ids: Vec<String>,
    /// Whether something in AWS changed, or may have (a change was under way when time ran
    /// out). Such an action keeps its ledger claims, whatever its outcome.
    pub changed: bool,
}

/// Collects the request ids of the calls one action makes, and which call that changes
/// something is under way, so an action cut off by its time budget can say what it left.
#[derive(Debug, Default)]
pub struct Calls {
    request_ids: Vec<String>,
    changing: Option<&'static str>,
    changed: bool,
}

/// Said of a call that changes something and got no answer: it may have been applied.
pub const UNANSWERED_CHANGE: &str = "; with no answer it may have been applied, so the \
                                     action's ledger claims are kept: check before acting by hand";

/// A failed AWS call, as a sentence: operation, error code, message and request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// The AWS error code (`ResourceNotFoundException`), when AWS answered.
    pub code: Option<String>,
    pub message: String,
}

impl Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Calls {
    /// Marks the start of a call that changes something (`StopDeployment`, `UpdateAlias`...).
    /// It counts as under way until its outcome is recorded with [`Calls::ok`] or
    /// [`Calls::failed`].
    pub fn changing(&mut self, operation: &'static str) {
        self.changing = Some(operation);
    }

    /// The call that changes something, if one was sent and has not answered.
    pub fn under_way(&self) -> Option<&'static str> {
        self.changing
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
    /// not found: ... (request id 1d2e...)`. A call that changes something and got no answer
    /// from AWS (the connection failed after it was sent) may still have been applied: it
    /// counts as a change, so the action keeps its ledger claims, and the message says so.
    pub fn failed<E>(&mut self, operation: &str, err: &E) -> CallFailure
    where
        E: ProvideErrorMetadata + RequestId + std::error::Error,
    {
        let was_changing = self.changing.take().is_some();
        let request_id = err.request_id().map(str::to_owned);
        if let Some(id) = &request_id {
            self.request_ids.push(id.clone());
        }
        let code = err.code().map(str::to_owned);
        let mut message = format!("{operation}: {}", describe(err));
        if let Some(id) = request_id {
            message.push_str(&format!(" (request id {id})"));
        }
        // No answer is not a no: err towards not acting twice.
        if was_changing && code.is_none() {
            self.changed = true;
            message.push_str(UNANSWERED_CHANGE);
        }
        CallFailure { code, message }
    }

    /// Records that a call which changes something may have been applied although it did not
    /// succeed: a retried attempt found the change made, perhaps by its own earlier attempt.
    /// The action keeps its ledger claims, whatever its outcome.
    pub fn may_have_changed(&mut self) {
        self.changed = true;
    }

    /// Finishes the action with an outcome.
    pub fn report(self, outcome: ActionOutcome, detail: impl Into<String>) -> Report {
        Report {
            outcome,
            detail: detail.into(),
            aws_request_ids: self.request_ids,
            changed: self.changed,
        }
    }

    /// Finishes an action its time budget cut off after `had` of it, saying whether a change
    /// was made or may have been.
    pub fn out_of_time(mut self, had: Duration) -> Report {
        let had = had.as_secs_f64();
        let detail = match self.changing {
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
        self.changed |= self.changing.is_some();
        self.report(ActionOutcome::Failed, detail)
    }
}

/// Counts the attempts the SDK sends of one call, retries included, so an action can tell an
/// error that followed an earlier attempt (which may have been applied) from a first answer.
/// Add it to a call with `.customize().interceptor(attempts.clone())`.
#[derive(Clone, Debug, Default)]
pub struct Attempts(Arc<AtomicU32>);

impl Attempts {
    /// Whether the call was sent more than once.
    pub fn retried(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 1
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
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// An SDK error as a sentence: `Code: message` when AWS answered, otherwise why it did not
/// (timeouts, refused connections, DNS, missing credentials).
pub fn describe<E>(err: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (err.code(), err.message()) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("no answer from AWS: {}", short(&chain(err))),
    }
}

/// An error and its sources, `outer: inner: innermost`, skipping repeats.
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Keeps transport errors readable: the SDK's full chain can be long.
fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::operation::update_alias::UpdateAliasOutput;

    use super::*;

    #[test]
    fn running_out_of_time_says_what_was_changed() {
        let untouched = Calls::default().out_of_time(Duration::from_millis(1500));
        assert_eq!(
            untouched.detail,
            "ran out of time (it had 1.5s of the time budget) before changing anything"
        );
        assert!(!untouched.changed);

        let mut under_way = Calls::default();
        under_way.changing("UpdateAlias");
        let report = under_way.out_of_time(Duration::from_secs(2));
        assert!(report.detail.contains("while UpdateAlias was under way"));
        assert!(report.changed, "a change under way keeps the claims");

        // StopDeployment answered, then a later read ran out of time.
        let mut done = Calls::default();
        done.changing("StopDeployment");
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
