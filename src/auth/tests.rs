//! Unit tests of authentication: tokens, signatures, replays and the set-up from config.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::signature::{decode_signing_secret, signed_content_mac};
use super::*;
use crate::duration::HumanDuration;
use crate::secret::{Resolver, Secret};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(tokens: &[&str], secrets: &[&str], header: &str) -> AuthConfig {
    AuthConfig {
        tokens: tokens
            .iter()
            .map(|t| SecretRef::parse(t).unwrap())
            .collect(),
        signing_secrets: secrets
            .iter()
            .map(|s| SecretRef::parse(s).unwrap())
            .collect(),
        token_header: HeaderName::from_bytes(header.as_bytes()).unwrap(),
        signature_tolerance: HumanDuration::parse("5m").unwrap(),
        insecure_allow_literal_secrets: true,
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "CURRENT" => Some("token-current-0123456789\n".into()),
        "PREVIOUS" => Some("token-previous-0123456789".into()),
        "SIGNING" => Some(SECRET.into()),
        _ => None,
    }
}

fn resolver(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Resolver<'_> {
    Resolver {
        env,
        secrets_manager: None,
        previous_for: crate::secret::PREVIOUS_VERSION_FOR,
    }
}

fn setup(
    config: &AuthConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Setup, AuthSetupError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(Authenticator::from_config(config, resolver(env)))
}

fn authenticator(tokens: &[&str], secrets: &[&str]) -> Authenticator {
    setup(&config(tokens, secrets, "authorization"), &env)
        .unwrap()
        .authenticator
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

#[test]
fn every_token_of_a_rotation_is_accepted() {
    let auth = authenticator(&["env:CURRENT", "env:PREVIOUS"], &[]);
    for token in ["token-current-0123456789", "token-previous-0123456789"] {
        let h = headers(&[("Authorization", &format!("Bearer {token}"))]);
        assert_eq!(auth.verify(&h, b"{}", now()), Ok(AuthMethod::Token));
    }
    let lower = headers(&[("authorization", "bearer token-current-0123456789")]);
    assert_eq!(auth.verify(&lower, b"{}", now()), Ok(AuthMethod::Token));
}

#[test]
fn wrong_missing_or_malformed_tokens_are_rejected() {
    let auth = authenticator(&["env:CURRENT"], &[]);
    let cases = [
        (
            headers(&[]),
            Rejection::NoCredentials(http::header::AUTHORIZATION),
        ),
        (
            headers(&[("Authorization", "Bearer nope")]),
            Rejection::UnknownToken,
        ),
        (
            headers(&[("Authorization", "Bearer token-current-012345678")]),
            Rejection::UnknownToken,
        ),
        (
            headers(&[("Authorization", "Bearer ")]),
            Rejection::UnknownToken,
        ),
        (
            headers(&[("Authorization", "token-current-0123456789")]),
            Rejection::NotBearer,
        ),
        (
            headers(&[("Authorization", "Basic token-current-0123456789")]),
            Rejection::NotBearer,
        ),
        (
            headers(&[
                ("Authorization", "Bearer token-current-0123456789"),
                ("Authorization", "Bearer token-current-0123456789"),
            ]),
            Rejection::RepeatedHeader(http::header::AUTHORIZATION),
        ),
    ];
    for (h, expected) in cases {
        assert_eq!(auth.verify(&h, b"{}", now()), Err(expected), "{h:?}");
    }
}

#[test]
fn a_custom_header_carries_the_bare_token() {
    let auth = setup(&config(&["env:CURRENT"], &[], "x-wavefront-token"), &env)
        .unwrap()
        .authenticator;
    let h = headers(&[("X-Wavefront-Token", "token-current-0123456789")]);
    assert_eq!(auth.verify(&h, b"{}", now()), Ok(AuthMethod::Token));
    let bearer = headers(&[("Authorization", "Bearer token-current-0123456789")]);
    assert!(auth.verify(&bearer, b"{}", now()).is_err());
}

fn signed(body: &[u8], timestamp: i64, secret: &str) -> HeaderMap {
    let signature = sign(secret, "msg_1", timestamp, body).unwrap();
    headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &timestamp.to_string()),
        ("webhook-signature", &signature),
    ])
}

#[test]
fn a_valid_signature_is_accepted_within_tolerance() {
    let auth = authenticator(&[], &["env:SIGNING"]);
    let body = br#"{"name":"x"}"#;
    for skew in [0, -300, 300] {
        let h = signed(body, now().as_second() + skew, SECRET);
        assert_eq!(
            auth.verify(&h, body, now()),
            Ok(AuthMethod::Signature),
            "{skew}"
        );
    }
}

#[test]
fn stale_future_and_tampered_signatures_are_rejected() {
    let auth = authenticator(&["env:CURRENT"], &["env:SIGNING"]);
    let body = br#"{"name":"x"}"#;
    let stale = signed(body, now().as_second() - 301, SECRET);
    assert_eq!(auth.verify(&stale, body, now()), Err(Rejection::Stale(301)));
    let future = signed(body, now().as_second() + 400, SECRET);
    assert_eq!(
        auth.verify(&future, body, now()),
        Err(Rejection::FutureDated(400))
    );
    let fresh = signed(body, now().as_second(), SECRET);
    assert_eq!(
        auth.verify(&fresh, br#"{"name":"y"}"#, now()),
        Err(Rejection::BadSignature)
    );
    let other_key = signed(
        body,
        now().as_second(),
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(
        auth.verify(&other_key, body, now()),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn the_signature_covers_the_timestamp_exactly_as_sent() {
    let auth = authenticator(&[], &["env:SIGNING"]);
    let ts = format!("0{}", now().as_second());
    let key = decode_signing_secret(&Secret::new(SECRET)).unwrap();
    let key = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    let mac = signed_content_mac(key, "msg_1", &ts, b"{}");
    let signature = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    let h = headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &ts),
        ("webhook-signature", &signature),
    ]);
    assert_eq!(auth.verify(&h, b"{}", now()), Ok(AuthMethod::Signature));
}

#[test]
fn a_token_beside_a_bad_signature_does_not_rescue_it() {
    let auth = authenticator(&["env:CURRENT"], &["env:SIGNING"]);
    let ts = now().as_second().to_string();
    let h = headers(&[
        ("Authorization", "Bearer token-current-0123456789"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &ts),
        ("webhook-signature", "v1,AAAA"),
    ]);
    assert_eq!(auth.verify(&h, b"{}", now()), Err(Rejection::BadSignature));
    let repeated = headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &ts),
        ("webhook-signature", "v1,AAAA"),
        ("webhook-signature", "v1,BBBB"),
    ]);
    assert_eq!(
        auth.verify(&repeated, b"{}", now()),
        Err(Rejection::RepeatedHeader(WEBHOOK_SIGNATURE))
    );
}

#[test]
fn weak_configured_tokens_are_refused_at_start_up() {
    for (value, why) in [
        ("abc123", "is too short"),
        ("has a space inside it!", "has spaces"),
    ] {
        let env = |_: &str| Some(value.to_owned());
        let err = setup(&config(&["env:T"], &[], "authorization"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token env:T "), "{err}");
        assert!(err.contains(why), "{err}");
        assert!(!err.contains(value), "{err}");
    }
}

#[test]
fn one_matching_signature_among_several_is_enough() {
    let auth = authenticator(&[], &["env:SIGNING"]);
    let body = b"{}";
    let ts = now().as_second();
    let good = sign(SECRET, "msg_1", ts, body).unwrap();
    let h = headers(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", &format!("v1,AAAA v1a,xyz {good}")),
    ]);
    assert_eq!(auth.verify(&h, body, now()), Ok(AuthMethod::Signature));
}

#[test]
fn malformed_signature_headers_are_rejected() {
    let auth = authenticator(&[], &["env:SIGNING"]);
    let ts = now().as_second().to_string();
    for (h, why) in [
        (
            headers(&[("webhook-signature", "v1,AAAA"), ("webhook-timestamp", &ts)]),
            "webhook-id is missing",
        ),
        (
            headers(&[
                ("webhook-signature", "v1,AAAA"),
                ("webhook-id", "m"),
                ("webhook-timestamp", "-5"),
            ]),
            "webhook-timestamp is not whole seconds since the epoch",
        ),
        (
            headers(&[
                ("webhook-signature", "v2,AAAA"),
                ("webhook-id", "m"),
                ("webhook-timestamp", &ts),
            ]),
            "webhook-signature has no \"v1,<base64>\" entry",
        ),
    ] {
        assert_eq!(
            auth.verify(&h, b"{}", now()),
            Err(Rejection::MalformedSignature(why))
        );
    }
}

#[test]
fn signature_mode_without_secrets_is_rejected() {
    let auth = authenticator(&["env:CURRENT"], &[]);
    let h = signed(b"{}", now().as_second(), SECRET);
    assert_eq!(
        auth.verify(&h, b"{}", now()),
        Err(Rejection::SignaturesNotConfigured)
    );
}

#[test]
fn unset_references_are_skipped_with_a_warning() {
    let setup = setup(
        &config(
            &["env:CURRENT", "env:UNSET"],
            &["env:ALSO_UNSET"],
            "authorization",
        ),
        &env,
    )
    .unwrap();
    assert_eq!(
        setup.warnings,
        [
            "token env:UNSET is not set or empty; skipping it",
            "signing secret env:ALSO_UNSET is not set or empty; skipping it"
        ]
    );
}

#[test]
fn nothing_usable_is_a_start_up_error() {
    let err = setup(
        &config(&["env:UNSET"], &["env:ALSO_UNSET"], "authorization"),
        &env,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no usable token and no usable signing secret: env:UNSET, env:ALSO_UNSET; set at \
         least one of them"
    );
}

#[test]
fn a_malformed_signing_secret_is_a_start_up_error_that_hides_it() {
    let err = setup(
        &config(&[], &["literal:whsec_not-base64!"], "authorization"),
        &env,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("signing secret literal:<redacted> is not"),
        "{message}"
    );
    assert!(!message.contains("not-base64"), "{message}");
}

#[test]
fn debug_output_shows_counts_not_secrets() {
    let auth = authenticator(&["env:CURRENT"], &["env:SIGNING"]);
    let debug = format!("{auth:?}");
    assert!(debug.contains("tokens: 1"), "{debug}");
    assert!(!debug.contains("token-current"), "{debug}");
    assert_eq!((auth.token_count(), auth.signing_secret_count()), (1, 1));
}

#[test]
fn without_secrets_manager_keeps_env_and_literal_secrets_and_names_the_others() {
    let config = config(
        &[
            "secretsmanager:prod/webhook-token",
            "env:CURRENT",
            "literal:token-literal-0123456789",
        ],
        &["secretsmanager:env:SIGNING_ARN", "env:SIGNING"],
        "authorization",
    );
    assert!(config.uses_secrets_manager());
    let local = config.without_secrets_manager();
    assert!(!local.uses_secrets_manager());
    let kept: Vec<String> = local
        .tokens
        .iter()
        .chain(&local.signing_secrets)
        .map(ToString::to_string)
        .collect();
    assert_eq!(kept, ["env:CURRENT", "literal:<redacted>", "env:SIGNING"]);
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf";
    let env = |name: &str| (name == "SIGNING_ARN").then(|| arn.to_owned());
    assert_eq!(
        config.secrets_manager_names(&env),
        [
            "secretsmanager:prod/webhook-token".to_owned(),
            format!("secretsmanager:env:SIGNING_ARN ({arn})"),
        ]
    );
    assert_eq!(
        config.secrets_manager_names(&|_| None)[1],
        "secretsmanager:env:SIGNING_ARN"
    );
}

/// The Standard Webhooks specification's published test vector: every other signed request in
/// the tests comes from this project's own signer, so a mistake shared by the signer and the
/// verifier would pass them all; this one would not.
mod published_vector {
    use super::*;

    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_signer_writes_the_published_signature() {
        assert_eq!(
            sign(SECRET, ID, TIMESTAMP, BODY).as_deref(),
            Some(SIGNATURE)
        );
    }

    #[test]
    fn the_verifier_accepts_the_published_signature_and_nothing_else() {
        let auth = authenticator(&[], &["env:SIGNING"]);
        let at = Timestamp::from_second(TIMESTAMP).unwrap();
        let timestamp = TIMESTAMP.to_string();
        let request = |signature: &str| {
            headers(&[
                ("webhook-id", ID),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", signature),
            ])
        };
        assert_eq!(
            auth.verify(&request(SIGNATURE), BODY, at),
            Ok(AuthMethod::Signature)
        );
        // One character of the body, or of the signature, changed.
        assert_eq!(
            auth.verify(&request(SIGNATURE), br#"{"test": 2432232315}"#, at),
            Err(Rejection::BadSignature)
        );
        let wrong = SIGNATURE.replace("g0hM", "g1hM");
        assert_eq!(
            auth.verify(&request(&wrong), BODY, at),
            Err(Rejection::BadSignature)
        );
    }
}
