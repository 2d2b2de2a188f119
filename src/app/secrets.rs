//! Secrets Manager secrets on a warm instance: re-read when a request fails authentication,
//! so a rotated secret is picked up without a redeploy, and once they are old anyway, so a
//! secret revoked there stops working too.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Responder;
use crate::auth::{AuthConfig, AuthMethod, Authenticator, Rejection};
use crate::front_door::Inbound;
use crate::secret::Resolver;

/// The environment, as the responder reads it (injected, so tests do not touch the process's).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Re-reads Secrets Manager secrets: when a request fails authentication, so a rotated secret
/// is picked up without a redeploy (at most once a minute, so failing requests cannot turn into
/// a stream of Secrets Manager calls), and every ten minutes anyway, so a secret revoked there
/// stops working on warm instances too.
pub(super) struct SecretsRefresh {
    /// Only secret references: whatever a literal held was never kept here.
    pub config: AuthConfig,
    pub env: Env,
    pub client: aws_sdk_secretsmanager::Client,
    /// When the secrets were last read.
    pub last: tokio::sync::Mutex<Instant>,
    /// The start-up warnings (`env:` references not set): a re-read that warns about more
    /// than these lost a secret, and is not used.
    pub baseline: Vec<String>,
    pub after_failure: Duration,
}

impl fmt::Debug for SecretsRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsRefresh")
    }
}

/// After a failed authentication, the secrets are re-read only if they were last read at least
/// this long ago: failing requests cannot turn into a stream of Secrets Manager calls.
pub(super) const REREAD_AFTER_FAILURE_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// The oldest the secrets may get before they are re-read anyway, failure or not.
const MAX_SECRET_AGE: Duration = Duration::from_secs(600);

impl Responder {
    pub(super) fn authenticator(&self) -> Arc<Authenticator> {
        // A poisoned lock still holds a whole authenticator: swaps replace it in one step.
        Arc::clone(&self.auth.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Verifies a request. Secrets Manager secrets are re-read first when they are ten
    /// minutes old, and after a failure a rotated secret would explain (at most once a minute),
    /// then the request is verified again.
    pub(super) async fn authenticate(
        &self,
        request: &Inbound<'_>,
    ) -> Result<AuthMethod, Rejection> {
        let verify =
            |auth: &Authenticator| auth.verify(request.headers, request.body, request.received_at);
        let Some(refresh) = &self.refresh else {
            return verify(&self.authenticator());
        };
        // Re-reads only when the secrets are older than that (checked under its lock).
        self.refresh_secrets(refresh, MAX_SECRET_AGE).await;
        let first = verify(&self.authenticator());
        if !matches!(
            first,
            Err(Rejection::UnknownToken | Rejection::BadSignature)
        ) {
            return first;
        }
        if self.refresh_secrets(refresh, refresh.after_failure).await {
            verify(&self.authenticator())
        } else {
            first
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago (another request
    /// may just have); swaps the authenticator only when every reference resolved, so a
    /// Secrets Manager outage never drops a working secret. Returns whether it swapped.
    async fn refresh_secrets(&self, refresh: &SecretsRefresh, min_age: Duration) -> bool {
        let mut last = refresh.last.lock().await;
        if last.elapsed() < min_age {
            return false;
        }
        *last = Instant::now();
        let resolver = Resolver {
            env: &*refresh.env,
            secrets_manager: Some(&refresh.client),
        };
        match Authenticator::from_config(&refresh.config, resolver).await {
            Ok(setup) if setup.warnings.iter().all(|w| refresh.baseline.contains(w)) => {
                *self.auth.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(setup.authenticator);
                tracing::info!("re-read the Secrets Manager secrets");
                true
            }
            Ok(setup) => {
                for warning in setup
                    .warnings
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
