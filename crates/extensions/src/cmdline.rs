//! The command line as debug pages show it (pprof's `cmdline`, zpages' `expvarz`), with the
//! values that can carry secrets hidden: a `--set key=value` may set an API key, and a
//! `--config yaml:...` may hold a whole config inline. Keys and file paths stay readable.

const HIDDEN: &str = "[REDACTED]";

/// The process's arguments (lossily UTF-8), redacted.
pub fn redacted_args() -> Vec<String> {
    redact(std::env::args_os().map(|a| a.to_string_lossy().into_owned()))
}

pub fn redact(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    // The flag whose value is the next argument, if the previous argument was one.
    let mut pending: Option<&'static str> = None;
    for arg in args {
        if let Some(flag) = pending.take() {
            out.push(redact_value(flag, &arg));
            continue;
        }
        let redacted = if arg == "--set" {
            pending = Some("--set");
            arg
        } else if arg == "--config" {
            pending = Some("--config");
            arg
        } else if let Some(value) = arg.strip_prefix("--set=") {
            format!("--set={}", redact_value("--set", value))
        } else if let Some(value) = arg.strip_prefix("--config=") {
            format!("--config={}", redact_value("--config", value))
        } else {
            arg
        };
        out.push(redacted);
    }
    out
}

fn redact_value(flag: &str, value: &str) -> String {
    match flag {
        "--set" => match value.split_once('=') {
            Some((key, _)) => format!("{key}={HIDDEN}"),
            None => value.to_owned(),
        },
        _ if value.starts_with("yaml:") => format!("yaml:{HIDDEN}"),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_and_inline_yaml_are_hidden() {
        let args = [
            "kakehashi",
            "--config",
            "/etc/otelcol/config.yaml",
            "--set",
            "exporters::datadog::api::key=0123456789abcdef",
            "--set=processors::batch::timeout=1s",
            "--config=yaml:exporters::datadog::api::key: secret",
            "--config",
            "yaml:extensions::zpages: {}",
        ]
        .map(String::from);
        assert_eq!(
            redact(args),
            [
                "kakehashi",
                "--config",
                "/etc/otelcol/config.yaml",
                "--set",
                "exporters::datadog::api::key=[REDACTED]",
                "--set=processors::batch::timeout=[REDACTED]",
                "--config=yaml:[REDACTED]",
                "--config",
                "yaml:[REDACTED]",
            ]
        );
    }
}
