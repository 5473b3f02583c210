//! In-cluster configuration: the API server from `KUBERNETES_SERVICE_HOST` and
//! `KUBERNETES_SERVICE_PORT`, credentials from the pod's service-account mount.
//!
//! The token file is not read once: it becomes the config's `token_file`, which the
//! client re-reads at least once a minute, so that the kubelet's token rotation keeps
//! working. The CA certificate and the namespace are read when the config is made.

use std::path::Path;

use super::Config;
use crate::client::{Error, Result};

/// Where a pod's service-account token, CA and namespace are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Builds the in-cluster config from an environment lookup and a service-account
/// directory (the real ones: `std::env::var` and [`SERVICE_ACCOUNT_DIR`]).
pub(crate) fn from(env: &dyn Fn(&str) -> Option<String>, dir: &Path) -> Result<Config> {
    let host = env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty());
    let port = env("KUBERNETES_SERVICE_PORT").filter(|p| !p.is_empty());
    let (host, port) = match (host, port) {
        (Some(h), Some(p)) => (h, p),
        _ => {
            return Err(Error::Config(
                "not running in a cluster: KUBERNETES_SERVICE_HOST and \
                 KUBERNETES_SERVICE_PORT are not set"
                    .to_owned(),
            ))
        }
    };
    if port.parse::<u16>().is_err() {
        return Err(Error::Config(format!(
            "KUBERNETES_SERVICE_PORT is not a port number: {port:?}"
        )));
    }
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let mut config = Config::new(&format!("https://{host}:{port}"))?;
    let token = dir.join("token");
    if !token.is_file() {
        return Err(Error::Config(format!(
            "in-cluster: the service-account token {} is missing; is \
             automountServiceAccountToken off for this pod?",
            token.display()
        )));
    }
    config.auth.token_file = Some(token);
    let ca = dir.join("ca.crt");
    let pem = crate::client::files::read(&ca).map_err(|e| {
        e.into_error(
            "in-cluster: the cluster's CA certificate",
            &ca,
            Error::Config,
        )
    })?;
    config.tls.root_certificates = Some(pem);
    if let Ok(ns) = crate::client::files::read_to_string(&dir.join("namespace")) {
        let ns = ns.trim();
        if !ns.is_empty() {
            config.default_namespace = ns.to_owned();
        }
    }
    Ok(config)
}
