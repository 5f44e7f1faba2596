//! Where the collector's own log lines go, as zap opens them in otelcol: `output_paths` is a list
//! of `stdout`, `stderr`, file paths and `file://` URLs, and every line is written to each
//! (files opened for appending, created when missing); `error_output_paths` is where a failure
//! to write a line is reported (zap's `ErrorOutput`).

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// The opened `output_paths` and `error_output_paths`.
#[derive(Debug, Clone)]
pub struct LogOutputs {
    lines: Arc<[Sink]>,
    errors: Arc<[Sink]>,
}

#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    File { path: String, file: Mutex<File> },
}

/// The scheme of a path written as a URL (`file:///var/log/x`), if any.
fn scheme(path: &str) -> Option<&str> {
    path.split_once("://").map(|(scheme, _)| scheme)
}

/// A config check: zap knows `stdout`, `stderr`, paths and `file://` URLs; anything else with a
/// scheme is an error rather than a file named `http:/…`.
pub fn check_path(path: &str) -> Result<(), String> {
    match scheme(path) {
        None | Some("file") => Ok(()),
        Some(other) => Err(format!(
            "{path:?}: no sink for the scheme {other:?} (use stdout, stderr, a file path or a file:// URL)"
        )),
    }
}

impl Sink {
    fn open(path: &str) -> Result<Sink, String> {
        check_path(path)?;
        Ok(match path {
            "stdout" => Sink::Stdout,
            "stderr" => Sink::Stderr,
            _ => {
                let file_path = path.strip_prefix("file://").unwrap_or(path);
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(file_path)
                    .map_err(|e| format!("cannot open the log output {path:?}: {e}"))?;
                Sink::File {
                    path: path.to_owned(),
                    file: Mutex::new(file),
                }
            }
        })
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => io::stdout().lock().write_all(buf),
            Sink::Stderr => io::stderr().lock().write_all(buf),
            Sink::File { file, .. } => file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(buf),
        }
    }

    fn name(&self) -> &str {
        match self {
            Sink::Stdout => "stdout",
            Sink::Stderr => "stderr",
            Sink::File { path, .. } => path,
        }
    }

    fn is_terminal(&self) -> bool {
        match self {
            Sink::Stdout => io::stdout().is_terminal(),
            Sink::Stderr => io::stderr().is_terminal(),
            Sink::File { .. } => false,
        }
    }
}

impl LogOutputs {
    /// Opens every output; the first that cannot be opened is the error (otelcol does not
    /// start either).
    pub fn open(output_paths: &[String], error_output_paths: &[String]) -> Result<Self, String> {
        let open_all = |paths: &[String]| -> Result<Arc<[Sink]>, String> {
            paths.iter().map(|p| Sink::open(p)).collect()
        };
        Ok(LogOutputs {
            lines: open_all(output_paths)?,
            errors: open_all(error_output_paths)?,
        })
    }

    /// Colour only when every output is a terminal: escape codes in a file or a container log
    /// are noise.
    pub fn all_terminals(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(Sink::is_terminal)
    }

    /// Writes one formatted line to every output; a failure is reported to the error outputs
    /// and does not stop the others.
    fn write_line(&self, line: &[u8]) {
        for sink in self.lines.iter() {
            if let Err(e) = sink.write_all(line) {
                let report = format!("write error: writing a log line to {}: {e}\n", sink.name());
                for out in self.errors.iter() {
                    // Nowhere left to report a failure of the report itself.
                    let _ = out.write_all(report.as_bytes());
                }
            }
        }
    }
}

/// One event's writer: tracing-subscriber formats a whole line, then writes it at once.
pub struct Tee<'a>(&'a LogOutputs);

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogOutputs {
    type Writer = Tee<'a>;

    fn make_writer(&'a self) -> Tee<'a> {
        Tee(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_goes_to_every_file_appended() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        let b = dir.path().join("b.log");
        std::fs::write(&a, "earlier\n").unwrap();
        let outputs = LogOutputs::open(
            &[a.display().to_string(), format!("file://{}", b.display())],
            &["stderr".into()],
        )
        .unwrap();
        assert!(!outputs.all_terminals());
        let mut w = outputs.make_writer();
        w.write_all(b"one\n").unwrap();
        outputs.make_writer().write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "earlier\none\ntwo\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("x.log");
        let err = LogOutputs::open(&[missing.display().to_string()], &[]).unwrap_err();
        assert!(err.contains("cannot open the log output"), "{err}");
        assert!(err.contains("no-such-dir"), "{err}");
    }

    #[test]
    fn only_file_urls_are_accepted() {
        assert!(check_path("stdout").is_ok());
        assert!(check_path("/var/log/otelcol.log").is_ok());
        assert!(check_path("file:///var/log/otelcol.log").is_ok());
        let err = check_path("http://logs.example/x").unwrap_err();
        assert!(err.contains("\"http\""), "{err}");
    }

    #[test]
    fn a_failed_write_is_reported_to_the_error_outputs_and_the_rest_still_get_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.log");
        let errors = dir.path().join("errors.log");
        // /dev/full accepts the open and fails every write (ENOSPC).
        let outputs = LogOutputs::open(
            &["/dev/full".into(), good.display().to_string()],
            &[errors.display().to_string()],
        )
        .unwrap();
        outputs.make_writer().write_all(b"line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&good).unwrap(), "line\n");
        let report = std::fs::read_to_string(&errors).unwrap();
        assert!(
            report.starts_with("write error: writing a log line to /dev/full:"),
            "{report}"
        );
    }
}
