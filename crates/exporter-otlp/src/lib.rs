//! The otlp (gRPC) and otlphttp exporters.
