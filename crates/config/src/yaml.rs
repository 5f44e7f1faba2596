//! YAML text → Node (with positions), via saphyr-parser's event stream.
