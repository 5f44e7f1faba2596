//! The retry driver: resends the same request bytes with full-jitter exponential backoff until
//! the intake accepts them, refuses them for good, the time budget runs out or shutdown says stop.
//!
//! The backoff follows the trace agent's sender (full jitter: `rand[0, min(max, initial·m^n))`)
//! with the intervals of the collector's `retry_on_failure`, plus a server's `Retry-After` as a
//! floor.

use crate::client::{IntakeClient, Outcome, Request};
use kakehashi_component::exporterhelper::RetrySettings;
use rand::Rng;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The intake accepted the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
}

/// The request was given up. `permanent` is false when retrying might have helped (budget spent,
/// retries disabled, shutdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub permanent: bool,
    pub status: Option<u16>,
    pub reason: String,
    pub attempts: u32,
    /// Given up because the collector is shutting down, not because the intake refused it.
    pub interrupted: bool,
}

/// What ends a send early.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// Shutdown has begun: a failed attempt is not retried (the payload has had its attempt),
    /// so the payloads still queued get theirs before the drain deadline.
    pub retrying: CancellationToken,
    /// The exporter is shutting down: give up at once, also mid-request.
    pub now: CancellationToken,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.reason)?,
            None => f.write_str(&self.reason)?,
        }
        write!(f, " (after {} attempt(s))", self.attempts)
    }
}

impl std::error::Error for Failed {}

impl IntakeClient {
    /// Sends `req` until it is delivered or given up; see the module docs. When
    /// `retry.enabled` is false a retryable failure is given up after the first attempt.
    /// `stop.retrying` ends the retries (mid-backoff too) and `stop.now` the whole send, also
    /// mid-request; either is reported as not permanent and `interrupted`.
    pub async fn send_with_retry(
        &self,
        req: &Request,
        retry: &RetrySettings,
        stop: &Stop,
    ) -> Result<Delivered, Failed> {
        let what = req.endpoint;
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = tokio::select! {
                biased;
                _ = stop.now.cancelled() => return Err(shutdown_failure(what, attempts)),
                o = self.send(req) => o,
            };
            let (status, reason, retry_after) = match outcome {
                Outcome::Success { .. } => return Ok(Delivered { attempts }),
                // Not logged here: the caller reports the loss once, with what was lost.
                Outcome::Permanent { status, reason } => {
                    return Err(Failed {
                        permanent: true,
                        status,
                        reason,
                        attempts,
                        interrupted: false,
                    });
                }
                Outcome::Retryable {
                    status,
                    reason,
                    retry_after,
                } => (status, reason, retry_after),
            };
            let delay = backoff(retry, attempts - 1, retry_after, rand::rng().random());
            // Saturating: `Retry-After` comes from the network and may be any integer.
            let over_budget = !retry.max_elapsed_time.is_zero()
                && started.elapsed().saturating_add(delay) > retry.max_elapsed_time.get();
            if !retry.enabled || over_budget {
                return Err(Failed {
                    permanent: false,
                    status,
                    reason,
                    attempts,
                    interrupted: false,
                });
            }
            let not_retried = |status, reason| Failed {
                permanent: false,
                status,
                reason: format!("{reason}; not retried: shutting down"),
                attempts,
                interrupted: true,
            };
            if stop.retrying.is_cancelled() {
                return Err(not_retried(status, reason));
            }
            tracing::warn!(
                endpoint = %what,
                status,
                reason = %reason,
                attempts,
                delay = ?delay,
                "Sending to Datadog failed; will retry"
            );
            tokio::select! {
                biased;
                _ = stop.now.cancelled() => return Err(shutdown_failure(what, attempts)),
                _ = stop.retrying.cancelled() => return Err(not_retried(status, reason)),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

fn shutdown_failure(what: crate::client::Endpoint, attempts: u32) -> Failed {
    tracing::warn!(endpoint = %what, attempts, "Shutting down; giving up the payload");
    Failed {
        permanent: false,
        status: None,
        reason: "shutting down".into(),
        attempts,
        interrupted: true,
    }
}

/// The wait before retry number `retry_index` (0-based): `jitter`·min(max_interval,
/// initial·multiplier^retry_index), with `jitter` in [0, 1), but at least `retry_after`.
pub fn backoff(
    retry: &RetrySettings,
    retry_index: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exp = retry.initial_interval.get().as_secs_f64()
        * retry
            .multiplier
            .max(0.0)
            .powi(retry_index.min(i32::MAX as u32) as i32);
    // min() with a finite max also tames an infinite or NaN power.
    let cap = exp.min(retry.max_interval.get().as_secs_f64());
    let cap = if cap.is_finite() && cap > 0.0 {
        cap
    } else {
        0.0
    };
    let delay = Duration::from_secs_f64(cap * jitter.clamp(0.0, 1.0));
    delay.max(retry_after.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RetrySettings {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_millis(100).into(),
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: Duration::from_secs(10).into(),
            max_elapsed_time: Duration::from_secs(300).into(),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = settings();
        let d = backoff(&r, 0, None, 0.999_999);
        assert!(
            d > Duration::from_millis(99) && d < Duration::from_millis(100),
            "{d:?}"
        );
        assert_eq!(backoff(&r, 3, None, 0.5), Duration::from_millis(400));
        assert_eq!(backoff(&r, 10, None, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(&r, 10_000, None, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(&r, u32::MAX, None, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(&r, 5, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let r = settings();
        let ra = Some(Duration::from_secs(30));
        assert_eq!(backoff(&r, 0, ra, 0.9), Duration::from_secs(30));
        assert_eq!(
            backoff(&r, 10, Some(Duration::from_millis(1)), 0.5),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn random_jitter_stays_below_the_cap() {
        let r = settings();
        for i in 0..200 {
            let d = backoff(&r, i % 12, None, rand::rng().random());
            assert!(d < Duration::from_secs(10));
        }
    }

    #[test]
    fn failed_display_has_status_reason_attempts() {
        let f = Failed {
            permanent: true,
            status: Some(403),
            reason: "forbidden".into(),
            attempts: 1,
            interrupted: false,
        };
        assert_eq!(f.to_string(), "HTTP 403: forbidden (after 1 attempt(s))");
    }
}
