//! The secrets requests are verified with, and keeping them fresh on a warm instance:
//! Secrets Manager secrets are re-read when a request fails authentication, so a rotated
//! secret is picked up without a redeploy, and once they are old anyway, so a secret revoked
//! there stops working too. A re-read never holds a request up for long: it runs in a task of
//! its own, the request waits for it at most [`Options::secrets_wait`](super::Options), and is
//! verified with the secrets read before if it has not ended by then.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::auth::{AuthConfig, AuthMethod, Authenticator, Rejection};
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

/// The authenticator in use, and what re-reads its secrets.
#[derive(Debug)]
pub(super) struct Secrets {
    /// Swapped whole when the Secrets Manager secrets are re-read.
    current: RwLock<Arc<Authenticator>>,
    /// Present when some secret comes from Secrets Manager.
    refresh: Option<SecretsRefresh>,
}

/// Re-reads the Secrets Manager secrets: after a failed authentication (at most once a minute,
/// so failing requests cannot turn into a stream of Secrets Manager calls), and every ten
/// minutes anyway.
pub(super) struct SecretsRefresh {
    /// Only secret references: whatever a literal held was never kept here.
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
}

impl fmt::Debug for SecretsRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsRefresh")
    }
}

impl Secrets {
    pub(super) fn new(authenticator: Authenticator, refresh: Option<SecretsRefresh>) -> Self {
        Self {
            current: RwLock::new(Arc::new(authenticator)),
            refresh,
        }
    }

    fn authenticator(&self) -> Arc<Authenticator> {
        // A poisoned lock still holds a whole authenticator: swaps replace it in one step.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Verifies a request. Secrets Manager secrets are re-read first when they are ten
    /// minutes old, and after a failure a rotated secret would explain (at most once a minute),
    /// then the request is verified again.
    pub(super) async fn authenticate(
        self: &Arc<Self>,
        request: &Inbound<'_>,
    ) -> Result<AuthMethod, Rejection> {
        let verify =
            |auth: &Authenticator| auth.verify(request.headers, request.body, request.received_at);
        let Some(refresh) = &self.refresh else {
            return verify(&self.authenticator());
        };
        self.reread_within(refresh, MAX_SECRET_AGE, false).await;
        let first = verify(&self.authenticator());
        if !matches!(
            first,
            Err(Rejection::UnknownToken | Rejection::BadSignature)
        ) {
            return first;
        }
        if self
            .reread_within(refresh, refresh.after_failure, true)
            .await
        {
            verify(&self.authenticator())
        } else {
            first
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago, waiting for it at
    /// most `refresh.wait`; a re-read that takes longer goes on in its task, and swaps the
    /// secrets when it ends. With a re-read already under way, waits for that one (at most as
    /// long) only when `join_running` (a failed authentication it may explain); otherwise goes
    /// on with the secrets read before. Returns whether the secrets were swapped in that wait.
    async fn reread_within(
        self: &Arc<Self>,
        refresh: &SecretsRefresh,
        min_age: Duration,
        join_running: bool,
    ) -> bool {
        match refresh.last.try_lock() {
            // Fresh enough: nothing to start or wait for.
            Ok(last) if last.elapsed() < min_age => return false,
            Ok(_) => {}
            Err(_) if !join_running => return false,
            Err(_) => {}
        }
        let secrets = Arc::clone(self);
        let reread = tokio::spawn(async move { secrets.reread(min_age).await });
        match tokio::time::timeout(refresh.wait, reread).await {
            Ok(swapped) => swapped.unwrap_or(false),
            Err(_) => {
                tracing::warn!(
                    "Secrets Manager did not answer within {:?}: verifying with the secrets read \
                     before while the re-read goes on",
                    refresh.wait
                );
                false
            }
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago (another request
    /// may just have); swaps the authenticator only when every reference resolved, so a
    /// Secrets Manager outage never drops a working secret. Returns whether it swapped.
    async fn reread(&self, min_age: Duration) -> bool {
        let Some(refresh) = &self.refresh else {
            return false;
        };
        let mut last = refresh.last.lock().await;
        if last.elapsed() < min_age {
            return false;
        }
        *last = Instant::now();
        let resolver = Resolver {
            env: &*refresh.env,
            secrets_manager: Some(&refresh.client),
            previous_for: refresh.previous_for,
        };
        match Authenticator::resolve_all(&refresh.config, resolver).await {
            // Every secret resolved, or is gone for good: what was read is what holds, so a
            // deleted secret (or a previous version past its time) stops working.
            Ok((setup, _))
                if setup
                    .unavailable
                    .iter()
                    .all(|w| refresh.baseline.contains(w)) =>
            {
                for warning in setup
                    .warnings
                    .iter()
                    .filter(|w| !refresh.baseline.contains(w))
                {
                    tracing::warn!("{warning}: its old value is no longer accepted");
                }
                if setup.authenticator.is_empty() {
                    tracing::error!(
                        "every configured secret is gone: every request is rejected until one is \
                         set again"
                    );
                }
                *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(setup.authenticator);
                tracing::info!("re-read the Secrets Manager secrets");
                true
            }
            // Some secret could not be read now: Secrets Manager may be out, and an outage
            // must not drop a working secret.
            Ok((setup, _)) => {
                for warning in setup
                    .unavailable
                    .iter()
                    .filter(|w| !refresh.baseline.contains(w))
                {
                    tracing::warn!("keeping the secrets read before: {warning}");
                }
                false
            }
            Err(err) => {
                tracing::warn!("keeping the secrets read before: {err}");
                false
            }
        }
    }
}
