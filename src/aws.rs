//! The AWS SDK settings every client shares (TLS, retries, timeouts), and AWS errors as
//! sentences an on-call engineer can act on. The clients themselves are built where they are
//! used: the ledger's DynamoDB, the secrets' Secrets Manager, the actions' CodeDeploy and
//! Lambda (`execute::Clients`). And [`Home`], where the responder acts, for the ARNs it reports.

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

/// Where the responder acts: the partition, Region and account of its own Lambda function,
/// read from the ARN Lambda invoked it by. Its actions run with the function's role and in its
/// Region, so an action's resource is there unless the config gives its full ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Home<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

impl<'a> Home<'a> {
    /// The home of the function `arn` (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`),
    /// or `None` for anything else.
    pub fn of_function(arn: &'a str) -> Option<Self> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), Some("lambda"), Some(region), Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let valid = partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && parts.next() == Some("function");
        valid.then_some(Self {
            partition,
            region,
            account,
        })
    }

    /// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        let Self {
            partition,
            region,
            account,
        } = self;
        format!("arn:{partition}:{service}:{region}:{account}:{resource}")
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
    use super::Home;

    #[test]
    fn the_home_is_read_from_the_function_arn_lambda_invokes_by() {
        let home =
            Home::of_function("arn:aws-cn:lambda:cn-north-1:123456789012:function:responder:live");
        assert_eq!(
            home,
            Some(Home {
                partition: "aws-cn",
                region: "cn-north-1",
                account: "123456789012"
            })
        );
        let home = home.unwrap();
        assert_eq!(
            home.arn("codedeploy", "deploymentgroup:app/group"),
            "arn:aws-cn:codedeploy:cn-north-1:123456789012:deploymentgroup:app/group"
        );
        for not_a_function in [
            "",
            "responder",
            "arn:aws:sns:us-east-1:123456789012:topic",
            "arn:aws:lambda:us-east-1:1234:function:responder",
            "arn:aws:lambda::123456789012:function:responder",
            "arn:aws:lambda:us-east-1:123456789012:layer:x",
        ] {
            assert_eq!(Home::of_function(not_a_function), None, "{not_a_function}");
        }
    }
}
