//! The system inventory of the host metadata, as Datadog's `gohai` library reports it on Linux
//! (what Go's exporter embeds): `cpu` from `/proc/cpuinfo`, `memory` from `/proc/meminfo`,
//! `platform` from `uname`, `network` from the interfaces, `filesystem` from `df`. Values are
//! strings, as gohai's; a part that cannot be collected is `null`. The whole is sent as a JSON
//! document inside a string (`"gohai": "{…}"`), as Go marshals it.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

/// gohai's bound on `df`.
const DF_TIMEOUT: Duration = Duration::from_secs(2);
const UNAME_TIMEOUT: Duration = Duration::from_secs(2);

/// The inventory, as the JSON text the payload carries.
pub(super) async fn collect() -> String {
    // Files, and the interfaces' system calls, off the runtime's threads.
    let local = tokio::task::spawn_blocking(|| {
        let read = |path| std::fs::read_to_string(path).ok();
        (
            read("/proc/cpuinfo").map(|t| cpu(&t)),
            read("/proc/meminfo").and_then(|t| memory(&t)),
            network(&interfaces()),
        )
    });
    let (platform, filesystem, local) = tokio::join!(platform_now(), filesystem_now(), local);
    let (cpu, memory, network) = local.unwrap_or_default();
    json!({
        "cpu": cpu,
        "filesystem": filesystem,
        "memory": memory,
        "network": network,
        "platform": platform,
    })
    .to_string()
}

/// `/proc/cpuinfo` (x86's layout): the last processor's fields under gohai's names, with the
/// core and logical processor counts of one package multiplied by the number of packages
/// (where a count is there and a number). Other layouts (arm64) give no fields: `{}`.
pub(super) fn cpu(cpuinfo: &str) -> Map<String, Value> {
    const NAMES: [(&str, &str); 9] = [
        ("vendor_id", "vendor_id"),
        ("model name", "model_name"),
        ("cpu cores", "cpu_cores"),
        ("siblings", "cpu_logical_processors"),
        ("cpu MHz\t", "mhz"),
        ("cache size", "cache_size"),
        ("cpu family", "family"),
        ("model\t", "model"),
        ("stepping", "stepping"),
    ];
    let mut out = Map::new();
    let mut packages = BTreeSet::new();
    for line in cpuinfo.lines() {
        // gohai splits on "\t: ", so a key padded with two tabs keeps one ("model\t").
        let Some((key, value)) = line.split_once("\t: ") else {
            continue;
        };
        if key == "physical id" {
            packages.insert(value.to_string());
        } else if let Some((_, name)) = NAMES.iter().find(|(k, _)| *k == key) {
            out.insert((*name).into(), value.into());
        }
    }
    for name in ["cpu_cores", "cpu_logical_processors"] {
        let per_package = out
            .get(name)
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = per_package {
            out.insert(name.into(), (n * packages.len() as u64).to_string().into());
        }
    }
    out
}

/// `/proc/meminfo`: the total memory and swap as `<n><unit>` (`"16311892kB"`).
pub(super) fn memory(meminfo: &str) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for line in meminfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let name = match key {
            "MemTotal" => "total",
            "SwapTotal" => "swap_total",
            _ => continue,
        };
        let joined: String = value.split_whitespace().collect();
        out.insert(name.into(), joined.into());
    }
    (!out.is_empty()).then_some(out)
}

async fn run(program: &str, args: &[&str], timeout: Duration) -> Option<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, output).await {
        Ok(Ok(out)) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into()),
        Ok(Ok(out)) => {
            tracing::debug!(program, status = %out.status, "Inventory command failed");
            None
        }
        Ok(Err(e)) => {
            tracing::debug!(program, error = %e, "Inventory command failed");
            None
        }
        Err(_) => {
            tracing::debug!(program, "Inventory command gave no answer in time");
            None
        }
    }
}

async fn platform_now() -> Option<Map<String, Value>> {
    let all = run(
        "uname",
        &["-s", "-n", "-r", "-m", "-p", "-i", "-o"],
        UNAME_TIMEOUT,
    )
    .await?;
    let version = run("uname", &["-v"], UNAME_TIMEOUT)
        .await
        .unwrap_or_default();
    Some(platform(&all, &version, std::env::consts::ARCH))
}

/// `uname -s -n -r -m -p -i -o` and `uname -v`, under gohai's names; `GOOS`/`GOOARCH` (sic)
/// name the platform in Go's words, as the Go collector's inventory does.
pub(super) fn platform(all: &str, version: &str, arch: &str) -> Map<String, Value> {
    const NAMES: [&str; 7] = [
        "kernel_name",
        "hostname",
        "kernel_release",
        "machine",
        "processor",
        "hardware_platform",
        "os",
    ];
    let mut out = Map::new();
    // Split on runs of spaces into at most 7 parts: the last (`-o`) may hold spaces.
    let mut rest = all.trim_end_matches('\n').trim_start_matches(' ');
    for (i, name) in NAMES.iter().enumerate() {
        let part = if i + 1 == NAMES.len() {
            std::mem::take(&mut rest)
        } else {
            let (part, after) = rest.split_once(' ').unwrap_or((rest, ""));
            rest = after.trim_start_matches(' ');
            part
        };
        out.insert((*name).into(), part.into());
    }
    out.insert(
        "kernel_version".into(),
        version.trim_end_matches('\n').into(),
    );
    out.insert("GOOS".into(), std::env::consts::OS.into());
    let go_arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    out.insert("GOOARCH".into(), go_arch.into());
    out
}

async fn filesystem_now() -> Option<Vec<Value>> {
    run("df", &["-l", "-k"], DF_TIMEOUT)
        .await
        .map(|out| filesystem(&out))
}

/// `df -l -k`: each filesystem's name, size in KiB (a string) and mount point.
pub(super) fn filesystem(df: &str) -> Vec<Value> {
    df.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let name = cols.next()?;
            let kb_size = cols.next()?;
            // Used, Available and Use%; the mount point is the rest, spaces included.
            for _ in 0..3 {
                cols.next()?;
            }
            let mounted_on = cols.collect::<Vec<_>>().join(" ");
            (!mounted_on.is_empty())
                .then(|| json!({"name": name, "kb_size": kb_size, "mounted_on": mounted_on}))
        })
        .collect()
}

/// One network interface that is up.
#[derive(Debug, Clone, Default)]
pub(super) struct Interface {
    pub name: String,
    pub loopback: bool,
    /// `aa:bb:cc:dd:ee:ff`, empty when it has none.
    pub mac: String,
    /// Addresses with their prefix length, in the kernel's order.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// The interfaces that are up, in index order.
fn interfaces() -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags;
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<Interface> = Vec::new();
    for a in all {
        if !a.flags.contains(InterfaceFlags::IFF_UP) {
            continue;
        }
        let i = match found.iter().position(|i| i.name == a.interface_name) {
            Some(i) => i,
            None => {
                found.push(Interface {
                    name: a.interface_name.clone(),
                    loopback: a.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    ..Interface::default()
                });
                found.len() - 1
            }
        };
        let iface = &mut found[i];
        let Some(addr) = a.address else { continue };
        let prefix = |mask: Option<&nix::sys::socket::SockaddrStorage>, v4: bool| -> u8 {
            let ones = match mask {
                Some(m) if v4 => m.as_sockaddr_in().map(|m| m.ip().to_bits().count_ones()),
                Some(m) => m.as_sockaddr_in6().map(|m| m.ip().to_bits().count_ones()),
                None => None,
            };
            ones.unwrap_or(if v4 { 32 } else { 128 }) as u8
        };
        if let Some(link) = addr.as_link_addr() {
            if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                iface.mac = mac
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
            }
        } else if let Some(v4) = addr.as_sockaddr_in() {
            let p = prefix(a.netmask.as_ref(), true);
            iface.addrs.push((IpAddr::V4(v4.ip()), p));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let p = prefix(a.netmask.as_ref(), false);
            iface.addrs.push((IpAddr::V6(v6.ip()), p));
        }
    }
    found.sort_by_key(|i| nix::net::if_::if_nametoindex(i.name.as_str()).unwrap_or(u32::MAX));
    found
}

/// The network (`addr`/`prefix` with the host bits cleared), as Go's `IPNet.String()`.
fn network_of(ip: IpAddr, prefix: u8) -> String {
    let net = match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((a.to_bits() & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((a.to_bits() & mask).into())
        }
    };
    format!("{net}/{prefix}")
}

/// gohai's `network`: the first non-loopback IPv4 of an interface that is up and not a
/// loopback, that interface's MAC, the first such IPv6, and every such interface; `null` when
/// no IPv4 address is found ("not connected to the network").
pub(super) fn network(interfaces: &[Interface]) -> Value {
    let external = || interfaces.iter().filter(|i| !i.loopback);
    let first_v4 = external().find_map(|i| {
        i.addrs
            .iter()
            .find(|(a, _)| a.is_ipv4() && !a.is_loopback())
            .map(|(a, _)| (a, &i.mac))
    });
    let Some((ip, mac)) = first_v4 else {
        return Value::Null;
    };
    let mut out = Map::new();
    out.insert("ipaddress".into(), ip.to_string().into());
    out.insert("macaddress".into(), mac.as_str().into());
    let first_v6 = external()
        .flat_map(|i| &i.addrs)
        .find(|(a, _)| a.is_ipv6() && !a.is_loopback());
    if let Some((v6, _)) = first_v6 {
        out.insert("ipaddressv6".into(), v6.to_string().into());
    }
    let listed: Vec<Value> = external()
        .map(|i| {
            let mut entry = Map::new();
            let mut v4 = Vec::new();
            let mut v6 = Vec::new();
            for (a, prefix) in i.addrs.iter().filter(|(a, _)| !a.is_loopback()) {
                let (list, key) = if a.is_ipv4() {
                    (&mut v4, "ipv4-network")
                } else {
                    (&mut v6, "ipv6-network")
                };
                list.push(a.to_string());
                entry.insert(key.into(), network_of(*a, *prefix).into());
                if !i.mac.is_empty() {
                    entry.insert("macaddress".into(), i.mac.as_str().into());
                }
            }
            entry.insert("ipv4".into(), v4.into());
            entry.insert("ipv6".into(), v6.into());
            entry.insert("name".into(), i.name.as_str().into());
            Value::Object(entry)
        })
        .collect();
    if !listed.is_empty() {
        out.insert("interfaces".into(), listed.into());
    }
    Value::Object(out)
}
