//! Authentication: otelcol's `extensionauth` interfaces, implemented by extensions
//! (`bearertokenauth`) and used by receivers (`auth::authenticator` on a server) and exporters
//! (`auth::authenticator` on a client), and [`Extensions`], the lookup a component gets at build
//! time.

use crate::error::BuildError;
use crate::factory::Extension;
use kakehashi_config::ComponentId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// otelcol's `extensionauth.Server`: decides whether an incoming request may enter the pipeline.
pub trait ServerAuthenticator: Send + Sync {
    /// `headers` are the HTTP request headers or the gRPC metadata (names are case-insensitive).
    /// An `Err` rejects the request (gRPC `UNAUTHENTICATED`, HTTP 401) with that message, which is
    /// sent to the client and so must never contain a credential, expected or presented.
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), String>;
}

/// otelcol's `extensionauth.HTTPClient` / `GRPCClient`: what to add to every outgoing request.
pub trait ClientAuthenticator: Send + Sync {
    /// Headers (gRPC metadata) to set on the next request; read again for every request so a
    /// credential reloaded from a file is picked up.
    fn headers(&self) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String>;
}

/// `auth:` in a gRPC server or a client config (`configauth.Config`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of an authenticator extension, e.g. `bearertokenauth/clients`.
    pub authenticator: String,
}

/// The extensions enabled in `service::extensions`, built before every other component so that
/// receivers and exporters can reach their authenticators.
#[derive(Clone, Default)]
pub struct Extensions(Arc<BTreeMap<ComponentId, Arc<dyn Extension>>>);

impl Extensions {
    pub fn new(map: BTreeMap<ComponentId, Arc<dyn Extension>>) -> Self {
        Extensions(Arc::new(map))
    }

    fn find(&self, name: &str) -> Result<&Arc<dyn Extension>, BuildError> {
        ComponentId::parse(name)
            .ok()
            .and_then(|id| self.0.get(&id))
            .ok_or_else(|| {
                BuildError(format!(
                    "failed to resolve authenticator {name:?}: authenticator not found"
                ))
            })
    }

    /// The server authenticator `name` refers to (otelcol's `GetServerAuthenticator` errors).
    pub fn server_authenticator(
        &self,
        name: &str,
    ) -> Result<Arc<dyn ServerAuthenticator>, BuildError> {
        self.find(name)?
            .clone()
            .server_authenticator()
            .ok_or_else(|| {
                BuildError(format!(
                    "failed to resolve authenticator {name:?}: requested authenticator is not a server authenticator"
                ))
            })
    }

    /// The client authenticator `name` refers to.
    pub fn client_authenticator(
        &self,
        name: &str,
    ) -> Result<Arc<dyn ClientAuthenticator>, BuildError> {
        self.find(name)?
            .clone()
            .client_authenticator()
            .ok_or_else(|| {
                BuildError(format!(
                    "failed to resolve authenticator {name:?}: requested authenticator is not a client authenticator"
                ))
            })
    }
}
