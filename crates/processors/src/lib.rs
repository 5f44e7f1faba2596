//! Processors: batch, resource, attributes, memory_limiter.
