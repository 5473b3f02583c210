//! The fuzz targets' checks (`fuzz/checks.rs`) as property tests on stable: inputs are
//! seed documents mutated at random (bytes replaced, inserted, removed, cut off), or
//! plain random bytes, from a fixed seed so that every CI run tries the same cases.
//! `INFORMER_FUZZ_CASES` sets how many per check (default 512); for hours of
//! coverage-guided fuzzing, run the targets with cargo-fuzz (see `fuzz/Cargo.toml`).

#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config {
        cases: std::env::var("INFORMER_FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512),
        rng_seed: RngSeed::Fixed(0x1f0_5eed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// One of `seeds`, mutated by up to 8 edits; or random bytes.
fn inputs(seeds: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        0..seeds.len(),
        vec((any::<u16>(), 0u8..4, any::<u8>()), 0..8),
    )
        .prop_map(move |(i, edits)| {
            let mut v = seeds[i].to_vec();
            for (pos, op, byte) in edits {
                if v.is_empty() {
                    v.push(byte);
                    continue;
                }
                let p = pos as usize % v.len();
                match op {
                    0 => v[p] = byte,
                    1 => v.insert(p, byte),
                    2 => {
                        v.remove(p);
                    }
                    _ => v.truncate(p.max(1)),
                }
            }
            v
        });
    prop_oneof![4 => mutated, 1 => vec(any::<u8>(), 0..300)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn watch_lines(data in inputs(checks::WATCH_SEEDS)) {
        checks::watch_lines(&data);
    }

    #[test]
    fn list_body(data in inputs(checks::LIST_SEEDS)) {
        checks::list_body(&data);
    }

    #[test]
    fn selectors(data in inputs(checks::SELECTOR_SEEDS)) {
        checks::selectors(&data);
    }

    #[test]
    fn kubeconfig(data in inputs(checks::KUBECONFIG_SEEDS)) {
        checks::kubeconfig(&data);
    }
}

/// The seeds themselves pass, and the list seeds decode as the checks expect.
#[test]
fn seeds_pass() {
    for s in checks::WATCH_SEEDS {
        checks::watch_lines(s);
    }
    for s in checks::LIST_SEEDS {
        checks::list_body(s);
    }
    for s in checks::SELECTOR_SEEDS {
        checks::selectors(s);
    }
    for s in checks::KUBECONFIG_SEEDS {
        checks::kubeconfig(s);
    }
}
