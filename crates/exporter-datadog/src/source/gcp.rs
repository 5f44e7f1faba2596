//! `gcp`: on Compute Engine or GKE, `<instance name>.<project id>` from the GCE metadata
//! server. The platform is Google's detector's: GKE wherever `KUBERNETES_SERVICE_HOST` is set
//! (so on any Kubernetes, where the metadata server then does not answer off GCP), Cloud Run,
//! Cloud Functions and App Engine by their variables, GCE when the metadata server answers.

use super::{Found, Source, Sources};
use kakehashi_cloud_metadata::gce::{self, Gce};
use tokio::time::Instant;

fn client(src: &Sources, deadline: Option<Instant>) -> Result<Gce, String> {
    Gce::new(gce::host(&*src.env, &src.gce_default_host), deadline)
}

/// The platform when it is one without an instance of its own (Google's detector's order).
fn serverless_platform(src: &Sources) -> Option<&'static str> {
    let set = |k: &str| (src.env)(k).is_some();
    if set("KUBERNETES_SERVICE_HOST") {
        None
    } else if set("K_CONFIGURATION") {
        Some("Cloud Run")
    } else if set("FUNCTION_TARGET") {
        Some("Cloud Functions")
    } else if (src.env)("GAE_ENV").as_deref() == Some("standard") {
        Some("App Engine standard")
    } else if set("GAE_SERVICE") {
        Some("App Engine flexible")
    } else {
        None
    }
}

pub(super) async fn source(src: &Sources, deadline: Option<Instant>) -> Found {
    if let Some(platform) = serverless_platform(src) {
        return Err(format!("not on GCE or GKE (platform: {platform})"));
    }
    let md = client(src, deadline)?;
    let on_gke = (src.env)("KUBERNETES_SERVICE_HOST").is_some();
    if !on_gke && md.get("instance/machine-type").await.is_err() {
        return Err("not on GCE or GKE (platform: unknown)".into());
    }
    let name = md
        .trimmed("instance/name")
        .await
        .map_err(|e| format!("failed to get instance name: {e}"))?;
    let project = md
        .trimmed("project/project-id")
        .await
        .map_err(|e| format!("failed to get project ID: {e}"))?;
    Ok(Source::Host(format!("{}.{project}", short_name(&name))))
}

/// An instance name with three dots or more is cut at its first (Go's rule).
fn short_name(name: &str) -> &str {
    if name.matches('.').count() >= 3 {
        name.split('.').next().unwrap_or(name)
    } else {
        name
    }
}

/// The GKE cluster name (`instance/attributes/cluster-name`), for the `kubernetes` provider.
pub(super) async fn cluster_name(
    src: &Sources,
    deadline: Option<Instant>,
) -> Result<String, String> {
    client(src, deadline)?
        .trimmed("instance/attributes/cluster-name")
        .await
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn long_instance_names_are_cut_at_the_first_dot() {
        assert_eq!(short_name("vm-1"), "vm-1");
        assert_eq!(short_name("vm-1.c.project"), "vm-1.c.project");
        assert_eq!(short_name("vm-1.c.project.internal"), "vm-1");
    }
}
