//! Proxies from the environment, as Go's `http.ProxyFromEnvironment` applies them: never to
//! loopback. reqwest reads `HTTP_PROXY` / `HTTPS_PROXY` / `ALL_PROXY` and would send a request
//! to `http://localhost:4318` (a sidecar, the local intake) through the proxy unless `NO_PROXY`
//! names it; otelcol talks to loopback directly whatever the environment says.

/// Whether `url`'s host is loopback: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let d = bare.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

/// `b` without the environment's proxies when every URL it will be used for is loopback. (A
/// configured `proxy_url` is applied after this, as Go's `ProxyURL`, to every request.)
pub fn direct_to_loopback(b: reqwest::ClientBuilder, urls: &[&str]) -> reqwest::ClientBuilder {
    if !urls.is_empty() && urls.iter().all(|u| is_loopback(u)) {
        b.no_proxy()
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for u in [
            "http://localhost:4318",
            "http://LOCALHOST.:4318/v1/traces",
            "http://127.0.0.1:8126",
            "http://127.5.0.1",
            "http://[::1]:4318",
            "http://app.localhost",
        ] {
            assert!(is_loopback(u), "{u}");
        }
        for u in [
            "https://trace.agent.datadoghq.com",
            "http://10.0.0.1:4318",
            "http://[::]:4318",
            "http://localhost.example.com",
            "not a url",
        ] {
            assert!(!is_loopback(u), "{u}");
        }
    }
}
