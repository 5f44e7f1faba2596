//! `configtls.ClientConfig`: the `tls` section shared by both exporters.

use kakehashi_config::{Duration, Secret};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSettings {
    /// Plaintext (gRPC only; for HTTP the URL scheme decides).
    pub insecure: bool,
    pub insecure_skip_verify: bool,
    pub server_name_override: String,
    pub ca_file: String,
    pub ca_pem: Secret,
    pub cert_file: String,
    pub cert_pem: Secret,
    pub key_file: String,
    pub key_pem: Secret,
    pub min_version: String,
    pub max_version: String,
    /// System roots are used whenever no CA is given; with a CA, `true` is not supported yet.
    pub include_system_ca_certs_pool: bool,
    /// Not supported yet (certificates are read once at start): an error when set.
    pub reload_interval: Duration,
    /// Not supported yet (rustls picks its own safe suites and curves): an error when set.
    pub cipher_suites: Vec<String>,
    pub curve_preferences: Vec<String>,
}

impl TlsClientSettings {
    /// A custom CA is configured (configtls's `hasCA`).
    pub fn has_ca(&self) -> bool {
        !self.ca_file.is_empty() || !self.ca_pem.is_empty()
    }
}

/// PEM material read from the files or inline values.
pub(crate) struct TlsMaterial {
    pub ca: Option<Vec<u8>>,
    /// (certificate chain, private key)
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsClientSettings {
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let has_cert = !self.cert_file.is_empty() || !self.cert_pem.is_empty();
        let has_key = !self.key_file.is_empty() || !self.key_pem.is_empty();
        if has_cert != has_key {
            errs.push("tls: provide both certificate and key, or neither".to_string());
        }
        if !self.ca_file.is_empty() && !self.ca_pem.is_empty() {
            errs.push(
                "tls: provide either a CA file or the PEM-encoded string, but not both".into(),
            );
        }
        for (key, v) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            if !v.is_empty() && !["1.0", "1.1", "1.2", "1.3"].contains(&v.as_str()) {
                errs.push(format!(
                    "tls: invalid TLS {key}: unsupported TLS version: {v:?}"
                ));
            }
        }
        // Keys whose setting would change what is trusted or when certificates are read: an
        // error rather than a silently different behaviour.
        let has_ca = !self.ca_file.is_empty() || !self.ca_pem.is_empty();
        for (key, set) in [
            ("reload_interval", !self.reload_interval.is_zero()),
            ("cipher_suites", !self.cipher_suites.is_empty()),
            ("curve_preferences", !self.curve_preferences.is_empty()),
            (
                "include_system_ca_certs_pool (together with a CA)",
                self.include_system_ca_certs_pool && has_ca,
            ),
        ] {
            if set {
                errs.push(format!("tls::{key} is not supported yet"));
            }
        }
        errs
    }

    /// Reads the CA and client identity. Errors name the file, never its content.
    pub(crate) fn load(&self) -> Result<TlsMaterial, String> {
        let read = |path: &str, what: &str| {
            std::fs::read(path).map_err(|e| {
                format!("failed to load TLS config: failed to load {what} {path}: {e}")
            })
        };
        let pick = |file: &str, pem: &Secret, what: &str| -> Result<Option<Vec<u8>>, String> {
            if !file.is_empty() {
                read(file, what).map(Some)
            } else if !pem.is_empty() {
                Ok(Some(pem.expose().as_bytes().to_vec()))
            } else {
                Ok(None)
            }
        };
        let ca = pick(&self.ca_file, &self.ca_pem, "CA")?;
        let cert = pick(&self.cert_file, &self.cert_pem, "TLS cert")?;
        let key = pick(&self.key_file, &self.key_pem, "TLS key")?;
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        };
        Ok(TlsMaterial { ca, identity })
    }
}

/// `err` followed by each of its sources (`a: b: c`), skipping a source whose text the message
/// already ends with. reqwest and tonic put the cause of a failed connection (an unknown CA, a
/// missing client certificate, a refused connection) only in the source chain, so without this
/// the log says just "error sending request" or "transport error".
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A verifier that accepts any server certificate (`insecure_skip_verify: true`).
#[derive(Debug)]
pub(crate) struct NoVerify(rustls::crypto::WebPkiSupportedAlgorithms);

impl NoVerify {
    pub fn new() -> Self {
        NoVerify(rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }
}

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Applies the TLS settings to an HTTP client under construction (otlphttp and datadog share it).
pub fn apply_to_reqwest(
    mut b: reqwest::ClientBuilder,
    tls: &TlsClientSettings,
) -> Result<reqwest::ClientBuilder, kakehashi_component::BuildError> {
    use kakehashi_component::BuildError;
    let material = tls.load()?;
    if let Some(ca) = material.ca {
        let certs = reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| {
            BuildError(format!("failed to load TLS config: failed to load CA: {e}"))
        })?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
        // The configured CA alone, as Go's `RootCAs`: the system's roots would let any publicly
        // trusted certificate for the host pass where a CA was pinned.
        b = b.tls_built_in_root_certs(false);
    }
    if let Some((cert, key)) = material.identity {
        let mut pem = cert;
        pem.push(b'\n');
        pem.extend_from_slice(&key);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            BuildError(format!(
                "failed to load TLS config: failed to load TLS cert and key: {e}"
            ))
        })?;
        b = b.identity(id);
    }
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    for (v, min) in [(&tls.min_version, true), (&tls.max_version, false)] {
        let version = match v.as_str() {
            "1.0" => Some(reqwest::tls::Version::TLS_1_0),
            "1.1" => Some(reqwest::tls::Version::TLS_1_1),
            "1.2" => Some(reqwest::tls::Version::TLS_1_2),
            "1.3" => Some(reqwest::tls::Version::TLS_1_3),
            _ => None,
        };
        if let Some(version) = version {
            b = if min {
                b.min_tls_version(version)
            } else {
                b.max_tls_version(version)
            };
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_chain_names_the_cause() {
        let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let outer = std::io::Error::other(io);
        // io::Error's Display already shows a wrapped custom error: it is not repeated.
        assert_eq!(
            super::error_chain(&outer),
            "invalid peer certificate: UnknownIssuer"
        );
        let status = tonic::Status::from_error(Box::new(outer));
        assert!(super::error_chain(&status).contains("UnknownIssuer"));
    }
}
