//! Turning otelcol's gRPC `endpoint` (`host:port`, `dns:///host:port`, `http://…`, `https://…`)
//! into the URI tonic dials.

use crate::tls::TlsClientSettings;

/// Where to connect and whether to use TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`
    pub authority: String,
    pub tls: bool,
}

impl Target {
    /// tonic only does TLS for `https` URIs, so the scheme carries our TLS decision.
    pub fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// otelcol semantics: TLS is on unless `tls.insecure`; `https://` forces it, and `http://`
/// does *not* turn it off.
pub fn parse(endpoint: &str, tls: &TlsClientSettings) -> Result<Target, String> {
    let ep = endpoint.trim();
    let (rest, force_tls) = if let Some(r) = ep.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = ep.strip_prefix("http://") {
        (r, false)
    } else if let Some(r) = ep.strip_prefix("dns:") {
        // dns:///host:port or dns://resolver/host:port: the resolver is not configurable here.
        let r = r.trim_start_matches('/');
        let r = match r.split_once('/') {
            Some((_, host)) if ep.starts_with("dns://") && !ep.starts_with("dns:///") => host,
            _ => r,
        };
        (r, false)
    } else if ep.starts_with("unix:") {
        return Err(format!(
            "endpoint {ep:?}: unix sockets are not supported yet"
        ));
    } else {
        (ep, false)
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("invalid endpoint {ep:?}: expected host:port"));
    }
    // tonic needs a port; gRPC's default is 443 with TLS and 80 without.
    let tls_on = force_tls || !tls.insecure;
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':')
    });
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls_on { 443 } else { 80 })
    };
    http::Uri::try_from(format!("http://{authority}"))
        .map_err(|e| format!("invalid endpoint {ep:?}: {e}"))?;
    Ok(Target {
        authority,
        tls: tls_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(insecure: bool) -> TlsClientSettings {
        TlsClientSettings {
            insecure,
            ..Default::default()
        }
    }

    #[test]
    fn schemes() {
        let t = parse("localhost:4317", &tls(false)).unwrap();
        assert_eq!(t.uri(), "https://localhost:4317");
        let t = parse("http://localhost:4317", &tls(false)).unwrap();
        assert!(t.tls, "http:// does not disable TLS");
        let t = parse("https://localhost:4317", &tls(true)).unwrap();
        assert!(t.tls, "https:// forces TLS");
        let t = parse("dns:///collector:4317", &tls(true)).unwrap();
        assert_eq!(t.uri(), "http://collector:4317");
        let t = parse("dns://8.8.8.8/collector:4317", &tls(true)).unwrap();
        assert_eq!(t.authority, "collector:4317");
        let t = parse("[::1]:4317", &tls(true)).unwrap();
        assert_eq!(t.authority, "[::1]:4317");
        assert!(parse("unix:///tmp/s", &tls(true)).is_err());
    }
}
