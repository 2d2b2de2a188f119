//! Fuzz target `config`: `Config::parse`, the TOML configuration parser and validator.
//! Input: a config file.
//! Properties: `check_config` in fuzz/src/lib.rs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wavefront_responder_fuzz::check_config(data));
