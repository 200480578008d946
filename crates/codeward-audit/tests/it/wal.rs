//! The write-ahead file: batches are durable there, so what a power loss takes from a segment
//! (page-cache writes that never reached the disk) is put back on the next open, recorded,
//! and never more than was lost. A power loss is simulated by cutting or garbling the
//! segment after the point the write-ahead file says is durable.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use codeward_audit::{AuditLog, Durability, IoHook, MIN_WRITE_AHEAD_BYTES, VerifyOptions, verify};
use codeward_core::{AuditKind, AuditRecord};

use super::*;

const WAL: &str = "audit.wal";

/// The segment byte the write-ahead file's header says is durable.
pub(crate) fn durable_offset(dir: &Path) -> u64 {
    let bytes = fs::read(dir.join(WAL)).unwrap();
    let header = String::from_utf8_lossy(&bytes[..bytes.iter().position(|b| *b == b'\n').unwrap()])
        .into_owned();
    header
        .split_whitespace()
        .find_map(|f| f.strip_prefix("offset="))
        .unwrap()
        .parse()
        .unwrap()
}

fn restored(records: &[AuditRecord]) -> Vec<&AuditRecord> {
    records
        .iter()
        .filter(|r| r.kind == AuditKind::Recovery && r.metadata.get("records").is_some())
        .collect()
}

/// Appends `n` records, "loses" the segment from `lose_from` (a byte offset computed from the
/// segment) by `damage`, reopens, and checks every acknowledged record is back, byte for byte.
async fn check_restored(
    n: usize,
    opts: impl Fn(&Path) -> AuditLogOptions,
    lose_from: impl FnOnce(&Path, &[u8]) -> usize,
    damage: impl FnOnce(&Path, usize),
) -> Vec<AuditRecord> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = AuditLog::open(opts(&dir)).unwrap();
    for i in 0..n {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    let before = raw_records(&dir);
    let newest = codeward_audit::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let bytes = fs::read(&newest).unwrap();
    let cut = lose_from(&dir, &bytes);
    assert!(
        cut as u64 >= durable_offset(&dir),
        "only what was not synced can be lost"
    );
    damage(&newest, cut);
    assert_ne!(fs::read(&newest).unwrap(), bytes);
    let lost = before.len() as u64 - verify(&dir, &VerifyOptions::default()).unwrap().records;
    assert_eq!(
        verify(&dir, &VerifyOptions::default()).unwrap().restorable,
        lost,
        "verify counts what the next open restores"
    );

    let log = AuditLog::open(opts(&dir)).unwrap();
    let _r = log.append(event(n)).await.unwrap();
    log.close().await.unwrap();
    let after = raw_records(&dir);
    assert_eq!(
        after[..before.len()],
        before[..],
        "every acknowledged record is back"
    );
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.restorable, 0);
    after
}

/// Where the last `k` lines of `bytes` start.
fn last_lines(bytes: &[u8], k: usize) -> usize {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|at| *at < bytes.len())
        .collect();
    starts[starts.len() - k]
}

#[tokio::test]
async fn records_cut_from_the_segment_are_restored_and_the_restore_is_recorded() {
    let after = check_restored(
        20,
        options,
        |_, bytes| last_lines(bytes, 7),
        |seg, cut| {
            let bytes = fs::read(seg).unwrap();
            fs::write(seg, &bytes[..cut]).unwrap();
        },
    )
    .await;
    let r = restored(&after);
    assert_eq!(r.len(), 1, "one restore record");
    assert_eq!(r[0].metadata["records"], 7);
    assert_eq!(r[0].metadata["first_seq"], 14);
    assert_eq!(r[0].metadata["last_seq"], 20);
    assert_eq!(r[0].seq, 21, "recorded before anything new");
}

#[tokio::test]
async fn zeroed_or_garbled_blocks_and_a_torn_line_are_replaced() {
    for garble in [0u8, b'x'] {
        let after = check_restored(
            12,
            options,
            |_, bytes| last_lines(bytes, 4) + 10,
            move |seg, cut| {
                let mut bytes = fs::read(seg).unwrap();
                for b in &mut bytes[cut..] {
                    *b = garble;
                }
                bytes.extend_from_slice(b"\n{\"v\":1,\"seq\":");
                fs::write(seg, bytes).unwrap();
            },
        )
        .await;
        let r = restored(&after);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].metadata["records"], 4,
            "the line cut in its middle too"
        );
        assert!(r[0].metadata["replaced_bytes"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn a_full_write_ahead_file_starts_again_after_syncing_the_segment() {
    // 64 KiB holds about 170 records of this size: 600 go round more than three times.
    let after = check_restored(
        600,
        |d| options(d).write_ahead_bytes(MIN_WRITE_AHEAD_BYTES),
        |dir, _| durable_offset(dir) as usize,
        |seg, cut| {
            let bytes = fs::read(seg).unwrap();
            fs::write(seg, &bytes[..cut]).unwrap();
        },
    )
    .await;
    // The restore started where the last wrap left the data, well past the segment's start.
    let r = restored(&after);
    assert!(r[0].metadata["restored_at_byte"].as_u64().unwrap() > 64 * 1024);
}

#[tokio::test]
async fn the_newest_segment_is_restored_across_rotations() {
    let after = check_restored(
        60,
        |d| options(d).max_segment_bytes(4_000),
        |_, bytes| last_lines(bytes, 3),
        |seg, cut| {
            let bytes = fs::read(seg).unwrap();
            fs::write(seg, &bytes[..cut]).unwrap();
        },
    )
    .await;
    let r = restored(&after);
    assert_eq!(r[0].metadata["records"], 3);
    assert_ne!(
        r[0].metadata["segment"], "audit-00000001.jsonl",
        "rotated first"
    );
}

#[tokio::test]
async fn every_writer_mirrors_even_one_configured_without_a_write_ahead_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let a = AuditLog::open(options(&dir)).unwrap();
    let b = AuditLog::open(options(&dir).write_ahead_bytes(0)).unwrap();
    for i in 0..10 {
        let _r = a.append(event(i)).await.unwrap();
        let _r = b.append(event(100 + i)).await.unwrap();
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
    let before = raw_records(&dir);
    let seg = segment(&dir, 1);
    let bytes = fs::read(&seg).unwrap();
    let cut = durable_offset(&dir) as usize;
    fs::write(&seg, &bytes[..cut]).unwrap();
    reopen(options(&dir).write_ahead_bytes(0)).await;
    let after = raw_records(&dir);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(restored(&after).len(), 1);
    assert!(verify(&dir, &VerifyOptions::default()).unwrap().is_ok());
}

#[tokio::test]
async fn a_changed_or_deleted_record_is_reported_not_restored() {
    // Restoring is for lost writes only; an edit stays evidence.
    let (_tmp, dir) = log_with(6, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls.remove(4);
    write_lines(&seg, &ls);
    reopen(options(&dir)).await;
    assert!(restored(&raw_records(&dir)).is_empty());
    assert_eq!(raw_records(&dir).len(), 5, "nothing added back");
    assert!(!verify(&dir, &VerifyOptions::default()).unwrap().is_ok());
}

#[tokio::test]
async fn a_torn_header_is_rewritten_and_the_log_goes_on() {
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    let wal = dir.join(WAL);
    let mut bytes = fs::read(&wal).unwrap();
    bytes[25] ^= 0x55;
    fs::write(&wal, bytes).unwrap();
    let log = AuditLog::open(options(&dir)).unwrap();
    for i in 5..10 {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    // The rewritten header covers what came after it: losing that is restored again.
    let seg = segment(&dir, 1);
    let before = raw_records(&dir);
    let bytes = fs::read(&seg).unwrap();
    let cut = durable_offset(&dir) as usize;
    assert!(cut > 0 && cut < bytes.len());
    fs::write(&seg, &bytes[..cut]).unwrap();
    reopen(options(&dir)).await;
    assert_eq!(raw_records(&dir)[..before.len()], before[..]);
}

#[tokio::test]
async fn flush_mode_and_a_zero_size_create_none_and_a_tiny_size_is_refused() {
    for opts in [
        |d: &Path| options(d).durability(Durability::Flush),
        |d: &Path| options(d).write_ahead_bytes(0),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let log = AuditLog::open(opts(&dir)).unwrap();
        let _r = log.append(event(0)).await.unwrap();
        log.close().await.unwrap();
        assert!(!dir.join(WAL).exists());
    }
    let tmp = tempfile::tempdir().unwrap();
    let err = AuditLog::open(options(tmp.path()).write_ahead_bytes(4096)).unwrap_err();
    assert!(
        err.to_string().contains("write_ahead_bytes is 4096"),
        "{err}"
    );
}

#[tokio::test]
async fn a_write_ahead_file_that_cannot_be_created_leaves_nothing_and_the_log_works() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    fs::create_dir_all(dir.join("audit.wal.tmp/blocker")).unwrap();
    let log = AuditLog::open(options(&dir)).unwrap();
    let _r = log.append(event(0)).await.unwrap();
    // Tried once per writer, not before every batch.
    fs::remove_dir_all(dir.join("audit.wal.tmp")).unwrap();
    let _r = log.append(event(1)).await.unwrap();
    log.close().await.unwrap();
    assert!(!dir.join(WAL).exists());
    assert!(!dir.join("audit.wal.tmp").exists());
    assert_eq!(raw_records(&dir).len(), 2);
    // The next writer creates it.
    reopen(options(&dir)).await;
    assert!(dir.join(WAL).exists());
}

struct FailSync(AtomicBool);

impl IoHook for FailSync {
    fn on_sync(&self) -> Option<std::io::Error> {
        self.0
            .load(Ordering::SeqCst)
            .then(|| std::io::Error::from_raw_os_error(5))
    }
}

#[tokio::test]
async fn a_batch_whose_sync_failed_is_not_restored_later() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let hook = Arc::new(FailSync(AtomicBool::new(false)));
    let log = AuditLog::open(options(&dir).io_hook(hook.clone())).unwrap();
    for i in 0..3 {
        let _r = log.append(event(i)).await.unwrap();
    }
    hook.0.store(true, Ordering::SeqCst);
    assert!(log.append(event(3)).await.is_err());
    drop(log);
    reopen(options(&dir)).await;
    let records = raw_records(&dir);
    assert_eq!(
        records.len(),
        3,
        "the failed append's record is not brought back"
    );
    assert!(restored(&records).is_empty());
}

#[tokio::test]
async fn an_edit_after_garbled_bytes_is_not_erased_by_a_restore() {
    let (_tmp, dir) = log_with(8, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls[2] = "{ this is not a record }".into();
    ls[7] = ls[7].replace("call 7", "call X");
    write_lines(&seg, &ls);
    assert_eq!(tampered_on_open(&dir), (8, 8));
    assert_eq!(lines(&seg), ls, "the evidence is where it was");
    assert_eq!(
        verify(&dir, &VerifyOptions::default()).unwrap().restorable,
        0
    );
}

#[tokio::test]
async fn a_batch_the_write_ahead_file_missed_does_not_strand_later_records() {
    // A writer that appended to the segment and died before copying the batch into audit.wal
    // (simulated: the batch is written while audit.wal is moved aside) leaves a gap there.
    // The next writer must notice and start the data after it; otherwise what it acknowledges
    // later could not be restored once a power loss took the gap from the segment too.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    append_all(options(&dir), 0..3).await;
    unmirrored(&dir, 3..6).await;
    append_all(options(&dir), 6..9).await;
    let before = raw_records(&dir);

    let seg = segment(&dir, 1);
    let bytes = fs::read(&seg).unwrap();
    let cut = durable_offset(&dir) as usize;
    assert!(
        cut > last_lines(&bytes, 6),
        "the gap was made durable and the data restarted"
    );
    fs::write(&seg, &bytes[..cut]).unwrap();
    reopen(options(&dir)).await;
    assert_eq!(raw_records(&dir)[..before.len()], before[..]);
}

#[tokio::test]
async fn records_removed_below_the_durable_offset_are_refused_not_papered_over() {
    // 64 KiB of data wraps, so the header's offset moves past the segment's start.
    let (_tmp, dir) = log_with_options(400, |o| o.write_ahead_bytes(MIN_WRITE_AHEAD_BYTES)).await;
    let seg = segment(&dir, 1);
    let durable = durable_offset(&dir) as usize;
    let bytes = fs::read(&seg).unwrap();
    let cut = last_lines(&bytes[..durable], 2);
    fs::write(&seg, &bytes[..cut]).unwrap();
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    let problem = report.problem.expect("a cut the chain alone cannot see");
    assert_eq!(problem.kind, codeward_audit::ProblemKind::Truncated);
    assert!(problem.detail.contains("durable up to byte"), "{problem}");
    let err = AuditLog::open(options(&dir)).unwrap_err();
    assert!(err.to_string().contains("have been removed"), "{err}");
    assert_eq!(fs::read(&seg).unwrap(), &bytes[..cut], "nothing written");

    // The newest segment deleted: the write-ahead file still names it.
    let (_tmp, dir) = log_with_options(40, |o| o.max_segment_bytes(4_000)).await;
    let newest = codeward_audit::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap()
        .1;
    fs::remove_file(&newest).unwrap();
    let problem = verify(&dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .unwrap();
    assert!(problem.detail.contains("names segment"), "{problem}");
    assert!(AuditLog::open(options(&dir)).is_err());
}

#[tokio::test]
async fn a_running_writer_refuses_to_move_the_header_over_removed_records() {
    // The log stays open, as a service's does: the next append must not restart the data
    // over the evidence (which would leave `verify` clean).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = AuditLog::open(options(&dir).write_ahead_bytes(MIN_WRITE_AHEAD_BYTES)).unwrap();
    for i in 0..400 {
        let _r = log.append(event(i)).await.unwrap();
    }
    let seg = segment(&dir, 1);
    let durable = durable_offset(&dir) as usize;
    let bytes = fs::read(&seg).unwrap();
    let cut = last_lines(&bytes[..durable], 2);
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();
    let err = log.append(event(400)).await.unwrap_err();
    assert!(err.to_string().contains("have been removed"), "{err}");
    let _ = log.close().await;
    assert_eq!(
        durable_offset(&dir) as usize,
        durable,
        "the header did not move"
    );
    assert!(
        verify(&dir, &VerifyOptions::default())
            .unwrap()
            .problem
            .is_some()
    );
}

/// Fails every sync once armed, keeping the segment as the failed batch left it.
struct FailSyncKeep {
    armed: AtomicBool,
    segment: std::path::PathBuf,
    seen: std::sync::Mutex<Option<Vec<u8>>>,
}

impl IoHook for FailSyncKeep {
    fn on_sync(&self) -> Option<std::io::Error> {
        if !self.armed.load(Ordering::SeqCst) {
            return None;
        }
        *self.seen.lock().unwrap() = Some(fs::read(&self.segment).unwrap());
        Some(std::io::Error::from_raw_os_error(5))
    }
}

#[tokio::test]
async fn a_failed_batch_whose_cut_failed_does_not_strand_later_records() {
    // Small and large (over the 4 KiB the coverage check compares) failed batches.
    for pad in [2_000, 6_000] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let hook = Arc::new(FailSyncKeep {
            armed: AtomicBool::new(false),
            segment: segment(&dir, 1),
            seen: Default::default(),
        });
        let log = AuditLog::open(options(&dir).io_hook(hook.clone())).unwrap();
        for i in 0..3 {
            let _r = log.append(event(i)).await.unwrap();
        }
        let seg = segment(&dir, 1);
        let acked_len = fs::metadata(&seg).unwrap().len();
        hook.armed.store(true, Ordering::SeqCst);
        assert!(
            log.append(event(3).meta("pad", "a".repeat(pad)))
                .await
                .is_err()
        );
        drop(log);
        // As if the failure path's cut had failed: the batch is still in the segment.
        fs::write(&seg, hook.seen.lock().unwrap().take().unwrap()).unwrap();

        let log = AuditLog::open(options(&dir)).unwrap();
        let receipt = log.append(event(10)).await.unwrap();
        log.close().await.unwrap();
        // A power loss: nothing after what was synced to the segment survives.
        let cut = acked_len.max(durable_offset(&dir)) as usize;
        let bytes = fs::read(&seg).unwrap();
        fs::write(&seg, &bytes[..cut]).unwrap();
        reopen(options(&dir)).await;
        assert!(
            raw_records(&dir)
                .iter()
                .any(|r| r.seq == receipt.seq && r.hash == receipt.hash),
            "pad {pad}: acknowledged seq {} lost",
            receipt.seq
        );
    }
}

#[tokio::test]
async fn records_past_a_hole_that_the_data_never_had_are_kept_and_the_hole_restored() {
    // Records 1-10 are in audit.wal; 11-12 were written to the segment only (simulated: with
    // audit.wal moved aside), as a writer that died between its two writes leaves them. A
    // power loss then keeps 11-12 on disk but loses the blocks of 8-10 (zeros).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    append_all(options(&dir), 0..10).await;
    unmirrored(&dir, 10..12).await;
    let before = raw_records(&dir);
    let seg = segment(&dir, 1);
    let mut bytes = fs::read(&seg).unwrap();
    let (hole, kept) = (last_lines(&bytes, 5), last_lines(&bytes, 2));
    bytes[hole..kept].fill(0);
    fs::write(&seg, &bytes).unwrap();
    assert_eq!(
        verify(&dir, &VerifyOptions::default()).unwrap().restorable,
        3
    );

    reopen(options(&dir)).await;
    let after = raw_records(&dir);
    assert_eq!(
        after[..before.len()],
        before[..],
        "8-10 restored, 11-12 kept"
    );
    assert_eq!(restored(&after)[0].metadata["records"], 3);
    assert!(verify(&dir, &VerifyOptions::default()).unwrap().is_ok());
}

/// Opens a log with `opts` (which restores what a power loss took) and closes it.
async fn reopen(opts: AuditLogOptions) {
    append_all(opts, 0..0).await;
}

/// Opens a log with `opts`, appends `event(i)` for each `i` of `range`, closes it.
async fn append_all(opts: AuditLogOptions, range: std::ops::Range<usize>) {
    let log = AuditLog::open(opts).unwrap();
    for i in range {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
}

/// Appends records to the segment that audit.wal does not get (it is moved aside meanwhile),
/// as a writer that died between its two writes leaves them.
async fn unmirrored(dir: &Path, range: std::ops::Range<usize>) {
    let aside = dir.with_file_name("wal-aside");
    fs::rename(dir.join(WAL), &aside).unwrap();
    append_all(options(dir).write_ahead_bytes(0), range).await;
    fs::rename(&aside, dir.join(WAL)).unwrap();
}
