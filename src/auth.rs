//! Authentication: proving a request comes from someone holding a configured secret, before
//! anything else looks at it.
//!
//! Two ways are accepted:
//! - **Token**: a shared token in a header (default `Authorization: Bearer <token>`), which is
//!   all Wavefront can send. Only SHA-256 digests of the configured tokens are kept, and the
//!   presented token's digest is compared with every one of them in constant time, so timing
//!   reveals neither a token's content nor its length.
//! - **Signature**: HMAC-SHA256 over the raw body per the Standard Webhooks specification
//!   (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`, `whsec_` secrets),
//!   for senders that can sign. The timestamp must be within a tolerance of now.
//!
//! Several tokens and secrets may be valid at once, for rotation. Why a request was rejected
//! ([`Rejection`]) goes to the audit line only; the caller learns nothing but 401.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::AuthConfig;
use crate::secret::{Resolver, Secret, SecretRef};

/// Standard Webhooks header names.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Longest `webhook-id` accepted.
const MAX_ID_LEN: usize = 256;
/// Longest `webhook-signature` header accepted (room for several rotated signatures).
const MAX_SIGNATURE_HEADER_LEN: usize = 1024;
/// Longest token accepted.
const MAX_TOKEN_LEN: usize = 4096;
/// Shortest token accepted in config: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Checks requests against the configured secrets. Built once at start-up.
pub struct Authenticator {
    token_header: HeaderName,
    bearer: bool,
    token_digests: Vec<[u8; 32]>,
    /// One HMAC already keyed per signing secret; cloned per request.
    signing_keys: Vec<Hmac<Sha256>>,
    tolerance_secs: i64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_header", &self.token_header)
            .field("tokens", &self.token_digests.len())
            .field("signing_secrets", &self.signing_keys.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// How a request proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Token,
    Signature,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Signature => "signature",
        }
    }
}

/// Why a request was rejected. For the audit line only: never sent to the caller, and never
/// containing a secret or what the caller presented.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no credentials: neither the {0} header nor a webhook-signature header")]
    NoCredentials(HeaderName),
    #[error("the {0} header appears more than once")]
    RepeatedHeader(HeaderName),
    #[error("the authorization header is not \"Bearer <token>\"")]
    NotBearer,
    #[error("the token is not one of the configured tokens")]
    UnknownToken,
    #[error("a token was presented but no tokens are configured")]
    TokensNotConfigured,
    #[error("a signature was presented but no signing secrets are configured")]
    SignaturesNotConfigured,
    #[error("malformed signature headers: {0}")]
    MalformedSignature(&'static str),
    #[error("signature timestamp is {0}s old, beyond the tolerance")]
    Stale(i64),
    #[error("signature timestamp is {0}s in the future, beyond the tolerance")]
    FutureDated(i64),
    #[error("no signature matches any configured signing secret")]
    BadSignature,
}

/// Why the authenticator cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// Every reference was unset: the service would reject everything.
    #[error(
        "no usable token and no usable signing secret: {}; set at least one of them",
        .unset.join(", ")
    )]
    NothingUsable { unset: Vec<String> },
    /// A token is too short, or has spaces or control characters inside.
    #[error(
        "token {reference} {why}; use at least {MIN_TOKEN_LEN} random printable characters \
         (generate one with: openssl rand -hex 32)"
    )]
    WeakToken {
        reference: String,
        why: &'static str,
    },
    /// A signing secret is not `whsec_` + base64 of at least 16 bytes.
    #[error(
        "signing secret {reference} is not a Standard Webhooks secret: expected \"whsec_\" \
         followed by base64 of 16 to 64 random bytes (generate one with: \
         printf 'whsec_%s' \"$(head -c 32 /dev/urandom | base64)\")"
    )]
    BadSigningSecret { reference: String },
}

/// An authenticator and the start-up warnings to log about skipped secrets.
#[derive(Debug)]
pub struct Setup {
    pub authenticator: Authenticator,
    pub warnings: Vec<String>,
}

impl Authenticator {
    /// Resolves the configured secret references and keeps only what verification needs.
    pub async fn from_config(
        config: &AuthConfig,
        resolver: Resolver<'_>,
    ) -> Result<Setup, AuthSetupError> {
        let mut warnings = Vec::new();
        let mut unset = Vec::new();
        let mut token_digests = Vec::new();
        for reference in &config.tokens {
            for secret in resolve(resolver, reference, "token", &mut warnings, &mut unset).await {
                // Secret stores and env files often add a trailing newline: trim the ends.
                let token = secret.expose().trim();
                if let Some(why) = weakness(token) {
                    return Err(AuthSetupError::WeakToken {
                        reference: reference.to_string(),
                        why,
                    });
                }
                token_digests.push(digest(token.as_bytes()));
            }
        }
        let mut signing_keys = Vec::new();
        for reference in &config.signing_secrets {
            let secrets = resolve(
                resolver,
                reference,
                "signing secret",
                &mut warnings,
                &mut unset,
            );
            for secret in secrets.await {
                let key = decode_signing_secret(&secret)
                    .and_then(|key| <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok())
                    .ok_or_else(|| AuthSetupError::BadSigningSecret {
                        reference: reference.to_string(),
                    })?;
                signing_keys.push(key);
            }
        }
        if token_digests.is_empty() && signing_keys.is_empty() {
            return Err(AuthSetupError::NothingUsable { unset });
        }
        if config
            .tokens
            .iter()
            .chain(&config.signing_secrets)
            .any(SecretRef::is_literal)
        {
            warnings.push(
                "insecure_allow_literal_secrets is on: secrets are written in the config file; \
                 use env: references for anything but local experiments"
                    .into(),
            );
        }
        let authenticator = Self {
            bearer: config.token_header == http::header::AUTHORIZATION,
            token_header: config.token_header.clone(),
            token_digests,
            signing_keys,
            tolerance_secs: i64::try_from(config.signature_tolerance.get().as_secs())
                .unwrap_or(i64::MAX),
        };
        Ok(Setup {
            authenticator,
            warnings,
        })
    }

    /// How many tokens are usable.
    pub fn token_count(&self) -> usize {
        self.token_digests.len()
    }

    /// How many signing secrets are usable.
    pub fn signing_secret_count(&self) -> usize {
        self.signing_keys.len()
    }

    /// Checks one request. A `webhook-signature` header selects signature mode; otherwise the
    /// token header must carry a configured token.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<AuthMethod, Rejection> {
        if headers.contains_key(&WEBHOOK_SIGNATURE) {
            return self
                .verify_signature(headers, body, now)
                .map(|()| AuthMethod::Signature);
        }
        self.verify_token(headers).map(|()| AuthMethod::Token)
    }

    fn verify_token(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let value = single(headers, &self.token_header)?
            .ok_or_else(|| Rejection::NoCredentials(self.token_header.clone()))?;
        let value = value.as_bytes();
        let token = if self.bearer {
            match value.split_at_checked(7) {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => token,
                _ => return Err(Rejection::NotBearer),
            }
        } else {
            value
        };
        let token = token.trim_ascii();
        if self.token_digests.is_empty() {
            return Err(Rejection::TokensNotConfigured);
        }
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::UnknownToken);
        }
        let presented = digest(token);
        // Compare against every digest without stopping early.
        let mut found = Choice::from(0);
        for known in &self.token_digests {
            found |= known.ct_eq(&presented);
        }
        if bool::from(found) {
            Ok(())
        } else {
            Err(Rejection::UnknownToken)
        }
    }

    fn verify_signature(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), Rejection> {
        if self.signing_keys.is_empty() {
            return Err(Rejection::SignaturesNotConfigured);
        }
        let id = single(headers, &WEBHOOK_ID)?
            .ok_or(Rejection::MalformedSignature("webhook-id is missing"))?;
        let timestamp_text = single(headers, &WEBHOOK_TIMESTAMP)?.ok_or(
            Rejection::MalformedSignature("webhook-timestamp is missing"),
        )?;
        let signatures = single(headers, &WEBHOOK_SIGNATURE)?.ok_or(
            Rejection::MalformedSignature("webhook-signature is missing"),
        )?;
        let id = id
            .to_str()
            .ok()
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID_LEN)
            .ok_or(Rejection::MalformedSignature(
                "webhook-id is empty, too long or not text",
            ))?;
        const NOT_SECONDS: Rejection =
            Rejection::MalformedSignature("webhook-timestamp is not whole seconds since the epoch");
        let timestamp_text = timestamp_text
            .to_str()
            .ok()
            .filter(|t| !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(NOT_SECONDS)?;
        let timestamp: i64 = timestamp_text.parse().map_err(|_| NOT_SECONDS)?;
        if signatures.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(Rejection::MalformedSignature(
                "webhook-signature is too long",
            ));
        }
        let signatures = signatures
            .to_str()
            .map_err(|_| Rejection::MalformedSignature("webhook-signature is not text"))?;

        let age = now.as_second() - timestamp;
        if age > self.tolerance_secs {
            return Err(Rejection::Stale(age));
        }
        if -age > self.tolerance_secs {
            return Err(Rejection::FutureDated(-age));
        }

        let candidates = parse_signature_header(signatures);
        if candidates.is_empty() {
            return Err(Rejection::MalformedSignature(
                "webhook-signature has no \"v1,<base64>\" entry",
            ));
        }
        let mut found = false;
        for key in &self.signing_keys {
            // The signed content uses the header's text exactly as sent.
            let mac = signed_content_mac(key.clone(), id, timestamp_text, body);
            for candidate in &candidates {
                // verify_slice compares in constant time.
                found |= mac.clone().verify_slice(candidate).is_ok();
            }
        }
        if found {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }
}

/// The signatures in a `webhook-signature` header value, in order: the decoded bytes of each
/// space-separated `v1,<base64>` entry. Entries of other versions (`v1a,...`) and entries whose
/// base64 does not decode are skipped, so one good signature among several still counts; an
/// empty result means the header carries no usable signature. Lengths are not checked here:
/// a signature of the wrong length simply never matches, and [`Authenticator::verify`] refuses
/// a header over 1 KiB before parsing it.
pub fn parse_signature_header(value: &str) -> Vec<Vec<u8>> {
    let mut signatures = Vec::new();
    for entry in value.split(' ').filter(|e| !e.is_empty()) {
        // Only symmetric v1 signatures exist for HMAC secrets; skip other versions.
        if let Some(encoded) = entry.strip_prefix("v1,")
            && let Ok(bytes) = BASE64.decode(encoded)
        {
            signatures.push(bytes);
        }
    }
    signatures
}

/// The values of one reference; a reference that gives none is skipped with a warning.
async fn resolve(
    resolver: Resolver<'_>,
    reference: &SecretRef,
    kind: &str,
    warnings: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> Vec<Secret> {
    match resolver.resolve(reference).await {
        Ok(values) => values,
        Err(why) => {
            warnings.push(format!("{kind} {reference} {why}; skipping it"));
            unset.push(reference.to_string());
            Vec::new()
        }
    }
}

/// Signs a body the Standard Webhooks way; returns the `webhook-signature` value
/// (`v1,<base64>`). For senders that sign, and for tests.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = decode_signing_secret(&Secret::new(secret))?;
    let key = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    let mac = signed_content_mac(key, id, &timestamp.to_string(), body);
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// `{id}.{timestamp}.{body}`, the content Standard Webhooks signs.
fn signed_content_mac(
    mut mac: Hmac<Sha256>,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `whsec_<base64>` to key bytes (the prefix is optional, as in the reference libraries).
fn decode_signing_secret(secret: &Secret) -> Option<Vec<u8>> {
    let encoded = secret.expose().trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64
        .decode(encoded)
        .ok()
        .filter(|key| (16..=64).contains(&key.len()))
}

/// Why a configured token is unfit, if it is.
fn weakness(token: &str) -> Option<&'static str> {
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("has spaces or control characters inside")
    } else if token.chars().count() < MIN_TOKEN_LEN {
        Some("is too short")
    } else {
        None
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The header's value if it appears once; a repeated credential header is refused rather
/// than guessing which copy counts.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h http::HeaderValue>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::RepeatedHeader(name.clone()));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;

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
}
