//! Fuzz target `request`: `Responder::handle`, the whole request path (plan-only).
//! Input: the body of a POST that carries the right bearer token.
//! Properties: `check_request` in fuzz/src/lib.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wavefront_responder_fuzz::check_request(data));
