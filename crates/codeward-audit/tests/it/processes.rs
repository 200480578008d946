//! Several processes on one log, and SIGKILL in the middle of a stream of appends.
//! The test binary re-executes itself as the child (see `child_process_entry`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use codeward_audit::{AuditLog, VerifyOptions, verify};

use super::*;

const CHILD_DIR: &str = "CODEWARD_AUDIT_TEST_CHILD_DIR";
const CHILD_COUNT: &str = "CODEWARD_AUDIT_TEST_CHILD_COUNT";
const CHILD_TAG: &str = "CODEWARD_AUDIT_TEST_CHILD_TAG";

/// Entry point of the child processes. Run by the parent tests with the variables above set;
/// in a normal test run the variables are absent and it returns at once.
#[test]
fn child_process_entry() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let count: usize = std::env::var(CHILD_COUNT).unwrap().parse().unwrap();
    let tag = std::env::var(CHILD_TAG).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let log = AuditLog::open(options(Path::new(&dir))).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Eight appenders in flight so that batches hold several records when the kill lands.
        for worker in 0..8 {
            let log = log.clone();
            let tx = tx.clone();
            let tag = tag.clone();
            tokio::spawn(async move {
                let mut i = worker;
                while i < count {
                    let ev = event(i).meta("tag", tag.as_str());
                    match log.append(ev).await {
                        Ok(r) => {
                            let _ = tx.send(r);
                        }
                        Err(e) => panic!("append failed: {e}"),
                    }
                    i += 8;
                }
            });
        }
        drop(tx);
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(r) = rx.recv().await {
            // Printed only after append returned: an acknowledgement.
            writeln!(out, "ACK {} {}", r.seq, r.hash).unwrap();
            out.flush().unwrap();
        }
    });
}

fn spawn_child(dir: &Path, count: usize, tag: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "processes::child_process_entry",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_COUNT, count.to_string())
        .env(CHILD_TAG, tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn parse_ack(line: &str) -> Option<(u64, String)> {
    // libtest may print "test <name> ... " on the same line before the first ACK.
    let at = line.find("ACK ")?;
    let mut parts = line[at + 4..].split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.to_owned()))
}

fn assert_acks_present(dir: &Path, acks: &BTreeMap<u64, String>) {
    let on_disk: BTreeMap<u64, String> = raw_records(dir)
        .into_iter()
        .map(|r| (r.seq, r.hash))
        .collect();
    for (seq, hash) in acks {
        assert_eq!(
            on_disk.get(seq),
            Some(hash),
            "acknowledged record seq {seq} lost or changed"
        );
    }
}

#[test]
fn four_processes_appending_at_once_keep_every_record_and_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let children: Vec<Child> = (0..4)
        .map(|i| spawn_child(&dir, 250, &format!("p{i}")))
        .collect();
    let mut acks = BTreeMap::new();
    for mut child in children {
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            if let Some((seq, hash)) = parse_ack(&line.unwrap()) {
                assert!(
                    acks.insert(seq, hash).is_none(),
                    "two processes were given seq {seq}"
                );
            }
        }
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(acks.len(), 1000);
    let records = raw_records(&dir);
    assert_eq!(
        records.len(),
        1000,
        "every record present, none interleaved"
    );
    assert_acks_present(&dir, &acks);
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    for p in 0..4 {
        let tagged = records
            .iter()
            .filter(|r| r.metadata["tag"] == format!("p{p}"))
            .count();
        assert_eq!(tagged, 250, "process p{p}");
    }
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_record() {
    kill_trials(false);
}

/// The same, and then what a power loss does: everything the newest segment got after the
/// point the write-ahead file says is durable is gone (only the page cache had it). The
/// reopen must restore every acknowledged record from the write-ahead file.
#[test]
fn a_power_loss_after_a_kill_loses_no_acknowledged_record() {
    kill_trials(true);
}

fn kill_trials(power_loss: bool) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut acks = BTreeMap::new();
    for trial in 0..5usize {
        let mut child = spawn_child(&dir, 1_000_000, &format!("trial{trial}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = 40 + trial * 37;
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some((seq, hash)) = parse_ack(&line) {
                acks.insert(seq, hash);
                seen += 1;
            }
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        // Acknowledgements printed before the kill still count.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some((seq, hash)) = parse_ack(&line) {
                acks.insert(seq, hash);
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success());
        if power_loss {
            let newest = codeward_audit::list_segments(&dir)
                .unwrap()
                .pop()
                .unwrap()
                .1;
            let durable = super::wal::durable_offset(&dir);
            let len = std::fs::metadata(&newest).unwrap().len();
            assert!(len > durable, "trial {trial}: something to lose");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&newest)
                .unwrap()
                .set_len(durable)
                .unwrap();
        }

        // Reopen: repairs a torn tail if the kill cut a write, then everything acknowledged is there.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let log = AuditLog::open(options(&dir)).unwrap();
            log.close().await.unwrap();
        });
        assert_acks_present(&dir, &acks);
        let report = verify(&dir, &VerifyOptions::default()).unwrap();
        assert!(report.is_ok(), "trial {trial}: {:?}", report.problem);
    }
    assert!(acks.len() >= 5 * 40);
}
