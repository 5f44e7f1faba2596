//! The debug and nop exporters.
