//! A partial success from the backend: logged at warn, and the export counts as successful, as
//! otelcol's otlp and otlphttp exporters treat it.

/// What the backend rejected, named as the field of otelcol's log line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rejected {
    Spans,
    DataPoints,
    LogRecords,
}

/// Logs nothing unless the backend rejected something or said why. otelcol's line carries the
/// backend's text in a field named `message`; tracing reserves that name for the event's own
/// message, so it goes in `error_message` (the OTLP response field it comes from).
pub(crate) fn log(what: Rejected, rejected: i64, error_message: &str) {
    if rejected == 0 && error_message.is_empty() {
        return;
    }
    match what {
        Rejected::Spans => tracing::warn!(
            error_message,
            dropped_spans = rejected,
            "Partial success response"
        ),
        Rejected::DataPoints => tracing::warn!(
            error_message,
            dropped_data_points = rejected,
            "Partial success response"
        ),
        Rejected::LogRecords => tracing::warn!(
            error_message,
            dropped_log_records = rejected,
            "Partial success response"
        ),
    }
}
