//! Secrets: the references config files use instead of secret values (`env:WEBHOOK_TOKEN`),
//! resolved once at start-up into [`Secret`] values whose `Debug` and `Display` never show them.

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
    /// `literal:VALUE`: the value itself. Only accepted when the config sets
    /// `insecure_allow_literal_secrets = true`, for local experiments.
    Literal(Secret),
}

/// Why a string is not a usable secret reference. Never contains the string itself, which may
/// be a secret pasted in by mistake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefError {
    /// The string has no known `scheme:` prefix.
    #[error(
        "not a secret reference (the value is not shown): write \"env:VARIABLE_NAME\" and put the secret in that environment variable"
    )]
    UnknownScheme,
    /// `env:` with an empty or malformed variable name.
    #[error(
        "\"env:\" needs an environment variable name made of letters, digits and underscores, like \"env:WEBHOOK_TOKEN\""
    )]
    BadVariableName,
    /// `literal:` with nothing after it.
    #[error("\"literal:\" needs a value after the colon")]
    EmptyLiteral,
}

impl SecretRef {
    /// Parses `env:NAME` or `literal:VALUE`.
    pub fn parse(reference: &str) -> Result<Self, SecretRefError> {
        if let Some(name) = reference.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            return if valid {
                Ok(Self::Env(name.to_owned()))
            } else {
                Err(SecretRefError::BadVariableName)
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

    /// Resolves the reference. `env` reads an environment variable (injected so tests do not
    /// touch the process environment). An unset or empty variable gives `None`.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
        match self {
            Self::Env(name) => env(name).filter(|v| !v.is_empty()).map(Secret::new),
            Self::Literal(secret) => Some(secret.clone()),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_reference_resolves_from_the_injected_environment() {
        let reference = SecretRef::parse("env:WEBHOOK_TOKEN").unwrap();
        let env = |name: &str| (name == "WEBHOOK_TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(reference.resolve(&env).unwrap().expose(), "s3cret");
        assert_eq!(reference.to_string(), "env:WEBHOOK_TOKEN");
    }

    #[test]
    fn unset_or_empty_variable_resolves_to_nothing() {
        let reference = SecretRef::parse("env:MISSING").unwrap();
        assert!(reference.resolve(&|_| None).is_none());
        assert!(reference.resolve(&|_| Some(String::new())).is_none());
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
        let secret = reference.resolve(&|_| None).unwrap();
        assert_eq!(
            format!("{secret} {secret:?}"),
            "<redacted> Secret(<redacted>)"
        );
    }
}
