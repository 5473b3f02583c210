//! Exec credential plugins (`users[].user.exec` in a kubeconfig): run a command, read an
//! `ExecCredential` from its standard output, use its token until it expires.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::auth::{bearer, Secret};
use super::{Error, Result};

/// How long a plugin may run before it (and its process group) is killed, unless
/// [`ExecConfig::timeout`] says otherwise.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The most a plugin may print on its standard output: 4 MiB (a credential with a client
/// certificate is a few kB). Of its standard error, the first 64 kB are kept.
pub const MAX_EXEC_OUTPUT: usize = 4 << 20;

/// Standard error kept for messages.
const MAX_EXEC_STDERR: usize = 64 << 10;

/// One environment variable for the plugin.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEnvVar {
    /// Variable name.
    pub name: String,
    /// Variable value (may be secret; never shown in `Debug`).
    pub value: String,
}

impl fmt::Debug for ExecEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=<redacted>", self.name)
    }
}

/// An exec credential plugin, as `users[].user.exec` describes it.
///
/// `Debug` shows neither its arguments nor its environment (either may carry secrets),
/// as client-go does.
///
/// # How a plugin is run
///
/// The plugin is run without a terminal, with `KUBERNETES_EXEC_INFO` describing the request
/// (and the cluster when `provideClusterInfo` is set). Its credential is cached until
/// `status.expirationTimestamp` (forever when absent) or until the server answers `401`;
/// concurrent requests wait for one run instead of starting several. Both
/// `client.authentication.k8s.io/v1` and `v1beta1` are understood. The token is never
/// logged; the plugin's standard error is quoted in errors to say what went wrong.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    /// `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1`.
    pub api_version: String,
    /// The command; a relative path containing a `/` is relative to the kubeconfig.
    pub command: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: Vec<ExecEnvVar>,
    /// Shown when the command cannot be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
    /// Pass the cluster's details in `KUBERNETES_EXEC_INFO`.
    #[serde(default)]
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always`; this client never has a terminal to offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive_mode: Option<String>,
    /// How long the plugin may run before it and every process of its process group are
    /// killed (default 60 s). Not a kubeconfig field.
    #[serde(skip)]
    pub timeout: Option<Duration>,
}

impl fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |n: usize| if n == 0 { "[]" } else { "[<redacted>]" };
        f.debug_struct("ExecConfig")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &format_args!("{}", redacted(self.args.len())))
            .field("env", &format_args!("{}", redacted(self.env.len())))
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: Option<ExecCredentialStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration_timestamp: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<Secret<String>>,
}

/// A client certificate and key (PEM) from an exec plugin.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) certificate: Vec<u8>,
    pub(crate) key: Secret<Vec<u8>>,
}

/// What an exec plugin returned: a token, a client certificate, or both.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub(crate) header: Option<HeaderValue>,
    pub(crate) identity: Option<Arc<Identity>>,
}

struct Cached {
    credential: Credential,
    expires: Option<SystemTime>,
}

/// Runs the plugin when the cached credential is missing or expired.
pub(crate) struct ExecRunner {
    config: ExecConfig,
    cluster: Option<serde_json::Value>,
    cached: tokio::sync::Mutex<Option<Cached>>,
    invalid: std::sync::atomic::AtomicBool,
}

impl ExecRunner {
    pub(crate) fn new(config: ExecConfig, cluster: Option<serde_json::Value>) -> Self {
        ExecRunner {
            config,
            cluster,
            cached: tokio::sync::Mutex::new(None),
            invalid: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn invalidate(&self) {
        self.invalid
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) async fn credential(&self) -> Result<Credential> {
        let mut cached = self.cached.lock().await;
        if self
            .invalid
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            *cached = None;
        }
        if let Some(c) = cached.as_ref() {
            if c.expires.is_none_or(|e| SystemTime::now() < e) {
                return Ok(c.credential.clone());
            }
        }
        let fresh = self.run().await?;
        let credential = fresh.credential.clone();
        *cached = Some(fresh);
        Ok(credential)
    }

    async fn run(&self) -> Result<Cached> {
        let c = &self.config;
        let api_version = c.api_version.as_str();
        if api_version != "client.authentication.k8s.io/v1"
            && api_version != "client.authentication.k8s.io/v1beta1"
        {
            return Err(Error::Auth(format!(
                "exec plugin {:?}: apiVersion {api_version:?} is not supported; use \
                 client.authentication.k8s.io/v1 or v1beta1",
                c.command
            )));
        }
        if c.interactive_mode.as_deref() == Some("Always") {
            return Err(Error::Auth(format!(
                "exec plugin {:?} needs a terminal (interactiveMode: Always), which this \
                 client cannot provide",
                c.command
            )));
        }
        let mut spec = serde_json::json!({"interactive": false});
        if c.provide_cluster_info {
            if let Some(cluster) = &self.cluster {
                spec["cluster"] = cluster.clone();
            }
        }
        let info =
            serde_json::json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": spec});
        let mut cmd = tokio::process::Command::new(&c.command);
        cmd.args(&c.args)
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in &c.env {
            cmd.env(&var.name, &var.value);
        }
        // Its own process group, so that a timeout kills whatever it started too.
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            let hint = c
                .install_hint
                .as_deref()
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Error::Auth(format!(
                "cannot run the exec credential plugin {:?}: {e}{hint}",
                c.command
            ))
        })?;
        let timeout = c.timeout.unwrap_or(EXEC_TIMEOUT);
        let output = match tokio::time::timeout(timeout, run_to_end(&mut child)).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                kill_group(&mut child).await;
                return Err(match e {
                    RunError::TooLarge => Error::TooLarge {
                        what: format!("the output of exec credential plugin {:?}", c.command),
                        limit: MAX_EXEC_OUTPUT,
                        remedy: "the plugin must print one ExecCredential".to_owned(),
                    },
                    RunError::Io(e) => Error::Auth(format!(
                        "exec credential plugin {:?} failed: {e}",
                        c.command
                    )),
                });
            }
            Err(_) => {
                kill_group(&mut child).await;
                return Err(Error::Auth(format!(
                    "exec credential plugin {:?} did not finish within {timeout:?}; it and \
                     its process group were killed",
                    c.command
                )));
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        if !output.status.success() {
            return Err(Error::Auth(format!(
                "exec credential plugin {:?} exited with {}: {}",
                c.command,
                output.status,
                truncate(stderr, 2048)
            )));
        }
        // serde's message may quote the offending value, which may be the secret: say
        // only where and what kind of problem it is.
        let cred: ExecCredential = serde_json::from_slice(&output.stdout).map_err(|e| {
            Error::Auth(format!(
                "exec credential plugin {:?} did not print an ExecCredential as JSON \
                 ({:?} error at line {} column {})",
                c.command,
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if cred.kind != "ExecCredential" || cred.api_version != api_version {
            return Err(Error::Auth(format!(
                "exec credential plugin {:?} printed kind {:?} apiVersion {:?}; expected an \
                 ExecCredential of {api_version}",
                c.command,
                truncate(&cred.kind, 64),
                truncate(&cred.api_version, 64)
            )));
        }
        let status = cred.status.ok_or_else(|| {
            Error::Auth(format!(
                "exec credential plugin {:?} printed an ExecCredential without status",
                c.command
            ))
        })?;
        let header = match status.token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(bearer(t)?),
            None => None,
        };
        let identity = match (&status.client_certificate_data, &status.client_key_data) {
            (Some(cert), Some(key)) if !cert.is_empty() && !key.expose().is_empty() => {
                Some(Arc::new(Identity {
                    certificate: cert.clone().into_bytes(),
                    key: Secret::new(key.expose().clone().into_bytes()),
                }))
            }
            (None, None) => None,
            _ => {
                return Err(Error::Auth(format!(
                    "exec credential plugin {:?} returned only one of clientCertificateData \
                     and clientKeyData",
                    c.command
                )))
            }
        };
        if header.is_none() && identity.is_none() {
            return Err(Error::Auth(format!(
                "exec credential plugin {:?} returned neither a token nor a client certificate",
                c.command
            )));
        }
        let expires = match status.expiration_timestamp.as_deref() {
            None | Some("") => None,
            Some(ts) => Some(parse_rfc3339(ts).ok_or_else(|| {
                Error::Auth(format!(
                    "exec credential plugin {:?} returned an invalid expirationTimestamp {ts:?}",
                    c.command
                ))
            })?),
        };
        tracing::debug!(command = %c.command, ?expires, "exec credential plugin returned a credential");
        Ok(Cached {
            credential: Credential { header, identity },
            expires,
        })
    }
}

/// What a plugin printed, and how it ended.
struct Output {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum RunError {
    TooLarge,
    Io(std::io::Error),
}

/// Reads a plugin's output (at most [`MAX_EXEC_OUTPUT`] of its standard output; the
/// first [`MAX_EXEC_STDERR`] of its standard error, the rest drained so that it never
/// blocks) and waits for it to exit.
async fn run_to_end(child: &mut tokio::process::Child) -> std::result::Result<Output, RunError> {
    use tokio::io::AsyncReadExt;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_stdout = async {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            s.take(MAX_EXEC_OUTPUT as u64 + 1)
                .read_to_end(&mut out)
                .await
                .map_err(RunError::Io)?;
        }
        if out.len() > MAX_EXEC_OUTPUT {
            return Err(RunError::TooLarge);
        }
        Ok(out)
    };
    let read_stderr = async {
        let mut kept = Vec::new();
        if let Some(mut s) = stderr {
            (&mut s)
                .take(MAX_EXEC_STDERR as u64)
                .read_to_end(&mut kept)
                .await
                .map_err(RunError::Io)?;
            tokio::io::copy(&mut s, &mut tokio::io::sink())
                .await
                .map_err(RunError::Io)?;
        }
        Ok(kept)
    };
    let (stdout, stderr) = futures::try_join!(read_stdout, read_stderr)?;
    let status = child.wait().await.map_err(RunError::Io)?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Kills a plugin and every process of its process group, and reaps it.
async fn kill_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
            tracing::debug!(error = %e, "could not kill the exec plugin's process group");
        }
    }
    let _ = child.kill().await;
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The path of a plugin command: relative paths with a separator are relative to the
/// kubeconfig's directory, bare names are looked up in `PATH`.
pub(crate) fn resolve_command(command: &str, base: Option<&std::path::Path>) -> String {
    let p = PathBuf::from(command);
    match base {
        Some(dir) if p.is_relative() && command.contains('/') => {
            let rel: PathBuf = p
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            dir.join(rel).to_string_lossy().into_owned()
        }
        _ => command.to_owned(),
    }
}

/// Parses an RFC 3339 timestamp such as `2026-01-02T03:04:05Z` or
/// `2026-01-02T03:04:05.123+01:00` (with `jiff`); one without an offset is refused.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    s.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        use std::time::UNIX_EPOCH;
        let t = parse_rfc3339("1970-01-02T00:00:01Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(86_401));
        let t = parse_rfc3339("2000-03-01T00:00:00.5+01:00").unwrap();
        assert_eq!(
            t,
            UNIX_EPOCH + Duration::from_secs(951_868_800 - 3600) + Duration::from_millis(500)
        );
        assert!(parse_rfc3339("2000-13-01T00:00:00Z").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2000-01-01T00:00:00").is_none());
        assert!(parse_rfc3339("2000-02-30T00:00:00Z").is_none());
        assert!(parse_rfc3339("").is_none());
        let t = parse_rfc3339("1970-01-01t01:00:00.000000001-01:00").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::new(7200, 1));
    }

    #[test]
    fn env_values_are_redacted() {
        let v = ExecEnvVar {
            name: "TOKEN".into(),
            value: "s3cret".into(),
        };
        assert!(!format!("{v:?}").contains("s3cret"));
    }
}
