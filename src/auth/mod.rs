//! Authentication: proving a request comes from someone holding a configured secret, before
//! anything else looks at it.
//!
//! Two ways are accepted:
//! - **Token** (`token`): a shared token in a header (default `Authorization: Bearer <token>`),
//!   which is all Wavefront can send. Only SHA-256 digests of the configured tokens are kept,
//!   and the presented token's digest is compared with every one of them in constant time, so
//!   timing reveals neither a token's content nor its length.
//! - **Signature** (`signature`): HMAC-SHA256 over the raw body per the Standard Webhooks
//!   specification (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`,
//!   `whsec_` secrets), for senders that can sign. The timestamp must be within a tolerance of
//!   now.
//!
//! Several tokens and secrets may be valid at once, for rotation: `setup` resolves every
//! configured reference into what verification needs. Why a request was rejected
//! ([`Rejection`]) goes to the audit line only; the caller learns nothing but 401.

mod setup;
mod signature;
mod token;

use std::fmt;

use hmac::Hmac;
use http::{HeaderMap, HeaderName};
use jiff::Timestamp;
use sha2::Sha256;

use crate::duration::HumanDuration;
use crate::secret::{SecretId, SecretRef};

#[cfg(any(test, feature = "test-support"))]
pub use signature::sign;
pub use signature::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, parse_signature_header};
pub use token::MIN_TOKEN_LEN;

/// The `[auth]` table: how callers prove who they are.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Shared tokens, any of which is accepted (several during a rotation).
    pub tokens: Vec<SecretRef>,
    /// Standard Webhooks signing secrets (`whsec_...`), any of which is accepted.
    pub signing_secrets: Vec<SecretRef>,
    /// The header that carries the token. `Authorization` expects `Bearer <token>`; any other
    /// header carries the bare token.
    pub token_header: HeaderName,
    /// How far a signature's `webhook-timestamp` may be from now.
    pub signature_tolerance: HumanDuration,
    /// Whether `literal:` secrets are accepted.
    pub insecure_allow_literal_secrets: bool,
}

impl AuthConfig {
    /// Whether any token or signing secret is read from Secrets Manager.
    pub fn uses_secrets_manager(&self) -> bool {
        self.tokens
            .iter()
            .chain(&self.signing_secrets)
            .any(SecretRef::is_secrets_manager)
    }

    /// The same table without the secrets read from Secrets Manager: what is still accepted
    /// once those can no longer be vouched for (`env:` and `literal:` secrets).
    pub fn without_secrets_manager(&self) -> Self {
        let keep = |references: &[SecretRef]| {
            references
                .iter()
                .filter(|r| !r.is_secrets_manager())
                .cloned()
                .collect()
        };
        Self {
            tokens: keep(&self.tokens),
            signing_secrets: keep(&self.signing_secrets),
            ..self.clone()
        }
    }

    /// The Secrets Manager secrets, named as the on-call engineer finds them: the reference,
    /// and the name or ARN the environment gives it (`env` as the responder reads it). Never
    /// a value.
    pub fn secrets_manager_names(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        self.tokens
            .iter()
            .chain(&self.signing_secrets)
            .filter_map(|reference| match reference {
                SecretRef::SecretsManager(SecretId::Env(name)) => Some(match env(name) {
                    Some(id) if !id.is_empty() => format!("{reference} ({id})"),
                    _ => reference.to_string(),
                }),
                SecretRef::SecretsManager(SecretId::Id(_)) => Some(reference.to_string()),
                _ => None,
            })
            .collect()
    }
}

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
    /// The warnings of references that may give a value on the next try: unset, or not
    /// readable now. (A Secrets Manager secret that is gone is warned about, not listed.)
    pub unavailable: Vec<String>,
}

impl Authenticator {
    /// Whether it accepts nothing: no token and no signing secret.
    pub fn is_empty(&self) -> bool {
        self.token_digests.is_empty() && self.signing_keys.is_empty()
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
mod tests;
