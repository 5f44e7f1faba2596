use super::*;
use crate::test_util::{owned_pairs as pairs, texts as attrs, Sink};
use kakehashi_cloud_metadata::testing::closed_url;
use kakehashi_config::{decode_yaml, Validate};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::{ExportTraceServiceRequest, Payload};
use std::path::Path;
use std::sync::Mutex;

pub(super) fn config(yaml: &str) -> ResourceDetectionConfig {
    let cfg: ResourceDetectionConfig =
        decode_yaml("processors::resourcedetection", yaml).expect("decodes");
    assert_eq!(cfg.validate(), Vec::<String>::new());
    cfg
}

fn errors(yaml: &str) -> String {
    match decode_yaml::<ResourceDetectionConfig>("processors::resourcedetection", yaml) {
        Ok(c) => c.validate().join("\n"),
        Err(e) => e.to_string(),
    }
}

/// A host's files under a temporary root.
fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const LINUX: &[(&str, &str)] = &[
    ("proc/sys/kernel/hostname", "web-7f9c\n"),
    ("proc/sys/kernel/ostype", "Linux\n"),
    ("proc/sys/kernel/osrelease", "6.8.0-45-generic\n"),
    ("proc/sys/kernel/version", "#45-Ubuntu SMP PREEMPT_DYNAMIC\n"),
    (
        "etc/hosts",
        "127.0.0.1 localhost\n# comment web-7f9c\n10.1.2.3 web-7f9c.prod.example.com. web-7f9c\n",
    ),
    ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
    ("etc/os-release", "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n"),
    (
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\nstepping\t: 7\ncache size\t: 36608 KB\n\nprocessor\t: 1\nvendor_id\t: Other\n",
    ),
];

/// The environment is `vars` only; a test that lists `ec2` without naming its endpoint asks a
/// closed local port, never the real metadata address.
pub(super) fn sources(root: &Path, vars: &[(&str, &str)]) -> Sources {
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !vars
        .iter()
        .any(|(k, _)| k == "AWS_EC2_METADATA_SERVICE_ENDPOINT")
    {
        vars.push((
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        ));
    }
    Sources {
        env: Arc::new(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())),
        root: root.to_path_buf(),
        // Nothing listens there: tests never ask a real metadata service.
        azure_endpoint: closed_url(),
        gcp_metadata_host: closed_url().trim_start_matches("http://").into(),
    }
}

/// The detection, on a runtime of its own (for the tests of local detectors); its clock is
/// paused, so the retries of a failing detector until `timeout` take no real time.
fn detect_now(cfg: &ResourceDetectionConfig, src: &Sources) -> Result<Vec<KeyValue>, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(detect(cfg, src))
}

#[test]
fn system_defaults_name_and_os_type() {
    let root = host(LINUX);
    let got = detect_now(&config("detectors: [system]"), &sources(root.path(), &[])).unwrap();
    // `dns` first: the canonical name of the /etc/hosts line listing the hostname.
    assert_eq!(
        attrs(&got),
        pairs(&[
            ("host.name", "web-7f9c.prod.example.com"),
            ("os.type", "linux")
        ])
    );
}

#[test]
fn system_hostname_sources_in_order() {
    let root = host(LINUX);
    let got = detect_now(
        &config("detectors: [system]\nsystem: {hostname_sources: [os, dns]}"),
        &sources(root.path(), &[]),
    )
    .unwrap();
    assert_eq!(attrs(&got)[0], ("host.name".into(), "web-7f9c".into()));
    // Not in /etc/hosts: `dns` fails and `os` answers.
    let root = host(&[
        ("proc/sys/kernel/hostname", "lonely\n"),
        ("etc/hosts", "127.0.0.1 localhost\n"),
    ]);
    let got = detect_now(&config("detectors: [system]"), &sources(root.path(), &[])).unwrap();
    assert_eq!(attrs(&got)[0], ("host.name".into(), "lonely".into()));
    // No source gives a name: the detector fails.
    let e = detect_now(
        &config("detectors: [system]\nsystem: {hostname_sources: [dns]}"),
        &sources(root.path(), &[]),
    )
    .unwrap_err();
    assert!(e.contains("system: all hostname sources failed"), "{e}");
}

#[test]
fn system_optional_attributes() {
    let root = host(LINUX);
    let cfg = config(
        r#"
detectors: [system]
system:
  hostname_sources: [os]
  resource_attributes:
    os.type: {enabled: false}
    host.id: {enabled: true}
    host.arch: {enabled: true}
    os.description: {enabled: true}
    host.cpu.vendor.id: {enabled: true}
    host.cpu.family: {enabled: true}
    host.cpu.model.id: {enabled: true}
    host.cpu.model.name: {enabled: true}
    host.cpu.stepping: {enabled: true}
    host.cpu.cache.l2.size: {enabled: true}
"#,
    );
    let got = attrs(&detect_now(&cfg, &sources(root.path(), &[])).unwrap());
    let arch = host_arch_for_test();
    let description = format!(
        "Ubuntu 24.04.1 LTS (Linux web-7f9c 6.8.0-45-generic #45-Ubuntu SMP PREEMPT_DYNAMIC {})",
        std::env::consts::ARCH
    );
    assert_eq!(
        got,
        pairs(&[
            ("host.name", "web-7f9c"),
            ("host.id", "0123456789abcdef0123456789abcdef"),
            ("host.arch", arch),
            ("os.description", &description),
            ("host.cpu.vendor.id", "GenuineIntel"),
            ("host.cpu.family", "6"),
            ("host.cpu.model.id", "85"),
            ("host.cpu.model.name", "Intel(R) Xeon(R)"),
            ("host.cpu.stepping", "7"),
            ("host.cpu.cache.l2.size", "36608"),
        ])
    );
}

fn host_arch_for_test() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("add {other}"),
    }
}

#[test]
fn earlier_detectors_win_and_attributes_filter() {
    let root = host(LINUX);
    let env = [(
        "OTEL_RESOURCE_ATTRIBUTES",
        "host.name=from-env,team=payments",
    )];
    let got = detect_now(
        &config("detectors: [env, system]"),
        &sources(root.path(), &env),
    )
    .unwrap();
    assert_eq!(
        attrs(&got),
        pairs(&[
            ("host.name", "from-env"),
            ("team", "payments"),
            ("os.type", "linux")
        ])
    );
    let got = detect_now(
        &config("detectors: [env, system]\nattributes: [os.type, team]"),
        &sources(root.path(), &env),
    )
    .unwrap();
    assert_eq!(
        attrs(&got),
        pairs(&[("team", "payments"), ("os.type", "linux")])
    );
    // An empty `attributes` filters nothing, as otelcol; a key given twice keeps the later value.
    let twice = [("OTEL_RESOURCE_ATTRIBUTES", "team=a,team=b")];
    let got = detect_now(
        &config("detectors: [env]\nattributes: []"),
        &sources(root.path(), &twice),
    )
    .unwrap();
    assert_eq!(attrs(&got), pairs(&[("team", "b")]));
    // A malformed variable is a failed detector, and the detection fails.
    let e = detect_now(
        &config("detectors: [env, system]"),
        &sources(root.path(), &[("OTEL_RESOURCE_ATTRIBUTES", "oops")]),
    )
    .unwrap_err();
    assert!(e.contains("env: invalid resource format"), "{e}");
}

fn batch_with(resource: &[(&str, &str)]) -> Batch {
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: resource
                        .iter()
                        .map(|(k, v)| {
                            crate::test_util::kv_of(k, any_value::Value::StringValue(v.to_string()))
                        })
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ResourceSpans::default(),
        ],
    })
}

async fn run(yaml: &str, vars: &[(&str, &str)]) -> Vec<Vec<(String, String)>> {
    let root = host(LINUX);
    let sink = Arc::new(Sink::default());
    let p =
        ResourceDetectionProcessor::new(&config(yaml), sources(root.path(), vars), sink.clone());
    p.start().await.expect("starts");
    p.consume(batch_with(&[
        ("host.name", "sdk-host"),
        ("service.name", "checkout"),
    ]))
    .await
    .expect("accepted");
    p.shutdown().await;
    let out = sink.taken();
    let Payload::Traces(r) = &*out[0].payload else {
        panic!()
    };
    r.resource_spans
        .iter()
        .map(|rs| attrs(&rs.resource.as_ref().unwrap().attributes))
        .collect()
}

#[tokio::test]
async fn merged_into_every_resource_with_and_without_override() {
    let got = run("detectors: [system]\nsystem: {hostname_sources: [os]}", &[]).await;
    assert_eq!(
        got,
        vec![
            pairs(&[
                ("host.name", "web-7f9c"),
                ("service.name", "checkout"),
                ("os.type", "linux")
            ]),
            pairs(&[("host.name", "web-7f9c"), ("os.type", "linux")]),
        ]
    );
    let got = run(
        "detectors: [system]\noverride: false\nsystem: {hostname_sources: [os]}",
        &[],
    )
    .await;
    assert_eq!(
        got[0],
        pairs(&[
            ("host.name", "sdk-host"),
            ("service.name", "checkout"),
            ("os.type", "linux")
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_interval_detects_again() {
    let root = host(LINUX);
    let value = Arc::new(Mutex::new("v1".to_string()));
    let v = value.clone();
    let sources = Sources {
        env: Arc::new(move |k| {
            (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| format!("release={}", v.lock().unwrap()))
        }),
        root: root.path().to_path_buf(),
        azure_endpoint: closed_url(),
        gcp_metadata_host: closed_url().trim_start_matches("http://").into(),
    };
    let sink = Arc::new(Sink::default());
    let p = ResourceDetectionProcessor::new(
        &config("detectors: [env]\nrefresh_interval: 1m"),
        sources,
        sink.clone(),
    );
    p.start().await.unwrap();
    let release = || async {
        p.consume(batch_with(&[])).await.unwrap();
        let out = sink.taken();
        let Payload::Traces(r) = &*out[0].payload else {
            panic!()
        };
        attrs(&r.resource_spans[0].resource.as_ref().unwrap().attributes)
    };
    assert_eq!(release().await, pairs(&[("release", "v1")]));
    *value.lock().unwrap() = "v2".into();
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    assert_eq!(release().await, pairs(&[("release", "v1")]), "not yet");
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    assert_eq!(release().await, pairs(&[("release", "v2")]));
    // A refresh that fails keeps the last good resource.
    *value.lock().unwrap() = "%zz".into();
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    assert_eq!(release().await, pairs(&[("release", "v2")]));
    p.shutdown().await;
}

#[test]
fn config_defaults_and_errors() {
    let cfg = config("detectors: [env, system]");
    assert!(cfg.override_);
    assert_eq!(cfg.timeout.get(), std::time::Duration::from_secs(5));
    // A cloud detector's section is accepted (unread) while the detector is not listed, as
    // otelcol; the documented cloud setups validate.
    config("detectors: [system]\nec2: {tags: ['^team$']}\nazure: {}\naks: {}\nenv: {}\nnova: {}\nelasticbeanstalk: {}");
    config("detectors: [gcp, ecs, ec2, azure, system]");
    config("detectors: [ec2]\nec2: {tags: ['^team$'], tags_from_imds: true, max_attempts: 5, max_backoff: 2s}\nfail_on_missing_metadata: true");
    for (yaml, want) in [
        (
            "detectors: [aks, system]",
            r#"the "aks" detector is not supported by kakehashi yet"#,
        ),
        (
            "detectors: [ec2]\nec2: {tags: ['^team$']}",
            "through the EC2 API (signed with AWS credentials) is not supported",
        ),
        (
            "detectors: [ec2]\nec2: {tags: ['(']}",
            "ec2::tags: invalid regular expression",
        ),
        (
            "detectors: [azure]\nazure: {tags: ['(']}",
            "azure::tags: invalid regular expression",
        ),
        ("detectors: [gcp]\ngcp: {labels: ['.*']}", "gcp::labels"),
        (
            "detectors: [gcp]\ngcp: {gke_host_type: true}",
            "gcp::gke_host_type",
        ),
        (
            "detectors: [ecs]\necs: {resource_attributes: {aws.ecs.nope: {enabled: true}}}",
            "ecs::resource_attributes: has invalid keys: aws.ecs.nope",
        ),
        ("detectors: [ec2]\nec2: {max_retries: 3}", "max_retries"),
        ("detectors: [nope]", "invalid detector key: nope"),
        (
            "detectors: [env]\nretry: {enabled: false}",
            "retry: not supported by kakehashi yet",
        ),
        (
            "detectors: [env]\nproxy_url: http://p",
            "proxy_url: not supported by kakehashi yet",
        ),
        (
            "detectors: [nova]",
            r#"the "nova" detector is not supported by kakehashi yet"#,
        ),
        (
            "detectors: [system]\nendpoint: x",
            "endpoint: not supported by kakehashi yet",
        ),
        ("detectors: [system]\nnope: x", "has invalid keys: nope"),
        (
            "detectors: [system]\nsystem: {hostname_sources: [cname]}",
            r#""cname" (a DNS query) is not supported"#,
        ),
        (
            "detectors: [system]\nsystem: {hostname_sources: [ftp]}",
            "invalid hostname source: ftp",
        ),
        (
            "detectors: [system]\nsystem: {resource_attributes: {host.ip: {enabled: true}}}",
            "detecting host.ip is not supported by kakehashi yet",
        ),
        (
            "detectors: [system]\nsystem: {resource_attributes: {host.nom: {enabled: true}}}",
            "has invalid keys: host.nom",
        ),
        (
            "detectors: [system]\nsystem: {hostnames: [os]}",
            "hostnames",
        ),
    ] {
        let e = errors(yaml);
        assert!(e.contains(want), "{yaml}: {e}");
    }
    // Asking for an unsupported attribute to stay off is fine.
    config("detectors: [system]\nsystem: {resource_attributes: {host.ip: {enabled: false}}}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_detector_stops_the_start() {
    let root = host(LINUX);
    let p = ResourceDetectionProcessor::new(
        &config("detectors: [env]"),
        sources(
            root.path(),
            &[("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")],
        ),
        Arc::new(Sink::default()),
    );
    let started = tokio::time::Instant::now();
    let e = p.start().await.unwrap_err();
    assert!(
        e.0.contains("failed to detect resource: env: invalid resource format"),
        "{}",
        e.0
    );
    // Tried again 1 s and 2 s later, as otelcol does, until the next retry would pass the
    // 5 s timeout.
    assert_eq!(started.elapsed().as_secs(), 3);
}
