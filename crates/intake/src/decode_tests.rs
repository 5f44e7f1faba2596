use super::*;
use std::io::Write;

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn data() -> Vec<u8> {
    b"hello world ".repeat(100)
}

#[test]
fn every_supported_encoding_round_trips() {
    let d = data();
    let z = zstd::encode_all(&d[..], 1).unwrap();
    for (body, enc) in [
        (d.clone(), None),
        (d.clone(), Some("identity")),
        (gz(&d), Some("gzip")),
        (gz(&d), Some("x-gzip")),
        (gz(&d), Some(" GZIP ")),
        (zlib(&d), Some("deflate")),
        (z.clone(), Some("zstd")),
    ] {
        assert_eq!(
            decompress(&body, enc, 10_000).expect("decodes"),
            d,
            "encoding {enc:?}"
        );
    }
}

#[test]
fn concatenated_gzip_members_are_one_body() {
    let mut body = gz(b"first,");
    body.extend(gz(b"second"));
    assert_eq!(
        decompress(&body, Some("gzip"), 100).unwrap(),
        b"first,second"
    );
}

#[test]
fn unknown_encoding_is_400_naming_it() {
    let err = decompress(&data(), Some("br"), 10_000).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.reason().contains("\"br\""), "{}", err.reason());
    assert!(err.reason().contains("gzip"), "{}", err.reason());
}

#[test]
fn output_over_the_cap_is_413_for_every_encoding() {
    let d = data();
    let cap = d.len() - 1;
    let z = zstd::encode_all(&d[..], 1).unwrap();
    for (body, enc) in [
        (d.clone(), None),
        (gz(&d), Some("gzip")),
        (zlib(&d), Some("deflate")),
        (z, Some("zstd")),
    ] {
        let err = decompress(&body, enc, cap).unwrap_err();
        assert_eq!(err.status(), 413, "encoding {enc:?}: {err:?}");
        assert!(err.reason().contains(&cap.to_string()), "{}", err.reason());
        // Exactly at the cap is fine.
        assert_eq!(decompress(&body, enc, d.len()).unwrap(), d);
    }
}

#[test]
fn gzip_bomb_stops_at_the_cap() {
    // 64 MiB of zeros in ~64 KiB of gzip.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let err = decompress(&bomb, Some("gzip"), 1 << 20).unwrap_err();
    assert!(matches!(err, Reject::TooLarge(_)), "{err:?}");
}

#[test]
fn corrupt_bodies_are_400() {
    let d = data();
    let g = gz(&d);
    let z = zstd::encode_all(&d[..], 1).unwrap();
    let zl = zlib(&d);
    for (body, enc) in [
        (g[..g.len() / 2].to_vec(), "gzip"),
        // Only the CRC/length trailer is missing.
        (g[..g.len() - 4].to_vec(), "gzip"),
        (b"not gzip at all".to_vec(), "gzip"),
        (z[..z.len() / 2].to_vec(), "zstd"),
        (b"garbage".to_vec(), "zstd"),
        (zl[..zl.len() / 2].to_vec(), "deflate"),
        (b"garbage".to_vec(), "deflate"),
    ] {
        let err = decompress(&body, Some(enc), 10_000).unwrap_err();
        assert_eq!(err.status(), 400, "{enc}: {err:?}");
        assert!(
            err.reason().starts_with(&format!("invalid {enc} body")),
            "{}",
            err.reason()
        );
    }
}

fn one_span_payload() -> pb::AgentPayload {
    pb::AgentPayload {
        tracer_payloads: vec![pb::TracerPayload {
            chunks: vec![pb::TraceChunk {
                spans: vec![pb::Span {
                    trace_id: 1,
                    span_id: 2,
                    service: "svc".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn agent_payload_decodes_and_refuses_other_messages() {
    let p = one_span_payload();
    assert_eq!(agent_payload(&p.encode_to_vec()).unwrap(), p);

    let err = agent_payload(b"\xff\xff\xff garbage").unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.reason().starts_with("invalid AgentPayload protobuf"));

    // A StatsPayload is valid protobuf and decodes as an AgentPayload without spans.
    let stats = pb::StatsPayload {
        agent_hostname: "h".into(),
        agent_env: "prod".into(),
        ..Default::default()
    };
    let err = agent_payload(&stats.encode_to_vec()).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.reason().contains("no spans"), "{}", err.reason());

    let err = agent_payload(&[]).unwrap_err();
    assert!(err.reason().contains("no spans"), "{}", err.reason());
}

#[test]
fn stats_payload_reads_the_exporters_msgpack() {
    let p = pb::StatsPayload {
        agent_hostname: "h".into(),
        agent_env: "prod".into(),
        agent_version: "v".into(),
        stats: vec![pb::ClientStatsPayload {
            env: "prod".into(),
            stats: vec![pb::ClientStatsBucket {
                start: 10,
                duration: 10,
                stats: vec![pb::ClientGroupedStats {
                    service: "svc".into(),
                    hits: 3,
                    ok_summary: vec![1, 2, 3],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    // As the exporter encodes it (stats::encode_msgpack).
    let raw = rmp_serde::to_vec_named(&p).unwrap();
    assert_eq!(stats_payload(&raw).unwrap(), p);
    let err = stats_payload(b"\xc1 not msgpack").unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.reason().starts_with("invalid StatsPayload msgpack"));
}

#[test]
fn json_errors_are_400() {
    assert_eq!(json(b"{\"a\":1}").unwrap()["a"], 1);
    assert_eq!(json(b"{").unwrap_err().status(), 400);
}
