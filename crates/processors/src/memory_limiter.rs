//! The `memory_limiter` processor (§6): measures process memory every `check_interval` and, while
//! usage is at or above the soft limit (hard − spike), refuses data with a *retryable* error so
//! clients back off and retry instead of the collector growing without bound.
//!
//! We measure RSS (there is no Go heap); "forcing a GC" has no analogue and only logs.

use async_trait::async_trait;
use kakehashi_component::{Batch, BuildError, ConsumeError, Consumer, Processor};
use kakehashi_config::{Duration, Validate};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::MemoryLimiterMetrics;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

const MIB: u64 = 1024 * 1024;
/// The least delay a refusal asks clients to wait (`Retry-After` has whole seconds anyway).
const RETRY_AFTER_FLOOR: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    pub check_interval: Duration,
    pub limit_mib: u32,
    pub spike_limit_mib: u32,
    pub limit_percentage: u32,
    pub spike_limit_percentage: u32,
    // GC tuning: accepted for compatibility, meaningless without a GC.
    pub min_gc_interval_when_soft_limited: Duration,
    pub min_gc_interval_when_hard_limited: Duration,
    pub max_gc_interval_when_soft_limited: Duration,
    pub max_gc_interval_when_hard_limited: Duration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: Duration::ZERO,
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            min_gc_interval_when_soft_limited: Duration::from_secs(10),
            min_gc_interval_when_hard_limited: Duration::ZERO,
            max_gc_interval_when_soft_limited: Duration::from_secs(30),
            max_gc_interval_when_hard_limited: Duration::from_secs(30),
        }
    }
}

impl Validate for MemoryLimiterConfig {
    /// otelcol's checks in its order; it returns the first problem only, and so do we. The GC
    /// intervals drive nothing here, but a config otelcol refuses is refused here too.
    fn validate(&self) -> Vec<String> {
        let soft_min = self.min_gc_interval_when_soft_limited;
        let hard_min = self.min_gc_interval_when_hard_limited;
        let soft_max = self.max_gc_interval_when_soft_limited;
        let hard_max = self.max_gc_interval_when_hard_limited;
        let msg = if self.check_interval.is_zero() {
            "'check_interval' must be greater than zero"
        } else if soft_min < hard_min {
            "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'"
        } else if !soft_max.is_zero() && soft_max < soft_min {
            "'max_gc_interval_when_soft_limited' must be greater than or equal to 'min_gc_interval_when_soft_limited' (or 0 to disable)"
        } else if !hard_max.is_zero() && hard_max < hard_min {
            "'max_gc_interval_when_hard_limited' must be greater than or equal to 'min_gc_interval_when_hard_limited' (or 0 to disable)"
        } else if !soft_max.is_zero() && !hard_max.is_zero() && soft_max < hard_max {
            "'max_gc_interval_when_soft_limited' should be larger than or equal to 'max_gc_interval_when_hard_limited' (when both are set)"
        } else if self.limit_mib == 0 && self.limit_percentage == 0 {
            "'limit_mib' or 'limit_percentage' must be greater than zero"
        } else if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred"
        } else if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            "'spike_limit_mib' must be smaller than 'limit_mib'"
        } else if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage
        {
            "'spike_limit_percentage' must be smaller than 'limit_percentage'"
        } else {
            return Vec::new();
        };
        vec![msg.to_owned()]
    }
}

/// Where memory usage comes from; injectable so tests can drive the limiter.
pub trait MemoryProbe: Send + Sync + 'static {
    /// Bytes in use, or `None` when unknown (then the limiter changes nothing).
    fn used_bytes(&self) -> Option<u64>;
}

/// The process's resident set size.
pub struct RssProbe;

impl MemoryProbe for RssProbe {
    fn used_bytes(&self) -> Option<u64> {
        kakehashi_telemetry::process::resident_set_bytes()
    }
}

/// Total memory available to us, as otelcol's `iruntime.TotalMemory` finds it: the cgroup's
/// memory limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`) when one is set, else host
/// RAM.
pub fn total_memory_bytes() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    total_memory_from(
        read("/sys/fs/cgroup/memory.max").as_deref(),
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes").as_deref(),
        read("/proc/meminfo").as_deref(),
    )
}

/// What cgroup v1 reports for "no limit" (`PAGE_COUNTER_MAX` pages of 4 KiB; otelcol's
/// `unlimitedMemorySize`). Larger pages give larger values, so anything above is no limit too.
const CGROUP_V1_UNLIMITED: u64 = 9_223_372_036_854_771_712;

fn total_memory_from(
    v2_max: Option<&str>,
    v1_limit: Option<&str>,
    meminfo: Option<&str>,
) -> Option<u64> {
    // v2 writes "max" when unlimited, which does not parse.
    if let Some(n) = v2_max.and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(n);
    }
    if let Some(n) = v1_limit.and_then(|s| s.trim().parse::<u64>().ok()) {
        if n < CGROUP_V1_UNLIMITED {
            return Some(n);
        }
    }
    let line = meminfo?.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Hard and soft limits in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hard: u64,
    pub soft: u64,
}

impl Limits {
    /// otelcol's checker construction: `limit_mib` wins over the percentage; the spike defaults
    /// to a fifth of the limit and must be below it.
    pub fn from_config(
        cfg: &MemoryLimiterConfig,
        total: Option<u64>,
    ) -> Result<Limits, BuildError> {
        let (hard, spike) = if cfg.limit_mib > 0 {
            (
                u64::from(cfg.limit_mib) * MIB,
                u64::from(cfg.spike_limit_mib) * MIB,
            )
        } else {
            let total =
                total.ok_or("failed to get total memory, use fixed memory settings (limit_mib)")?;
            let pct = |p: u32| (u128::from(total) * u128::from(p) / 100) as u64;
            (pct(cfg.limit_percentage), pct(cfg.spike_limit_percentage))
        };
        if spike >= hard {
            return Err("'spike_limit_mib' must be smaller than 'limit_mib'".into());
        }
        let spike = if spike == 0 { hard / 5 } else { spike };
        Ok(Limits {
            hard,
            soft: hard - spike,
        })
    }
}

pub struct MemoryLimiterProcessor {
    signal: Signal,
    next: Arc<dyn Consumer>,
    metrics: MemoryLimiterMetrics,
    limits: Limits,
    interval: std::time::Duration,
    probe: Arc<dyn MemoryProbe>,
    refusing: Arc<AtomicBool>,
    checker: Mutex<Option<JoinHandle<()>>>,
}

impl MemoryLimiterProcessor {
    pub fn new(
        cfg: &MemoryLimiterConfig,
        limits: Limits,
        signal: Signal,
        next: Arc<dyn Consumer>,
        metrics: MemoryLimiterMetrics,
        probe: Arc<dyn MemoryProbe>,
    ) -> Self {
        MemoryLimiterProcessor {
            signal,
            next,
            metrics,
            limits,
            interval: cfg.check_interval.get(),
            probe,
            refusing: Arc::new(AtomicBool::new(false)),
            checker: Mutex::new(None),
        }
    }

    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }
}

/// One check: enter or leave refusing mode, logging the transitions as otelcol does.
fn check(limits: Limits, used: u64, refusing: &AtomicBool) {
    let cur_mem_mib = used / MIB;
    if used >= limits.hard {
        tracing::warn!(
            cur_mem_mib,
            "Memory usage is above hard limit. Forcing a GC."
        );
    }
    if used >= limits.soft {
        if !refusing.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                cur_mem_mib,
                "Memory usage is above soft limit. Refusing data."
            );
        }
    } else if refusing.swap(false, Ordering::AcqRel) {
        tracing::info!(
            cur_mem_mib,
            "Memory usage back within limits. Resuming normal operation."
        );
    }
}

#[async_trait]
impl Consumer for MemoryLimiterProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let n = batch.item_count();
        if self.is_refusing() {
            self.metrics.refused(self.signal, n);
            // A hint (gRPC RetryInfo, HTTP `Retry-After`) so clients back off instead of
            // resending at once: every refused request is still received and decoded, which
            // costs CPU and memory. otelcol sends none; the OTLP spec lets servers add one.
            let mut e = ConsumeError::retryable("data refused due to high memory usage");
            e.retry_after = Some(self.interval.max(RETRY_AFTER_FLOOR));
            return Err(e);
        }
        self.metrics.accepted(self.signal, n);
        self.next.consume(batch).await
    }
}

#[async_trait]
impl Processor for MemoryLimiterProcessor {
    async fn start(&self) -> Result<(), BuildError> {
        let (limits, probe, refusing) = (self.limits, self.probe.clone(), self.refusing.clone());
        let period = self.interval;
        let task = tokio::spawn(async move {
            // Like Go's ticker: the first check happens one interval after start.
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Some(used) = probe.used_bytes() {
                    check(limits, used, &refusing);
                }
            }
        });
        let mut slot = self.checker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.replace(task) {
            old.abort();
        }
        Ok(())
    }

    async fn shutdown(&self) {
        let task = self
            .checker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = task {
            t.abort();
        }
    }
}

crate::processor_factory!(
    MemoryLimiterProcessorFactory,
    "memory_limiter",
    MemoryLimiterConfig,
    |ctx, cfg, signal, next| {
        let total = if cfg.limit_mib == 0 {
            total_memory_bytes()
        } else {
            None
        };
        let limits = Limits::from_config(cfg, total)?;
        let metrics = ctx.telemetry.memory_limiter(&ctx.id.to_string());
        Ok(Arc::new(MemoryLimiterProcessor::new(
            cfg,
            limits,
            signal,
            next,
            metrics,
            Arc::new(RssProbe),
        )))
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use kakehashi_pdata::ExportTraceServiceRequest;
    use kakehashi_telemetry::Telemetry;
    use std::sync::atomic::AtomicU64;

    struct FakeProbe(AtomicU64);
    impl MemoryProbe for FakeProbe {
        fn used_bytes(&self) -> Option<u64> {
            Some(self.0.load(Ordering::SeqCst))
        }
    }

    struct Sink;
    #[async_trait]
    impl Consumer for Sink {
        async fn consume(&self, _: Batch) -> Result<(), ConsumeError> {
            Ok(())
        }
    }

    fn spans(n: usize) -> Batch {
        Batch::new(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn cfg(limit: u32, spike: u32) -> MemoryLimiterConfig {
        MemoryLimiterConfig {
            check_interval: Duration::from_secs(1),
            limit_mib: limit,
            spike_limit_mib: spike,
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_above_soft_limit_and_resumes() {
        let c = cfg(100, 0);
        let limits = Limits::from_config(&c, None).expect("limits");
        assert_eq!(
            limits,
            Limits {
                hard: 100 * MIB,
                soft: 80 * MIB
            }
        );
        let probe = Arc::new(FakeProbe(AtomicU64::new(10 * MIB)));
        let t = Telemetry::new();
        let p = MemoryLimiterProcessor::new(
            &c,
            limits,
            Signal::Traces,
            Arc::new(Sink),
            t.memory_limiter("memory_limiter"),
            probe.clone(),
        );
        p.start().await.expect("start");
        p.consume(spans(2)).await.expect("accepted");

        probe.0.store(85 * MIB, Ordering::SeqCst);
        // Nothing changes before the next check.
        assert!(p.consume(spans(1)).await.is_ok());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let e = p.consume(spans(3)).await.expect_err("refused");
        assert!(!e.permanent);
        assert_eq!(e.message, "data refused due to high memory usage");
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(1)));

        probe.0.store(50 * MIB, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        p.consume(spans(4)).await.expect("resumed");
        p.shutdown().await;

        let get = |name: &str| t.counter_value(name, &[("processor", "memory_limiter")]);
        assert_eq!(
            get("otelcol_processor_memory_limiter_accepted_spans"),
            Some(7)
        );
        assert_eq!(
            get("otelcol_processor_memory_limiter_refused_spans"),
            Some(3)
        );
    }

    #[test]
    fn validation_and_limit_errors() {
        let msgs = |c: MemoryLimiterConfig| c.validate();
        assert_eq!(
            msgs(MemoryLimiterConfig::default()),
            vec!["'check_interval' must be greater than zero".to_string()]
        );
        assert_eq!(
            msgs(cfg(0, 0)),
            vec!["'limit_mib' or 'limit_percentage' must be greater than zero".to_string()]
        );
        assert!(msgs(cfg(100, 20)).is_empty());
        assert_eq!(
            Limits::from_config(&cfg(100, 100), None).err(),
            Some(BuildError(
                "'spike_limit_mib' must be smaller than 'limit_mib'".into()
            ))
        );
        assert_eq!(
            msgs(cfg(100, 100)),
            vec!["'spike_limit_mib' must be smaller than 'limit_mib'".to_string()]
        );
        let pct = MemoryLimiterConfig {
            limit_mib: 0,
            limit_percentage: 50,
            spike_limit_percentage: 10,
            ..cfg(0, 0)
        };
        assert!(msgs(pct.clone()).is_empty());
        assert_eq!(
            msgs(MemoryLimiterConfig {
                spike_limit_percentage: 60,
                ..pct.clone()
            }),
            vec!["'spike_limit_percentage' must be smaller than 'limit_percentage'".to_string()]
        );
        let gc = |soft_min: u64, hard_min: u64, soft_max: u64, hard_max: u64| {
            msgs(MemoryLimiterConfig {
                min_gc_interval_when_soft_limited: Duration::from_secs(soft_min),
                min_gc_interval_when_hard_limited: Duration::from_secs(hard_min),
                max_gc_interval_when_soft_limited: Duration::from_secs(soft_max),
                max_gc_interval_when_hard_limited: Duration::from_secs(hard_max),
                ..cfg(100, 20)
            })
        };
        assert!(gc(10, 0, 30, 30).is_empty(), "otelcol's defaults");
        assert!(gc(10, 5, 0, 0).is_empty(), "0 disables the caps");
        assert!(gc(1, 2, 30, 30)[0].starts_with("'min_gc_interval_when_soft_limited' should be"));
        assert!(gc(10, 0, 5, 5)[0].starts_with("'max_gc_interval_when_soft_limited' must be"));
        assert!(gc(10, 10, 30, 5)[0].starts_with("'max_gc_interval_when_hard_limited' must be"));
        assert!(gc(10, 0, 20, 30)[0].ends_with("(when both are set)"));
        let l = Limits::from_config(&pct, Some(1000 * MIB)).expect("pct limits");
        assert_eq!(
            l,
            Limits {
                hard: 500 * MIB,
                soft: 400 * MIB
            }
        );
    }

    #[test]
    fn total_memory_from_cgroup_v2_then_v1_then_host() {
        let host = Some("MemTotal:       16384 kB\nMemFree: 1 kB\n");
        assert_eq!(
            total_memory_from(Some("536870912\n"), None, host),
            Some(512 * MIB)
        );
        assert_eq!(total_memory_from(Some("max\n"), None, host), Some(16 * MIB));
        assert_eq!(
            total_memory_from(None, Some("268435456\n"), host),
            Some(256 * MIB)
        );
        assert_eq!(
            total_memory_from(None, Some("9223372036854771712\n"), host),
            Some(16 * MIB),
            "cgroup v1 without a limit"
        );
        assert_eq!(total_memory_from(None, None, None), None);
    }
}
