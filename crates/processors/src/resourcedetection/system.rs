//! The `system` detector: the host's name and what the OS says about itself, read from local
//! files only (`/proc`, `/etc`), so detection never waits on the network.
//!
//! Hostname sources: `os` is the kernel's hostname; `dns` is the host's fully qualified name as
//! `/etc/hosts` gives it (the canonical name of the line listing the hostname), which is what the
//! resolver answers for the machine's own name on a host or in a Pod. When no source gives a
//! name, the detector fails and adds nothing, as otelcol's.

use super::config::SystemConfig;
use std::path::Path;

/// Where the detector reads; tests point it at a directory of fixtures.
pub(crate) struct Host<'a> {
    pub root: &'a Path,
}

impl Host<'_> {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path.trim_start_matches('/'))).ok()
    }

    fn hostname(&self) -> Option<String> {
        self.read("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    }

    /// The canonical name of the `/etc/hosts` line that lists `hostname`.
    fn fqdn(&self, hostname: &str) -> Option<String> {
        let hosts = self.read("/etc/hosts")?;
        hosts.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let _address = fields.next()?;
            let names: Vec<&str> = fields.collect();
            names
                .contains(&hostname)
                .then(|| names[0].trim_end_matches('.').to_string())
        })
    }
}

/// The attributes the config enables, or why no hostname source gave a name.
pub(crate) fn detect(cfg: &SystemConfig, host: &Host) -> Result<Vec<(String, AttrValue)>, String> {
    let kernel_name = host.hostname();
    let mut hostname = None;
    let mut failures = Vec::new();
    for source in cfg.sources() {
        let found = match source.as_str() {
            "os" => kernel_name.clone().ok_or("failed getting OS hostname"),
            "dns" => kernel_name
                .as_deref()
                .and_then(|h| host.fqdn(h))
                .ok_or("getFQDN failed getting FQDN: not found in /etc/hosts"),
            _ => Err("unsupported hostname source"),
        };
        match found {
            Ok(h) => {
                hostname = Some(h);
                break;
            }
            Err(e) => failures.push(format!("{source}: {e}")),
        }
    }
    let Some(hostname) = hostname else {
        return Err(format!(
            "all hostname sources failed to get hostname ({})",
            failures.join("; ")
        ));
    };
    let mut out = Vec::new();
    let mut put = |name: &str, v: Option<AttrValue>| {
        if cfg.enabled(name) {
            if let Some(v) = v {
                out.push((name.to_string(), v));
            }
        }
    };
    put("host.name", Some(AttrValue::Str(hostname)));
    put("os.type", Some(AttrValue::Str(os_type().into())));
    put("host.id", machine_id(host).map(AttrValue::Str));
    put("host.arch", host_arch().map(|a| AttrValue::Str(a.into())));
    put("os.description", os_description(host).map(AttrValue::Str));
    let wants_cpu = CPU_ATTRIBUTES.iter().any(|a| cfg.enabled(a));
    let cpu = wants_cpu.then(|| host.read("/proc/cpuinfo")).flatten();
    let field = |key: &str| cpu.as_deref().and_then(|c| cpuinfo_field(c, key));
    put("host.cpu.vendor.id", field("vendor_id").map(AttrValue::Str));
    put("host.cpu.family", field("cpu family").map(AttrValue::Str));
    put("host.cpu.model.id", field("model").map(AttrValue::Str));
    put(
        "host.cpu.model.name",
        field("model name").map(AttrValue::Str),
    );
    put("host.cpu.stepping", field("stepping").map(AttrValue::Str));
    put(
        "host.cpu.cache.l2.size",
        field("cache size")
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .map(AttrValue::Int),
    );
    Ok(out)
}

const CPU_ATTRIBUTES: [&str; 6] = [
    "host.cpu.vendor.id",
    "host.cpu.family",
    "host.cpu.model.id",
    "host.cpu.model.name",
    "host.cpu.stepping",
    "host.cpu.cache.l2.size",
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue {
    Str(String),
    Int(i64),
}

/// Go's `runtime.GOOS` names, as otelcol reports them.
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The semantic conventions' `host.arch` values, as otelcol maps Go's `GOARCH`.
fn host_arch() -> Option<&'static str> {
    Some(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc32",
        "s390x" => "s390x",
        _ => return None,
    })
}

/// The machine id (systemd's, else D-Bus's), as the OpenTelemetry Go SDK reads `host.id`.
fn machine_id(host: &Host) -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|p| host.read(p))
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// The OpenTelemetry Go SDK's `os.description` on Linux: the os-release name, then `uname`'s
/// fields in parentheses: `Ubuntu 22.04.4 LTS (Linux myhost 6.8.0-1 #1 SMP ... x86_64)`.
fn os_description(host: &Host) -> Option<String> {
    let release = host
        .read("/etc/os-release")
        .or_else(|| host.read("/usr/lib/os-release"))
        .and_then(|text| {
            let get = |key: &str| {
                text.lines().find_map(|l| {
                    let v = l.strip_prefix(key)?.strip_prefix('=')?;
                    Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
                })
            };
            get("PRETTY_NAME").or_else(|| {
                let name = get("NAME")?;
                Some(match get("VERSION") {
                    Some(v) => format!("{name} {v}"),
                    None => name,
                })
            })
        });
    let kernel = |f: &str| {
        host.read(&format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
    };
    let uname = format!(
        "{} {} {} {} {}",
        kernel("ostype")?,
        kernel("hostname")?,
        kernel("osrelease")?,
        kernel("version")?,
        std::env::consts::ARCH
    );
    Some(match release {
        Some(r) => format!("{r} ({uname})"),
        None => uname,
    })
}

/// A field of the first processor in `/proc/cpuinfo`.
fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}
