//! Tokens kept in Secrets Manager (moto server): read at start-up, both versions during a
//! rotation, and re-read after a failed authentication, so a rotated secret needs no redeploy;
//! kept while re-reads fail, for a while only (the fault proxy makes them fail).

use std::path::Path;
use std::sync::Arc;

use wavefront_responder::app::{Options, UNCONFIRMED_SECRETS_ACCEPTED_FOR};
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
    let options = Options {
        refresh_after_failure,
        ..reading(&aws.secretsmanager)
    };
    responder_reading(secret_name, options).await
}

/// Options that read secrets through `client` and wait for every re-read.
fn reading(client: &aws_sdk_secretsmanager::Client) -> Options {
    Options {
        force_dry_run: false,
        executor: None,
        answer_margin: wavefront_responder::app::ANSWER_MARGIN,
        secrets_manager: Some(client.clone()),
        refresh_after_failure: std::time::Duration::ZERO,
        secrets_wait: LONG_WAIT,
        previous_secret_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        unconfirmed_secrets_accepted_for: UNCONFIRMED_SECRETS_ACCEPTED_FOR,
        ..Options::default()
    }
}

/// A wait for re-reads no test machine reaches.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A responder whose token is the secret `secret_name`, created holding [`FIRST`], with
/// `options`.
async fn responder_reading(secret_name: &str, options: Options) -> TestResponder {
    responder_with_tokens(secret_name, &[], options).await
}

/// [`responder_reading`], with `also` (references such as `env:WEBHOOK_TOKEN`) accepted too.
async fn responder_with_tokens(
    secret_name: &str,
    also: &[&str],
    options: Options,
) -> TestResponder {
    let aws = moto::aws().await;
    aws.secretsmanager
        .create_secret()
        .name(secret_name)
        .secret_string(FIRST)
        .send()
        .await
        .expect("create secret");
    let also: String = also.iter().map(|r| format!(", \"{r}\"")).collect();
    let text = format!(
        "[auth]\ntokens = [\"secretsmanager:{secret_name}\"{also}]\ninsecure_allow_literal_secrets = true\n[[rule]]\nname = \"r\"\nalert = \"*\"\n\
         [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\nto_version = \"1\"\n"
    );
    let config = Config::parse(&text, Path::new("secrets.toml")).unwrap();
    TestResponder::with_options(config, options).await
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

/// Revoking a leaked token by deleting its secret works on warm instances too: once Secrets
/// Manager says the secret is gone, its value stops being accepted at the next re-read.
#[tokio::test]
async fn a_deleted_secret_stops_being_accepted_at_the_next_re_read() {
    let name = moto::unique("webhook-token");
    let t = responder(&name).await;
    assert_eq!(status(&t, FIRST).await, 200);
    let aws = moto::aws().await;
    aws.secretsmanager
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // A failed authentication makes it re-read: the secret is gone, so is its value.
    assert_eq!(status(&t, SECOND).await, 401);
    assert_eq!(status(&t, FIRST).await, 401, "revoked");
}

/// A Secrets Manager that answers with errors is out, not a revocation: for the default hour
/// after the last read that succeeded, the token read before keeps working through failed
/// re-reads, and a wrong token is still the caller's fault.
#[tokio::test]
async fn a_secret_that_cannot_be_read_now_keeps_the_one_read_before() {
    use crate::proxy::{Fault, Proxy, Times};

    assert_eq!(
        Options::default().unconfirmed_secrets_accepted_for,
        std::time::Duration::from_secs(3600)
    );
    let name = moto::unique("webhook-token");
    let proxy = Proxy::start().await;
    let proxied = proxy.aws().await;
    let t = responder_reading(&name, reading(&proxied.secretsmanager)).await;
    proxy.inject("GetSecretValue", Fault::Status(500), Times::Always);
    for _ in 0..2 {
        assert_eq!(status(&t, SECOND).await, 401);
        assert_eq!(status(&t, FIRST).await, 200);
    }
    assert!(
        proxy.operations().iter().any(|o| o == "GetSecretValue"),
        "the failed authentications re-read: {:?}",
        proxy.operations()
    );
}

/// Past its time (none here: the first failed re-read ends it), a Secrets Manager value is no
/// longer accepted, and a request it might have let in is answered 503 with an audit line that
/// says what to check: the fault is ours, not the caller's. `env:` and literal tokens keep
/// working, a request without credentials is still the caller's fault, and once Secrets
/// Manager answers again its value is accepted again.
#[tokio::test]
async fn secrets_that_cannot_be_re_read_for_too_long_are_refused_as_our_fault() {
    use crate::proxy::{Fault, Proxy, Times};

    const LITERAL: &str = "literal-token-0123456789abcdef";
    let name = moto::unique("webhook-token");
    let proxy = Proxy::start().await;
    let proxied = proxy.aws().await;
    let options = Options {
        unconfirmed_secrets_accepted_for: std::time::Duration::ZERO,
        ..reading(&proxied.secretsmanager)
    };
    let literal = format!("literal:{LITERAL}");
    let t = responder_with_tokens(&name, &["env:WEBHOOK_TOKEN", &literal], options).await;
    // No re-read has failed yet: read at start-up, the value is accepted.
    assert_eq!(status(&t, FIRST).await, 200);

    proxy.inject("GetSecretValue", Fault::Status(500), Times::Always);
    // The failed authentication re-reads, and the re-read fails: the values read before are
    // past their time, and this request may have held a rotated one.
    assert_eq!(status(&t, SECOND).await, 503);
    let reply = t
        .post(
            &[("authorization", &bearer(FIRST))],
            fixture("alerts/checkout-opened.json").as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "rejected");
    assert_eq!(
        reply.json["error"],
        "service unavailable: credentials cannot be checked right now; try again later"
    );
    let audits = t.audits();
    let audit = audits.last().expect("an audit line");
    assert_eq!(audit["outcome"], "rejected");
    assert_audit_keys(audit, &crate::docs::documented_audit_keys());
    let detail = audit["detail"].as_str().expect("a detail");
    assert!(
        detail.starts_with(
            "the Secrets Manager secrets could not be re-read for over 0s (last success at "
        ),
        "{detail}"
    );
    for part in [
        format!("; last failure: token secretsmanager:{name} could not be read ("),
        "): the values read before are no longer accepted; check the function's access to \
         secretsmanager:"
            .to_owned(),
        format!(
            "{name} (its secretsmanager:GetSecretValue permission, the secret's KMS key, \
             Secrets Manager's health); they are accepted again once a re-read succeeds"
        ),
    ] {
        assert!(detail.contains(&part), "{part:?} not in {detail}");
    }
    assert_eq!(
        t.metric_names()
            .iter()
            .filter(|m| *m == "webhook_rejected")
            .count(),
        2
    );

    // Not Secrets Manager's: still accepted. Without credentials: still the caller's fault.
    assert_eq!(status(&t, TOKEN).await, 200);
    assert_eq!(status(&t, LITERAL).await, 200);
    let reply = t
        .post(&[], fixture("alerts/checkout-opened.json").as_bytes())
        .await;
    assert_eq!(reply.status, 401);

    // Secrets Manager answers again: the next failed authentication re-reads, and it holds.
    proxy.clear();
    assert_eq!(status(&t, FIRST).await, 200);
    assert_eq!(status(&t, SECOND).await, 401);
    let output = t.output.text();
    for token in [FIRST, SECOND, TOKEN, LITERAL] {
        assert!(!output.contains(token), "a token leaked: {output}");
    }
}

/// A rotation revokes the old value after a while: the previous version is accepted only for
/// `previous_secret_for` after the current one was made (24 h by default; none here).
#[tokio::test]
async fn the_previous_version_is_accepted_only_for_a_while_after_a_rotation() {
    let name = moto::unique("webhook-token");
    let aws = moto::aws().await;
    let options = Options {
        previous_secret_for: std::time::Duration::ZERO,
        ..reading(&aws.secretsmanager)
    };
    let t = responder_reading(&name, options).await;
    put(&name, SECOND).await;
    assert_eq!(
        status(&t, SECOND).await,
        200,
        "re-read after the failed attempt"
    );
    assert_eq!(
        status(&t, FIRST).await,
        401,
        "the previous version had its time"
    );
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
    let options = Options {
        secrets_wait: std::time::Duration::from_millis(200),
        ..reading(&proxied.secretsmanager)
    };
    let t = responder_reading(&name, options).await;
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
