//! Kubeconfig and in-cluster configuration from fixture files: every form a user's
//! kubeconfig takes, merged `KUBECONFIG` paths, errors that say what is wrong, and secrets
//! kept out of `Debug` output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use informer::client::{Config, KubeConfigOptions, Kubeconfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubeconfig")
        .join(name)
}

fn load(name: &str) -> Config {
    Config::from_kubeconfig_file(fixture(name)).expect(name)
}

#[test]
fn token_context_and_ca_data() {
    let c = load("token.yaml");
    assert_eq!(c.cluster_url, "https://prod.example.com:6443");
    assert_eq!(c.default_namespace, "shop");
    assert_eq!(
        c.auth.token.as_ref().map(|t| t.expose().as_str()),
        Some("fixture-token-alice")
    );
    let ca = String::from_utf8(c.tls.root_certificates.clone().unwrap()).unwrap();
    assert!(ca.contains("CADATA"));
    assert!(!c.tls.insecure_skip_verify);
    // No client-side limit by default: servers pace clients with priority and fairness.
    assert_eq!(c.rate_limit, None);
}

#[test]
fn client_certificate_files_relative_to_the_kubeconfig() {
    let c = load("client-cert-files.yaml");
    let ca = String::from_utf8(c.tls.root_certificates.clone().unwrap()).unwrap();
    assert!(ca.contains("CAFILE"));
    let cert = String::from_utf8(c.tls.client_certificate.clone().unwrap()).unwrap();
    assert!(cert.contains("CLIENTFILE"));
    let key = String::from_utf8(c.tls.client_key.clone().unwrap().expose().clone()).unwrap();
    assert!(key.contains("fixture-key-file-secret"));
    assert_eq!(c.tls.server_name.as_deref(), Some("kubernetes.default.svc"));
    assert_eq!(c.default_namespace, "default");
}

#[test]
fn client_certificate_data() {
    let c = load("client-cert-data.yaml");
    let cert = String::from_utf8(c.tls.client_certificate.clone().unwrap()).unwrap();
    assert!(cert.contains("CERT"));
    let key = String::from_utf8(c.tls.client_key.clone().unwrap().expose().clone()).unwrap();
    assert!(key.contains("fixture-key-secret"));
}

#[test]
fn token_file_relative_path() {
    let c = load("token-file.yaml");
    let p = c.auth.token_file.clone().unwrap();
    assert!(p.is_absolute(), "{p:?}");
    assert_eq!(
        std::fs::read_to_string(p).unwrap().trim(),
        "fixture-token-from-file"
    );
}

#[test]
fn basic_auth_insecure_and_proxy() {
    let c = load("basic.yaml");
    assert_eq!(c.auth.username.as_deref(), Some("bob"));
    assert_eq!(
        c.auth.password.as_ref().map(|p| p.expose().as_str()),
        Some("fixture-password")
    );
    assert!(c.tls.insecure_skip_verify);
    assert_eq!(
        c.proxy_url.as_deref(),
        Some("http://proxy.example.com:3128")
    );
}

#[test]
fn exec_plugin() {
    let c = load("exec.yaml");
    let exec = c.auth.exec.clone().unwrap();
    assert_eq!(exec.api_version, "client.authentication.k8s.io/v1beta1");
    assert_eq!(exec.command, "aws");
    assert_eq!(exec.args, ["eks", "get-token", "--cluster-name", "demo"]);
    assert_eq!(exec.env[0].name, "AWS_PROFILE");
    assert!(exec.provide_cluster_info);
    assert_eq!(c.default_namespace, "apps");
}

#[test]
fn chosen_context_cluster_and_user() {
    let kc = Kubeconfig::read_from(fixture("multi-context.yaml")).unwrap();
    let dev = kc.to_config(&KubeConfigOptions::default()).unwrap();
    assert_eq!(dev.cluster_url, "https://dev.example.com");
    assert_eq!(dev.default_namespace, "dev-ns");
    let staging = kc
        .to_config(&KubeConfigOptions {
            context: Some("staging".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(staging.cluster_url, "https://staging.example.com");
    assert_eq!(staging.default_namespace, "default");
    assert_eq!(staging.auth.token.unwrap().expose(), "staging-token");
    let mixed = kc
        .to_config(&KubeConfigOptions {
            context: Some("staging".into()),
            user: Some("dev".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mixed.auth.token.unwrap().expose(), "dev-token");
    let err = kc
        .to_config(&KubeConfigOptions {
            context: Some("nope".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("no context named \"nope\""),
        "{err}"
    );
}

#[test]
fn merged_paths_first_file_wins() {
    let kc = Kubeconfig::read_paths(&[
        fixture("merge-a.yaml"),
        fixture("does-not-exist.yaml"),
        fixture("merge-b.yaml"),
        fixture("merge-c.yaml"),
    ])
    .unwrap();
    // current-context: merge-a sets none, merge-b sets "a", merge-c "b": the first wins.
    assert_eq!(kc.current_context.as_deref(), Some("a"));
    assert_eq!(kc.clusters.len(), 2);
    assert_eq!(kc.sources.len(), 3);
    let c = kc.to_config(&KubeConfigOptions::default()).unwrap();
    // Context "a" from merge-a (cluster "shared"), cluster "shared" from merge-a.
    assert_eq!(c.cluster_url, "https://from-a.example.com");
    assert_eq!(c.auth.token.unwrap().expose(), "token-a");
    let b = kc
        .to_config(&KubeConfigOptions {
            context: Some("b".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(b.cluster_url, "https://only-b.example.com");
    assert_eq!(b.default_namespace, "bee");
}

#[test]
fn merged_paths_none_exist() {
    let err = Kubeconfig::read_paths(&[fixture("nope-1"), fixture("nope-2")]).unwrap_err();
    assert!(
        err.to_string().contains("no kubeconfig file found"),
        "{err}"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let err = Config::from_kubeconfig_file(fixture("auth-provider.yaml")).unwrap_err();
    assert!(err.to_string().contains("auth-provider"), "{err}");
    let err = Config::from_kubeconfig_file(fixture("no-current-context.yaml")).unwrap_err();
    assert!(err.to_string().contains("no current-context"), "{err}");
    let err = Config::from_kubeconfig_file(fixture("invalid.yaml")).unwrap_err();
    assert!(err.to_string().contains("invalid.yaml"), "{err}");
    let err = Config::from_kubeconfig_file(fixture("missing.yaml")).unwrap_err();
    assert!(
        err.to_string().contains("cannot read the kubeconfig"),
        "{err}"
    );
    let err = Config::new("ftp://x").unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

#[test]
fn secrets_never_in_debug_output() {
    for (file, secrets) in [
        ("token.yaml", &["fixture-token-alice"][..]),
        ("basic.yaml", &["fixture-password"][..]),
        ("client-cert-data.yaml", &["fixture-key-secret"][..]),
        ("client-cert-files.yaml", &["fixture-key-file-secret"][..]),
        ("exec.yaml", &["fixture-env-secret"][..]),
    ] {
        let kc = Kubeconfig::read_from(fixture(file)).unwrap();
        let config = kc.to_config(&KubeConfigOptions::default()).unwrap();
        let dumps = [
            format!("{kc:?}"),
            format!("{config:?}"),
            format!("{config:#?}"),
        ];
        for dump in &dumps {
            for s in secrets {
                assert!(!dump.contains(s), "{file}: {s} shows in {dump}");
            }
            // Nor the base64 of the key.
            assert!(!dump.contains("LS0tLS1CRUdJTiBQUklWQVRF"), "{file}: {dump}");
        }
    }
    // An auth-provider's config (refused when used) is not shown either.
    let kc = Kubeconfig::read_from(fixture("auth-provider.yaml")).unwrap();
    let dump = format!("{kc:?}");
    assert!(dump.contains("auth_provider"), "{dump}");
    assert!(!dump.contains("fixture-provider-token"), "{dump}");
    // A client built from a config with a token does not show it either.
    let mut config = Config::new("http://127.0.0.1:1").unwrap();
    config.auth.token = Some("tok-in-client".to_owned().into());
    let client = informer::client::RestClient::new(config).unwrap();
    assert!(!format!("{client:?}").contains("tok-in-client"));
}

#[test]
fn in_cluster_from_env_and_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "sa-token\n").unwrap();
    std::fs::write(
        dir.path().join("ca.crt"),
        "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("namespace"), "payments\n").unwrap();
    let env = |k: &str| match k {
        "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".to_owned()),
        "KUBERNETES_SERVICE_PORT" => Some("443".to_owned()),
        _ => None,
    };
    let c = Config::incluster_from(&env, dir.path()).unwrap();
    assert_eq!(c.cluster_url, "https://10.96.0.1:443");
    assert_eq!(c.default_namespace, "payments");
    assert_eq!(
        c.auth.token_file.as_deref(),
        Some(dir.path().join("token").as_path())
    );
    assert!(c.tls.root_certificates.is_some());
    assert!(c.token_refresh <= Duration::from_secs(60));

    let v6 = |k: &str| match k {
        "KUBERNETES_SERVICE_HOST" => Some("fd00::1".to_owned()),
        "KUBERNETES_SERVICE_PORT" => Some("6443".to_owned()),
        _ => None,
    };
    let c = Config::incluster_from(&v6, dir.path()).unwrap();
    assert_eq!(c.cluster_url, "https://[fd00::1]:6443");

    let none = |_: &str| None;
    let err = Config::incluster_from(&none, dir.path()).unwrap_err();
    assert!(err.to_string().contains("KUBERNETES_SERVICE_HOST"), "{err}");

    std::fs::remove_file(dir.path().join("token")).unwrap();
    let err = Config::incluster_from(&env, dir.path()).unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}
