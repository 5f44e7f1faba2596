//! CORS as confighttp configures `rs/cors`: credentials allowed, origins with one `*` wildcard,
//! default allowed headers `Accept`, `Content-Type`, `X-Requested-With` (plus `Origin`).

use crate::config::CorsConfig;
use http::header::{self, HeaderMap, HeaderValue};
use http::Method;

pub struct Cors {
    /// Lowercased origin patterns split at their `*` (prefix, optional suffix).
    origins: Vec<(String, Option<String>)>,
    allowed_headers: Vec<String>,
    exposed_headers: String,
    max_age: i64,
}

impl Cors {
    /// `None` when no origin is allowed: CORS is then disabled entirely.
    pub fn new(cfg: &CorsConfig) -> Option<Cors> {
        if cfg.allowed_origins.is_empty() {
            return None;
        }
        let origins = cfg
            .allowed_origins
            .iter()
            .map(|o| {
                let o = o.to_ascii_lowercase();
                match o.split_once('*') {
                    Some((p, s)) => (p.to_owned(), Some(s.to_owned())),
                    None => (o, None),
                }
            })
            .collect();
        let mut allowed_headers: Vec<String> = if cfg.allowed_headers.is_empty() {
            vec![
                "accept".into(),
                "content-type".into(),
                "x-requested-with".into(),
            ]
        } else {
            cfg.allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect()
        };
        allowed_headers.push("origin".into());
        Some(Cors {
            origins,
            allowed_headers,
            exposed_headers: cfg.exposed_headers.join(", "),
            max_age: cfg.max_age,
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|(p, s)| match s {
            None => *p == origin,
            Some(s) => {
                origin.len() >= p.len() + s.len()
                    && origin.starts_with(p.as_str())
                    && origin.ends_with(s.as_str())
            }
        })
    }

    fn headers_allowed(&self, requested: &str) -> bool {
        if self.allowed_headers.iter().any(|h| h == "*") {
            return true;
        }
        requested
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| self.allowed_headers.contains(&h))
    }

    /// Is this a preflight request (answered by CORS alone, never routed)?
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// Headers for a preflight answer (204 in any case; no CORS headers if not allowed).
    pub fn preflight(&self, req: &HeaderMap, out: &mut HeaderMap) {
        out.append(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        let origin = req
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let method = req
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_uppercase();
        let req_headers = req
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !self.origin_allowed(origin)
            || !matches!(method.as_str(), "GET" | "POST" | "HEAD")
            || !self.headers_allowed(req_headers)
        {
            return;
        }
        let set = |out: &mut HeaderMap, k, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                out.insert(k, v);
            }
        };
        set(out, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(out, header::ACCESS_CONTROL_ALLOW_METHODS, &method);
        if !req_headers.is_empty() {
            set(out, header::ACCESS_CONTROL_ALLOW_HEADERS, req_headers);
        }
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if self.max_age > 0 {
            set(
                out,
                header::ACCESS_CONTROL_MAX_AGE,
                &self.max_age.to_string(),
            );
        }
    }

    /// Headers added to an actual (non-preflight) cross-origin response.
    pub fn actual(&self, req: &HeaderMap, out: &mut HeaderMap) {
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = req.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return;
        };
        if !self.origin_allowed(origin) {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(origin) {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.exposed_headers) {
            if !self.exposed_headers.is_empty() {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins() {
        let c = Cors::new(&CorsConfig {
            allowed_origins: vec!["https://*.x.com".into(), "http://exact.org".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(c.origin_allowed("https://a.x.com"));
        assert!(c.origin_allowed("HTTP://EXACT.ORG"));
        assert!(!c.origin_allowed("https://x.com"));
        assert!(!c.origin_allowed("http://a.x.com"));
        assert!(c.headers_allowed("Content-Type, accept"));
        assert!(!c.headers_allowed("X-Custom"));
        assert!(Cors::new(&CorsConfig::default()).is_none());
    }
}
