use super::*;
use pprof::protos::Message;
use std::io::Read;
use std::time::{Duration, Instant};

/// The process has one CPU profiler: tests that take a profile run one at a time.
static PROFILER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn started(config: PprofConfig) -> Pprof {
    let ext = Pprof::new(
        "pprof".into(),
        PprofConfig {
            endpoint: "127.0.0.1:0".into(),
            ..config
        },
    );
    ext.start().await.unwrap();
    ext
}

async fn url(ext: &Pprof, path: &str) -> String {
    format!("http://{}{path}", ext.local_addr().await.unwrap())
}

/// Keeps one core busy in a function whose name the profile must show.
#[inline(never)]
fn burn_cpu_for_the_profile(for_how_long: Duration) -> u64 {
    let end = Instant::now() + for_how_long;
    let mut x = 1u64;
    while Instant::now() < end {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

fn decode_profile(gzipped: &[u8]) -> pprof::protos::Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut raw)
        .expect("the profile is gzipped, as Go's");
    pprof::protos::Profile::decode(raw.as_slice()).expect("a perftools.profiles.Profile")
}

fn function_names(p: &pprof::protos::Profile) -> Vec<&str> {
    p.function
        .iter()
        .map(|f| p.string_table[f.name as usize].as_str())
        .collect()
}

/// Keeps one core busy until `done`, in a function whose name the profile must show.
#[inline(never)]
fn burn_cpu_until(done: &std::sync::atomic::AtomicBool) -> u64 {
    let mut x = 1u64;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        x = burn_cpu_for_the_profile(Duration::from_millis(10)).wrapping_add(x);
    }
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_profile_shows_where_the_time_went() {
    let _one = PROFILER.lock().await;
    let ext = started(PprofConfig::default()).await;
    // Busy for as long as the profile takes, however long starting the profiler takes.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burner = std::thread::spawn({
        let done = done.clone();
        move || burn_cpu_until(&done)
    });
    let resp = reqwest::get(url(&ext, "/debug/pprof/profile?seconds=1").await)
        .await
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    burner.join().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"profile\""
    );
    let profile = decode_profile(&resp.bytes().await.unwrap());
    let types: Vec<_> = profile
        .sample_type
        .iter()
        .map(|t| profile.string_table[t.ty as usize].as_str())
        .collect();
    assert_eq!(types, ["samples", "cpu"]);
    assert_eq!(profile.period, 10_000_000, "100 Hz, as Go");
    let samples: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
    assert!(samples >= 20, "a busy core for 1 s gave {samples} samples");
    assert!(
        function_names(&profile)
            .iter()
            .any(|n| n.contains("burn_cpu_for_the_profile")),
        "the busy function is named: {:?}",
        function_names(&profile)
    );
    ext.shutdown().await;
}

#[tokio::test]
async fn a_second_profile_at_the_same_time_gets_go_s_error() {
    let _one = PROFILER.lock().await;
    let ext = started(PprofConfig::default()).await;
    // Another profile holds the process's profiler.
    let held = tokio::task::spawn_blocking(CpuProfile::start)
        .await
        .unwrap()
        .unwrap();
    let second = reqwest::get(url(&ext, "/debug/pprof/profile?seconds=1").await)
        .await
        .unwrap();
    assert_eq!(second.status(), 500);
    assert_eq!(second.headers()["x-go-pprof"], "1");
    assert_eq!(
        second.text().await.unwrap(),
        "Could not enable CPU profiling: cpu profiling already in use\n"
    );
    drop(held);
    let third = reqwest::get(url(&ext, "/debug/pprof/profile?seconds=1").await)
        .await
        .unwrap();
    assert_eq!(
        third.status(),
        200,
        "free again once the other profile ended"
    );
    ext.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_a_profile_in_progress() {
    let _one = PROFILER.lock().await;
    let ext = Arc::new(started(PprofConfig::default()).await);
    let pending = tokio::spawn(reqwest::get(
        url(&ext, "/debug/pprof/profile?seconds=600").await,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shutdown = tokio::time::timeout(Duration::from_secs(60), ext.shutdown()).await;
    assert!(shutdown.is_ok(), "shutdown waited for the 600 s profile");
    // The request ends with the server: with what was sampled, or with the connection closed.
    let _ = tokio::time::timeout(Duration::from_secs(60), pending)
        .await
        .expect("the profile request ended");
}

#[tokio::test]
async fn go_runtime_profiles_are_unknown_with_a_reason() {
    let ext = started(PprofConfig::default()).await;
    let r = reqwest::get(url(&ext, "/debug/pprof/heap").await)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-go-pprof"], "1");
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("Unknown profile\nheap is a Go runtime profile"),
        "{body}"
    );
    let r = reqwest::get(url(&ext, "/debug/pprof/nonsense").await)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "Unknown profile\n");
    let r = reqwest::get(url(&ext, "/elsewhere").await).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404 page not found\n");
    ext.shutdown().await;
}

#[tokio::test]
async fn index_and_cmdline() {
    let ext = started(PprofConfig::default()).await;
    let r = reqwest::get(url(&ext, "/debug/pprof/").await)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("href=\"profile\""));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(url(&ext, "/debug/pprof").await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301, "as Go's mux");
    assert_eq!(r.headers()["location"], "/debug/pprof/");
    let r = reqwest::get(url(&ext, "/debug/pprof/cmdline").await)
        .await
        .unwrap();
    // The test harness's arguments carry nothing to redact: they come back as they are.
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(r.text().await.unwrap(), args.join("\0"));
    ext.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_to_file_writes_the_whole_run_at_shutdown() {
    let _one = PROFILER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cpu.pprof");
    let ext = started(PprofConfig {
        save_to_file: file.to_string_lossy().into_owned(),
        ..Default::default()
    })
    .await;
    assert!(file.exists(), "created at start, as otelcol");
    // While the whole-run profile runs, the endpoint cannot take another one (as in Go).
    let r = reqwest::get(url(&ext, "/debug/pprof/profile?seconds=1").await)
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    tokio::task::spawn_blocking(|| burn_cpu_for_the_profile(Duration::from_millis(600)))
        .await
        .unwrap();
    ext.shutdown().await;
    let profile = decode_profile(&std::fs::read(&file).unwrap());
    let samples: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
    assert!(samples > 0, "the whole run's samples are saved");
}

#[tokio::test]
async fn save_to_file_that_cannot_be_created_fails_the_start() {
    let ext = Pprof::new(
        "pprof".into(),
        PprofConfig {
            endpoint: "127.0.0.1:0".into(),
            save_to_file: "/nonexistent-dir/cpu.pprof".into(),
            ..Default::default()
        },
    );
    let err = ext.start().await.unwrap_err();
    assert!(
        err.0
            .contains("cannot create save_to_file /nonexistent-dir/cpu.pprof"),
        "{}",
        err.0
    );
    ext.shutdown().await;
}

#[test]
fn config_keys_are_otelcol_s() {
    let cfg: PprofConfig = kakehashi_config::decode_yaml(
        "extensions::pprof",
        "endpoint: 0.0.0.0:1777\nblock_profile_fraction: 3\nmutex_profile_fraction: 5\n\
         save_to_file: /tmp/x\ndialer:\n  timeout: 5s\n",
    )
    .unwrap();
    assert_eq!(cfg.endpoint, "0.0.0.0:1777");
    assert_eq!(cfg.block_profile_fraction, 3);
    assert_eq!(cfg.save_to_file, "/tmp/x");
    let defaults: PprofConfig = kakehashi_config::decode_yaml("extensions::pprof", "{}").unwrap();
    assert_eq!(defaults.endpoint, "localhost:1777");
    let errs = kakehashi_config::decode_yaml::<PprofConfig>("extensions::pprof", "endpont: x\n")
        .unwrap_err()
        .to_string();
    assert!(errs.contains("endpont"), "{errs}");
}
