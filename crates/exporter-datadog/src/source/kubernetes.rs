//! `kubernetes`: the node this pod runs on, from the API server (`get` of the pod itself with
//! the service account, as Go's provider; kakehashi's manifests grant it), suffixed with the
//! cluster's name when a cloud names it: AKS by the node resource group, GKE by the metadata
//! server's `cluster-name`. (Go also asks the EC2 API for the instance's
//! `kubernetes.io/cluster/*` tag, which needs AWS credentials; kakehashi does not, so on EKS this
//! source is the node name alone.)

use super::{azure, gcp, Found, Source, Sources};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::time::Instant;

const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

#[derive(Clone)]
pub(crate) enum Credentials {
    /// The pod's service account; the pod's name is the kernel hostname.
    InCluster,
    /// A given API server (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Given {
        config: Box<kube::Config>,
        namespace: String,
        pod: String,
    },
}

pub(super) async fn source(src: &Sources, deadline: Option<Instant>) -> Found {
    let (config, namespace, pod) = match &src.kubernetes {
        Credentials::InCluster => {
            let config =
                kube::Config::incluster().map_err(|e| format!("k8s client is unavailable: {e}"))?;
            let namespace = std::fs::read_to_string(NAMESPACE_FILE)
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|_| "default".into());
            let pod = (src.kernel_hostname)().ok_or("k8s pod name (hostname) is unavailable")?;
            (config, namespace, pod)
        }
        Credentials::Given {
            config,
            namespace,
            pod,
        } => (*config.clone(), namespace.clone(), pod.clone()),
    };
    let client =
        kube::Client::try_from(config).map_err(|e| format!("k8s client is unavailable: {e}"))?;
    let pods = Api::<Pod>::namespaced(client, &namespace);
    let get = pods.get(&pod);
    let found = match deadline {
        Some(d) => tokio::time::timeout_at(d, get)
            .await
            .map_err(|_| "node name not available: no answer from the API server".to_string())?,
        None => get.await,
    };
    let node = found
        .map_err(|e| format!("node name not available: {e}"))?
        .spec
        .and_then(|s| s.node_name)
        .filter(|n| !n.is_empty())
        .ok_or("node name not available: the pod has no node")?;
    Ok(Source::Host(match cluster_name(src, deadline).await {
        Some(cluster) => format!("{node}-{cluster}"),
        None => node,
    }))
}

/// The first cloud to name the cluster, asked one after the other (as Go's cluster chain).
async fn cluster_name(src: &Sources, deadline: Option<Instant>) -> Option<String> {
    let from_azure = azure::cluster_name(src, deadline).await;
    let result = match from_azure {
        Ok(c) => Ok(c),
        Err(e) => {
            tracing::debug!(provider = "azure", error = %e, "Unavailable cluster name provider");
            gcp::cluster_name(src, deadline).await
        }
    };
    match result {
        Ok(c) if !c.is_empty() => {
            tracing::info!(cluster = %c, "Resolved cluster name");
            Some(c)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(provider = "gcp", error = %e, "Unavailable cluster name provider");
            None
        }
    }
}
