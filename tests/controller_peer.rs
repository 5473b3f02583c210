//! The same controller on this crate's runtime (`examples/controller.rs`) and on
//! kube-runtime 5 (`examples/controller_kube_runtime.rs`), each run through the same
//! script of changes against its own embedded API server (the initial state, an added
//! child, injected 500s on writes, a deleted primary, a deletion missed during a watch
//! outage), and their lines of controller logic compared.

// Both examples include the shared script module; each gets its own copy here, which is
// what running them as separate examples does too.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/controller.rs"]
mod ours;

#[allow(dead_code)]
#[path = "../examples/controller_kube_runtime.rs"]
mod peer;

use std::time::Duration;

use informer::testing::ApiServer;

/// Lines of code between the examples' controller-logic markers: not blank, not comments.
fn logic_lines(source: &str) -> usize {
    let start = source
        .find("// --- controller logic")
        .expect("start marker");
    let end = source
        .find("// --- end of controller logic ---")
        .expect("end marker");
    source[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count()
}

fn run_script_of(which: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = ApiServer::start().await.unwrap();
        ours_or_peer_seed(&server);
        let run = async {
            match which {
                "ours" => ours::run_script(&server).await,
                _ => peer::run_script(&server).await,
            }
        };
        let result = tokio::time::timeout(Duration::from_secs(90), run)
            .await
            .expect("the script finished in time");
        server.shutdown().await;
        if let Err(e) = result {
            panic!("{which}: {e}");
        }
    });
}

fn ours_or_peer_seed(server: &ApiServer) {
    // Both examples include the same script module; either seeds the same objects.
    ours::script_seed(server).expect("seed");
}

#[test]
fn our_controller_converges_through_the_script() {
    run_script_of("ours");
}

#[test]
fn the_kube_runtime_peer_converges_through_the_same_script() {
    run_script_of("peer");
}

#[test]
fn ours_takes_fewer_lines_of_controller_logic() {
    let ours = logic_lines(include_str!("../examples/controller.rs"));
    let peer = logic_lines(include_str!("../examples/controller_kube_runtime.rs"));
    println!("lines of controller logic: ours {ours}, kube-runtime {peer}");
    assert!(ours < peer, "ours {ours} lines, kube-runtime {peer}");
}
