//! Deep merge of config trees (maps merge, scalars and lists replace) and --set overrides.
