//! Process-wide memory settings applied before the runtime starts.

/// Opts the process out of transparent huge pages unless `MIMALLOC_ALLOW_THP` says otherwise.
///
/// mimalloc backs its arenas with 2 MiB pages where the kernel allows it ("madvise" or "always"
/// THP modes, the default on most distributions). A collector's heap churns through many short
/// batches, so every partly used huge page counts fully in RSS — the number a Kubernetes memory
/// limit looks at — and each one is zeroed in full when it is faulted in. Measured on the seed
/// pipeline at 20k spans/s: peak RSS 78 MB with THP, 26–31 MB without, and CPU no worse
/// (docs/performance.md). Setting `MIMALLOC_ALLOW_THP` (mimalloc's own switch) leaves the
/// choice to mimalloc.
pub fn disable_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // Best effort: kernels without the prctl (pre-3.15) or sandboxes that forbid it just
        // keep the system setting.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}
