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

/// otelcol semantics: TLS is on unless `tls.insecure` without a CA; `https://` forces it, and
/// `http://` does *not* turn it off. The port is required, as configgrpc requires it.
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
    // configtls: plaintext only with `insecure` and no CA (`LoadTLSConfig` returns no TLS
    // config only for `insecure && !hasCA()`).
    let tls_on = force_tls || !tls.insecure || tls.has_ca();
    // configgrpc's Validate: `net.SplitHostPort` on the endpoint, then a numeric port.
    let Some((host, port)) = authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty() && (!h.contains(':') || h.ends_with(']')))
    else {
        return Err(format!("address {authority}: missing port in address"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("invalid port {port:?}"));
    }
    let authority = format!("{host}:{port}");
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

    #[test]
    fn insecure_with_a_ca_still_dials_tls() {
        let with_ca = TlsClientSettings {
            insecure: true,
            ca_file: "/etc/ca.pem".into(),
            ..Default::default()
        };
        assert!(parse("collector:4317", &with_ca).unwrap().tls);
        assert!(!parse("collector:4317", &tls(true)).unwrap().tls);
    }

    #[test]
    fn the_port_is_required() {
        assert_eq!(
            parse("collector", &tls(true)).unwrap_err(),
            "address collector: missing port in address"
        );
        assert_eq!(
            parse("https://collector/", &tls(true)).unwrap_err(),
            "address collector: missing port in address"
        );
        assert_eq!(
            parse("collector:otlp", &tls(true)).unwrap_err(),
            r#"invalid port "otlp""#
        );
        assert!(parse("[::1]", &tls(true)).is_err());
        assert_eq!(
            parse("[::1]:4317", &tls(true)).unwrap().authority,
            "[::1]:4317"
        );
    }
}
