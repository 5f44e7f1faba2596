//! What the host metadata says about the machine beyond its name, collected as Go's exporter
//! collects it (`fillHostMetadata`): the socket hostname and FQDN, the EC2 identity from IMDS
//! when the first resource gave none, and the system inventory Datadog's infrastructure list
//! shows (`gohai`). Collected once, before the first host metadata is sent: Go builds its
//! payload once per process too.

mod gohai;

use crate::source::{self, ec2, Sources};
use kakehashi_cloud_metadata::imds::{Imds, Retry};

/// The machine, as the host metadata reports it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// The kernel's hostname (Go's `os.Hostname()`).
    pub socket_hostname: String,
    /// `hostname -f`, empty when that fails.
    pub socket_fqdn: String,
    /// From EC2's metadata service: empty off EC2.
    pub ec2: Ec2Identity,
    /// The `gohai` inventory, a JSON document sent as a string.
    pub gohai: Option<String>,
}

/// An EC2 instance's id and its EC2 hostname.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ec2Identity {
    pub instance_id: String,
    pub hostname: String,
}

/// Collects the machine's information; `ask_ec2`: whether to ask IMDS (Go does unless the
/// first resource named an EC2 hostname).
pub(crate) async fn collect(src: &Sources, ask_ec2: bool) -> HostInfo {
    let ec2 = async {
        if ask_ec2 {
            ec2_identity(src).await
        } else {
            Ec2Identity::default()
        }
    };
    let fqdn = source::fqdn(&src.hostname_command);
    let (ec2, socket_fqdn, gohai) = tokio::join!(ec2, fqdn, gohai::collect());
    HostInfo {
        socket_hostname: (src.kernel_hostname)().unwrap_or_default(),
        socket_fqdn: socket_fqdn.unwrap_or_default(),
        ec2,
        gohai: Some(gohai),
    }
}

/// Go's `ec2.GetHostInfo`: a probe of the instance id, then the identity document's id and the
/// EC2 hostname, each left empty when its request fails (off EC2: both, after the probe).
async fn ec2_identity(src: &Sources) -> Ec2Identity {
    let mut found = Ec2Identity::default();
    let Ok(Some(mut imds)) = Imds::from_env(&*src.env, Retry::default(), None) else {
        return found;
    };
    if let Err(e) = ec2::probe(&mut imds).await {
        tracing::debug!(error = %e, "No EC2 identity for the host metadata");
        return found;
    }
    match ec2::document_instance_id(&mut imds).await {
        Ok(id) => found.instance_id = id,
        Err(e) => tracing::warn!(error = %e, "No EC2 instance id for the host metadata"),
    }
    match imds.get("meta-data/hostname").await {
        Ok(hostname) => found.hostname = hostname,
        Err(e) => tracing::warn!(error = %e, "Failed to get the EC2 hostname"),
    }
    found
}

#[cfg(test)]
mod tests;
