//! The `/debug/pprof/` routes, with Go's `net/http/pprof` paths, headers and error texts, so
//! `go tool pprof` and scripts written against otelcol work unchanged.

use super::profiler::{CpuProfile, ProfileError};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Go's default when `seconds` is missing, not a number, or not positive.
const DEFAULT_SECONDS: u64 = 30;

/// The profiles Go's runtime serves beside the CPU profile; named here so a request for one
/// says why there is none.
const GO_RUNTIME_PROFILES: [&str; 8] = [
    "allocs",
    "block",
    "goroutine",
    "heap",
    "mutex",
    "threadcreate",
    "trace",
    "symbol",
];

pub(super) fn router(stop: CancellationToken) -> Router {
    Router::new()
        // Go's mux redirects the bare path, so the index's relative links resolve.
        .route("/debug/pprof", get(to_index))
        .route("/debug/pprof/", get(index))
        .route("/debug/pprof/profile", get(profile))
        .route("/debug/pprof/cmdline", get(cmdline))
        .route("/debug/pprof/{name}", get(unknown_profile))
        .fallback(not_found)
        .with_state(stop)
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// Go's `serveError`: plain text with the `X-Go-Pprof` marker that `go tool pprof` looks for
/// to show the server's message rather than a parse failure.
fn serve_error(status: StatusCode, message: &str) -> Response<Body> {
    let mut resp = text(status, format!("{message}\n"));
    resp.headers_mut()
        .insert("X-Go-Pprof", header::HeaderValue::from_static("1"));
    resp
}

async fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "404 page not found\n".into())
}

/// Go's `301 Moved Permanently` from `/debug/pprof` to `/debug/pprof/`.
async fn to_index() -> Response<Body> {
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, "/debug/pprof/")
        .body(Body::empty())
        .expect("static response parts are valid")
}

async fn index() -> Response<Body> {
    let body = "<html>\n<head><title>/debug/pprof/</title></head>\n<body>\n\
        /debug/pprof/\n<br>\n<p>Types of profiles available:</p>\n<table>\n\
        <thead><td>Profile</td></thead>\n\
        <tr><td><a href=\"cmdline\">cmdline</a></td></tr>\n\
        <tr><td><a href=\"profile\">profile</a></td></tr>\n\
        </table>\n\
        <p><a href=\"profile?seconds=30\">full profile</a>: CPU profile, 30 s by default \
        (<code>?seconds=N</code>), in pprof's format: \
        <code>go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30</code></p>\n\
        <p>kakehashi is not a Go program: Go's runtime profiles (allocs, block, goroutine, \
        heap, mutex, threadcreate, trace) do not exist here.</p>\n\
        </body>\n</html>\n";
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// Go's `Cmdline`: the arguments separated by NUL bytes (values that may be secrets hidden).
async fn cmdline() -> Response<Body> {
    text(StatusCode::OK, crate::cmdline::redacted_args().join("\0"))
}

async fn unknown_profile(Path(name): Path<String>) -> Response<Body> {
    if GO_RUNTIME_PROFILES.contains(&name.as_str()) {
        return serve_error(
            StatusCode::NOT_FOUND,
            &format!(
                "Unknown profile\n{name} is a Go runtime profile and kakehashi is not a Go \
                 program; the CPU profile is at /debug/pprof/profile"
            ),
        );
    }
    serve_error(StatusCode::NOT_FOUND, "Unknown profile")
}

/// Go's `Profile`: samples the CPU for `seconds` (30 by default), then answers with the
/// gzipped profile. A client that goes away stops the profile (the future is dropped, and with
/// it the profiler); so does the collector's shutdown.
async fn profile(
    State(stop): State<CancellationToken>,
    Query(params): Query<HashMap<String, String>>,
) -> Response<Body> {
    let seconds = params
        .get("seconds")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| u64::try_from(s).ok())
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_SECONDS);
    let started = match tokio::task::spawn_blocking(CpuProfile::start).await {
        Ok(started) => started,
        Err(e) => return serve_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let cpu = match started {
        Ok(cpu) => cpu,
        Err(e) => {
            return serve_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Could not enable CPU profiling: {e}"),
            )
        }
    };
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        () = stop.cancelled() => {}
    }
    match tokio::task::spawn_blocking(move || cpu.finish()).await {
        Ok(Ok(bytes)) => Response::builder()
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"profile\"",
            )
            .header("X-Content-Type-Options", "nosniff")
            .body(Body::from(bytes))
            .expect("static response parts are valid"),
        Ok(Err(e)) => profile_failed(&e),
        Err(e) => serve_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn profile_failed(e: &ProfileError) -> Response<Body> {
    serve_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Could not build the CPU profile: {e}"),
    )
}
