//! Standard Webhooks signature verification: HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! keyed with a `whsec_` secret, with a timestamp within a tolerance of now.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName};
use jiff::Timestamp;
use sha2::Sha256;

use super::{Authenticator, Rejection, single};
use crate::secret::Secret;

/// Standard Webhooks header names.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Longest `webhook-id` accepted.
const MAX_ID_LEN: usize = 256;
/// Longest `webhook-signature` header accepted (room for several rotated signatures).
const MAX_SIGNATURE_HEADER_LEN: usize = 1024;

/// The three signature headers of a request, checked for shape but not yet for the signature.
struct SignatureHeaders<'h> {
    id: &'h str,
    /// The timestamp's text exactly as sent: the signed content uses it.
    timestamp_text: &'h str,
    timestamp: i64,
    signatures: &'h str,
}

impl Authenticator {
    pub(super) fn verify_signature(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), Rejection> {
        if self.signing_keys.is_empty() {
            return Err(Rejection::SignaturesNotConfigured);
        }
        let sent = signature_headers(headers)?;
        let age = now.as_second() - sent.timestamp;
        if age > self.tolerance_secs {
            return Err(Rejection::Stale(age));
        }
        if -age > self.tolerance_secs {
            return Err(Rejection::FutureDated(-age));
        }

        let candidates = parse_signature_header(sent.signatures);
        if candidates.is_empty() {
            return Err(Rejection::MalformedSignature(
                "webhook-signature has no \"v1,<base64>\" entry",
            ));
        }
        let mut found = false;
        for key in &self.signing_keys {
            // The signed content uses the header's text exactly as sent.
            let mac = signed_content_mac(key.clone(), sent.id, sent.timestamp_text, body);
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

/// The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, each present once,
/// text, and within its limits.
fn signature_headers(headers: &HeaderMap) -> Result<SignatureHeaders<'_>, Rejection> {
    let id = single(headers, &WEBHOOK_ID)?
        .ok_or(Rejection::MalformedSignature("webhook-id is missing"))?;
    let timestamp_text = single(headers, &WEBHOOK_TIMESTAMP)?.ok_or(
        Rejection::MalformedSignature("webhook-timestamp is missing"),
    )?;
    let signatures = single(headers, &WEBHOOK_SIGNATURE)?.ok_or(Rejection::MalformedSignature(
        "webhook-signature is missing",
    ))?;
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
    Ok(SignatureHeaders {
        id,
        timestamp_text,
        timestamp,
        signatures,
    })
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

/// Signs a body the Standard Webhooks way; returns the `webhook-signature` value
/// (`v1,<base64>`). For tests, benches and fuzz targets, which sign like a sender would: only
/// built with the `test-support` feature.
#[cfg(any(test, feature = "test-support"))]
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    use hmac::KeyInit;

    let key = decode_signing_secret(&Secret::new(secret))?;
    let key = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    let mac = signed_content_mac(key, id, &timestamp.to_string(), body);
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// `{id}.{timestamp}.{body}`, the content Standard Webhooks signs.
pub(super) fn signed_content_mac(
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
pub(super) fn decode_signing_secret(secret: &Secret) -> Option<Vec<u8>> {
    let encoded = secret.expose().trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64
        .decode(encoded)
        .ok()
        .filter(|key| (16..=64).contains(&key.len()))
}
