//! The running `otlp` exporter: one lazily connected tonic channel, one call per export.

use super::config::{GrpcCompression, OtlpGrpcConfig};
use super::endpoint;
use super::status::map_status;
use crate::partial_success::{self, Rejected};
use crate::tls::NoVerify;
use kakehashi_component::{Batch, BuildError, ClientAuthenticator, ExportError, Exporter};
use kakehashi_pdata::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use kakehashi_pdata::proto::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use kakehashi_pdata::Payload;
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub struct OtlpGrpcExporter {
    channel: Channel,
    /// Config headers, ready to copy into each request. Never logged (they hold secrets).
    headers: MetadataMap,
    compression: Option<CompressionEncoding>,
    /// Sent as `grpc-timeout` so the server sees the same deadline as the runner's timeout.
    timeout: Option<Duration>,
    /// `auth::authenticator`: its headers are added to every call.
    auth: Option<Arc<dyn ClientAuthenticator>>,
    tls: bool,
}

impl OtlpGrpcExporter {
    /// Builds the channel without connecting: a backend that is down must not fail the start.
    /// Must run inside a tokio runtime (tonic spawns the connection task).
    pub fn new(cfg: &OtlpGrpcConfig) -> Result<Self, BuildError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError(
                "the otlp exporter must be built inside a tokio runtime".into(),
            ));
        }
        let target = endpoint::parse(&cfg.endpoint, &cfg.tls)?;
        let mut ep = Endpoint::from_shared(target.uri())
            .map_err(|e| BuildError(format!("invalid endpoint {:?}: {e}", cfg.endpoint)))?
            .user_agent(crate::USER_AGENT)
            .map_err(|e| BuildError(e.to_string()))?;
        if !cfg.authority.is_empty() {
            let scheme = if target.tls { "https" } else { "http" };
            let origin = format!("{scheme}://{}", cfg.authority)
                .parse()
                .map_err(|e| BuildError(format!("invalid authority {:?}: {e}", cfg.authority)))?;
            ep = ep.origin(origin);
        }
        if let Some(ka) = cfg.keepalive.as_ref() {
            if !ka.time.is_zero() {
                ep = ep.http2_keep_alive_interval(ka.time.get());
            }
            if !ka.timeout.is_zero() {
                ep = ep.keep_alive_timeout(ka.timeout.get());
            }
            ep = ep.keep_alive_while_idle(ka.permit_without_stream);
        }
        if target.tls && cfg.tls.insecure && !cfg.tls.has_ca() {
            // `https://` with `insecure` and no CA: configgrpc dials with an empty tls.Config
            // (system roots, verified, none of the other TLS settings).
            ep = ep
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| BuildError(format!("failed to load TLS config: {e}")))?;
        } else if target.tls {
            ep = with_tls(ep, cfg)?;
        }
        let compression = match cfg.compression()? {
            GrpcCompression::None => None,
            GrpcCompression::Gzip => Some(CompressionEncoding::Gzip),
            GrpcCompression::Zstd => Some(CompressionEncoding::Zstd),
        };
        let mut headers = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| BuildError(format!("headers: invalid header name {k:?}")))?;
            // The value is a secret: the error names the header, never the value.
            let value = AsciiMetadataValue::try_from(v.expose())
                .map_err(|_| BuildError(format!("headers: invalid value for header {k:?}")))?;
            headers.insert(key, value);
        }
        Ok(OtlpGrpcExporter {
            channel: ep.connect_lazy(),
            headers,
            compression,
            timeout: (!cfg.timeout.is_zero()).then(|| cfg.timeout.get()),
            auth: None,
            tls: target.tls,
        })
    }

    /// Adds `auth::authenticator`. Like grpc-go's per-RPC credentials (which otelcol uses), the
    /// credentials are never sent over a plaintext connection: that is a build error here.
    pub fn with_authenticator(
        mut self,
        auth: Arc<dyn ClientAuthenticator>,
    ) -> Result<Self, BuildError> {
        if !self.tls {
            return Err(BuildError(
                "auth: the authenticator's credentials require transport level security; configure TLS (not tls::insecure) on this exporter".into(),
            ));
        }
        self.auth = Some(auth);
        Ok(self)
    }

    fn request<T>(&self, msg: T) -> Result<tonic::Request<T>, ExportError> {
        let mut req = tonic::Request::new(msg);
        *req.metadata_mut() = self.headers.clone();
        if let Some(auth) = &self.auth {
            // A missing credential will not appear by retrying the same request soon; the runner's
            // retry policy still applies to the batch.
            for (name, value) in auth.headers().map_err(ExportError::permanent)? {
                let key = AsciiMetadataKey::from_bytes(name.as_str().as_bytes()).map_err(|_| {
                    ExportError::permanent(format!("auth: invalid header name {name}"))
                })?;
                let value = AsciiMetadataValue::try_from(value.as_bytes()).map_err(|_| {
                    ExportError::permanent(format!("auth: invalid value for header {name}"))
                })?;
                req.metadata_mut().insert(key, value);
            }
        }
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        Ok(req)
    }
}

fn with_tls(ep: Endpoint, cfg: &OtlpGrpcConfig) -> Result<Endpoint, BuildError> {
    let material = cfg.tls.load()?;
    let mut tls = ClientTlsConfig::new();
    // The name the server certificate must carry: `server_name_override`, else the host of
    // `authority` (grpc-go's TLS handshake uses the connection's authority), else the
    // endpoint's host (tonic's default).
    let authority_host = cfg
        .authority
        .rsplit_once(':')
        .map_or(cfg.authority.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    if !cfg.tls.server_name_override.is_empty() {
        tls = tls.domain_name(cfg.tls.server_name_override.clone());
    } else if !authority_host.is_empty() {
        tls = tls.domain_name(authority_host.to_owned());
    }
    if let Some((cert, key)) = material.identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let res = if cfg.tls.insecure_skip_verify {
        // A custom verifier must not be mixed with root stores (tonic rejects that).
        ep.tls_config_with_verifier(tls, Arc::new(NoVerify::new()))
    } else {
        tls = match material.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
            None => tls.with_native_roots(),
        };
        ep.tls_config(tls)
    };
    res.map_err(|e| BuildError(format!("failed to load TLS config: {e}")))
}

#[async_trait::async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        let gzip = CompressionEncoding::Gzip;
        match batch.payload.as_ref() {
            Payload::Traces(r) => {
                let mut c = TraceServiceClient::new(self.channel.clone())
                    .accept_compressed(gzip)
                    .max_decoding_message_size(usize::MAX);
                if let Some(enc) = self.compression {
                    c = c.send_compressed(enc);
                }
                let resp = c
                    .export(self.request(r.clone())?)
                    .await
                    .map_err(|s| map_status(&s))?;
                if let Some(p) = resp.into_inner().partial_success {
                    partial_success::log(Rejected::Spans, p.rejected_spans, &p.error_message);
                }
            }
            Payload::Metrics(r) => {
                let mut c = MetricsServiceClient::new(self.channel.clone())
                    .accept_compressed(gzip)
                    .max_decoding_message_size(usize::MAX);
                if let Some(enc) = self.compression {
                    c = c.send_compressed(enc);
                }
                let resp = c
                    .export(self.request(r.clone())?)
                    .await
                    .map_err(|s| map_status(&s))?;
                if let Some(p) = resp.into_inner().partial_success {
                    partial_success::log(
                        Rejected::DataPoints,
                        p.rejected_data_points,
                        &p.error_message,
                    );
                }
            }
            Payload::Logs(r) => {
                let mut c = LogsServiceClient::new(self.channel.clone())
                    .accept_compressed(gzip)
                    .max_decoding_message_size(usize::MAX);
                if let Some(enc) = self.compression {
                    c = c.send_compressed(enc);
                }
                let resp = c
                    .export(self.request(r.clone())?)
                    .await
                    .map_err(|s| map_status(&s))?;
                if let Some(p) = resp.into_inner().partial_success {
                    partial_success::log(
                        Rejected::LogRecords,
                        p.rejected_log_records,
                        &p.error_message,
                    );
                }
            }
        }
        Ok(())
    }
}
