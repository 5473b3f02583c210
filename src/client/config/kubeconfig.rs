//! The kubeconfig file: its serde model, reading (one file or `KUBECONFIG`'s list, merged
//! as kubectl merges them) and resolving a context into a [`Config`].
//!
//! Reading resolves every relative path (certificate files, token files, exec commands)
//! against the directory of the file it came from, so that entries keep their meaning after
//! several files are merged. Merging keeps, for each cluster, user and context name, the
//! entry of the first file that has it, and the first `current-context` that is set.
//! Secrets (tokens, passwords, key data) are [`Secret`]s and never appear in `Debug` output.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::Config;
use crate::client::auth::{AuthInfo, Secret};
use crate::client::exec::{resolve_command, ExecConfig};
use crate::client::tls::TlsConfig;
use crate::client::{Error, Result};

/// A kubeconfig file (or several merged).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// Named clusters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub clusters: Vec<NamedCluster>,
    /// Named users (credentials).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users: Vec<NamedAuthInfo>,
    /// Named contexts (cluster + user + namespace).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub contexts: Vec<NamedContext>,
    /// The context used unless another is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// The files this was read from, in order.
    #[serde(skip)]
    pub sources: Vec<PathBuf>,
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A cluster with its name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamedCluster {
    /// Name.
    pub name: String,
    /// The cluster.
    #[serde(default)]
    pub cluster: KubeCluster,
}

/// How to reach a cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeCluster {
    /// The API server's URL.
    #[serde(default)]
    pub server: Option<String>,
    /// Path of the CA certificate file.
    #[serde(default)]
    pub certificate_authority: Option<String>,
    /// CA certificate, base64 of PEM.
    #[serde(default)]
    pub certificate_authority_data: Option<String>,
    /// Skip TLS verification.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// Name to verify the server's certificate against.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Proxy for requests to this cluster.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Named extensions; the one named `client.authentication.k8s.io/exec` is passed to
    /// exec plugins as `spec.cluster.config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Value>,
}

/// A user with its name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    /// Name.
    pub name: String,
    /// The credentials.
    #[serde(default)]
    pub user: KubeAuthInfo,
}

/// Credentials, as a kubeconfig `user` gives them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeAuthInfo {
    /// Path of the client certificate.
    #[serde(default)]
    pub client_certificate: Option<String>,
    /// Client certificate, base64 of PEM.
    #[serde(default)]
    pub client_certificate_data: Option<String>,
    /// Path of the client key.
    #[serde(default)]
    pub client_key: Option<String>,
    /// Client key, base64 of PEM.
    #[serde(default)]
    pub client_key_data: Option<Secret<String>>,
    /// Bearer token.
    #[serde(default)]
    pub token: Option<Secret<String>>,
    /// Path of a bearer token file.
    #[serde(default, rename = "tokenFile")]
    pub token_file: Option<String>,
    /// Basic auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default)]
    pub password: Option<Secret<String>>,
    /// Exec credential plugin.
    #[serde(default)]
    pub exec: Option<ExecConfig>,
    /// Legacy auth provider plugins (not supported; refused with an error). Its config
    /// holds tokens and client secrets, so it is redacted like every other secret.
    #[serde(
        default,
        rename = "auth-provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_provider: Option<Secret<serde_json::Value>>,
    /// Impersonation (not supported; refused with an error).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
}

/// A context with its name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamedContext {
    /// Name.
    pub name: String,
    /// The context.
    #[serde(default)]
    pub context: KubeContext,
}

/// A cluster, a user and a default namespace.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KubeContext {
    /// Cluster name.
    #[serde(default)]
    pub cluster: String,
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// Default namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Which context, cluster and user to use instead of the kubeconfig's current ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeConfigOptions {
    /// Context name (default: `current-context`).
    pub context: Option<String>,
    /// Cluster name (default: the context's).
    pub cluster: Option<String>,
    /// User name (default: the context's).
    pub user: Option<String>,
}

fn resolve(path: &mut Option<String>, base: &Path) {
    if let Some(p) = path.as_mut() {
        if !p.is_empty() && Path::new(p.as_str()).is_relative() {
            *p = base.join(p.as_str()).to_string_lossy().into_owned();
        }
    }
}

impl Kubeconfig {
    /// Parses a kubeconfig from YAML (or JSON) text. Relative paths stay as they are.
    pub fn from_yaml(text: &str) -> Result<Kubeconfig> {
        if text.trim().is_empty() {
            return Ok(Kubeconfig::default());
        }
        serde_yaml_ng::from_str(text)
            .map_err(|e| Error::Config(format!("the kubeconfig is not valid: {e}")))
    }

    /// Reads one kubeconfig file, resolving relative paths against its directory.
    pub fn read_from(path: impl AsRef<Path>) -> Result<Kubeconfig> {
        let path = path.as_ref();
        let text = crate::client::files::read_to_string(path)
            .map_err(|e| e.into_error("the kubeconfig", path, Error::Config))?;
        let mut kc = Kubeconfig::from_yaml(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for c in &mut kc.clusters {
            resolve(&mut c.cluster.certificate_authority, base);
        }
        for u in &mut kc.users {
            resolve(&mut u.user.client_certificate, base);
            resolve(&mut u.user.client_key, base);
            resolve(&mut u.user.token_file, base);
            if let Some(exec) = u.user.exec.as_mut() {
                exec.command = resolve_command(&exec.command, Some(base));
            }
        }
        kc.sources = vec![path.to_owned()];
        Ok(kc)
    }

    /// Reads and merges several files in order; files that do not exist are skipped, as
    /// kubectl skips them in `KUBECONFIG`. Errors when none exists.
    pub fn read_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Kubeconfig> {
        let mut merged: Option<Kubeconfig> = None;
        for p in paths {
            let p = p.as_ref();
            if p.as_os_str().is_empty() || !p.exists() {
                continue;
            }
            let kc = Kubeconfig::read_from(p)?;
            merged = Some(match merged {
                None => kc,
                Some(m) => m.merge(kc),
            });
        }
        merged.ok_or_else(|| {
            let list: Vec<String> = paths
                .iter()
                .map(|p| p.as_ref().display().to_string())
                .collect();
            Error::Config(format!(
                "no kubeconfig file found (looked for {})",
                list.join(", ")
            ))
        })
    }

    /// Reads the kubeconfig kubectl would use: the files listed in `KUBECONFIG`, else
    /// `~/.kube/config`.
    pub fn read() -> Result<Kubeconfig> {
        Kubeconfig::read_paths(&default_paths())
    }

    /// Merges `other` into `self`: entries and `current-context` already present win, as
    /// in kubectl (the first file that sets a value wins).
    pub fn merge(mut self, other: Kubeconfig) -> Kubeconfig {
        for c in other.clusters {
            if !self.clusters.iter().any(|x| x.name == c.name) {
                self.clusters.push(c);
            }
        }
        for u in other.users {
            if !self.users.iter().any(|x| x.name == u.name) {
                self.users.push(u);
            }
        }
        for c in other.contexts {
            if !self.contexts.iter().any(|x| x.name == c.name) {
                self.contexts.push(c);
            }
        }
        if self.current_context.as_deref().is_none_or(str::is_empty) {
            self.current_context = other.current_context;
        }
        self.sources.extend(other.sources);
        self
    }

    fn origin(&self) -> String {
        if self.sources.is_empty() {
            "the kubeconfig".to_owned()
        } else {
            let list: Vec<String> = self
                .sources
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!("the kubeconfig ({})", list.join(", "))
        }
    }

    /// Resolves a context into a client [`Config`].
    pub fn to_config(&self, options: &KubeConfigOptions) -> Result<Config> {
        let origin = self.origin();
        let context_name = options
            .context
            .clone()
            .or_else(|| self.current_context.clone().filter(|c| !c.is_empty()));
        let context = match &context_name {
            Some(name) => Some(
                self.contexts
                    .iter()
                    .find(|c| &c.name == name)
                    .map(|c| &c.context)
                    .ok_or_else(|| {
                        Error::Config(format!("{origin} has no context named {name:?}"))
                    })?,
            ),
            None => None,
        };
        let cluster_name = options
            .cluster
            .clone()
            .or_else(|| context.map(|c| c.cluster.clone()))
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{origin} has no current-context; choose a context (kubectl config \
                     use-context NAME) or pass one"
                ))
            })?;
        let cluster = &self
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .ok_or_else(|| {
                Error::Config(format!("{origin} has no cluster named {cluster_name:?}"))
            })?
            .cluster;
        let user_name = options
            .user
            .clone()
            .or_else(|| context.and_then(|c| c.user.clone()))
            .filter(|u| !u.is_empty());
        let user = match &user_name {
            Some(name) => self
                .users
                .iter()
                .find(|u| &u.name == name)
                .map(|u| u.user.clone())
                .ok_or_else(|| Error::Config(format!("{origin} has no user named {name:?}")))?,
            None => KubeAuthInfo::default(),
        };
        let server = cluster
            .server
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "cluster {cluster_name:?} in {origin} has no server"
                ))
            })?;
        let mut config = Config::new(&server)?;
        if let Some(ns) = context
            .and_then(|c| c.namespace.clone())
            .filter(|n| !n.is_empty())
        {
            config.default_namespace = ns;
        }
        config.tls = TlsConfig {
            root_certificates: data_or_file(
                cluster.certificate_authority_data.as_deref(),
                cluster.certificate_authority.as_deref(),
                "certificate-authority",
            )?,
            insecure_skip_verify: cluster.insecure_skip_tls_verify,
            server_name: cluster.tls_server_name.clone().filter(|s| !s.is_empty()),
            client_certificate: data_or_file(
                user.client_certificate_data.as_deref(),
                user.client_certificate.as_deref(),
                "client-certificate",
            )?,
            client_key: data_or_file(
                user.client_key_data.as_ref().map(|s| s.expose().as_str()),
                user.client_key.as_deref(),
                "client-key",
            )?
            .map(Secret::new),
        };
        config.proxy_url = cluster.proxy_url.clone().filter(|p| !p.is_empty());
        config.cluster_extensions = exec_extension(cluster.extensions.as_ref());
        if user.auth_provider.is_some() {
            return Err(Error::Config(format!(
                "user {:?} in {origin} uses an auth-provider plugin, which this client does \
                 not support; use an exec credential plugin instead",
                user_name.unwrap_or_default()
            )));
        }
        if user.impersonate.is_some() {
            return Err(Error::Config(format!(
                "user {:?} in {origin} asks for impersonation (as), which this client does \
                 not support",
                user_name.unwrap_or_default()
            )));
        }
        config.auth = AuthInfo {
            token: user.token.clone().filter(|t| !t.expose().is_empty()),
            token_file: user
                .token_file
                .clone()
                .filter(|t| !t.is_empty())
                .map(PathBuf::from),
            username: user.username.clone(),
            password: user.password.clone(),
            exec: user.exec.clone(),
        };
        Ok(config)
    }
}

/// The cluster extension named `client.authentication.k8s.io/exec`, which exec plugins
/// receive as `spec.cluster.config`.
fn exec_extension(extensions: Option<&serde_json::Value>) -> Option<serde_json::Value> {
    extensions?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("name").and_then(|n| n.as_str()) == Some("client.authentication.k8s.io/exec")
        })
        .and_then(|e| e.get("extension").cloned())
}

/// `KUBECONFIG`'s paths, else `~/.kube/config`.
pub(crate) fn default_paths() -> Vec<PathBuf> {
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home_dir()
        .map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// The user's home directory as the standard library finds it (`HOME` on Unix, else the
/// user database; `USERPROFILE` on Windows, else the system's profile directory), which
/// since Rust 1.86 is right on every platform (the `home` crate now only calls it). An
/// empty one is none.
fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|h| !h.as_os_str().is_empty())
}

fn data_or_file(data: Option<&str>, file: Option<&str>, what: &str) -> Result<Option<Vec<u8>>> {
    if let Some(d) = data.filter(|d| !d.is_empty()) {
        let clean: String = d.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| {
                Error::Config(format!(
                    "{what}-data in the kubeconfig is not valid base64: {e}"
                ))
            });
    }
    if let Some(f) = file.filter(|f| !f.is_empty()) {
        return crate::client::files::read_config(Path::new(f), &format!("the {what} file"))
            .map(Some);
    }
    Ok(None)
}
