//! The AWS SDK settings every client shares (TLS, retries, timeouts), and AWS errors as
//! sentences an on-call engineer can act on. The clients themselves are built where they are
//! used: the ledger's DynamoDB, the secrets' Secrets Manager, the actions' CodeDeploy and
//! Lambda (`execute::Clients`).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// TLS crypto: *ring*. The `aws-lc` feature builds the SDK's default, AWS-LC, instead, only to
/// compare the two in BENCHMARKS.md.
#[cfg(not(feature = "aws-lc"))]
const CRYPTO: CryptoMode = CryptoMode::Ring;
#[cfg(feature = "aws-lc")]
const CRYPTO: CryptoMode = CryptoMode::AwsLc;

/// The SDK settings every client uses: HTTPS through rustls with *ring* (no AWS-LC to build,
/// and no CPU-jitter entropy gathering on the first request; the `aws-lc` feature, for the
/// comparison only, builds AWS-LC instead), standard retries (3 attempts with
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

/// The settings of [`loader`] from the standard chain: `AWS_REGION`, `AWS_ENDPOINT_URL`,
/// environment credentials (as on Lambda), profiles.
pub async fn load() -> aws_config::SdkConfig {
    loader().load().await
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
