//! Fuzz target `payload`: `Alert::parse`, the payload parser every webhook body reaches.
//! Input: a request body.
//! Properties: `check_payload` in fuzz/src/lib.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wavefront_responder_fuzz::check_payload(data));
