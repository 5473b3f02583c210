//! cargo-fuzz target: `checks::watch_lines` (see `../checks.rs`).

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::watch_lines(data));
