use super::super::{QueueSettings, Sizer};
use super::*;
use kakehashi_config::decode_yaml;

fn queue(yaml: &str) -> QueueSettings {
    decode_yaml::<QueueSettings>("exporters::otlp::sending_queue", yaml).expect("decodes")
}

fn errors(yaml: &str) -> Vec<String> {
    queue(yaml).validate()
}

#[test]
fn batching_is_off_unless_the_section_is_there() {
    assert_eq!(queue("num_consumers: 2\n").batch, None);
}

#[test]
fn an_empty_section_turns_it_on_with_otelcols_defaults() {
    for yaml in ["batch:\n", "batch: {}\n"] {
        let b = queue(yaml).batch.expect("on");
        assert_eq!(b.flush_timeout, Duration::from_millis(200), "{yaml}");
        assert_eq!((b.min_size, b.max_size), (8192, 0));
        assert_eq!(b.sizer(), Sizer::Items);
        assert!(errors(yaml).is_empty(), "{:?}", errors(yaml));
    }
}

#[test]
fn the_section_takes_an_explicit_queue_sizer_unless_it_sets_its_own() {
    let inherits = queue("sizer: bytes\nqueue_size: 100000\nbatch:\n  min_size: 100\n");
    assert_eq!(inherits.batch.unwrap().sizer(), Sizer::Bytes);
    let own = queue("sizer: bytes\nqueue_size: 100000\nbatch:\n  min_size: 100\n  sizer: items\n");
    assert_eq!(own.batch.unwrap().sizer(), Sizer::Items);
    let default_value = queue("sizer: bytes\nqueue_size: 100000\nbatch:\n  min_size: 8192\n");
    assert_eq!(
        default_value.batch.unwrap().sizer(),
        Sizer::Bytes,
        "a key set to its default value still counts as set"
    );
    let empty = queue("sizer: bytes\nbatch: {}\n");
    assert_eq!(
        empty.batch.unwrap().sizer(),
        Sizer::Items,
        "an empty section keeps items"
    );
    let default_queue_sizer = queue("batch:\n  min_size: 100\n");
    assert_eq!(default_queue_sizer.batch.unwrap().sizer(), Sizer::Items);
}

#[test]
fn otelcols_validation_messages() {
    let cases = [
        (
            "batch:\n  flush_timeout: 0s\n",
            "batch: `flush_timeout` must be positive, found 0",
        ),
        (
            "batch:\n  min_size: -1\n",
            "batch: `min_size` must be non-negative, found -1",
        ),
        (
            "batch:\n  max_size: -1\n",
            "batch: `max_size` must be non-negative, found -1",
        ),
        (
            "batch:\n  min_size: 2048\n  max_size: 1024\n",
            "batch: `max_size` (1024) must be greater or equal to `min_size` (2048)",
        ),
        (
            "batch:\n  sizer: requests\n  min_size: 100\n",
            "batch: `batch` supports only `items` or `bytes` sizer, found \"requests\"",
        ),
        (
            "sizer: requests\nbatch:\n  min_size: 10\n",
            "batch: `batch` supports only `items` or `bytes` sizer, found \"requests\"",
        ),
        (
            "sizer: items\nqueue_size: 100\nbatch:\n  min_size: 200\n",
            "`min_size` must be less than or equal to `queue_size`",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(errors(yaml), vec![want.to_string()], "{yaml}");
    }
    assert!(
        errors("queue_size: 100\nbatch:\n  min_size: 200\n").is_empty(),
        "requests and items are not compared"
    );
}

#[test]
fn partition_keys_are_a_clear_error_and_a_disabled_queue_is_not_checked() {
    assert!(errors("storage: file_storage\nbatch: {}\n").is_empty());
    let e = errors("batch:\n  partition:\n    metadata_keys: [tenant]\n");
    assert_eq!(
        e,
        vec!["batch: partition::metadata_keys: batches partitioned by client metadata are not supported yet"]
    );
    assert!(
        errors("enabled: false\nbatch:\n  min_size: -1\n").is_empty(),
        "as otelcol, a disabled queue's settings are not checked"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let e = decode_yaml::<QueueSettings>("q", "batch:\n  flush_interval: 1s\n").unwrap_err();
    assert!(e.to_string().contains("flush_interval"), "{e}");
}
