//! A load generator for the demo: a realistic request mix against a loopback sample-app.

use reqwest::Url;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The highest rate [`generate_traffic`] accepts, in requests per second.
pub const MAX_RATE_PER_SEC: f64 = 200.0;
/// At most this many requests are in flight at once; a tick that finds them all busy is skipped.
pub const MAX_IN_FLIGHT: usize = 16;
/// Each request gives up after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// After `stop`, in-flight requests get this long to finish before they are abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// What [`generate_traffic`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// Requests started.
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered something else (4xx/5xx; `/fail` answers 500 on purpose).
    pub error_status: u64,
    /// Did not get an answer (connection refused, timeout) or were abandoned at stop.
    pub failed: u64,
    /// Ticks skipped because [`MAX_IN_FLIGHT`] requests were already in flight.
    pub skipped: u64,
}

/// The mix: ~70% `/health`, ~15% `/slow`, ~10% `/users/{id}`, ~5% `/fail`.
fn pick_path(rng: &mut impl rand::Rng) -> String {
    match rng.random_range(0..100) {
        0..70 => "/health".to_owned(),
        70..85 => "/slow".to_owned(),
        85..95 => format!("/users/{}", rng.random_range(1..=1000)),
        _ => "/fail".to_owned(),
    }
}

/// Checks that `base_url` is `http://` to a loopback host (`localhost`, 127.0.0.0/8, `::1`).
fn loopback_base(base_url: &str) -> Result<Url, String> {
    let url = Url::parse(base_url).map_err(|e| format!("invalid base URL {base_url:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("base URL {base_url:?} must be http://"));
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "base URL {base_url:?} is not a loopback address; traffic is only generated locally"
        ));
    }
    Ok(url)
}

/// Calls the sample-app at `base_url` (loopback only) about `rate_per_sec` times a second, in a
/// realistic mix (mostly `/health`, some `/slow` and `/users/{id}`, a few `/fail`), until `stop`
/// completes. Bounded: the rate is at most [`MAX_RATE_PER_SEC`], at most [`MAX_IN_FLIGHT`]
/// requests are in flight, each times out after [`REQUEST_TIMEOUT`], and after `stop` the ones
/// in flight get [`STOP_GRACE`] to finish.
pub async fn generate_traffic(
    base_url: &str,
    rate_per_sec: f64,
    stop: impl Future<Output = ()>,
) -> Result<TrafficStats, String> {
    let base = loopback_base(base_url)?;
    if !(rate_per_sec.is_finite() && rate_per_sec > 0.0 && rate_per_sec <= MAX_RATE_PER_SEC) {
        return Err(format!(
            "rate {rate_per_sec} must be above 0 and at most {MAX_RATE_PER_SEC} requests per second"
        ));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("kakehashi-traffic/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    let mut stats = TrafficStats::default();
    let mut in_flight: JoinSet<Result<reqwest::StatusCode, reqwest::Error>> = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_sec));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(stop);

    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                record(&mut stats, done);
            }
            _ = ticks.tick() => {
                if in_flight.len() >= MAX_IN_FLIGHT {
                    stats.skipped += 1;
                    continue;
                }
                let path = pick_path(&mut rand::rng());
                let url = match base.join(&path) {
                    Ok(url) => url,
                    Err(e) => return Err(format!("cannot build a URL for {path}: {e}")),
                };
                let request = client.get(url);
                stats.sent += 1;
                in_flight.spawn(async move {
                    let response = request.send().await?;
                    let status = response.status();
                    // Read the body so the connection can be reused.
                    let _ = response.bytes().await;
                    Ok(status)
                });
            }
        }
    }

    let grace = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            done = in_flight.join_next() => match done {
                Some(done) => record(&mut stats, done),
                None => break,
            },
            () = &mut grace => {
                stats.failed += in_flight.len() as u64;
                in_flight.abort_all();
                break;
            }
        }
    }
    Ok(stats)
}

fn record(
    stats: &mut TrafficStats,
    done: Result<Result<reqwest::StatusCode, reqwest::Error>, tokio::task::JoinError>,
) {
    match done {
        Ok(Ok(status)) if status.is_success() => stats.ok += 1,
        Ok(Ok(_)) => stats.error_status += 1,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "traffic request failed");
            stats.failed += 1;
        }
        Err(_) => stats.failed += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http() {
        assert!(loopback_base("http://127.0.0.1:8080").is_ok());
        assert!(loopback_base("http://127.1.2.3:8080/").is_ok());
        assert!(loopback_base("http://localhost:8080").is_ok());
        assert!(loopback_base("http://[::1]:8080").is_ok());
        assert!(loopback_base("http://10.0.0.1:8080").is_err());
        assert!(loopback_base("http://example.com").is_err());
        assert!(loopback_base("https://127.0.0.1:8080").is_err());
        assert!(loopback_base("not a url").is_err());
    }

    #[tokio::test]
    async fn rejects_bad_rates() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_RATE_PER_SEC + 1.0] {
            let r = generate_traffic("http://127.0.0.1:1", rate, std::future::ready(())).await;
            assert!(r.is_err(), "rate {rate} accepted");
        }
    }

    #[test]
    fn mix_is_mostly_health() {
        let mut rng = rand::rng();
        let paths: Vec<String> = (0..2000).map(|_| pick_path(&mut rng)).collect();
        let health = paths.iter().filter(|p| *p == "/health").count();
        let fail = paths.iter().filter(|p| *p == "/fail").count();
        assert!(health > 1200 && health < 1600, "{health}");
        assert!(fail > 30 && fail < 200, "{fail}");
    }
}
