//! Secrets: the references config files use instead of secret values (`env:WEBHOOK_TOKEN`,
//! `secretsmanager:prod/webhook-token`), resolved at start-up into [`Secret`] values whose
//! `Debug` and `Display` never show them.
//!
//! Secrets Manager secrets are fetched through the SDK (the Parameters and Secrets extension
//! cannot be called during init), both the `AWSCURRENT` and, when there is one, the
//! `AWSPREVIOUS` version, so a rotation does not reject the sender still using the old value;
//! the previous version only for [`Resolver::previous_for`] after the rotation, so a rotation
//! also revokes the old value. A secret Secrets Manager says is gone (deleted, or scheduled for
//! deletion) is told apart from one it could not be asked about ([`Unresolved::gone`]).

use std::fmt;

/// A secret value. Printing it in any way shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a value that must never be printed.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that hashes or keys with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from, as written in the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    /// `env:NAME`: the value of an environment variable, read at start-up.
    Env(String),
    /// `secretsmanager:ID`: a Secrets Manager secret by name or ARN, or
    /// `secretsmanager:env:NAME`, the secret whose name or ARN is in an environment variable
    /// (as the deployment template sets it).
    SecretsManager(SecretId),
    /// `literal:VALUE`: the value itself. Only accepted when the config sets
    /// `insecure_allow_literal_secrets = true`, for local experiments.
    Literal(Secret),
}

/// How a Secrets Manager secret is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretId {
    /// A name or ARN.
    Id(String),
    /// The environment variable holding the name or ARN.
    Env(String),
}

/// Why a string is not a usable secret reference. Never contains the string itself, which may
/// be a secret pasted in by mistake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefError {
    /// The string has no known `scheme:` prefix.
    #[error(
        "not a secret reference (the value is not shown): write \"env:VARIABLE_NAME\" or \
         \"secretsmanager:SECRET_NAME_OR_ARN\", and keep the secret itself out of the file"
    )]
    UnknownScheme,
    /// `env:` with an empty or malformed variable name.
    #[error(
        "\"env:\" needs an environment variable name made of letters, digits and underscores, like \"env:WEBHOOK_TOKEN\""
    )]
    BadVariableName,
    /// `secretsmanager:` with nothing usable after it.
    #[error(
        "\"secretsmanager:\" needs a secret name or ARN (letters, digits and /_+=.@-), or \
         env:VARIABLE_NAME holding one"
    )]
    BadSecretId,
    /// `literal:` with nothing after it.
    #[error("\"literal:\" needs a value after the colon")]
    EmptyLiteral,
}

fn valid_variable(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl SecretRef {
    /// Parses `env:NAME`, `secretsmanager:ID`, `secretsmanager:env:NAME` or `literal:VALUE`.
    pub fn parse(reference: &str) -> Result<Self, SecretRefError> {
        if let Some(name) = reference.strip_prefix("env:") {
            return if valid_variable(name) {
                Ok(Self::Env(name.to_owned()))
            } else {
                Err(SecretRefError::BadVariableName)
            };
        }
        if let Some(id) = reference.strip_prefix("secretsmanager:") {
            if let Some(name) = id.strip_prefix("env:") {
                return if valid_variable(name) {
                    Ok(Self::SecretsManager(SecretId::Env(name.to_owned())))
                } else {
                    Err(SecretRefError::BadVariableName)
                };
            }
            // Names: 1-512 of letters, digits and /_+=.@-; ARNs add colons.
            let valid = !id.is_empty()
                && id.len() <= 2048
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b));
            return if valid {
                Ok(Self::SecretsManager(SecretId::Id(id.to_owned())))
            } else {
                Err(SecretRefError::BadSecretId)
            };
        }
        if let Some(value) = reference.strip_prefix("literal:") {
            return if value.is_empty() {
                Err(SecretRefError::EmptyLiteral)
            } else {
                Ok(Self::Literal(Secret::new(value)))
            };
        }
        Err(SecretRefError::UnknownScheme)
    }

    /// Whether this reference holds the secret inline.
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// Whether this reference is read from Secrets Manager (and can be re-read later).
    pub fn is_secrets_manager(&self) -> bool {
        matches!(self, Self::SecretsManager(_))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::SecretsManager(SecretId::Id(id)) => write!(f, "secretsmanager:{id}"),
            Self::SecretsManager(SecretId::Env(name)) => write!(f, "secretsmanager:env:{name}"),
            Self::Literal(_) => f.write_str("literal:<redacted>"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How long after a rotation the previous version (`AWSPREVIOUS`) of a Secrets Manager
/// secret is still accepted: time to update the alert target's header.
pub const PREVIOUS_VERSION_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Turns references into values: environment variables through `env` (injected, so tests do
/// not touch the process environment), Secrets Manager through its client when there is one.
#[derive(Clone, Copy)]
pub struct Resolver<'a> {
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub secrets_manager: Option<&'a aws_sdk_secretsmanager::Client>,
    /// How long after a rotation (the `AWSCURRENT` version's creation) the `AWSPREVIOUS`
    /// version is still accepted ([`PREVIOUS_VERSION_FOR`] unless a test says otherwise).
    pub previous_for: std::time::Duration,
}

/// Why a reference gave no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// A sentence, after the reference: `is not set or empty`.
    pub why: String,
    /// Secrets Manager answered that the secret no longer exists (deleted, or scheduled for
    /// deletion): its old value must stop working. Otherwise it may be back on the next try.
    pub gone: bool,
}

impl Unresolved {
    fn new(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            gone: false,
        }
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

impl Resolver<'_> {
    /// The values a reference stands for (two for a Secrets Manager secret mid-rotation), or
    /// why it gives none. Unset and empty values give none.
    pub async fn resolve(&self, reference: &SecretRef) -> Result<Vec<Secret>, Unresolved> {
        match reference {
            SecretRef::Literal(secret) => Ok(vec![secret.clone()]),
            SecretRef::Env(name) => match (self.env)(name).filter(|v| !v.is_empty()) {
                Some(value) => Ok(vec![Secret::new(value)]),
                None => Err(Unresolved::new("is not set or empty")),
            },
            SecretRef::SecretsManager(id) => {
                let id = match id {
                    SecretId::Id(id) => id.clone(),
                    SecretId::Env(name) => {
                        (self.env)(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                            Unresolved::new(format!("names its secret by {name}, which is not set"))
                        })?
                    }
                };
                let Some(client) = self.secrets_manager else {
                    return Err(Unresolved::new(
                        "needs Secrets Manager, which is not available here",
                    ));
                };
                fetch(client, &id, self.previous_for).await
            }
        }
    }
}

/// Whether a `GetSecretValue` error says the secret is gone for good: not found, or marked
/// for deletion (Secrets Manager then refuses to read it).
fn is_gone(err: &aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError) -> bool {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    err.is_resource_not_found_exception()
        || (err.is_invalid_request_exception()
            && err.message().is_some_and(|m| m.contains("deletion")))
}

/// Whether a version created at `created` was made the current one more than `previous_for`
/// ago (unknown: no).
fn rotated_long_ago(
    created: Option<&aws_smithy_types::DateTime>,
    previous_for: std::time::Duration,
) -> bool {
    let Some(created) = created else {
        return false;
    };
    let Ok(created) = std::time::SystemTime::try_from(*created) else {
        return false;
    };
    created.elapsed().is_ok_and(|age| age >= previous_for)
}

/// Fetches `AWSCURRENT` and, if there is one and it was current less than `previous_for`
/// ago, `AWSPREVIOUS`.
async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    previous_for: std::time::Duration,
) -> Result<Vec<Secret>, Unresolved> {
    let mut values = Vec::with_capacity(2);
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        let result = client
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(output) => {
                let rotated_long_ago = rotated_long_ago(output.created_date(), previous_for);
                if let Some(value) = output.secret_string.filter(|v| !v.is_empty()) {
                    values.push(Secret::new(value));
                }
                if stage == "AWSCURRENT" && rotated_long_ago {
                    // The previous value had its time: no longer accepted.
                    break;
                }
            }
            // No previous version: nothing was rotated yet.
            Err(err) if stage == "AWSPREVIOUS" => {
                if !err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    tracing::warn!(
                        "could not read the AWSPREVIOUS version of {id}: {}",
                        crate::aws::describe(&err)
                    );
                }
            }
            Err(err) => {
                return Err(Unresolved {
                    why: format!("could not be read ({})", crate::aws::describe(&err)),
                    gone: err.as_service_error().is_some_and(is_gone),
                });
            }
        }
    }
    if values.is_empty() {
        return Err(Unresolved::new("holds no secret string"));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Resolver<'_> {
        Resolver {
            env,
            secrets_manager: None,
            previous_for: PREVIOUS_VERSION_FOR,
        }
    }

    #[tokio::test]
    async fn env_reference_resolves_from_the_injected_environment() {
        let reference = SecretRef::parse("env:WEBHOOK_TOKEN").unwrap();
        let env = |name: &str| (name == "WEBHOOK_TOKEN").then(|| "s3cret".to_owned());
        let values = resolver(&env).resolve(&reference).await.unwrap();
        assert_eq!(values[0].expose(), "s3cret");
        assert_eq!(reference.to_string(), "env:WEBHOOK_TOKEN");
    }

    #[tokio::test]
    async fn unset_or_empty_variable_resolves_to_nothing() {
        let reference = SecretRef::parse("env:MISSING").unwrap();
        assert!(resolver(&|_| None).resolve(&reference).await.is_err());
        let empty = |_: &str| Some(String::new());
        assert!(resolver(&empty).resolve(&reference).await.is_err());
    }

    #[tokio::test]
    async fn secrets_manager_references_parse_and_need_a_client() {
        let by_name = SecretRef::parse("secretsmanager:prod/webhook-token").unwrap();
        assert_eq!(by_name.to_string(), "secretsmanager:prod/webhook-token");
        let by_env = SecretRef::parse("secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN").unwrap();
        assert_eq!(
            by_env,
            SecretRef::SecretsManager(SecretId::Env("WEBHOOK_TOKEN_SECRET_ARN".into()))
        );
        assert!(by_env.is_secrets_manager());
        assert_eq!(
            SecretRef::parse("secretsmanager:"),
            Err(SecretRefError::BadSecretId)
        );
        assert_eq!(
            SecretRef::parse("secretsmanager:has space"),
            Err(SecretRefError::BadSecretId)
        );
        let err = resolver(&|_| None).resolve(&by_name).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "needs Secrets Manager, which is not available here"
        );
        assert!(!err.gone);
        let err = resolver(&|_| None).resolve(&by_env).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "names its secret by WEBHOOK_TOKEN_SECRET_ARN, which is not set"
        );
    }

    #[test]
    fn a_pasted_secret_is_refused_without_echoing_it() {
        let err = SecretRef::parse("hunter2-very-secret").unwrap_err();
        assert_eq!(err, SecretRefError::UnknownScheme);
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn malformed_variable_names_are_refused() {
        for bad in ["env:", "env:1ABC", "env:WITH-DASH", "env:has space"] {
            assert_eq!(
                SecretRef::parse(bad).unwrap_err(),
                SecretRefError::BadVariableName,
                "{bad}"
            );
        }
    }

    #[test]
    fn literal_secrets_never_print() {
        let reference = SecretRef::parse("literal:hunter2").unwrap();
        assert!(reference.is_literal());
        assert_eq!(reference.to_string(), "literal:<redacted>");
        assert!(!format!("{reference:?}").contains("hunter2"));
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret} {secret:?}"),
            "<redacted> Secret(<redacted>)"
        );
    }
}
