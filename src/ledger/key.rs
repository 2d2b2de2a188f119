//! Where an entry lives: its partition and sort keys, each kept well within DynamoDB's key
//! limits however long the alert data in it.

use std::fmt;

/// Where an entry lives: a partition key and a sort key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    /// A key, each part kept well within DynamoDB's limits (2,048 bytes for a partition key,
    /// 1,024 for a sort key) however long the alert data in it: see [`bounded`].
    pub(super) fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: bounded(pk.into(), MAX_PK_BYTES),
            sk: bounded(sk.into(), MAX_SK_BYTES),
        }
    }
}

/// Longest partition key written: half DynamoDB's limit.
pub(super) const MAX_PK_BYTES: usize = 1024;
/// Longest sort key written: half DynamoDB's limit.
pub(super) const MAX_SK_BYTES: usize = 512;

/// `part` when it is at most `max` bytes; otherwise its first bytes (to a character boundary)
/// and the SHA-256 of the whole, `checkout…#sha256:<64 hex digits>`, at most `max` bytes. The
/// same part always gives the same key, two parts that differ give different keys, and
/// `ledger list` still shows what the key is about.
pub(super) fn bounded(part: String, max: usize) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;

    if part.len() <= max {
        return part;
    }
    const SUFFIX: usize = "…#sha256:".len() + 64;
    let mut end = max.saturating_sub(SUFFIX);
    while !part.is_char_boundary(end) {
        end -= 1;
    }
    let mut key = String::with_capacity(max);
    key.push_str(&part[..end]);
    key.push_str("…#sha256:");
    for byte in Sha256::digest(part.as_bytes()) {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sk == "-" {
            f.write_str(&self.pk)
        } else {
            write!(f, "{} {}", self.pk, self.sk)
        }
    }
}
