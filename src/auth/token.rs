//! The shared-token check: a configured token in a header, compared by SHA-256 digest in
//! constant time against every configured token.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{Authenticator, Rejection, single};

/// Longest token accepted.
const MAX_TOKEN_LEN: usize = 4096;
/// Shortest token accepted in config: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

impl Authenticator {
    pub(super) fn verify_token(&self, headers: &HeaderMap) -> Result<(), Rejection> {
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
}

/// Why a configured token is unfit, if it is.
pub(super) fn weakness(token: &str) -> Option<&'static str> {
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("has spaces or control characters inside")
    } else if token.chars().count() < MIN_TOKEN_LEN {
        Some("is too short")
    } else {
        None
    }
}

/// The SHA-256 digest a token is kept and compared as.
pub(super) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
