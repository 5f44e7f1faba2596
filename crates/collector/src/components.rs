//! The one explicit list of components built into kakehashi.

use kakehashi_pipeline::Factories;
use std::sync::Arc;

pub fn factories() -> Factories {
    Factories {
        receivers: vec![Arc::new(kakehashi_receiver_otlp::OtlpReceiverFactory)],
        processors: vec![
            Arc::new(kakehashi_processors::BatchProcessorFactory),
            Arc::new(kakehashi_processors::ResourceProcessorFactory),
            Arc::new(kakehashi_processors::AttributesProcessorFactory),
            Arc::new(kakehashi_processors::MemoryLimiterProcessorFactory),
            Arc::new(kakehashi_processors::FilterProcessorFactory),
            Arc::new(kakehashi_processors::ResourceDetectionProcessorFactory::default()),
            Arc::new(kakehashi_processors::TransformProcessorFactory),
            Arc::new(kakehashi_processors::ProbabilisticSamplerProcessorFactory),
            Arc::new(kakehashi_processors::TailSamplingProcessorFactory),
            Arc::new(kakehashi_processor_k8sattributes::K8sAttributesProcessorFactory),
        ],
        exporters: vec![
            Arc::new(kakehashi_exporter_otlp::OtlpGrpcExporterFactory),
            Arc::new(kakehashi_exporter_otlp::OtlpHttpExporterFactory),
            Arc::new(kakehashi_exporter_debug::DebugExporterFactory),
            Arc::new(kakehashi_exporter_debug::NopExporterFactory),
            Arc::new(kakehashi_exporter_datadog::DatadogExporterFactory),
        ],
        extensions: vec![
            Arc::new(kakehashi_extensions::HealthCheckExtensionFactory),
            Arc::new(kakehashi_extensions::PprofExtensionFactory),
            Arc::new(kakehashi_extensions::ZPagesExtensionFactory),
            Arc::new(kakehashi_extensions::BearerTokenAuthExtensionFactory),
            Arc::new(kakehashi_extensions::FileStorageExtensionFactory),
        ],
        connectors: vec![
            Arc::new(kakehashi_connectors::ForwardConnectorFactory),
            Arc::new(kakehashi_exporter_datadog::DatadogConnectorFactory),
        ],
    }
}

/// `kakehashi components`: YAML in otelcol's shape (buildinfo, then each kind's components with
/// their stability per signal).
pub fn describe(f: &Factories) -> String {
    use kakehashi_component::FactoryInfo;
    fn section<F: FactoryInfo + ?Sized>(out: &mut String, kind: &str, list: &[Arc<F>]) {
        out.push_str(&format!("{kind}:\n"));
        for f in list {
            out.push_str(&format!("  - name: {}\n", f.type_name()));
            out.push_str(&format!("    module: kakehashi/{kind}/{}\n", f.type_name()));
            out.push_str("    stability:\n");
            if f.signals().is_empty() {
                out.push_str(&format!("      extension: {}\n", f.stability()));
            }
            for s in f.signals() {
                out.push_str(&format!("      {s}: {}\n", f.stability()));
            }
            if !f.aliases().is_empty() {
                out.push_str(&format!("    aliases: [{}]\n", f.aliases().join(", ")));
            }
        }
    }
    let build = kakehashi_component::BuildInfo::default();
    let mut out = format!(
        "buildinfo:\n  command: {}\n  description: {}\n  version: {}\n",
        build.command, build.description, build.version
    );
    section(&mut out, "receivers", &f.receivers);
    section(&mut out, "processors", &f.processors);
    section(&mut out, "exporters", &f.exporters);
    section(&mut out, "extensions", &f.extensions);
    out.push_str("connectors:\n");
    for c in &f.connectors {
        out.push_str(&format!("  - name: {}\n", c.type_name()));
        out.push_str(&format!(
            "    module: kakehashi/connectors/{}\n",
            c.type_name()
        ));
        out.push_str("    stability:\n");
        for (from, to) in c.pairs() {
            out.push_str(&format!("      {from}_to_{to}: {}\n", c.stability()));
        }
    }
    out
}
