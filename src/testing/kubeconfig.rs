//! The kubeconfig file that points a client (kubectl, this crate's client, any other) at
//! the embedded server.
//!
//! It is written as JSON, which is valid YAML, so no YAML library is needed; it holds the
//! server URL, the CA certificate when TLS is on, the bearer token when token auth is on,
//! and the client certificate and key when client-certificate auth is on.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::json;

/// The name of the cluster, user and context in the kubeconfig.
pub const CONTEXT: &str = "informer-testing";

/// Renders the kubeconfig.
pub(crate) fn render(
    url: &str,
    ca_pem: Option<&str>,
    token: Option<&str>,
    client: Option<(&str, &str)>,
) -> String {
    let mut cluster = json!({"server": url});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut user = json!({});
    if let Some(t) = token {
        user["token"] = json!(t);
    }
    if let Some((cert, key)) = client {
        user["client-certificate-data"] = json!(b64(cert));
        user["client-key-data"] = json!(b64(key));
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {}
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A directory of its own under the system temp directory, removed with [`remove`].
pub(crate) fn make_dir(port: u16) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "informer-apiserver-{}-{}-{}",
        std::process::id(),
        port,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes the kubeconfig into `dir` and returns its path.
pub(crate) fn write(dir: &Path, contents: &str) -> std::io::Result<PathBuf> {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, contents)?;
    Ok(path)
}

/// Removes the directory made by [`make_dir`], ignoring errors.
pub(crate) fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
