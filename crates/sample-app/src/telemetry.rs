//! The OpenTelemetry SDK set-up: OTLP/gRPC span exporter, batch span processor, resource.
//!
//! Everything the SDK reads from the environment is left to it: `OTEL_EXPORTER_OTLP_*`
//! (endpoint, headers, timeout, compression), `OTEL_BSP_*` (batching), `OTEL_TRACES_SAMPLER*`,
//! `OTEL_SPAN_*_LIMIT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`. The differences: an
//! explicit endpoint, when the caller gives one, wins; an endpoint without a scheme gets
//! `http://` (see [`otlp_endpoint`]); `OTEL_SERVICE_NAME` wins over `OTEL_RESOURCE_ATTRIBUTES`'
//! `service.name` (see [`resource`]); the default service name is `sample-app`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, Key, Value};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tokio::time::Instant;

/// The instrumentation scope of every span this app makes.
pub const SCOPE_NAME: &str = "kakehashi-sample-app";

/// Builds the tracer provider: OTLP/gRPC exporter (tonic) behind a batch span processor.
///
/// Must be called inside a Tokio runtime that outlives the provider (the tonic channel lives
/// on it).
pub fn tracer_provider(endpoint: Option<&str>) -> Result<SdkTracerProvider, String> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if let Some(endpoint) = otlp_endpoint(endpoint) {
        builder = builder.with_endpoint(endpoint);
    }
    let exporter = builder
        .build()
        .map_err(|e| format!("cannot build the OTLP span exporter: {e}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The endpoint to hand the exporter, resolved as the SDK does (`explicit`, else
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; `None`: the SDK's
/// default `http://localhost:4317`), except that a value without a scheme (`collector:4317`,
/// what the seed's Go app passes to `otlptracegrpc.WithEndpoint`) gets `http://`: tonic cannot
/// send to a URI without one, and the seed's deployments set the variable that way.
pub fn otlp_endpoint(explicit: Option<&str>) -> Option<String> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let endpoint = explicit
        .filter(|e| !e.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_ENDPOINT"))?;
    Some(with_scheme(endpoint.trim()))
}

fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

/// The SDK's default resource (`OTEL_RESOURCE_ATTRIBUTES`, `telemetry.sdk.*`) with
/// `service.name` from `OTEL_SERVICE_NAME`, else from `OTEL_RESOURCE_ATTRIBUTES`, else
/// `sample-app`.
///
/// (The SDK's own detectors let `OTEL_RESOURCE_ATTRIBUTES`'s `service.name` override
/// `OTEL_SERVICE_NAME`; the specification says the opposite, and so does this function.)
pub fn resource() -> Resource {
    let from_attributes = EnvResourceDetector::new()
        .detect()
        .get(&Key::from_static_str(SERVICE_NAME_KEY));
    let name = service_name(std::env::var("OTEL_SERVICE_NAME").ok(), from_attributes);
    Resource::builder().with_service_name(name).build()
}

const SERVICE_NAME_KEY: &str = "service.name";

fn service_name(otel_service_name: Option<String>, from_attributes: Option<Value>) -> Value {
    match otel_service_name.filter(|s| !s.is_empty()) {
        Some(name) => Value::from(name),
        None => from_attributes
            .filter(|v| !v.as_str().is_empty())
            .unwrap_or_else(|| Value::from(crate::SERVICE_NAME)),
    }
}

/// The tracer every span of the app comes from.
pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    let scope = InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    provider.tracer_with_scope(scope)
}

/// Force-flushes and shuts down the provider by `deadline` (at least 500 ms from now).
///
/// The SDK calls block their thread until the batch processor's thread answers, and the export
/// itself runs on this runtime (the tonic channel), so they run on the blocking pool.
pub async fn flush_and_shutdown(provider: SdkTracerProvider, deadline: Instant) {
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let started = Instant::now();
    let work = tokio::task::spawn_blocking(move || {
        let flushed = provider.force_flush();
        let remaining = budget
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let shut = provider.shutdown_with_timeout(remaining);
        (flushed, shut)
    });
    match tokio::time::timeout(budget, work).await {
        Ok(Ok((flushed, shut))) => {
            let flushed = match flushed {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "flushing spans failed");
                    false
                }
            };
            match shut {
                Ok(()) if flushed => tracing::info!("spans flushed; tracer provider shut down"),
                Ok(()) => tracing::info!("tracer provider shut down"),
                Err(e) => tracing::warn!(error = %e, "tracer provider shutdown failed"),
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "tracer provider shutdown task failed"),
        Err(_) => tracing::warn!(?budget, "flushing spans did not finish in time; giving up"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_scheme() {
        assert_eq!(with_scheme("collector:4317"), "http://collector:4317");
        assert_eq!(with_scheme("127.0.0.1:4317"), "http://127.0.0.1:4317");
        assert_eq!(with_scheme("http://c:4317"), "http://c:4317");
        assert_eq!(with_scheme("https://c:4317"), "https://c:4317");
        assert_eq!(
            otlp_endpoint(Some(" http://127.0.0.1:1 ")).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            otlp_endpoint(Some("127.0.0.1:1")).as_deref(),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn service_name_precedence() {
        let attr = || Some(Value::from("from-attributes"));
        assert_eq!(
            service_name(Some("from-env".into()), attr()).as_str(),
            "from-env"
        );
        assert_eq!(
            service_name(Some(String::new()), attr()).as_str(),
            "from-attributes"
        );
        assert_eq!(service_name(None, attr()).as_str(), "from-attributes");
        assert_eq!(service_name(None, None).as_str(), "sample-app");
        assert_eq!(
            service_name(None, Some(Value::from(""))).as_str(),
            "sample-app"
        );
    }
}
