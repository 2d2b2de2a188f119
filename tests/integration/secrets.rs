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
/// it once `refresh_after_failure` has passed since the last read.
async fn responder_with(
    secret_name: &str,
    refresh_after_failure: std::time::Duration,
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
            secrets_manager: Some(aws.secretsmanager.clone()),
            refresh_after_failure,
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
