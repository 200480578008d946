//! `codeward audit ...` over a log the demo wrote.

use super::*;

#[test]
fn audit_commands_read_verify_report_and_hash() {
    let env = Env::new();
    let missing = env.run(&["audit", "verify"]);
    assert_eq!(missing.status.code(), Some(4), "no audit log: exit 4");
    assert!(
        stderr(&missing).contains("codeward demo"),
        "{}",
        stderr(&missing)
    );

    let (code, demo) = env.json(&["demo"]);
    assert_eq!(code, 0, "{demo:#}");
    let id = demo["outcome"]["execution_id"].as_str().unwrap().to_owned();

    let (code, tail) = env.json(&["audit", "tail", "-n", "3"]);
    assert_eq!(code, 0);
    assert_eq!(tail.as_array().unwrap().len(), 3);
    let (code, show) = env.json(&["audit", "show", &id]);
    assert_eq!(code, 0);
    assert_eq!(show.as_array().unwrap().len(), 8);
    let (code, verify) = env.json(&["audit", "verify"]);
    assert_eq!(code, 0);
    assert_eq!(verify["records"], 8);
    let (code, _) = env.json(&["audit", "verify", "--expect-seq", "99"]);
    assert_eq!(code, 8, "a log shorter than a kept receipt fails");

    let out = env.run(&["audit", "report", "--format", "md"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("164.312(b)"));
    let report_file = env.dir.path().join("report.json");
    let out = env.run(&[
        "audit",
        "report",
        "--format",
        "json",
        "--from",
        "2000-01-01",
        "--output",
        report_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_eq!(report["executions"]["completed"], 1);
    let (code, as_json) = env.json(&["audit", "report"]);
    assert_eq!(code, 0);
    assert_eq!(
        as_json["checks"].as_array().unwrap().len(),
        5,
        "--json gives the report as JSON"
    );
    let bad = env.run(&["audit", "report", "--from", "yesterday"]);
    assert!(stderr(&bad).contains("YYYY-MM-DD"), "{}", stderr(&bad));

    // The principal's pseudonym is what the log holds.
    let (code, hash) = env.json(&["audit", "hash", "demo-user"]);
    assert_eq!(code, 0);
    assert_eq!(show[0]["principal"], hash["pseudonym"]);

    // A damaged log: a read command meeting it reports a failed check (8); a command that
    // must write to it cannot use it (4), and nothing runs.
    let (_, segment) = codeward_audit_segments(&env.data().join("audit"))
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{ this is not a record }";
    let last = lines.len() - 1;
    let altered = lines[last].replacen("\"info\"", "\"warning\"", 1);
    lines[last] = &altered;
    std::fs::write(&segment, lines.join("\n") + "\n").unwrap();
    let out = env.run(&["audit", "tail", "-n", "100"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("audit verify"), "{}", stderr(&out));
    let out = env.run(&["approvals", "list"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn a_report_never_overwrites_the_log_its_keys_or_another_file_unasked() {
    let env = Env::new();
    let (code, _) = env.json(&["demo"]);
    assert_eq!(code, 0);
    let segment = env.data().join("audit").join("audit-00000001.jsonl");
    let before = std::fs::read(&segment).unwrap();
    for target in [
        segment.clone(),
        env.data().join("keys").join("audit.key"),
        env.data()
            .join("audit")
            .join("..")
            .join("audit")
            .join("new.md"),
        env.data().join("approvals.json"),
    ] {
        let out = env.run(&[
            "audit",
            "report",
            "--force",
            "--output",
            target.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{target:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("somewhere else"), "{}", stderr(&out));
    }
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        before,
        "the log is untouched"
    );
    let (code, _) = env.json(&["audit", "verify"]);
    assert_eq!(code, 0);

    let mine = env.write("mine.md", "my notes\n");
    let out = env.run(&["audit", "report", "--output", mine.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes\n");
    let out = env.run(&[
        "audit",
        "report",
        "--force",
        "--output",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&mine)
            .unwrap()
            .contains("164.312(b)")
    );
}

#[test]
fn configured_checkpoint_signatures_are_written_and_trusted_by_verify() {
    let env = Env::new();
    let cfg = env.write(
        "signed.toml",
        "[audit]\nsigning_key_file = \"sign.key\"\ncheckpoint_every = 2\n",
    );
    let cfg = cfg.to_str().unwrap();
    let (code, _) = env.json(&["--config", cfg, "demo"]);
    assert_eq!(code, 0);
    let (code, report) = env.json(&["--config", cfg, "audit", "verify"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signatures"], "trusted", "{report}");
    assert!(
        report["signed_checkpoints"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let out = env.run(&["--config", cfg, "audit", "report"]);
    assert!(
        stdout(&out).contains("signed by a trusted key"),
        "{}",
        stdout(&out)
    );
    // Without the config, the same signatures prove nothing about who made them.
    let (code, report) = env.json(&["audit", "verify"]);
    assert_eq!(code, 0);
    assert_eq!(report["signatures"], "self_signed", "{report}");
    // A key the log was not signed with fails the check.
    let other = hex::encode([9u8; 32]);
    let (code, report) = env.json(&["audit", "verify", "--trust-key", &other]);
    assert_eq!(code, 8, "{report}");
    let (code, _) = env.json(&["audit", "verify", "--trust-key", "zz"]);
    assert_eq!(code, 2);
    // An auditor gets the public key and needs no access to the signing key.
    let (code, public) = env.json(&["--config", cfg, "audit", "public-key"]);
    assert_eq!(code, 0);
    let public = public["public_key"].as_str().unwrap().to_owned();
    let (code, report) = env.json(&["audit", "verify", "--trust-key", &public]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signatures"], "trusted", "{report}");

    // A lost signing key is not silently replaced: earlier checkpoints would stop verifying.
    std::fs::remove_file(env.dir.path().join("sign.key")).unwrap();
    let (code, out) = env.json(&["--config", cfg, "demo"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.to_string().contains("restore the key"), "{out}");
    assert!(!env.dir.path().join("sign.key").exists());

    // Nor the pseudonym key; doctor says so before a run does.
    std::fs::remove_file(env.data().join("keys").join("audit.key")).unwrap();
    let (code, doctor) = env.json(&["doctor"]);
    assert_eq!(code, 8, "{doctor}");
    assert!(doctor.to_string().contains("restore it"), "{doctor}");
}

#[test]
fn verify_names_records_a_power_loss_left_only_in_the_write_ahead_file() {
    let env = Env::new();
    let (code, demo) = env.json(&["demo"]);
    assert_eq!(code, 0, "{demo:#}");
    // What a power loss does to page-cache writes: the segment ends early (here on a line
    // boundary, so the chain alone looks complete). The write-ahead file still has them.
    let (_, segment) = codeward_audit_segments(&env.data().join("audit"))
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&segment, lines[..5].join("\n") + "\n").unwrap();

    let out = env.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(8), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("lacks 3 acknowledged"),
        "{}",
        stdout(&out)
    );
    let (_, report) = env.json(&["audit", "verify"]);
    assert_eq!(report["restorable"], 3);

    // The next run opens the log for writing: the three are back, the restore recorded.
    let (code, demo) = env.json(&["demo"]);
    assert_eq!(code, 0, "{demo:#}");
    let (code, report) = env.json(&["audit", "verify"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["restorable"], 0);
    assert_eq!(report["records"], 8 + 1 + 8);
    let restored = std::fs::read_to_string(&segment).unwrap();
    assert!(
        restored.starts_with(&text),
        "the same bytes, not re-written records"
    );
    assert!(restored.contains("restored 3 records"));
}
