//! Tokens kept in Secrets Manager (moto server): read at start-up, both versions during a
//! rotation, and re-read after a failed authentication, so a rotated secret needs no redeploy.

use std::path::Path;
use std::sync::Arc;

use wavefront_responder::config::Config;
use wavefront_responder::front_door::Options;

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

    // Re-reading happens at most once a minute: a second rotation right away is not seen yet.
    put(&name, THIRD).await;
    assert_eq!(status(&t, THIRD).await, 401);
    let output = t.output.text();
    for token in [FIRST, SECOND, THIRD] {
        assert!(!output.contains(token), "a token leaked: {output}");
    }
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_skipped_and_then_start_up_fails() {
    let aws = moto::aws().await;
    let text = "[auth]\ntokens = [\"secretsmanager:no-such-secret\"]\n";
    let config = Config::parse(text, Path::new("missing.toml")).unwrap();
    let result = wavefront_responder::front_door::Responder::setup(
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
