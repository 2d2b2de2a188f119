//! Building an [`Authenticator`] from the `[auth]` config: every configured reference is
//! resolved (several tokens and secrets may be valid at once, for rotation), unset ones are
//! skipped with a warning, and only what verification needs is kept: token digests and keyed
//! HMACs, never the secrets themselves.

use hmac::{Hmac, KeyInit};
use sha2::Sha256;

use super::signature::decode_signing_secret;
use super::token::{digest, weakness};
use super::{AuthConfig, AuthSetupError, Authenticator, Setup};
use crate::secret::{Resolver, Secret, SecretRef};

/// The start-up warnings, and the references that gave no value, gathered while resolving.
#[derive(Default)]
struct Skipped {
    warnings: Vec<String>,
    unset: Vec<String>,
    /// The warnings of references that may give a value on the next try (not gone).
    unavailable: Vec<String>,
}

impl Authenticator {
    /// Resolves the configured secret references and keeps only what verification needs.
    pub async fn from_config(
        config: &AuthConfig,
        resolver: Resolver<'_>,
    ) -> Result<Setup, AuthSetupError> {
        let (setup, unset) = Self::resolve_all(config, resolver).await?;
        if setup.authenticator.is_empty() {
            return Err(AuthSetupError::NothingUsable { unset });
        }
        Ok(setup)
    }

    /// [`Authenticator::from_config`], even when nothing is usable: for re-reading secrets,
    /// where every secret being gone must revoke them all. Also returns the references that
    /// gave no value.
    pub async fn resolve_all(
        config: &AuthConfig,
        resolver: Resolver<'_>,
    ) -> Result<(Setup, Vec<String>), AuthSetupError> {
        let mut skipped = Skipped::default();
        let token_digests = token_digests(config, resolver, &mut skipped).await?;
        let signing_keys = signing_keys(config, resolver, &mut skipped).await?;
        let Skipped {
            mut warnings,
            unset,
            unavailable,
        } = skipped;
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
        let setup = Setup {
            authenticator,
            warnings,
            unavailable,
        };
        Ok((setup, unset))
    }
}

/// The digests of every usable configured token; a weak one is a start-up error.
async fn token_digests(
    config: &AuthConfig,
    resolver: Resolver<'_>,
    skipped: &mut Skipped,
) -> Result<Vec<[u8; 32]>, AuthSetupError> {
    let mut token_digests = Vec::new();
    for reference in &config.tokens {
        for secret in resolve(resolver, reference, "token", skipped).await {
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
    Ok(token_digests)
}

/// One keyed HMAC per usable signing secret; a malformed one is a start-up error.
async fn signing_keys(
    config: &AuthConfig,
    resolver: Resolver<'_>,
    skipped: &mut Skipped,
) -> Result<Vec<Hmac<Sha256>>, AuthSetupError> {
    let mut signing_keys = Vec::new();
    for reference in &config.signing_secrets {
        for secret in resolve(resolver, reference, "signing secret", skipped).await {
            let key = decode_signing_secret(&secret)
                .and_then(|key| <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok())
                .ok_or_else(|| AuthSetupError::BadSigningSecret {
                    reference: reference.to_string(),
                })?;
            signing_keys.push(key);
        }
    }
    Ok(signing_keys)
}

/// The values of one reference; a reference that gives none is skipped with a warning.
async fn resolve(
    resolver: Resolver<'_>,
    reference: &SecretRef,
    kind: &str,
    skipped: &mut Skipped,
) -> Vec<Secret> {
    match resolver.resolve(reference).await {
        Ok(values) => values,
        Err(unresolved) => {
            let warning = format!("{kind} {reference} {unresolved}; skipping it");
            if !unresolved.gone {
                skipped.unavailable.push(warning.clone());
            }
            skipped.warnings.push(warning);
            skipped.unset.push(reference.to_string());
            Vec::new()
        }
    }
}
