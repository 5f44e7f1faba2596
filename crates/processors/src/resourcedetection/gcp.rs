//! The `gcp` detector: the platform (GKE, Cloud Functions, Cloud Run and its jobs, App Engine,
//! Compute Engine, Bare Metal Solution) and its attributes, from the environment and the GCE
//! metadata server, as otelcol's detector finds them through Google's detector library.
//!
//! On GCP: `GCE_METADATA_HOST` is set (it also moves the metadata server), or
//! `http://169.254.169.254` answers with `Metadata-Flavor: Google` (Google's client also
//! resolves `metadata.google.internal`; kakehashi asks the address only). Off GCP nothing is
//! found. An attribute whose metadata cannot be read is left out and logged, the others kept;
//! with `fail_on_missing_metadata` the detection fails instead (current otelcol).

use super::config::{GcpConfig, GCP_ATTRIBUTES};
use super::detected::{Attributes, Detected};
use super::Sources;
use kakehashi_cloud_metadata::gce::{self, Gce};
use tokio::time::Instant;

fn last_segment(s: &str) -> String {
    s.rsplit('/').next().unwrap_or_default().to_string()
}

#[derive(Debug, PartialEq)]
enum Platform {
    Gke,
    CloudFunctions,
    CloudRun,
    CloudRunJob,
    AppEngineStandard,
    AppEngineFlex,
    Gce,
    Unknown,
}

/// Whether a metadata server answers as Google's does.
async fn on_gce(src: &Sources, deadline: Option<Instant>) -> Result<bool, String> {
    if (src.env)("GCE_METADATA_HOST").is_some_and(|h| !h.is_empty()) {
        return Ok(true);
    }
    Ok(Gce::new(src.gcp_metadata_host.clone(), deadline)?
        .answers()
        .await)
}

pub(crate) async fn detect(
    cfg: &GcpConfig,
    fail_on_missing: bool,
    deadline: Option<Instant>,
    src: &Sources,
) -> Result<Attributes, String> {
    // Google's detector asks whether a variable is set (`os.LookupEnv`), empty or not; only
    // Bare Metal Solution's must have values.
    let env = |k: &str| (src.env)(k);
    let non_empty = |k: &str| (src.env)(k).filter(|v| !v.is_empty());
    let mut out = Detected::new(&cfg.resource_attributes, GCP_ATTRIBUTES);
    if let (Some(project), Some(region), Some(instance)) = (
        non_empty("BMS_PROJECT_ID"),
        non_empty("BMS_REGION"),
        non_empty("BMS_INSTANCE_ID"),
    ) {
        out.str("cloud.provider", "gcp");
        out.str("cloud.platform", "gcp_bare_metal_solution");
        out.str("cloud.account.id", project);
        out.str("cloud.region", region);
        out.str("host.name", instance);
        return Ok(out.into_attributes());
    }
    if !on_gce(src, deadline).await? {
        return if fail_on_missing {
            Err("not running on GCP: no GCE metadata server".into())
        } else {
            Ok(Attributes::new())
        };
    }
    let md = Gce::new(gce::host(&*src.env, &src.gcp_metadata_host), deadline)?;
    let mut errors: Vec<String> = Vec::new();
    out.str("cloud.provider", "gcp");
    if let Some(p) = keep(md.trimmed("project/project-id").await, &mut errors) {
        out.str("cloud.account.id", p);
    }
    let set_env =
        |key: &str, var: &str, out: &mut Detected, errors: &mut Vec<String>| match env(var) {
            Some(v) => out.str(key, v),
            None => errors.push(format!("environment variable not found: {var}")),
        };

    let cluster_location = if env("KUBERNETES_SERVICE_HOST").is_some() {
        md.get("instance/attributes/cluster-location").await.ok()
    } else {
        None
    };
    let platform = if cluster_location.is_some() {
        Platform::Gke
    } else if env("FUNCTION_TARGET").is_some() {
        Platform::CloudFunctions
    } else if env("K_CONFIGURATION").is_some() {
        Platform::CloudRun
    } else if env("CLOUD_RUN_JOB").is_some() {
        Platform::CloudRunJob
    } else if (src.env)("GAE_ENV").as_deref() == Some("standard") {
        Platform::AppEngineStandard
    } else if env("GAE_SERVICE").is_some() {
        Platform::AppEngineFlex
    } else if md.get("instance/machine-type").await.is_ok() {
        Platform::Gce
    } else {
        Platform::Unknown
    };

    match platform {
        Platform::Gke => {
            out.str("cloud.platform", "gcp_kubernetes_engine");
            let location = cluster_location.unwrap_or_default();
            match location.matches('-').count() {
                1 => out.str("cloud.region", location),
                2 => out.str("cloud.availability_zone", location),
                _ => errors.push(format!(
                    "unrecognized format for cluster location: {location}"
                )),
            }
            let name = md.get("instance/attributes/cluster-name").await;
            if let Some(n) = keep(name.map_err(|e| e.to_string()), &mut errors) {
                out.str("k8s.cluster.name", n);
            }
            if let Some(id) = keep(md.trimmed("instance/id").await, &mut errors) {
                out.str("host.id", id);
            }
            // Fallible in Google's detector (workload identity can hide it): logged only.
            match md.trimmed("instance/name").await {
                Ok(n) => out.str("host.name", n),
                Err(e) => tracing::info!(
                    key = "host.name",
                    error = %e,
                    "Fallible detector failed. This attribute will not be available."
                ),
            }
        }
        Platform::CloudFunctions | Platform::CloudRun => {
            let name = if platform == Platform::CloudRun {
                "gcp_cloud_run"
            } else {
                "gcp_cloud_functions"
            };
            out.str("cloud.platform", name);
            set_env("faas.name", "K_SERVICE", &mut out, &mut errors);
            set_env("faas.version", "K_REVISION", &mut out, &mut errors);
            if let Some(id) = keep(md.trimmed("instance/id").await, &mut errors) {
                out.str("faas.instance", id);
            }
            if let Some(r) = keep(region(&md).await, &mut errors) {
                out.str("cloud.region", r);
            }
        }
        Platform::CloudRunJob => {
            out.str("cloud.platform", "gcp_cloud_run");
            match env("K_SERVICE").or_else(|| env("CLOUD_RUN_JOB")) {
                Some(n) => out.str("faas.name", n),
                None => errors.push("environment variable not found: CLOUD_RUN_JOB".into()),
            }
            if let Some(r) = keep(region(&md).await, &mut errors) {
                out.str("cloud.region", r);
            }
            if let Some(id) = keep(md.trimmed("instance/id").await, &mut errors) {
                out.str("faas.instance", id);
            }
            set_env(
                "gcp.cloud_run.job.execution",
                "CLOUD_RUN_EXECUTION",
                &mut out,
                &mut errors,
            );
            set_env(
                "gcp.cloud_run.job.task_index",
                "CLOUD_RUN_TASK_INDEX",
                &mut out,
                &mut errors,
            );
        }
        Platform::AppEngineStandard | Platform::AppEngineFlex => {
            out.str("cloud.platform", "gcp_app_engine");
            if platform == Platform::AppEngineStandard {
                if let Some(z) = keep(md.trimmed("instance/zone").await, &mut errors) {
                    out.str("cloud.availability_zone", last_segment(&z));
                }
                if let Some(r) = keep(region(&md).await, &mut errors) {
                    out.str("cloud.region", r);
                }
            } else {
                match zone_and_region(&md).await {
                    Ok((zone, region)) => {
                        out.str("cloud.availability_zone", zone);
                        out.str("cloud.region", region);
                    }
                    Err(e) => errors.push(e),
                }
            }
            set_env("faas.name", "GAE_SERVICE", &mut out, &mut errors);
            set_env("faas.version", "GAE_VERSION", &mut out, &mut errors);
            set_env("faas.instance", "GAE_INSTANCE", &mut out, &mut errors);
        }
        Platform::Gce => {
            out.str("cloud.platform", "gcp_compute_engine");
            match zone_and_region(&md).await {
                Ok((zone, region)) => {
                    out.str("cloud.availability_zone", zone);
                    out.str("cloud.region", region);
                }
                Err(e) => errors.push(e),
            }
            // The machine type as the server gives it (`projects/<n>/machineTypes/<type>`).
            let machine_type = md.get("instance/machine-type").await;
            if let Some(t) = keep(machine_type.map_err(|e| e.to_string()), &mut errors) {
                out.str("host.type", t);
            }
            if let Some(id) = keep(md.trimmed("instance/id").await, &mut errors) {
                out.str("host.id", id);
            }
            if let Some(n) = keep(md.trimmed("instance/name").await, &mut errors) {
                out.str("host.name", n.clone());
                out.str("gcp.gce.instance.name", n);
            }
            if let Some(h) = keep(md.trimmed("instance/hostname").await, &mut errors) {
                out.str("gcp.gce.instance.hostname", h);
            }
            match md.get("instance/attributes/created-by").await {
                Ok(created_by) => {
                    if let Some((kind, location, name)) = instance_group_manager(&created_by) {
                        out.str("gcp.gce.instance_group_manager.name", name);
                        let key = if kind == "zones" {
                            "gcp.gce.instance_group_manager.zone"
                        } else {
                            "gcp.gce.instance_group_manager.region"
                        };
                        out.str(key, location);
                    }
                }
                Err(e) if e.status == Some(404) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        Platform::Unknown => {}
    }
    if errors.is_empty() {
        Ok(out.into_attributes())
    } else if fail_on_missing {
        Err(errors.join("; "))
    } else {
        tracing::warn!(errors = %errors.join("; "), "gcp: some attributes could not be detected; keeping the others");
        Ok(out.into_attributes())
    }
}

/// A value, or `None` with the error collected (Google's `SetFromCallable`).
fn keep(r: Result<String, String>, errors: &mut Vec<String>) -> Option<String> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// `instance/region`'s last path segment.
async fn region(md: &Gce) -> Result<String, String> {
    md.get("instance/region")
        .await
        .map(|r| last_segment(&r))
        .map_err(|e| e.to_string())
}

/// The zone (`instance/zone`'s last segment) and its region (`us-central1-a` → `us-central1`).
async fn zone_and_region(md: &Gce) -> Result<(String, String), String> {
    let zone = last_segment(&md.trimmed("instance/zone").await?);
    if zone.is_empty() {
        return Err("no zone detected from GCE metadata server".into());
    }
    let parts: Vec<&str> = zone.splitn(3, '-').collect();
    if parts.len() != 3 {
        return Err(format!(
            "zone was not in the expected format: country-region-zone.  Got {zone}"
        ));
    }
    let region = format!("{}-{}", parts[0], parts[1]);
    Ok((zone, region))
}

/// `projects/<p>/(zones|regions)/<location>/instanceGroupManagers/<name>`.
fn instance_group_manager(created_by: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = created_by.split('/').collect();
    match parts.as_slice() {
        ["projects", p, kind @ ("zones" | "regions"), location, "instanceGroupManagers", name]
            if !p.is_empty() && !location.is_empty() && !name.is_empty() =>
        {
            Some((kind, location, name))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::instance_group_manager;

    #[test]
    fn instance_group_managers_from_created_by() {
        assert_eq!(
            instance_group_manager(
                "projects/123456789012/zones/us-central1-f/instanceGroupManagers/igm-metadata"
            ),
            Some(("zones", "us-central1-f", "igm-metadata"))
        );
        assert_eq!(
            instance_group_manager(
                "projects/123456789012/regions/us-central1/instanceGroupManagers/igm"
            ),
            Some(("regions", "us-central1", "igm"))
        );
        for other in [
            "projects/1/zones/us-central1-f/someOtherInstanceGroup/igm-metadata",
            "",
            "projects//zones/z/instanceGroupManagers/n",
        ] {
            assert_eq!(instance_group_manager(other), None, "{other}");
        }
    }
}
