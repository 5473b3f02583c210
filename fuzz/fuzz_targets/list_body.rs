//! cargo-fuzz target: `checks::list_body` (see `../checks.rs`).

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::list_body(data));
