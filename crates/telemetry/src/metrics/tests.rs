use super::*;

#[test]
fn names_have_no_total_suffix() {
    let t = Telemetry::new();
    t.receiver("otlp", "grpc").accepted(Signal::Traces, 3);
    t.exporter("debug", Signal::Traces).sent.inc_by(2);
    let text = t.encode_text();
    assert!(
        text.contains(r#"otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"otelcol_exporter_sent_spans{exporter="debug"} 2"#),
        "{text}"
    );
    assert!(!text.contains("_total"));
    assert_eq!(
        t.counter_value("otelcol_receiver_accepted_spans", &[("receiver", "otlp")]),
        Some(3)
    );
}

/// otelcol's process metrics: uptime and CPU time are counters (monotonic sums), RSS a gauge.
#[test]
fn process_metrics_as_otelcol_types_them() {
    let t = Telemetry::new();
    let spin = std::time::Instant::now();
    while spin.elapsed() < std::time::Duration::from_millis(50) {
        std::hint::black_box(spin.elapsed());
    }
    let text = t.encode_text();
    for (name, kind) in [
        ("otelcol_process_uptime", "counter"),
        ("otelcol_process_cpu_seconds", "counter"),
        ("otelcol_process_memory_rss", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name}: {text}"
        );
    }
    let value = |text: &str, name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        line.split(' ').nth(1).unwrap().parse().unwrap()
    };
    let cpu = value(&text, "otelcol_process_cpu_seconds");
    assert!(cpu > 0.0, "{text}");
    let again = t.encode_text();
    assert!(value(&again, "otelcol_process_cpu_seconds") >= cpu);
    assert!(value(&again, "otelcol_process_uptime") >= value(&text, "otelcol_process_uptime"));
}

/// Queue series exist only for exporters with a queue, as in otelcol.
#[test]
fn an_exporter_without_a_queue_has_no_queue_series() {
    let t = Telemetry::new();
    let queued = t.exporter("otlp", Signal::Traces);
    queued.queue_capacity.set(1000);
    let direct = t.exporter("debug", Signal::Traces);
    direct.without_queue();
    direct.queue_size.set(5); // a handle kept anyway writes nowhere visible
    let text = t.encode_text();
    assert!(
        text.contains(
            r#"otelcol_exporter_queue_capacity{data_type="traces",exporter="otlp"} 1000"#
        ),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("otelcol_exporter_queue") && l.contains(r#"exporter="debug""#)),
        "{text}"
    );
}

#[test]
fn resource_labels_on_every_series_and_in_target_info() {
    let labels = vec![
        ("exporter".to_string(), "not-this-one".to_string()),
        ("service_name".to_string(), "kakehashi".to_string()),
    ];
    let t = Telemetry::new().with_resource(labels);
    t.exporter("debug", Signal::Traces).sent.inc_by(2);
    let text = t.encode_text();
    // The series' own `exporter` label wins over the resource's.
    assert!(
        text.contains(
            r#"otelcol_exporter_sent_spans{exporter="debug",service_name="kakehashi"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"target_info{exporter="not-this-one",service_name="kakehashi"} 1"#),
        "{text}"
    );
    let unlabelled = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("service_name=\"kakehashi\""))
        .collect::<Vec<_>>();
    assert!(unlabelled.is_empty(), "{unlabelled:?}");
}
