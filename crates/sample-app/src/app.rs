//! The HTTP routes and the tracing middleware.

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, StatusCode, Version};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use rand::Rng as _;
use std::time::{Duration, Instant};

/// What the handlers share: the tracer.
#[derive(Clone)]
struct AppState {
    tracer: SdkTracer,
}

/// A 5xx response's error description, put in the response extensions by a handler so the
/// middleware can use it as the server span's status description.
#[derive(Clone)]
struct ErrorDescription(String);

/// The app: routes plus the server-span/request-log middleware on every route.
/// The seed's `custom.tag` value on the `HealthCheck Local` span.
pub const HEALTH_CUSTOM_TAG: &str = "🚀 This is a test trace! 🚀";
/// The seed's `custom.debugTag` value.
pub const HEALTH_DEBUG_TAG: &str = "🐛 This is a debug trace! 🐛";
/// The seed's span-level `service.name` on `HealthCheck Local`.
pub const HEALTH_SERVICE_NAME: &str = "vote-app";

pub fn router(tracer: SdkTracer) -> Router {
    let state = AppState { tracer };
    Router::new()
        .route("/health", get(health))
        .route("/slow", get(slow))
        .route("/users/{id}", get(user))
        .route("/fail", get(fail))
        // `Router::layer` wraps each route, so `MatchedPath` is known inside the middleware.
        .layer(middleware::from_fn_with_state(state.clone(), server_span))
        .with_state(state)
}

/// W3C trace-context extraction from HTTP headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "unknown",
    }
}

/// `server.address` / `server.port` from the `Host` header (HTTP/1) or the URI authority (HTTP/2).
fn server_address(req: &Request) -> Option<(String, Option<u16>)> {
    let authority = match req.uri().authority() {
        Some(a) => a.clone(),
        None => req
            .headers()
            .get(header::HOST)?
            .to_str()
            .ok()?
            .parse::<Authority>()
            .ok()?,
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_owned(), authority.port_u16()))
}

/// One SERVER span per request (continuing an incoming `traceparent`), made current for the
/// handler; plus the request log line on stderr.
async fn server_span(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));

    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.to_string()),
        KeyValue::new("url.path", path.clone()),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("network.protocol.version", protocol_version(req.version())),
    ];
    if let Some(route) = &route {
        attributes.push(KeyValue::new("http.route", route.clone()));
    }
    if let Some(query) = req.uri().query() {
        attributes.push(KeyValue::new("url.query", query.to_owned()));
    }
    if let Some((host, port)) = server_address(&req) {
        attributes.push(KeyValue::new("server.address", host));
        if let Some(port) = port {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new("user_agent.original", ua.to_owned()));
    }

    let span = state
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&state.tracer, &parent);
    let cx = parent.with_span(span);

    let response = next.run(req).with_context(cx.clone()).await;

    let status = response.status();
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        let description = response
            .extensions()
            .get::<ErrorDescription>()
            .map(|d| d.0.clone())
            .unwrap_or_default();
        span.set_attribute(KeyValue::new("error.type", status.as_u16().to_string()));
        span.set_status(Status::error(description));
    }
    span.end();

    let trace_id = span.span_context().trace_id();
    tracing::info!(
        target: "sample_app::access",
        %method,
        %path,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        %trace_id,
        "request"
    );
    response
}

/// `GET /health`: the seed's "HealthCheck Local" span with the seed's attributes, values
/// included, then `OK`. Its span-level `service.name` (`vote-app`) is what Datadog shows as this
/// span's service (span attributes come before resource attributes in the mapping), exactly as
/// the seed's Go app does.
async fn health(State(state): State<AppState>) -> &'static str {
    let mut span = state
        .tracer
        .span_builder("HealthCheck Local")
        .with_kind(SpanKind::Internal)
        .with_attributes(vec![
            KeyValue::new("custom.tag", HEALTH_CUSTOM_TAG),
            KeyValue::new("custom.debugTag", HEALTH_DEBUG_TAG),
            KeyValue::new("endpoint", "/health"),
            KeyValue::new("service.name", HEALTH_SERVICE_NAME),
            KeyValue::new("environment", "local"),
            KeyValue::new("debug_mode", true),
            KeyValue::new("random_number", 42_i64),
        ])
        .start_with_context(&state.tracer, &Context::current());
    span.end();
    "OK"
}

/// `GET /slow`: a user lookup for a random id.
async fn slow(State(state): State<AppState>) -> Json<serde_json::Value> {
    let id = rand::rng().random_range(1..=1000);
    lookup_user(&state, id).await
}

/// `GET /users/{id}`.
async fn user(State(state): State<AppState>, Path(id): Path<u64>) -> Json<serde_json::Value> {
    lookup_user(&state, id).await
}

/// A pretend user lookup: a 50–250 ms "database query" (CLIENT span), then half the time a
/// 10–50 ms call to a pretend inventory service (CLIENT span).
async fn lookup_user(state: &AppState, id: u64) -> Json<serde_json::Value> {
    let (db_ms, http_ms) = {
        let mut rng = rand::rng();
        let db_ms: u64 = rng.random_range(50..=250);
        let http_ms: Option<u64> = rng.random_bool(0.5).then(|| rng.random_range(10..=50));
        (db_ms, http_ms)
    };
    let parent = Context::current();
    let tracer = &state.tracer;

    let statement = format!("SELECT * FROM users WHERE id = {id}");
    let db_span = tracer
        .span_builder("SELECT app.users")
        .with_kind(SpanKind::Client)
        .with_attributes(vec![
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("db.namespace", "app"),
            KeyValue::new("db.statement", statement),
            KeyValue::new("db.operation.name", "SELECT"),
            KeyValue::new("db.collection.name", "users"),
            KeyValue::new("server.address", "db"),
            KeyValue::new("server.port", 5432_i64),
        ])
        .start_with_context(tracer, &parent);
    let db_cx = parent.with_span(db_span);
    tokio::time::sleep(Duration::from_millis(db_ms))
        .with_context(db_cx.clone())
        .await;
    db_cx.span().end();

    if let Some(http_ms) = http_ms {
        let url = format!("http://inventory:8081/stock/{id}");
        let mut span = tracer
            .span_builder("GET")
            .with_kind(SpanKind::Client)
            .with_attributes(vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", url),
                KeyValue::new("server.address", "inventory"),
                KeyValue::new("server.port", 8081_i64),
                KeyValue::new("network.protocol.version", "1.1"),
            ])
            .start_with_context(tracer, &parent);
        tokio::time::sleep(Duration::from_millis(http_ms)).await;
        span.set_attribute(KeyValue::new("http.response.status_code", 200_i64));
        span.end();
    }

    Json(serde_json::json!({
        "id": id,
        "name": format!("user-{id}"),
        "email": format!("user-{id}@example.com"),
        "db_ms": db_ms,
        "inventory_ms": http_ms,
    }))
}

/// `GET /fail`: a simulated failure. 500, with an `exception` event on the server span (whose
/// status the middleware sets to Error).
async fn fail() -> Response {
    const MESSAGE: &str = "simulated failure: database connection refused";
    let stacktrace = truncate(
        std::backtrace::Backtrace::force_capture().to_string(),
        8 * 1024,
    );
    Context::current().span().add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "sample_app::SimulatedError"),
            KeyValue::new("exception.message", MESSAGE),
            KeyValue::new("exception.stacktrace", stacktrace),
        ],
    );
    tracing::error!(error = MESSAGE, "request failed");
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "error": MESSAGE })),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(ErrorDescription(MESSAGE.to_owned()));
    response
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
