//! Credentials and how they reach a request: the [`Secret`] wrapper that keeps them out of
//! `Debug` output, and the per-request `Authorization` header.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use http::HeaderValue;
use parking_lot::Mutex;

use super::exec::{Credential, ExecConfig, ExecRunner};
use super::{Error, Result};

/// A value that must not be shown: `Debug` prints `<redacted>`, there is no `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value, for the code that really needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the client authenticates, as a kubeconfig `user` (or in-cluster config) describes
/// it. Client certificates live in [`TlsConfig`](super::TlsConfig).
///
/// # How credentials reach a request
///
/// A [`Config`](super::Config) carries an [`AuthInfo`]; the [`RestClient`](super::RestClient)
/// turns it into an internal `Authenticator` that, for every request, produces the
/// header: a static bearer token, a token file re-read when its cached copy is older than
/// the refresh interval (so that rotated service-account tokens keep working), basic auth,
/// or a token from an exec plugin, cached until its expiry. A `401` answer drops the
/// cached credential so that the next request fetches a fresh one. Header values are
/// marked sensitive and never logged.
#[derive(Clone, Debug, Default)]
pub struct AuthInfo {
    /// A bearer token.
    pub token: Option<Secret<String>>,
    /// A file holding a bearer token, re-read periodically; wins over `token`.
    pub token_file: Option<PathBuf>,
    /// Basic auth user name.
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<Secret<String>>,
    /// An exec credential plugin.
    pub exec: Option<ExecConfig>,
}

/// Produces the `Authorization` header of each request.
pub(crate) enum Authenticator {
    None,
    Header(HeaderValue),
    TokenFile(TokenFile),
    Exec(Box<ExecRunner>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authenticator::None => "None",
            Authenticator::Header(_) => "Header(<redacted>)",
            Authenticator::TokenFile(_) => "TokenFile",
            Authenticator::Exec(_) => "Exec",
        })
    }
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::Auth(
            "the credential contains characters not allowed in an HTTP header; check the \
             token for stray newlines or control characters"
                .to_owned(),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

pub(crate) fn bearer(token: &str) -> Result<HeaderValue> {
    sensitive(&format!("Bearer {}", token.trim()))
}

impl Authenticator {
    pub(crate) fn new(
        auth: &AuthInfo,
        refresh: Duration,
        cluster: Option<serde_json::Value>,
    ) -> Result<Self> {
        if let Some(exec) = &auth.exec {
            return Ok(Authenticator::Exec(Box::new(ExecRunner::new(
                exec.clone(),
                cluster,
            ))));
        }
        if let Some(path) = &auth.token_file {
            let mut tf = TokenFile {
                path: path.clone(),
                refresh,
                cached: Mutex::new(None),
            };
            // Fail early on a missing file, as client-go does (a client is made outside
            // the request path: reading here blocks nothing that waits).
            let header = tf.parse(super::files::read_to_string(path))?;
            *tf.cached.get_mut() = Some((header, Instant::now()));
            return Ok(Authenticator::TokenFile(tf));
        }
        if let Some(token) = &auth.token {
            return Ok(Authenticator::Header(bearer(token.expose())?));
        }
        if let (Some(user), Some(pass)) = (&auth.username, &auth.password) {
            let raw = format!("{user}:{}", pass.expose());
            let enc = base64::engine::general_purpose::STANDARD.encode(raw);
            return Ok(Authenticator::Header(sensitive(&format!("Basic {enc}"))?));
        }
        Ok(Authenticator::None)
    }

    /// The header (and, from an exec plugin, the client certificate) for the next
    /// request.
    pub(crate) async fn credential(&self) -> Result<Credential> {
        let header = match self {
            Authenticator::None => None,
            Authenticator::Header(h) => Some(h.clone()),
            Authenticator::TokenFile(tf) => Some(tf.header().await?),
            Authenticator::Exec(e) => return e.credential().await,
        };
        Ok(Credential {
            header,
            identity: None,
        })
    }

    /// The server refused the credential: forget cached ones.
    pub(crate) fn invalidate(&self) {
        match self {
            Authenticator::TokenFile(tf) => *tf.cached.lock() = None,
            Authenticator::Exec(e) => e.invalidate(),
            _ => {}
        }
    }
}

/// A token file and its cached contents.
pub(crate) struct TokenFile {
    path: PathBuf,
    refresh: Duration,
    cached: Mutex<Option<(HeaderValue, Instant)>>,
}

impl TokenFile {
    async fn read(&self) -> Result<HeaderValue> {
        self.parse(super::files::read_to_string_async(&self.path).await)
    }

    /// The header for the file's contents, or why there is none.
    fn parse(
        &self,
        contents: std::result::Result<String, super::files::FileError>,
    ) -> Result<HeaderValue> {
        let token = contents.map_err(|e| match e {
            super::files::FileError::Io(e) => Error::Auth(format!(
                "cannot read the bearer token file {}: {e}; check the kubeconfig's tokenFile \
                 or the service-account mount",
                self.path.display()
            )),
            other => other.into_error("the bearer token file", &self.path, Error::Auth),
        })?;
        if token.trim().is_empty() {
            return Err(Error::Auth(format!(
                "the bearer token file {} is empty",
                self.path.display()
            )));
        }
        bearer(&token)
    }

    /// The token as a header: cached, and read again (off the async workers, without
    /// holding the cache's lock) once it is older than the refresh interval.
    async fn header(&self) -> Result<HeaderValue> {
        if let Some((h, at)) = self.cached.lock().as_ref() {
            if at.elapsed() < self.refresh {
                return Ok(h.clone());
            }
        }
        let read = self.read().await;
        let mut cached = self.cached.lock();
        match read {
            Ok(h) => {
                *cached = Some((h.clone(), Instant::now()));
                Ok(h)
            }
            // A file being rewritten may be briefly unreadable: keep the old token.
            Err(e) => match cached.as_ref() {
                Some((h, _)) => {
                    tracing::warn!(error = %e, "re-reading the token file failed; keeping the previous token");
                    Ok(h.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn header_values_are_sensitive() {
        let a = Authenticator::new(
            &AuthInfo {
                token: Some(Secret::new("abc".into())),
                ..Default::default()
            },
            Duration::from_secs(60),
            None,
        )
        .unwrap();
        let Authenticator::Header(h) = &a else {
            panic!("expected a header")
        };
        assert!(h.is_sensitive());
        assert!(!format!("{a:?}").contains("abc"));
    }
}
