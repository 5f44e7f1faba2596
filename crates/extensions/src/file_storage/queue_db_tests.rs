use super::*;

fn opts() -> OpenOptions {
    OpenOptions {
        fsync: false,
        timeout: Duration::from_millis(100),
        compaction: CompactionConfig::default(),
    }
}

fn aside_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_in_fifo_order_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    {
        let q = QueueDb::open(&path, &opts()).unwrap();
        let a = q.push(1, 10, b"first").unwrap();
        let b = q.push(2, 20, b"second").unwrap();
        let c = q.push(3, 30, b"third").unwrap();
        assert!(a < b && b < c);
        q.remove(b).unwrap();
        q.remove(b).unwrap(); // removing twice is fine
    }
    let q = QueueDb::open(&path, &opts()).unwrap();
    let pending = q.pending().unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|i| (i.units, i.items))
            .collect::<Vec<_>>(),
        [(1, 10), (3, 30)]
    );
    assert_eq!(q.read(pending[0].id).unwrap(), b"first");
    assert_eq!(q.read(pending[1].id).unwrap(), b"third");
    // Ids are never reused, so FIFO order holds after deletes.
    let d = q.push(1, 1, b"fourth").unwrap();
    assert!(d > pending[1].id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in [
            path.clone(),
            PathBuf::from(format!("{}-wal", path.display())),
        ] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
}

#[test]
fn an_item_failing_its_checksum_is_reported_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    let q = QueueDb::open(&path, &opts()).unwrap();
    let bad = q.push(1, 5, b"payload").unwrap();
    let good = q.push(1, 5, b"payload2").unwrap();
    q.conn()
        .execute("UPDATE queue_items SET data = X'00FF' WHERE id = ?1", [bad])
        .unwrap();
    assert!(matches!(q.read(bad), Err(StorageError::Corrupt(_))));
    assert_eq!(q.read(good).unwrap(), b"payload2");
    assert!(matches!(q.read(9999), Err(StorageError::Corrupt(_))));
}

#[test]
fn a_garbage_file_is_set_aside_and_a_fresh_queue_started() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    std::fs::write(&path, vec![0xAB; 10_000]).unwrap();
    let q = QueueDb::open(&path, &opts()).unwrap();
    assert!(q.pending().unwrap().is_empty());
    let id = q.push(1, 1, b"new").unwrap();
    assert_eq!(q.read(id).unwrap(), b"new");
    let aside = aside_files(tmp.path());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), vec![0xAB; 10_000]);
}

#[test]
fn a_truncated_file_is_set_aside_and_its_readable_items_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    {
        let q = QueueDb::open(&path, &opts()).unwrap();
        // Enough data for many pages, so that truncation cuts into the table.
        for i in 0..200u64 {
            q.push(1, i, &vec![i as u8; 3000]).unwrap();
        }
        q.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);

    let q = QueueDb::open(&path, &opts()).unwrap();
    assert_eq!(aside_files(tmp.path()).len(), 1);
    // What was recovered is intact and in order; the queue accepts new items.
    let pending = q.pending().unwrap();
    assert!(
        (1..200).contains(&pending.len()),
        "recovered {} items",
        pending.len()
    );
    for (n, item) in pending.iter().enumerate() {
        assert_eq!(item.items, n as u64);
        assert_eq!(q.read(item.id).unwrap(), vec![n as u8; 3000]);
    }
    q.push(1, 1, b"new").unwrap();
}

#[test]
fn a_second_open_of_the_same_file_fails_instead_of_sharing_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    let _q = QueueDb::open(&path, &opts()).unwrap();
    let err = QueueDb::open(&path, &opts()).err().expect("locked");
    assert!(err.contains("another collector"), "{err}");
    assert!(aside_files(tmp.path()).is_empty());
}

#[test]
fn fsync_selects_synchronous_full() {
    let tmp = tempfile::tempdir().unwrap();
    for (fsync, want) in [(true, 2), (false, 1)] {
        let path = tmp.path().join(format!("q-{fsync}.sqlite"));
        let q = QueueDb::open(&path, &OpenOptions { fsync, ..opts() }).unwrap();
        let (sync, mode): (i64, String) = {
            let c = q.conn();
            (
                c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap(),
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap(),
            )
        };
        assert_eq!((sync, mode.as_str()), (want, "wal"));
    }
}

#[test]
fn rebound_compaction_shrinks_the_file_once_drained() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.sqlite");
    let compaction = CompactionConfig {
        on_rebound: true,
        rebound_needed_threshold_mib: 1,
        rebound_trigger_threshold_mib: 1,
        check_interval: kakehashi_config::Duration::ZERO,
        ..Default::default()
    };
    let q = QueueDb::open(
        &path,
        &OpenOptions {
            compaction,
            ..opts()
        },
    )
    .unwrap();
    let ids: Vec<u64> = (0..100)
        .map(|_| q.push(1, 1, &[7u8; 40_000]).unwrap())
        .collect();
    let pages = |q: &QueueDb| -> i64 {
        q.conn()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    };
    let before = pages(&q);
    for id in ids {
        q.remove(id).unwrap();
    }
    assert!(pages(&q) < before / 3, "{} -> {}", before, pages(&q));
}
