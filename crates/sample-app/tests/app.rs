//! The app in process (`run_on`), exporting to a real OTLP/gRPC receiver: the spans each route
//! makes, and that shutting down flushes them.

mod common;

use common::{attr, int_attr, only, str_attr, Received, Receiver};
use kakehashi_pdata::proto::common::v1::any_value::Value;
use kakehashi_pdata::proto::trace::v1::span::SpanKind;
use kakehashi_pdata::proto::trace::v1::status::StatusCode;
use kakehashi_sample_app::{run_on, SampleConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process sample-app exporting to `receiver`.
struct App {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl App {
    async fn start(receiver: &Receiver) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = SampleConfig {
            listen: addr,
            otlp_endpoint: Some(receiver.endpoint()),
            shutdown_timeout: Duration::from_secs(10),
        };
        let task = tokio::spawn(run_on(listener, config, async {
            let _ = stopped.await;
        }));
        App { addr, stop, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Triggers the shutdown and waits for `run_on` to return (which it must, Ok, within 15 s).
    async fn shut_down(self) {
        let _ = self.stop.send(());
        let res = tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("run_on returned within 15 s of the shutdown signal")
            .expect("run_on did not panic");
        assert_eq!(res, Ok(()));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn kind(s: &Received) -> SpanKind {
    SpanKind::try_from(s.span.kind).unwrap()
}

fn status_code(s: &Received) -> StatusCode {
    s.span
        .status
        .as_ref()
        .map(|st| StatusCode::try_from(st.code).unwrap())
        .unwrap_or(StatusCode::Unset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_makes_server_span_and_seed_child() {
    let receiver = Receiver::start().await;
    let app = App::start(&receiver).await;

    let resp = client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "OK");

    app.shut_down().await;
    // run_on returned: the flush is done, everything must be here already.
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");

    let server = only(&spans, "GET /health");
    assert_eq!(kind(server), SpanKind::Server);
    assert_eq!(
        str_attr(&server.span.attributes, "http.request.method"),
        Some("GET")
    );
    assert_eq!(
        str_attr(&server.span.attributes, "http.route"),
        Some("/health")
    );
    assert_eq!(
        str_attr(&server.span.attributes, "url.path"),
        Some("/health")
    );
    assert_eq!(
        int_attr(&server.span.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(status_code(server), StatusCode::Unset);
    assert!(server.span.parent_span_id.is_empty(), "a root span");

    let check = only(&spans, "HealthCheck Local");
    assert_eq!(kind(check), SpanKind::Internal);
    assert_eq!(check.span.trace_id, server.span.trace_id);
    assert_eq!(check.span.parent_span_id, server.span.span_id);
    assert_eq!(check.span.trace_id.len(), 16);
    assert_eq!(check.span.span_id.len(), 8);
    assert_ne!(check.span.span_id, server.span.span_id);

    // Exactly the seed's attribute keys, with their types.
    let mut keys: Vec<&str> = check
        .span
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "custom.debugTag",
            "custom.tag",
            "debug_mode",
            "endpoint",
            "environment",
            "random_number",
            "service.name"
        ]
    );
    let a = &check.span.attributes;
    assert_eq!(
        str_attr(a, "custom.tag"),
        Some("🚀 This is a test trace! 🚀")
    );
    assert_eq!(
        str_attr(a, "custom.debugTag"),
        Some("🐛 This is a debug trace! 🐛")
    );
    assert_eq!(str_attr(a, "endpoint"), Some("/health"));
    assert_eq!(str_attr(a, "service.name"), Some("vote-app"));
    assert_eq!(str_attr(a, "environment"), Some("local"));
    assert_eq!(attr(a, "debug_mode"), Some(&Value::BoolValue(true)));
    assert_eq!(
        int_attr(a, "random_number"),
        Some(42),
        "random_number is the int 42"
    );

    for s in [server, check] {
        assert_eq!(str_attr(&s.resource, "service.name"), Some("sample-app"));
        assert_eq!(
            str_attr(&s.resource, "telemetry.sdk.language"),
            Some("rust")
        );
        assert_eq!(s.scope, kakehashi_sample_app::telemetry::SCOPE_NAME);
        assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
    }
}

// On a current-thread runtime, as an embedding process might use: the exporter's channel and the
// flush must not need a second worker.
#[tokio::test]
async fn fail_is_500_with_error_status_and_exception_event() {
    let receiver = Receiver::start().await;
    let app = App::start(&receiver).await;

    let resp = client().get(app.url("/fail")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert!(body["error"].as_str().is_some(), "{body}");

    app.shut_down().await;
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let server = only(&spans, "GET /fail");
    assert_eq!(kind(server), SpanKind::Server);
    assert_eq!(status_code(server), StatusCode::Error);
    assert_eq!(
        server.span.status.as_ref().unwrap().message,
        "simulated failure: database connection refused"
    );
    assert_eq!(
        int_attr(&server.span.attributes, "http.response.status_code"),
        Some(500)
    );
    assert_eq!(str_attr(&server.span.attributes, "error.type"), Some("500"));
    assert_eq!(server.span.events.len(), 1, "{:#?}", server.span.events);
    let event = &server.span.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(
        str_attr(&event.attributes, "exception.type"),
        Some("sample_app::SimulatedError")
    );
    assert_eq!(
        str_attr(&event.attributes, "exception.message"),
        Some("simulated failure: database connection refused")
    );
    let stack = str_attr(&event.attributes, "exception.stacktrace").unwrap();
    assert!(
        !stack.is_empty() && stack.len() <= 8 * 1024,
        "{}",
        stack.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_makes_db_client_span_and_continues_incoming_trace() {
    let receiver = Receiver::start().await;
    let app = App::start(&receiver).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let resp = client()
        .get(app.url("/users/7"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["name"], "user-7");

    // Unknown routes are answered 404 and still traced (span named after the method only).
    let resp = client().get(app.url("/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    app.shut_down().await;
    let spans = receiver.spans();

    let server = only(&spans, "GET /users/{id}");
    assert_eq!(kind(server), SpanKind::Server);
    assert_eq!(
        hex(&server.span.trace_id),
        trace_id,
        "continues the caller's trace"
    );
    assert_eq!(hex(&server.span.parent_span_id), caller_span);
    assert_eq!(
        str_attr(&server.span.attributes, "http.route"),
        Some("/users/{id}")
    );
    assert_eq!(
        str_attr(&server.span.attributes, "url.path"),
        Some("/users/7")
    );

    let db = only(&spans, "SELECT app.users");
    assert_eq!(kind(db), SpanKind::Client);
    assert_eq!(db.span.trace_id, server.span.trace_id);
    assert_eq!(db.span.parent_span_id, server.span.span_id);
    let a = &db.span.attributes;
    assert_eq!(str_attr(a, "db.system"), Some("postgresql"));
    assert_eq!(str_attr(a, "db.namespace"), Some("app"));
    assert_eq!(
        str_attr(a, "db.statement"),
        Some("SELECT * FROM users WHERE id = 7")
    );
    assert_eq!(str_attr(a, "db.operation.name"), Some("SELECT"));
    assert_eq!(str_attr(a, "db.collection.name"), Some("users"));
    assert_eq!(int_attr(a, "server.port"), Some(5432));
    // The DB span lies within the server span.
    assert!(db.span.start_time_unix_nano >= server.span.start_time_unix_nano);
    assert!(db.span.end_time_unix_nano <= server.span.end_time_unix_nano);

    // Half the time a pretend inventory call follows, also a CLIENT child of the server span.
    let others: Vec<&Received> = spans
        .iter()
        .filter(|s| !["GET /users/{id}", "SELECT app.users", "GET"].contains(&s.span.name.as_str()))
        .collect();
    assert!(others.is_empty(), "unexpected spans: {others:#?}");
    for inventory in spans
        .iter()
        .filter(|s| s.span.name == "GET" && kind(s) == SpanKind::Client)
    {
        assert_eq!(inventory.span.parent_span_id, server.span.span_id);
        assert!(str_attr(&inventory.span.attributes, "url.full")
            .unwrap()
            .starts_with("http://inventory:8081/stock/7"));
    }

    let not_found: Vec<&Received> = spans
        .iter()
        .filter(|s| s.span.name == "GET" && kind(s) == SpanKind::Server)
        .collect();
    assert_eq!(not_found.len(), 1, "{spans:#?}");
    assert_eq!(
        int_attr(&not_found[0].span.attributes, "http.response.status_code"),
        Some(404)
    );
    assert_eq!(attr(&not_found[0].span.attributes, "http.route"), None);
    assert_eq!(
        status_code(not_found[0]),
        StatusCode::Unset,
        "4xx is not a server error"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
