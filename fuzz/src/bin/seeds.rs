//! Writes seed inputs for the fuzz targets into `fuzz/corpus/<target>/` (not checked in), from
//! files already in the repo: the Datadog golden requests (as OTLP/JSON and protobuf), the
//! example and broken configs. Run from `fuzz/`: `cargo run --bin seeds`.

use kakehashi_pdata::ExportTraceServiceRequest;
use prost::Message;
use std::fs;
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|e| e == ext));
    out.sort();
    out
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let golden = root.join("crates/datadog-translate/tests/golden");
    for path in files(&golden, "json") {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let case: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read golden")).expect("golden json");
        let input = &case["input"];
        write("otlp_json", &name, input.to_string().as_bytes());
        let Ok(req) = serde_json::from_value::<ExportTraceServiceRequest>(input.clone()) else {
            continue;
        };
        let pb = req.encode_to_vec();
        write("otlp_proto", &name, &pb);
        for mode in [0u8, 1, 4, 8 | 16] {
            let mut seed = vec![mode];
            seed.extend_from_slice(&pb);
            write("datadog_translate", &format!("{name}-{mode}"), &seed);
        }
    }
    for dir in [
        "config/examples",
        "crates/collector/tests/broken-configs",
        "crates/collector/tests/fixtures",
    ] {
        for path in files(&root.join(dir), "yaml") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            write("config_load", &name, &fs::read(&path).expect("read config"));
        }
    }
    println!("seeds written under fuzz/corpus/");
}
