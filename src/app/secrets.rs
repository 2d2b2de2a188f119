//! The secrets requests are verified with, and keeping them fresh on a warm instance:
//! Secrets Manager secrets are re-read when a request fails authentication, so a rotated
//! secret is picked up without a redeploy, and once they are old anyway, so a secret revoked
//! there stops working too. A re-read never holds a request up for long: it runs in a task of
//! its own, the request waits for it at most [`Options::secrets_wait`](super::Options), and is
//! verified with the secrets read before if it has not ended by then.
//!
//! A re-read that fails keeps the secrets read before (an outage must not lock Wavefront out),
//! but only for a while: once re-reads have failed for
//! [`UNCONFIRMED_SECRETS_ACCEPTED_FOR`] since the last one that succeeded, the values read from
//! Secrets Manager are no longer accepted (those from `env:` and `literal:` references still
//! are), and a request they might have let in is refused as our fault ([`SecretsUnconfirmed`]),
//! not the caller's, until a re-read succeeds again.

use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::Options;
use crate::auth::{AuthConfig, AuthMethod, AuthSetupError, Authenticator, Rejection};
use crate::duration::HumanDuration;
use crate::front_door::Inbound;
use crate::secret::Resolver;

/// The environment, as the responder reads it (injected, so tests do not touch the process's).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// After a failed authentication, the secrets are re-read only if they were last read at least
/// this long ago: failing requests cannot turn into a stream of Secrets Manager calls.
pub(super) const REREAD_AFTER_FAILURE_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// The oldest the secrets may get before they are re-read anyway, failure or not.
const MAX_SECRET_AGE: Duration = Duration::from_secs(600);
/// How long a request waits for a re-read of the secrets, at most.
pub(super) const SECRETS_WAIT: Duration = Duration::from_millis(300);
/// How long values read from Secrets Manager stay accepted after the last read of them that
/// succeeded, while re-reads fail. Re-reads come every ten minutes, so this is six failures in
/// a row; a new instance cannot start without reading the secret at all, so past this a warm
/// instance fails as a new one would; and a token revoked in a way that makes reads fail (the
/// function's permission removed, the KMS key disabled) stops working within it.
pub const UNCONFIRMED_SECRETS_ACCEPTED_FOR: Duration = Duration::from_secs(3600);

/// The authenticator in use, and what re-reads its secrets.
#[derive(Debug)]
pub(super) struct Secrets {
    /// Swapped whole when the Secrets Manager secrets are re-read.
    current: RwLock<Current>,
    /// Present when some secret comes from Secrets Manager.
    refresh: Option<SecretsRefresh>,
}

/// The secrets requests are verified with, and how sure of them the responder is.
#[derive(Debug)]
struct Current {
    /// Every secret, as last read.
    authenticator: Arc<Authenticator>,
    /// When the Secrets Manager secrets were last read whole: at start-up, or when the last
    /// re-read that succeeded began.
    confirmed: Instant,
    /// The same moment, on the wall clock, for the on-call engineer.
    confirmed_at: Timestamp,
    /// Why the latest re-read since then failed; `None` while none has (one still under way
    /// has not failed yet).
    failure: Option<String>,
}

/// Re-reads the Secrets Manager secrets: after a failed authentication (at most once a minute,
/// so failing requests cannot turn into a stream of Secrets Manager calls), and every ten
/// minutes anyway.
pub(super) struct SecretsRefresh {
    /// The `[auth]` references, to resolve again.
    pub config: AuthConfig,
    pub env: Env,
    pub client: aws_sdk_secretsmanager::Client,
    /// When the secrets were last read, or a re-read began; held while one runs.
    pub last: tokio::sync::Mutex<Instant>,
    /// The start-up warnings (`env:` references not set): a re-read that warns about more
    /// than these lost a secret, and is not used.
    pub baseline: Vec<String>,
    pub after_failure: Duration,
    /// How long a request waits for a re-read.
    pub wait: Duration,
    /// How long after a rotation the previous version of a secret is accepted.
    pub previous_for: Duration,
    /// How long the Secrets Manager values stay accepted while re-reads fail.
    pub accepted_for: Duration,
    /// The `env:` and `literal:` secrets alone: what is accepted once the Secrets Manager
    /// values are not.
    pub without_secrets_manager: Authenticator,
    /// The Secrets Manager secrets by reference and name or ARN, for the on-call engineer.
    pub names: String,
}

impl fmt::Debug for SecretsRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsRefresh")
    }
}

impl SecretsRefresh {
    /// What re-reads the secrets of `config` through `client`; `baseline` is the start-up
    /// warnings.
    pub(super) async fn new(
        config: &AuthConfig,
        env: Env,
        client: aws_sdk_secretsmanager::Client,
        baseline: Vec<String>,
        options: &Options,
    ) -> Result<Self, AuthSetupError> {
        let resolver = Resolver {
            env: &*env,
            secrets_manager: None,
            previous_for: options.previous_secret_for,
        };
        let (local, _) =
            Authenticator::resolve_all(&config.without_secrets_manager(), resolver).await?;
        let names = config.secrets_manager_names(&*env).join(", ");
        Ok(Self {
            config: config.clone(),
            env,
            client,
            last: tokio::sync::Mutex::new(Instant::now()),
            baseline,
            after_failure: options.refresh_after_failure,
            wait: options.secrets_wait,
            previous_for: options.previous_secret_for,
            accepted_for: options.unconfirmed_secrets_accepted_for,
            without_secrets_manager: local.authenticator,
            names,
        })
    }
}

/// Why a request was not let in.
#[derive(Debug, thiserror::Error)]
pub(super) enum AuthFailure {
    /// The caller did not prove who it is.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The caller may hold a Secrets Manager value the responder can no longer vouch for.
    #[error(transparent)]
    Unconfirmed(#[from] SecretsUnconfirmed),
}

/// The Secrets Manager secrets could not be re-read for longer than their values stay
/// accepted: the fault is ours, and this says what to check. Names secrets, never values.
#[derive(Debug, thiserror::Error)]
#[error(
    "the Secrets Manager secrets could not be re-read for over {accepted_for} (last success at \
     {}; last failure: {failure}): the values read before are no longer accepted; check the \
     function's access to {names} (its secretsmanager:GetSecretValue permission, the secret's \
     KMS key, Secrets Manager's health); they are accepted again once a re-read succeeds",
    .confirmed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
)]
pub(super) struct SecretsUnconfirmed {
    accepted_for: HumanDuration,
    confirmed_at: Timestamp,
    failure: String,
    names: String,
}

impl Current {
    fn new(authenticator: Authenticator) -> Self {
        Self {
            authenticator: Arc::new(authenticator),
            confirmed: Instant::now(),
            confirmed_at: Timestamp::now(),
            failure: None,
        }
    }

    /// Whether the Secrets Manager values are past their time: re-reads have failed since
    /// the last one that succeeded, and that was `accepted_for` ago or more.
    fn expired(&self, accepted_for: Duration) -> bool {
        self.failure.is_some() && self.confirmed.elapsed() >= accepted_for
    }

    /// Why the Secrets Manager values are no longer accepted, if they are past their time.
    fn unconfirmed(&self, refresh: &SecretsRefresh) -> Option<SecretsUnconfirmed> {
        let failure = self.failure.as_ref()?;
        if !self.expired(refresh.accepted_for) {
            return None;
        }
        Some(SecretsUnconfirmed {
            accepted_for: HumanDuration::new(refresh.accepted_for),
            confirmed_at: self.confirmed_at,
            failure: failure.clone(),
            names: refresh.names.clone(),
        })
    }
}

/// Whether a rejection by the `env:` and literal secrets alone (`local`) may be the dropped
/// Secrets Manager values' doing: some of those were of the kind the request presented (a
/// token, a signature). Decided by the kind alone, never by what was presented, so the
/// answer tells a caller nothing about the values.
fn dropped_may_explain(rejection: &Rejection, all: &Authenticator, local: &Authenticator) -> bool {
    match rejection {
        Rejection::UnknownToken | Rejection::TokensNotConfigured => {
            all.token_count() > local.token_count()
        }
        Rejection::BadSignature | Rejection::SignaturesNotConfigured => {
            all.signing_secret_count() > local.signing_secret_count()
        }
        _ => false,
    }
}

impl Secrets {
    pub(super) fn new(authenticator: Authenticator, refresh: Option<SecretsRefresh>) -> Self {
        Self {
            current: RwLock::new(Current::new(authenticator)),
            refresh,
        }
    }

    // A poisoned lock still holds a whole `Current`: it is only ever replaced whole, or one
    // field at a time.
    fn read(&self) -> RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Current> {
        self.current.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifies a request. Secrets Manager secrets are re-read first when they are ten
    /// minutes old; and after a failure that a rotated secret or a recovered Secrets Manager
    /// would explain, they are re-read (at most once a minute) and the request verified again.
    pub(super) async fn authenticate(
        self: &Arc<Self>,
        request: &Inbound<'_>,
    ) -> Result<AuthMethod, AuthFailure> {
        let Some(refresh) = &self.refresh else {
            let authenticator = Arc::clone(&self.read().authenticator);
            return Ok(authenticator.verify(request.headers, request.body, request.received_at)?);
        };
        self.reread_within(refresh, MAX_SECRET_AGE, false).await;
        let first = self.verify(refresh, request);
        let reread_may_help = match &first {
            Ok(_) => false,
            Err(AuthFailure::Rejected(rejection)) => {
                matches!(rejection, Rejection::UnknownToken | Rejection::BadSignature)
            }
            Err(AuthFailure::Unconfirmed(_)) => true,
        };
        if !reread_may_help {
            return first;
        }
        self.reread_within(refresh, refresh.after_failure, true)
            .await;
        // Verified again whatever the re-read did: it may have brought a rotated secret, or
        // failed, leaving the values read before unconfirmed for too long.
        self.verify(refresh, request)
    }

    /// Verifies a request with every secret or, once the Secrets Manager values are past
    /// their time, with the `env:` and literal ones alone: a request those refuse, which a
    /// dropped value might have let in, is then refused as our fault.
    fn verify(
        &self,
        refresh: &SecretsRefresh,
        request: &Inbound<'_>,
    ) -> Result<AuthMethod, AuthFailure> {
        let verify =
            |auth: &Authenticator| auth.verify(request.headers, request.body, request.received_at);
        let (all, unconfirmed) = {
            let current = self.read();
            (
                Arc::clone(&current.authenticator),
                current.unconfirmed(refresh),
            )
        };
        let Some(unconfirmed) = unconfirmed else {
            return Ok(verify(&all)?);
        };
        let local = &refresh.without_secrets_manager;
        match verify(local) {
            Err(rejection) if dropped_may_explain(&rejection, &all, local) => {
                Err(unconfirmed.into())
            }
            result => Ok(result?),
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago, waiting for it at
    /// most `refresh.wait`; a re-read that takes longer goes on in its task, and swaps the
    /// secrets when it ends. With a re-read already under way, waits for that one (at most as
    /// long) only when `join_running` (a failed authentication it may explain); otherwise goes
    /// on with the secrets read before.
    async fn reread_within(
        self: &Arc<Self>,
        refresh: &SecretsRefresh,
        min_age: Duration,
        join_running: bool,
    ) {
        match refresh.last.try_lock() {
            // Fresh enough: nothing to start or wait for.
            Ok(last) if last.elapsed() < min_age => return,
            Ok(_) => {}
            Err(_) if !join_running => return,
            Err(_) => {}
        }
        let secrets = Arc::clone(self);
        let reread = tokio::spawn(async move { secrets.reread(min_age).await });
        if tokio::time::timeout(refresh.wait, reread).await.is_err() {
            tracing::warn!(
                "Secrets Manager did not answer within {:?}: verifying with the secrets read \
                 before while the re-read goes on",
                refresh.wait
            );
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago (another request
    /// may just have); swaps the authenticator only when every reference resolved, so a
    /// Secrets Manager outage never drops a working secret at once (only once the values are
    /// past their time); records a failure otherwise.
    async fn reread(&self, min_age: Duration) {
        let Some(refresh) = &self.refresh else {
            return;
        };
        let mut last = refresh.last.lock().await;
        if last.elapsed() < min_age {
            return;
        }
        let began = (Instant::now(), Timestamp::now());
        *last = began.0;
        match read(refresh).await {
            Ok(authenticator) => {
                let mut current = self.write();
                if current.unconfirmed(refresh).is_some() {
                    tracing::info!(
                        "the Secrets Manager secrets could be re-read again: their values are \
                         accepted again"
                    );
                }
                *current = Current {
                    authenticator: Arc::new(authenticator),
                    confirmed: began.0,
                    confirmed_at: began.1,
                    failure: None,
                };
            }
            Err(failure) => {
                let unconfirmed = {
                    let mut current = self.write();
                    current.failure = Some(failure.clone());
                    current.unconfirmed(refresh)
                };
                match unconfirmed {
                    Some(unconfirmed) => tracing::error!("{unconfirmed}"),
                    None => tracing::warn!("keeping the secrets read before: {failure}"),
                }
            }
        }
    }
}

/// Reads every secret again: the authenticator to swap in when every secret resolved or is
/// gone for good, or why the secrets read before are kept.
async fn read(refresh: &SecretsRefresh) -> Result<Authenticator, String> {
    let resolver = Resolver {
        env: &*refresh.env,
        secrets_manager: Some(&refresh.client),
        previous_for: refresh.previous_for,
    };
    let (setup, _) = Authenticator::resolve_all(&refresh.config, resolver)
        .await
        .map_err(|err| err.to_string())?;
    // Some secret could not be read now: Secrets Manager may be out, and an outage must not
    // drop a working secret (not at once: see UNCONFIRMED_SECRETS_ACCEPTED_FOR).
    let lost: Vec<&str> = setup
        .unavailable
        .iter()
        .filter(|w| !refresh.baseline.contains(w))
        .map(|w| w.strip_suffix("; skipping it").unwrap_or(w))
        .collect();
    if !lost.is_empty() {
        return Err(lost.join("; "));
    }
    // Every secret resolved, or is gone for good: what was read is what holds, so a deleted
    // secret (or a previous version past its time) stops working.
    for warning in setup
        .warnings
        .iter()
        .filter(|w| !refresh.baseline.contains(w))
    {
        tracing::warn!("{warning}: its old value is no longer accepted");
    }
    if setup.authenticator.is_empty() {
        tracing::error!(
            "every configured secret is gone: every request is rejected until one is set again"
        );
    }
    tracing::info!("re-read the Secrets Manager secrets");
    Ok(setup.authenticator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretRef;

    async fn authenticator(tokens: &[&str], signing_secrets: &[&str]) -> Authenticator {
        let references =
            |list: &[&str]| list.iter().map(|r| SecretRef::parse(r).unwrap()).collect();
        let config = AuthConfig {
            tokens: references(tokens),
            signing_secrets: references(signing_secrets),
            token_header: http::header::AUTHORIZATION,
            signature_tolerance: HumanDuration::parse("5m").unwrap(),
            insecure_allow_literal_secrets: true,
        };
        let resolver = Resolver {
            env: &|_| None,
            secrets_manager: None,
            previous_for: crate::secret::PREVIOUS_VERSION_FOR,
        };
        Authenticator::resolve_all(&config, resolver)
            .await
            .unwrap()
            .0
            .authenticator
    }

    const SIGNING: &str = "literal:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[tokio::test]
    async fn only_a_credential_of_a_dropped_kind_is_refused_as_our_fault() {
        let all = authenticator(
            &[
                "literal:token-sm-0123456789abcdef",
                "literal:token-env-0123456789abcdef",
            ],
            &[SIGNING],
        )
        .await;
        // The dropped values were tokens only: the signing secret is not Secrets Manager's.
        let local = authenticator(&["literal:token-env-0123456789abcdef"], &[SIGNING]).await;
        let ours = |rejection: Rejection| dropped_may_explain(&rejection, &all, &local);
        assert!(ours(Rejection::UnknownToken));
        assert!(ours(Rejection::TokensNotConfigured));
        assert!(!ours(Rejection::BadSignature));
        assert!(!ours(Rejection::SignaturesNotConfigured));
        assert!(!ours(Rejection::NoCredentials(http::header::AUTHORIZATION)));
        assert!(!ours(Rejection::NotBearer));
        assert!(!ours(Rejection::Stale(600)));
        // Every token dropped, none left to accept: still ours.
        let none = authenticator(&[], &[SIGNING]).await;
        assert!(dropped_may_explain(
            &Rejection::TokensNotConfigured,
            &all,
            &none
        ));
        // Nothing dropped of that kind (a deleted secret is gone from both): the caller's.
        assert!(!dropped_may_explain(
            &Rejection::UnknownToken,
            &local,
            &local
        ));
    }

    #[tokio::test]
    async fn values_are_past_their_time_only_after_a_failed_re_read() {
        let mut current =
            Current::new(authenticator(&["literal:token-0123456789abcdef"], &[]).await);
        // However old: a re-read that has not failed leaves them accepted.
        assert!(!current.expired(Duration::ZERO));
        current.failure = Some("token secretsmanager:x could not be read (Boom)".into());
        assert!(current.expired(Duration::ZERO));
        assert!(!current.expired(UNCONFIRMED_SECRETS_ACCEPTED_FOR));
    }

    #[test]
    fn the_on_call_engineer_is_told_what_failed_and_what_to_check() {
        let unconfirmed = SecretsUnconfirmed {
            accepted_for: HumanDuration::new(UNCONFIRMED_SECRETS_ACCEPTED_FOR),
            confirmed_at: "2026-11-25T20:41:09.312Z".parse().unwrap(),
            failure: "token secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN could not be read \
                      (AccessDeniedException: not authorized)"
                .into(),
            names: "secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN (arn:aws:secretsmanager:x)".into(),
        };
        assert_eq!(
            unconfirmed.to_string(),
            "the Secrets Manager secrets could not be re-read for over 1h (last success at \
             2026-11-25T20:41:09Z; last failure: token \
             secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN could not be read \
             (AccessDeniedException: not authorized)): the values read before are no longer \
             accepted; check the function's access to \
             secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN (arn:aws:secretsmanager:x) (its \
             secretsmanager:GetSecretValue permission, the secret's KMS key, Secrets Manager's \
             health); they are accepted again once a re-read succeeds"
        );
    }
}
