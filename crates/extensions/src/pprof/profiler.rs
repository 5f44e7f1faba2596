//! One CPU profile: pprof-rs samples every thread's stack on SIGPROF, 100 times per CPU-second
//! as Go's runtime does, and the result is written as Go writes it: a gzipped
//! `perftools.profiles.Profile`.

use flate2::write::GzEncoder;
use pprof::protos::Message;
use std::io::Write;

/// Go's profiling rate (`runtime.SetCPUProfileRate`'s default, 100 Hz).
const SAMPLES_PER_SECOND: i32 = 100;

/// Samples that land in these are skipped: the C libraries' own frames are of no use in a
/// profile of kakehashi, and pprof-rs advises against unwinding inside them.
const UNSAFE_TO_UNWIND: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Go's `runtime/pprof` text for the same case, which clients may match.
    #[error("cpu profiling already in use")]
    AlreadyInUse,
    /// pprof-rs keeps its samples in a temporary file.
    #[error(
        "the profiler needs a writable temporary directory ($TMPDIR, else /tmp; in Kubernetes \
         with a read-only root filesystem, an emptyDir at /tmp): {0}"
    )]
    NoTempDir(std::io::Error),
    #[error("{0}")]
    Profiler(pprof::Error),
    #[error("writing the profile: {0}")]
    Write(std::io::Error),
}

/// A CPU profile being taken; the process's one profiler is held until it is finished or
/// dropped.
pub struct CpuProfile {
    guard: pprof::ProfilerGuard<'static>,
}

impl CpuProfile {
    /// Starts sampling. Blocks for a while the first time (symbol tables are loaded): call it
    /// off the async threads.
    pub fn start() -> Result<CpuProfile, ProfileError> {
        // pprof-rs creates its temporary file once per process, and a failure then stays for
        // the process's life: check first, so a missing /tmp is a clear error that fixing the
        // mount cures.
        tempfile::tempfile().map_err(ProfileError::NoTempDir)?;
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(SAMPLES_PER_SECOND)
            .blocklist(&UNSAFE_TO_UNWIND)
            .build()
            .map_err(|e| match e {
                pprof::Error::Running => ProfileError::AlreadyInUse,
                other => ProfileError::Profiler(other),
            })?;
        Ok(CpuProfile { guard })
    }

    /// Stops sampling and returns the gzipped profile. CPU-bound (symbolization): call it off
    /// the async threads.
    pub fn finish(self) -> Result<Vec<u8>, ProfileError> {
        let report = self
            .guard
            .report()
            .build()
            .map_err(ProfileError::Profiler)?;
        drop(self.guard);
        let profile = report.pprof().map_err(ProfileError::Profiler)?;
        // Go's runtime/pprof compresses with gzip.BestSpeed.
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&profile.encode_to_vec())
            .and_then(|()| gz.finish())
            .map_err(ProfileError::Write)
    }
}
