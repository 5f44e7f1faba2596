//! This process's CPU time and resident memory, from `/proc` (no `unsafe`, no libc): the
//! `otelcol_process_*` metrics, and the load generator's own cost.

/// Linux reports `utime`/`stime` in clock ticks of `USER_HZ`, which is 100 on every mainstream
/// architecture (it is part of the kernel ABI, independent of `CONFIG_HZ`).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds used so far by this process (all threads), or 0 when `/proc` is
/// unavailable. Resolution is 10 ms.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .unwrap_or(0.0)
}

fn parse_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is parenthesised and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status` (Linux only): the
/// memory the kernel's OOM killer counts. Read in kB rather than as pages from `statm`, whose
/// page size is 16 or 64 KiB on some arm64 kernels.
pub fn resident_set_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let stat = "1234 (load gen) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some(3.0));
    }

    #[test]
    fn reads_own_process() {
        assert!(process_cpu_seconds() >= 0.0);
    }
}
