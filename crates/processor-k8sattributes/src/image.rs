//! Container image references as otelcol reads them, with the grammar of
//! `github.com/distribution/reference`: `reference.Parse` for a container's image (the name as
//! written, `latest` when untagged) and `ParseAnyReference` (normalised: `docker.io/library/…`)
//! for the repo digest of a running container's image id.

use regex::Regex;
use std::sync::LazyLock;

/// distribution/reference's `ReferenceRegexp`: name, tag, digest.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[(?:[a-fA-F0-9:]+)\])");
    let name = format!(r"(?:{host}(?::[0-9]+)?/)?{path_component}(?:/{path_component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(r"^({name})(?::({tag}))?(?:@({digest}))?$")).expect("valid")
});

/// A parsed reference: the name as written, the tag and the digest if present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// go-digest's `Validate`: a known algorithm and its exact lowercase hex length.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `reference.Parse`: `None` where it returns an error (bad grammar, uppercase in the path, a
/// name over 255 characters, an invalid digest).
pub fn parse(s: &str) -> Option<Reference> {
    let caps = REFERENCE.captures(s)?;
    let name = caps.get(1)?.as_str();
    if name.len() > 255 {
        return None;
    }
    let digest = caps.get(3).map(|m| m.as_str().to_string());
    if digest.as_deref().is_some_and(|d| !valid_digest(d)) {
        return None;
    }
    Some(Reference {
        name: name.to_string(),
        tag: caps.get(2).map(|m| m.as_str().to_string()),
        digest,
    })
}

/// otelcol's `ParseImageName`: the repository as written and the tag (`latest` if none).
pub fn name_and_tag(image: &str) -> Option<(String, String)> {
    let r = parse(image)?;
    Some((r.name, r.tag.unwrap_or_else(|| "latest".into())))
}

/// `service.version` from an image: `tag@digest`, the digest, or the tag.
pub fn service_version(image: &str) -> Option<String> {
    let r = parse(image)?;
    match (r.tag, r.digest) {
        (Some(t), Some(d)) => Some(format!("{t}@{d}")),
        (None, Some(d)) => Some(d),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

/// otelcol's `CanonicalImageRef`: the image id normalised as `ParseNormalizedNamed` does
/// (`docker.io`, `library/` for official images), if it carries a digest; `None` otherwise —
/// also for the `docker-pullable://` ids of the old dockershim, which distribution cannot parse.
pub fn canonical(image_id: &str) -> Option<String> {
    let (first, rest) = match image_id.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", image_id.to_string()),
    };
    let domain = if first == "index.docker.io" {
        "docker.io"
    } else {
        first
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    let r = parse(&format!("{domain}/{rest}"))?;
    let digest = r.digest?;
    Some(match r.tag {
        Some(t) => format!("{}:{t}@{digest}", r.name),
        None => format!("{}@{digest}", r.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_and_tags_as_written() {
        fn nt(s: &str) -> Option<String> {
            name_and_tag(s).map(|(n, t)| format!("{n} {t}"))
        }
        assert_eq!(nt("nginx").as_deref(), Some("nginx latest"));
        assert_eq!(nt("nginx:1.27").as_deref(), Some("nginx 1.27"));
        assert_eq!(
            nt("localhost:5000/a/b:v1").as_deref(),
            Some("localhost:5000/a/b v1")
        );
        assert_eq!(
            nt(&format!("quay.io/x/y:1@{D}")).as_deref(),
            Some("quay.io/x/y 1")
        );
        // A domain may have capitals; a path may not.
        assert_eq!(
            nt("Registry.Example.com/app").as_deref(),
            Some("Registry.Example.com/app latest")
        );
        assert_eq!(nt("Upper"), None);
        assert_eq!(nt("shop/App:1"), None);
        // Digests must be valid: algorithm and length.
        assert_eq!(nt("quay.io/x/y:1@sha256:ab"), None);
        assert_eq!(
            nt(&format!("x@{}", D.to_uppercase().replace("SHA", "sha"))),
            None
        );
        assert_eq!(nt(""), None);
        assert_eq!(nt("a b"), None);
        assert_eq!(nt(&format!("{}:1", "a".repeat(256))), None);
    }

    #[test]
    fn service_versions() {
        assert_eq!(service_version("shop/app:1.2").as_deref(), Some("1.2"));
        assert_eq!(
            service_version(&format!("shop/app:1.2@{D}")),
            Some(format!("1.2@{D}"))
        );
        assert_eq!(service_version(&format!("shop/app@{D}")), Some(D.into()));
        assert_eq!(service_version("shop/app"), None);
    }

    #[test]
    fn repo_digests_are_normalised() {
        assert_eq!(
            canonical(&format!("nginx@{D}")),
            Some(format!("docker.io/library/nginx@{D}"))
        );
        assert_eq!(
            canonical(&format!("index.docker.io/grafana/tempo@{D}")),
            Some(format!("docker.io/grafana/tempo@{D}"))
        );
        assert_eq!(
            canonical(&format!("registry.example.com:5000/shop/checkout@{D}")),
            Some(format!("registry.example.com:5000/shop/checkout@{D}"))
        );
        assert_eq!(canonical(&format!("docker-pullable://nginx@{D}")), None);
        assert_eq!(canonical("nginx:1.27"), None, "no digest");
        assert_eq!(canonical(""), None);
    }
}
