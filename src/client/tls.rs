//! TLS settings and the rustls client configuration built from them.
//!
//! [`TlsConfig`] holds what a kubeconfig cluster and user say about TLS: the certificate
//! authority (PEM), `insecure-skip-tls-verify`, `tls-server-name`, and a client certificate
//! and key. [`build`] turns it into a rustls `ClientConfig` on the `ring` provider:
//! verification against the given CA (or the platform's trust store when none is given),
//! optionally against another server name, or no verification at all when the kubeconfig
//! asks for it. The private key is a [`Secret`] and never appears in `Debug` output.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::auth::Secret;
use super::{Error, Result};

/// TLS settings of a connection to the API server.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// Certificate authorities (PEM, one or more certificates) that sign the server's
    /// certificate; `None` uses the platform's trust store.
    pub root_certificates: Option<Vec<u8>>,
    /// Do not verify the server's certificate at all (`insecure-skip-tls-verify`).
    pub insecure_skip_verify: bool,
    /// Verify the server's certificate against this name instead of the URL's host
    /// (`tls-server-name`).
    pub server_name: Option<String>,
    /// Client certificate chain (PEM) for certificate authentication.
    pub client_certificate: Option<Vec<u8>>,
    /// Private key (PEM) of the client certificate.
    pub client_key: Option<Secret<Vec<u8>>>,
}

fn tls_err(message: String) -> Error {
    Error::Tls {
        message,
        source: None,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses PEM certificates.
pub(crate) fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| tls_err(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(format!("{what} holds no PEM certificate")));
    }
    Ok(certs)
}

/// Builds the rustls configuration.
pub(crate) fn build(tls: &TlsConfig) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("cannot set up TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        if tls.root_certificates.is_some() {
            return Err(tls_err(
                "the kubeconfig both gives a certificate authority and sets \
                 insecure-skip-tls-verify; remove one of them"
                    .to_owned(),
            ));
        }
        tracing::warn!(
            "TLS verification of the API server is switched off (insecure-skip-tls-verify)"
        );
        Arc::new(NoVerification(provider.clone()))
    } else if let Some(pem) = &tls.root_certificates {
        let mut roots = RootCertStore::empty();
        for cert in certificates(pem, "the certificate authority")? {
            roots
                .add(cert)
                .map_err(|e| tls_err(format!("the certificate authority cannot be used: {e}")))?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_err(format!("the certificate authority cannot be used: {e}")))?
    } else {
        rustls_platform_verifier::Verifier::new(provider.clone())
            .map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
            .map_err(|e| tls_err(format!("cannot load the platform's trust store: {e}")))?
    };
    let verifier = match &tls.server_name {
        Some(name) if !tls.insecure_skip_verify => {
            let name = ServerName::try_from(name.clone()).map_err(|e| {
                tls_err(format!(
                    "tls-server-name {name:?} is not a valid server name: {e}"
                ))
            })?;
            Arc::new(OtherName {
                inner: verifier,
                name,
            }) as Arc<dyn ServerCertVerifier>
        }
        _ => verifier,
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.client_certificate, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "the client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key.expose()).map_err(|_| {
                tls_err("the client key is not a PEM private key (PKCS#1, PKCS#8 or SEC1)".into())
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                tls_err(format!(
                    "the client certificate and key cannot be used together: {e}"
                ))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(tls_err(
                "a client certificate needs both client-certificate(-data) and \
                 client-key(-data)"
                    .to_owned(),
            ))
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Verifies the certificate against a fixed name (`tls-server-name`).
#[derive(Debug)]
struct OtherName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for OtherName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any certificate (`insecure-skip-tls-verify`), still checking handshake
/// signatures.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Turns a connection error into a message that says what to check when TLS is the cause.
pub(crate) fn explain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&e.to_string());
        cur = e.source();
    }
    let hint = if chain.contains("UnknownIssuer")
        || chain.contains("unknown issuer")
        || chain.contains("BadSignature")
    {
        "the server's certificate is not signed by the configured certificate authority; \
         check certificate-authority(-data) in the kubeconfig"
    } else if chain.contains("NotValidForName") || chain.contains("not valid for name") {
        "the server's certificate is not valid for the server's address; check the server URL \
         or set tls-server-name"
    } else if chain.contains("invalid peer certificate: Expired") {
        "the server's certificate has expired (or the clock is wrong)"
    } else if [
        "invalid peer certificate",
        "received fatal alert",
        "peer is incompatible",
        "peer misbehaved",
        "HandshakeFailure",
        "InvalidCertificate",
    ]
    .iter()
    .any(|p| chain.contains(p))
    {
        "the TLS handshake with the API server failed"
    } else {
        return None;
    };
    Some(format!("{hint} ({chain})"))
}
