//! Server TLS from `configtls.ServerConfig`: certificate and key (file or PEM), optional client
//! CA for mTLS, min/max version. Shared by the gRPC and HTTP servers.

use crate::config::TlsServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

fn pem_source(file: &str, pem: &str, what: &str) -> Result<Vec<u8>, String> {
    if !pem.is_empty() {
        return Ok(pem.as_bytes().to_vec());
    }
    std::fs::read(file)
        .map_err(|e| format!("failed to load TLS config: failed to load {what} {file}: {e}"))
}

fn certs(bytes: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &bytes[..]).collect();
    let certs = certs.map_err(|e| format!("failed to load TLS config: invalid {what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "failed to load TLS config: no certificates in {what}"
        ));
    }
    Ok(certs)
}

fn version_rank(v: &str) -> u8 {
    match v {
        "1.3" => 3,
        _ => 2, // "" and "1.2": otelcol's server default minimum is TLS 1.2
    }
}

/// Builds the rustls config, advertising `alpn` (e.g. `h2` for gRPC).
pub fn server_config(
    tls: &TlsServerConfig,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let cert_pem = pem_source(&tls.cert_file, tls.cert_pem.expose(), "cert")?;
    let key_pem = pem_source(&tls.key_file, tls.key_pem.expose(), "key")?;
    let chain = certs(&cert_pem, "certificate")?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("failed to load TLS config: invalid key: {e}"))?
        .ok_or("failed to load TLS config: no private key found")?;

    let (min, max) = (
        version_rank(&tls.min_version),
        if tls.max_version.is_empty() {
            3
        } else {
            version_rank(&tls.max_version)
        },
    );
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(r, _)| *r >= min && *r <= max)
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err("failed to load TLS config: min_version is greater than max_version".into());
    }

    // otelcol loads `ca_file` / `ca_pem` into the server's RootCAs, which a TLS server never
    // uses: a bad file still fails the start, a good one changes nothing. Same here, and we say
    // so, since client certificates are verified only with `client_ca_file`.
    if !tls.ca_file.is_empty() || !tls.ca_pem.is_empty() {
        let ca = pem_source(&tls.ca_file, tls.ca_pem.expose(), "CA")?;
        certs(&ca, "CA certificate")?;
        tracing::warn!(
            "tls::ca_file / ca_pem has no effect on a server (as in otelcol); client certificates are verified with client_ca_file"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("failed to load TLS config: {e}"))?;
    let builder = if tls.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let ca = pem_source(&tls.client_ca_file, "", "client CA")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(&ca, "client CA")? {
            roots
                .add(c)
                .map_err(|e| format!("failed to load TLS config: invalid client CA: {e}"))?;
        }
        // otelcol uses tls.RequireAndVerifyClientCert when client_ca_file is set.
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("failed to load TLS config: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("failed to load TLS config: {e}"))?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}
