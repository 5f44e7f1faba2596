//! Topology: builds pipelines from validated config, fan-out, bounded channels, the exporter runner (queue, retry, timeout).
