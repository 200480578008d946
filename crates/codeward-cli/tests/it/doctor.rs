//! `doctor` says unhealthy (exit 8) exactly when a run would fail for want of something.

use super::*;

fn problems(v: &Value) -> String {
    v["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list: {v:#}"))
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_once(env: &Env) -> Output {
    let prog = env.write("p.py", "# count the words of a text\nprint(1)\n");
    env.run(&["run", prog.to_str().unwrap()])
}

#[test]
fn a_key_that_will_not_be_created_is_a_problem() {
    let env = Env::new();
    env.write("codeward.toml", "[audit]\ncreate_key = false\n");
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 8, "{v:#}");
    assert!(problems(&v).contains("key"), "{v:#}");
    assert_eq!(v["healthy"], false);
    // Which is what a run meets.
    assert_eq!(run_once(&env).status.code(), Some(4));
}

#[test]
fn a_key_readable_by_others_is_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    assert_eq!(run_once(&env).status.code(), Some(0));
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 0, "healthy after a run: {v:#}");
    let key = env.data().join("keys/audit.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 8, "{v:#}");
    assert!(problems(&v).contains("chmod 600"), "{v:#}");
    assert_eq!(run_once(&env).status.code(), Some(4));
}

#[test]
fn a_data_dir_that_is_a_file_is_reported_not_a_crash() {
    let env = Env::new();
    let file = env.write("not-a-dir", "x");
    let mut cmd = env.cmd(&["--json", "doctor"]);
    let out = cmd.env("CODEWARD_DATA_DIR", &file).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let found = problems(&v);
    assert!(
        found.contains("not-a-dir") && found.contains("not a directory"),
        "{found}"
    );
    // Said once, not once per path under it.
    assert_eq!(found.lines().count(), 1, "{found}");
}

#[test]
fn a_segment_the_writer_cannot_append_to_is_a_problem() {
    let env = Env::new();
    assert_eq!(run_once(&env).status.code(), Some(0));
    let segment = env.data().join("audit/audit-00000001.jsonl");
    // Read-only for us: mode 0444, or (root ignores modes) a read-only bind mount over it.
    let mut unmount = None;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&segment, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let writable = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .is_ok()
    };
    if writable() {
        let bind = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .arg(&segment)
                .arg(&segment)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if bind(&["--bind"]) {
            unmount = Some(Unmount(segment.clone()));
            bind(&["-o", "remount,bind,ro"]);
        }
    }
    if writable() {
        eprintln!("SKIPPED: cannot make a file read-only here (root without mount)");
        return;
    }
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 8, "{v:#}");
    assert!(problems(&v).contains("audit-00000001.jsonl"), "{v:#}");
    assert_eq!(run_once(&env).status.code(), Some(4));
    drop(unmount);
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn the_write_ahead_file_is_checked_and_records_to_restore_are_shown_not_failed() {
    let env = Env::new();
    assert_eq!(run_once(&env).status.code(), Some(0));
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["audit"]["write_ahead_bytes"], 8 * 1024 * 1024);
    assert_eq!(v["audit"]["restorable"], 0);
    // A power loss took the last two records from the segment: the next run restores them,
    // so a run would not fail for it.
    let (_, segment) = codeward_audit_segments(&env.data().join("audit"))
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&segment, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["audit"]["restorable"], 2);
    // A write-ahead file the writer cannot open for writing is what a run would fail on.
    let wal = env.data().join("audit/audit.wal");
    std::fs::remove_file(&wal).unwrap();
    std::fs::create_dir(&wal).unwrap();
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 8, "{v:#}");
    assert!(problems(&v).contains("audit.wal"), "{v:#}");
    assert_eq!(run_once(&env).status.code(), Some(4));
}
