//! The `bearertokenauth` extension (otelcol-contrib's `bearertokenauthextension`): a server
//! authenticator for receivers (`auth::authenticator`) that accepts a request only when its
//! `header` is `<scheme> <token>` for one of the configured tokens, and a client authenticator
//! for exporters that sets that header on every request.
//!
//! Tokens come from `token`, `tokens` or `filename` (one token per line; the file wins, as in
//! otelcol). The file is read at start and polled for changes, so a rotated Kubernetes secret is
//! picked up without a restart. Tokens are [`Secret`]s: never logged, printed or echoed in an
//! error, and compared in constant time.

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, ClientAuthenticator, Extension,
    ExtensionFactory, FactoryInfo, ServerAuthenticator, Signal,
};
use kakehashi_config::{AnyValue, ConfigErrors, Node, Secret, Validate};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// How often `filename` is checked for a new version.
const FILE_POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenAuthConfig {
    /// Prefix of the header value, followed by a space; empty sends the bare token.
    pub scheme: String,
    pub token: Secret,
    pub tokens: Vec<Secret>,
    /// A file with one token per line; takes precedence over `token` / `tokens`.
    pub filename: String,
    pub header: String,
    /// otelcol's startup retry for a missing `filename`; not supported.
    pub file_retry: Option<AnyValue>,
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        BearerTokenAuthConfig {
            scheme: "Bearer".into(),
            token: Secret::default(),
            tokens: Vec::new(),
            filename: String::new(),
            header: "Authorization".into(),
            file_retry: None,
        }
    }
}

impl Validate for BearerTokenAuthConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.token.is_empty() && self.tokens.is_empty() && self.filename.is_empty() {
            errs.push("no bearer token provided".into());
        }
        if !self.token.is_empty() && !self.tokens.is_empty() {
            errs.push("either tokens or token should be specified, not both".into());
        }
        if HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            errs.push(format!(
                "header: {:?} is not a valid header name",
                self.header
            ));
        }
        let inline = std::iter::once(&self.token).chain(&self.tokens);
        if inline
            .clone()
            .any(|t| header_value(&self.scheme, t).is_none())
        {
            // Which token, or why, is not said: the message would carry part of the secret.
            errs.push("token: contains characters that are not allowed in a header value".into());
        }
        if self.file_retry.is_some() {
            errs.push("file_retry is not supported yet".into());
        }
        errs
    }
}

/// `<scheme> <token>` (or the bare token without a scheme) as a header value, or None when it
/// cannot be one (control characters). An empty token is allowed here: it means "not set".
fn header_value(scheme: &str, token: &Secret) -> Option<Secret> {
    let v = if scheme.is_empty() {
        token.expose().to_owned()
    } else {
        format!("{scheme} {}", token.expose())
    };
    HeaderValue::from_str(&v).ok().map(|_| Secret::new(v))
}

pub struct BearerTokenAuthExtensionFactory;

impl FactoryInfo for BearerTokenAuthExtensionFactory {
    fn type_name(&self) -> &'static str {
        "bearertokenauth"
    }
    fn signals(&self) -> &'static [Signal] {
        &[]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<BearerTokenAuthConfig>(node, path)
    }
}

impl ExtensionFactory for BearerTokenAuthExtensionFactory {
    fn build(&self, ctx: &BuildContext, cfg: &AnyConfig) -> Result<Arc<dyn Extension>, BuildError> {
        let cfg = config_as::<BearerTokenAuthConfig>(cfg);
        Ok(Arc::new(BearerTokenAuth::new(&ctx.id.to_string(), cfg)?))
    }
}

/// One `bearertokenauth` instance, shared by every receiver and exporter that names it.
pub struct BearerTokenAuth {
    id: String,
    header: HeaderName,
    scheme: String,
    filename: Option<PathBuf>,
    /// The accepted header values (`Bearer <token>`); the first is what clients send.
    values: Arc<RwLock<Arc<Vec<Secret>>>>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl BearerTokenAuth {
    pub fn new(id: &str, cfg: &BearerTokenAuthConfig) -> Result<Self, BuildError> {
        let header = HeaderName::from_bytes(cfg.header.as_bytes())
            .map_err(|_| BuildError(format!("invalid header name {:?}", cfg.header)))?;
        // contrib: `tokens` win over `filename` (the file is not read then); a single `token`
        // loses to it.
        let filename = (cfg.tokens.is_empty() && !cfg.filename.is_empty())
            .then(|| PathBuf::from(&cfg.filename));
        let inline: Vec<&Secret> = if cfg.tokens.is_empty() {
            vec![&cfg.token]
        } else {
            cfg.tokens.iter().collect()
        };
        if filename.is_some() && inline.iter().any(|t| !t.is_empty()) {
            tracing::warn!(extension = %id, "A filename is specified; the configured token(s) are ignored.");
        }
        let values = if filename.is_some() {
            Vec::new() // read at start
        } else {
            inline
                .into_iter()
                .map(|t| header_value(&cfg.scheme, t))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| BuildError("token: not a valid header value".into()))?
        };
        Ok(BearerTokenAuth {
            id: id.to_owned(),
            header,
            scheme: cfg.scheme.clone(),
            filename,
            values: Arc::new(RwLock::new(Arc::new(values))),
            poller: Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<Vec<Secret>> {
        self.values.read().expect("token lock").clone()
    }
}

/// Reads `path`: one token per line, surrounding whitespace trimmed, blank lines skipped (otelcol
/// keeps them, which would accept a bare `Bearer `).
fn read_token_file(path: &Path, scheme: &str) -> Result<Vec<Secret>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read token file {}: {e}", path.display()))?;
    let values: Option<Vec<Secret>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| header_value(scheme, &Secret::new(l)))
        .collect();
    match values {
        None => Err(format!(
            "token file {}: a token contains characters that are not allowed in a header value",
            path.display()
        )),
        Some(v) if v.is_empty() => Err(format!("token file {} has no token", path.display())),
        Some(v) => Ok(v),
    }
}

/// What identifies a version of the token file (a Kubernetes secret update swaps a symlink,
/// which changes the target's mtime too).
fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[async_trait]
impl Extension for BearerTokenAuth {
    async fn start(&self) -> Result<(), BuildError> {
        let Some(path) = self.filename.clone() else {
            return Ok(());
        };
        let mut stamp = file_stamp(&path);
        *self.values.write().expect("token lock") =
            Arc::new(read_token_file(&path, &self.scheme).map_err(BuildError)?);
        let (values, scheme, id) = (self.values.clone(), self.scheme.clone(), self.id.clone());
        let poller = tokio::spawn(async move {
            let mut tick = tokio::time::interval(FILE_POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = file_stamp(&path);
                if now == stamp {
                    continue;
                }
                stamp = now;
                match read_token_file(&path, &scheme) {
                    Ok(v) => {
                        *values.write().expect("token lock") = Arc::new(v);
                        tracing::info!(extension = %id, filename = %path.display(), "Reloaded bearer token file.");
                    }
                    Err(error) => {
                        tracing::warn!(extension = %id, %error, "Cannot reload the bearer token file; keeping the previous tokens.");
                    }
                }
            }
        });
        *self.poller.lock().expect("poller lock") = Some(poller);
        Ok(())
    }

    async fn shutdown(&self) {
        if let Some(p) = self.poller.lock().expect("poller lock").take() {
            p.abort();
        }
    }

    fn server_authenticator(self: Arc<Self>) -> Option<Arc<dyn ServerAuthenticator>> {
        Some(self)
    }

    fn client_authenticator(self: Arc<Self>) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self)
    }
}

impl ServerAuthenticator for BearerTokenAuth {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let presented = headers
            .get(&self.header)
            .map(HeaderValue::as_bytes)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing or empty authorization header: {}", self.header))?;
        // Every expected value is compared (no early exit), each in constant time.
        let matched = self
            .current()
            .iter()
            .fold(subtle::Choice::from(0), |acc, expected| {
                acc | expected.expose().as_bytes().ct_eq(presented)
            });
        if bool::from(matched) {
            Ok(())
        } else {
            // otelcol echoes the presented value; a mistyped real token would end up in logs.
            Err("provided authorization does not match expected scheme or token".into())
        }
    }
}

impl ClientAuthenticator for BearerTokenAuth {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let values = self.current();
        let first = values
            .first()
            .ok_or_else(|| format!("{}: no bearer token available", self.id))?;
        let mut v = HeaderValue::from_str(first.expose())
            .map_err(|_| format!("{}: token is not a valid header value", self.id))?;
        v.set_sensitive(true);
        Ok(vec![(self.header.clone(), v)])
    }
}

#[cfg(test)]
mod tests;
