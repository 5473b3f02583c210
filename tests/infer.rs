//! `Config::infer` reads `KUBECONFIG`; a test binary of its own, since it changes the
//! process environment.

use std::path::Path;

use informer::client::Config;

#[test]
fn infer_uses_kubeconfig_paths_then_reports_what_was_tried() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeconfig");
    let joined =
        std::env::join_paths([dir.join("merge-a.yaml"), dir.join("merge-b.yaml")]).unwrap();
    std::env::set_var("KUBECONFIG", &joined);
    let c = Config::infer().unwrap();
    assert_eq!(c.cluster_url, "https://from-a.example.com");

    std::env::set_var("KUBECONFIG", dir.join("absent.yaml"));
    std::env::remove_var("KUBERNETES_SERVICE_HOST");
    std::env::remove_var("KUBERNETES_SERVICE_PORT");
    let err = Config::infer().unwrap_err().to_string();
    assert!(err.contains("absent.yaml"), "{err}");
    assert!(err.contains("KUBERNETES_SERVICE_HOST"), "{err}");
    std::env::remove_var("KUBECONFIG");

    // Without KUBECONFIG: ~/.kube/config, the home directory from HOME.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::write(
        home.path().join(".kube/config"),
        "apiVersion: v1\nkind: Config\ncurrent-context: home\n\
         clusters: [{name: c, cluster: {server: \"https://from-home.example.com\"}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: home, context: {cluster: c, user: u}}]\n",
    )
    .unwrap();
    let previous = std::env::var_os("HOME");
    std::env::set_var("HOME", home.path());
    let c = Config::infer();
    let err = {
        std::env::set_var("HOME", home.path().join("nowhere"));
        Config::infer().unwrap_err().to_string()
    };
    match previous {
        Some(h) => std::env::set_var("HOME", h),
        None => std::env::remove_var("HOME"),
    }
    assert_eq!(c.unwrap().cluster_url, "https://from-home.example.com");
    assert!(err.contains("nowhere/.kube/config"), "{err}");
}
