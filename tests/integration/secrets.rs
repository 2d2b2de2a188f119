//! Tokens kept in Secrets Manager (moto server): read at start-up, both versions during a
//! rotation, and re-read after a failed authentication, so a rotated secret needs no redeploy.

use std::path::Path;
use std::sync::Arc;

use wavefront_responder::app::Options;
use wavefront_responder::config::Config;

use crate::moto;
use crate::support::*;

const FIRST: &str = "sm-token-first-0123456789abcdef";
const SECOND: &str = "sm-token-second-0123456789abcdef";
const THIRD: &str = "sm-token-third-0123456789abcdef";

async fn put(name: &str, value: &str) {
    let aws = moto::aws().await;
    aws.secretsmanager
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("put secret value");
}

async fn responder(secret_name: &str) -> TestResponder {
    responder_with(secret_name, std::time::Duration::ZERO).await
}

/// A responder whose token is the secret `secret_name`; a failed authentication may re-read
/// it once `refresh_after_failure` has passed since the last read, and waits for the re-read
/// (these tests are about what it reads, not about how long it may take).
async fn responder_with(
    secret_name: &str,
    refresh_after_failure: std::time::Duration,
) -> TestResponder {
    let aws = moto::aws().await;
    responder_reading(
        secret_name,
        refresh_after_failure,
        &aws.secretsmanager,
        LONG_WAIT,
    )
    .await
}

/// A wait for re-reads no test machine reaches.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// [`responder_with`], reading the secret through `client`, waiting for a re-read at most
/// `secrets_wait`.
async fn responder_reading(
    secret_name: &str,
    refresh_after_failure: std::time::Duration,
    client: &aws_sdk_secretsmanager::Client,
    secrets_wait: std::time::Duration,
) -> TestResponder {
    let aws = moto::aws().await;
    aws.secretsmanager
        .create_secret()
        .name(secret_name)
        .secret_string(FIRST)
        .send()
        .await
        .expect("create secret");
    let text = format!(
        "[auth]\ntokens = [\"secretsmanager:{secret_name}\"]\n[[rule]]\nname = \"r\"\nalert = \"*\"\n\
         [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\nto_version = \"1\"\n"
    );
    let config = Config::parse(&text, Path::new("secrets.toml")).unwrap();
    TestResponder::with_options(
        config,
        Options {
            force_dry_run: false,
            executor: None,
            secrets_manager: Some(client.clone()),
            refresh_after_failure,
            secrets_wait,
        },
    )
    .await
}

async fn status(t: &TestResponder, token: &str) -> u16 {
    let auth = bearer(token);
    t.post(
        &[("authorization", &auth)],
        fixture("alerts/checkout-opened.json").as_bytes(),
    )
    .await
    .status
}

#[tokio::test]
async fn a_token_in_secrets_manager_authenticates() {
    let t = responder(&moto::unique("webhook-token")).await;
    assert_eq!(status(&t, FIRST).await, 200);
    assert_eq!(status(&t, "sm-token-wrong-0123456789abcdef").await, 401);
    assert!(!t.output.text().contains(FIRST));
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_without_a_restart() {
    let name = moto::unique("webhook-token");
    let t = responder(&name).await;
    assert_eq!(status(&t, FIRST).await, 200);

    // Rotate: SECOND becomes AWSCURRENT, FIRST AWSPREVIOUS.
    put(&name, SECOND).await;
    assert_eq!(
        status(&t, SECOND).await,
        200,
        "re-read after the failed attempt"
    );
    assert_eq!(
        status(&t, FIRST).await,
        200,
        "the previous version still works"
    );

    // A second rotation: THIRD current, SECOND previous, FIRST gone.
    put(&name, THIRD).await;
    assert_eq!(status(&t, THIRD).await, 200);
    assert_eq!(status(&t, SECOND).await, 200);
    assert_eq!(status(&t, FIRST).await, 401, "two rotations revoke a token");
    let output = t.output.text();
    for token in [FIRST, SECOND, THIRD] {
        assert!(!output.contains(token), "a token leaked: {output}");
    }
}

#[tokio::test]
async fn failed_authentications_re_read_at_most_once_a_minute() {
    let name = moto::unique("webhook-token");
    let t = responder_with(&name, std::time::Duration::from_secs(60)).await;
    put(&name, SECOND).await;
    // Read at start-up, seconds ago: the failure does not re-read yet.
    assert_eq!(status(&t, SECOND).await, 401);
    assert_eq!(status(&t, FIRST).await, 200);
}

#[tokio::test]
async fn a_secret_that_cannot_be_re_read_keeps_the_one_read_before() {
    let name = moto::unique("webhook-token");
    let t = responder(&name).await;
    let aws = moto::aws().await;
    aws.secretsmanager
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // The wrong token makes it re-read, which fails: the token read before still works.
    assert_eq!(status(&t, SECOND).await, 401);
    assert_eq!(status(&t, FIRST).await, 200);
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_skipped_and_then_start_up_fails() {
    let aws = moto::aws().await;
    let text = "[auth]\ntokens = [\"secretsmanager:no-such-secret\"]\n";
    let config = Config::parse(text, Path::new("missing.toml")).unwrap();
    let result = wavefront_responder::app::Responder::setup(
        config,
        Arc::new(env),
        wavefront_responder::telemetry::Telemetry::to_writer(Captured::default()),
        Options {
            secrets_manager: Some(aws.secretsmanager.clone()),
            ..Options::default()
        },
    )
    .await;
    let err = result.expect_err("no usable secret").to_string();
    assert_eq!(
        err,
        "no usable token and no usable signing secret: secretsmanager:no-such-secret; set at \
         least one of them"
    );
}

/// A Secrets Manager that stops answering cannot hold authentication up: a failed
/// authentication's re-read is waited for only so long, then the request is answered with the
/// secrets read before (the SDK alone would wait 10 s per call), and the token read before
/// keeps working while the re-read hangs.
#[tokio::test]
async fn a_stalled_secrets_manager_does_not_hold_requests_up() {
    use crate::proxy::{Fault, Proxy, Times};

    let name = moto::unique("webhook-token");
    let proxy = Proxy::start().await;
    let proxied = proxy.aws().await;
    let wait = std::time::Duration::from_millis(200);
    let t = responder_reading(
        &name,
        std::time::Duration::ZERO,
        &proxied.secretsmanager,
        wait,
    )
    .await;
    proxy.inject("GetSecretValue", Fault::Stall, Times::Always);
    for (token, expected) in [("sm-token-wrong-0123456789abcdef", 401), (FIRST, 200)] {
        let started = std::time::Instant::now();
        assert_eq!(status(&t, token).await, expected, "{token}");
        // A correctness bound, far from both the wait (0.2 s) and the SDK's own 10 s.
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }
    // The re-read was sent, and never answered.
    assert!(
        proxy.operations().iter().any(|o| o == "GetSecretValue"),
        "{:?}",
        proxy.operations()
    );
}
