//! Fuzz target `signature_header`: the Standard Webhooks header parsing of `auth`.
//! Input: a `webhook-signature` value, then the same bytes as a `webhook-timestamp`.
//! Properties: `check_signature_header` in fuzz/src/lib.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wavefront_responder_fuzz::check_signature_header(data));
