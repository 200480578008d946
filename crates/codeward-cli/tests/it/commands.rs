//! search, api, check, doctor, usage and configuration errors.

use super::*;

#[test]
fn search_finds_tools_and_says_when_nothing_matches() {
    let env = Env::new();
    let (code, hits) = env.json(&["search", "count words in a text", "--limit", "3"]);
    assert_eq!(code, 0);
    assert_eq!(hits[0]["tool"], "demo.text_stats");
    let out = env.run(&["search", "count words in a text"]);
    assert!(stdout(&out).contains("demo.text_stats"));
    let (code, _) = env.json(&["search", "zzzqqqxxx"]);
    assert_eq!(code, 7);
}

#[test]
fn api_prints_typed_modules_and_names_unknown_tools() {
    let env = Env::new();
    let out = env.run(&["api", "demo.notes_add", "--lang", "typescript"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("notesAdd"), "{}", stdout(&out));
    let (code, v) = env.json(&[
        "api",
        "demo.notes_add",
        "demo.text_stats",
        "--lang",
        "python",
        "--summary",
    ]);
    assert_eq!(code, 0);
    assert!(v["summary"].as_str().unwrap().contains("def notes_add"));
    assert!(v["module_tokens"].as_u64().unwrap() > v["summary_tokens"].as_u64().unwrap());
    let bad = env.run(&["api", "demo.nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("codeward search"), "{}", stderr(&bad));
    assert_eq!(v["warnings"], serde_json::json!([]), "{v:#}");
}

#[test]
fn api_warns_about_tools_no_configured_server_serves() {
    let env = Env::new();
    let (code, v) = env.json(&["api", "gmail.list_labels", "demo.notes_add"]);
    assert_eq!(code, 0, "{v:#}");
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v:#}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("gmail.list_labels") && w.contains("no configured MCP server"),
        "{w}"
    );
    let out = env.run(&["api", "gmail.list_labels"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: `gmail.list_labels`: no configured MCP server"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_findings_with_positions_and_maps_risk_to_exit_codes() {
    let env = Env::new();
    let clean = env.write(
        "clean.py",
        "from codeward_api import demo\nprint(demo.notes_list())\n",
    );
    let out = env.run(&["check", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let aliased = env.write("aliased.py", "import os as o\no.system('id')\n");
    let (code, v) = env.json(&["check", aliased.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert_eq!(v["findings"][0]["line"], 2);
    assert!(["high", "critical"].contains(&v["risk"]["level"].as_str().unwrap()));
    let broken = env.write("broken.ts", "const x = ;\n");
    let out = env.run(&["check", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert!(stdout(&out).contains("broken.ts:1:"), "{}", stdout(&out));
    let unknown = env.write("prog.rb", "puts 1\n");
    let out = env.run(&["check", unknown.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--lang"), "{}", stderr(&out));
}

#[test]
fn doctor_reports_isolation_interpreters_servers_and_the_log() {
    let env = Env::new();
    let (code, v) = env.json(&["doctor"]);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        v["isolation"]["layers"].as_array().unwrap().len() >= 5,
        "{v:#}"
    );
    assert!(v["interpreters"]["python"].is_string());
    assert_eq!(v["servers"][0]["name"], "demo");
}

#[test]
fn usage_and_configuration_errors_are_clear() {
    let env = Env::new();
    let out = env.run(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let cfg = env.write("bad-config.toml", "[audit]\ndurabilty = \"fsync\"\n");
    let out = env.run(&["--config", cfg.to_str().unwrap(), "search", "notes"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad-config.toml") && err.contains("durabilty"),
        "{err}"
    );
    // A user's mistake exits 2 (usage), never 70 (internal).
    let out = env.run(&["run", "missing.py"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.py"), "{}", stderr(&out));
    let noext = env.write("prog", "# x\nprint(1)\n");
    let out = env.run(&["run", noext.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--lang"), "{}", stderr(&out));
    let out = env.run(&["run", noext.to_str().unwrap(), "--lang", "ruby"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ruby"), "{}", stderr(&out));
    // A zero timeout would fail the run as "timeout limit exceeded": refused up front.
    let prog = env.write("zero.py", "# count words\nprint(1)\n");
    let out = env.run(&["run", prog.to_str().unwrap(), "--timeout-ms", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--timeout-ms"), "{}", stderr(&out));
    let silent = env.write("silent.py", "print(1)\n");
    let out = env.run(&["run", silent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--intent"), "{}", stderr(&out));
    std::fs::create_dir_all(env.data().join("audit")).unwrap();
    let out = env.run(&["audit", "report", "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("yesterday"), "{}", stderr(&out));
    let out = env.run(&[
        "audit",
        "report",
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["audit", "report", "--output", "/nonexistent-dir/r.md"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent-dir/r.md"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["search", "notes", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn with_json_even_an_argument_error_is_one_json_document() {
    let env = Env::new();
    let (code, doc) = env.json(&["search"]);
    assert_eq!(code, 2);
    assert!(
        doc["error"].as_str().unwrap().contains("<QUERY>"),
        "names the missing argument: {doc}"
    );
    let (code, doc) = env.json(&["serch", "notes"]);
    assert_eq!(code, 2);
    assert!(doc["error"].as_str().unwrap().contains("serch"), "{doc}");
    // Help is not an error.
    let out = env.run(&["--json", "--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_a_crash() {
    // `codeward search notes | head -0`: stdout's reader is gone before anything is written.
    let env = Env::new();
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = env
        .cmd(&["search", "notes"])
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn an_audit_log_that_cannot_be_opened_exits_4() {
    let env = Env::new();
    // Nothing has run: no pseudonym key yet.
    let out = env.run(&["audit", "hash", "alice@example.com"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    // The audit directory is a file: nothing may run or change.
    std::fs::create_dir_all(env.data()).unwrap();
    std::fs::write(env.data().join("audit"), "not a directory").unwrap();
    let out = env.run(&["approvals", "list"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let prog = env.write("p.py", "# count words\nprint(1)\n");
    let out = env.run(&["run", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn looking_at_approvals_in_a_fresh_directory_creates_nothing() {
    let env = Env::new();
    let out = env.run(&["approvals", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no approval requests"),
        "{}",
        stdout(&out)
    );
    let (code, v) = env.json(&["approvals", "list"]);
    assert_eq!((code, v), (0, serde_json::json!([])));
    let out = env.run(&["approvals", "approve", "apr_nothing"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no approval request apr_nothing")
            && stderr(&out).contains("approvals.json"),
        "{}",
        stderr(&out)
    );
    assert!(
        !env.data().exists(),
        "no data directory, audit log or key for a look"
    );
}

#[test]
fn a_full_audit_disk_before_anything_ran_exits_4_with_nothing_ran() {
    let env = Env::new();
    let audit = env.data().join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&audit)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("SKIPPED: this host does not let the test mount a tmpfs (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(audit.clone());
    // Fill it: the log opens (empty files need no blocks) but its first record cannot land.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(audit.join("filler")).unwrap();
        let block = [b'x'; 4096];
        while filler.write_all(&block).is_ok() {}
        let _ = filler.sync_all();
    }
    let prog = env.write("p.py", "# count the words of a text\nprint(1)\n");
    let out = env.run(&["run", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing ran"), "{}", stderr(&out));
    // With --json: one document holding the outcome and the error.
    let (code, v) = env.json(&["run", prog.to_str().unwrap()]);
    assert_eq!(code, 4, "{v:#}");
    assert_eq!(v["outcome"]["error"]["kind"], "audit_unavailable", "{v:#}");
    assert!(
        v["error"].as_str().unwrap().contains("nothing ran"),
        "{v:#}"
    );
}

#[test]
fn search_says_which_tools_no_configured_server_serves() {
    let env = Env::new();
    let (code, hits) = env.json(&["search", "gmail labels", "--limit", "20"]);
    assert_eq!(code, 0, "{hits:#}");
    let hits = hits.as_array().unwrap();
    let gmail = hits
        .iter()
        .find(|h| h["server"] == "gmail")
        .expect("gmail tools match");
    assert_eq!(gmail["server_configured"], false, "{gmail:#}");
    let out = env.run(&["search", "gmail labels"]);
    let text = stdout(&out);
    assert!(
        text.contains("(no server)") && text.contains("gmail"),
        "{text}"
    );
    assert!(text.contains("configured: demo"), "{text}");
    let (_, hits) = env.json(&["search", "count words in a text", "--limit", "3"]);
    assert_eq!(hits[0]["tool"], "demo.text_stats");
    assert_eq!(hits[0]["server_configured"], true);

    // Only server `x` configured: the bundled demo tools are not served either.
    let servers = env.write(
        "servers.json",
        r#"{"mcpServers": {"x": {"command": "true"}}}"#,
    );
    let mut cmd = env.cmd(&["--json", "search", "count words in a text", "--limit", "3"]);
    let out = cmd.env("CODEWARD_MCP_CONFIG", &servers).output().unwrap();
    let hits: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(hits[0]["tool"], "demo.text_stats");
    assert_eq!(hits[0]["server_configured"], false, "{hits:#}");
}

#[test]
fn a_run_is_offered_only_tools_of_configured_servers() {
    let env = Env::new();
    // It would run (and succeed) with any tool set: it calls none.
    let prog = env.write("p.py", "# count the words of a text\nprint(1)\n");
    let servers = env.write(
        "servers.json",
        r#"{"mcpServers": {"x": {"command": "true"}}}"#,
    );
    let mut cmd = env.cmd(&["--json", "run", prog.to_str().unwrap()]);
    let out = cmd.env("CODEWARD_MCP_CONFIG", &servers).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stdout(&out));
    // With the bundled demo server: only its tools, never the catalogue's gmail or slack.
    let (code, v) = env.json(&[
        "run",
        prog.to_str().unwrap(),
        "--intent",
        "send an email, post to slack and count the words of a text",
        "--tools",
        "10",
    ]);
    assert_eq!(code, 0, "{v:#}");
    let tools = v["outcome"]["summary"]["tools"].as_array().unwrap();
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|t| t.as_str().unwrap().starts_with("demo.")),
        "{tools:?}"
    );
}

#[test]
fn a_program_that_does_not_parse_exits_6_not_7() {
    let env = Env::new();
    let prog = env.write("b.py", "# syntax err\ndef f(:\n");
    let (code, v) = env.json(&["run", prog.to_str().unwrap()]);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(v["outcome"]["error"]["kind"], "invalid_program", "{v:#}");
}

#[test]
fn a_failed_run_reports_its_metrics_and_exit_status() {
    let env = Env::new();
    let silent = env.write("s.py", "# count the words of a text\nraise SystemExit(3)\n");
    let (code, v) = env.json(&["run", silent.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    let outcome = &v["outcome"];
    assert_eq!(
        outcome["metrics"]["exit"],
        serde_json::json!({"kind": "code", "value": 3}),
        "{v:#}"
    );
    assert!(
        outcome["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exit status 3"),
        "{v:#}"
    );
    let out = env.run(&["run", silent.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("exit status 3") || stderr(&out).contains("exit status 3"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let looping = env.write(
        "l.py",
        "# count the words of a text\nx = 0\nfor i in range(10**10):\n    x += i\n",
    );
    let (code, v) = env.json(&["run", looping.to_str().unwrap(), "--timeout-ms", "700"]);
    assert_eq!(code, 1, "{v:#}");
    let metrics = &v["outcome"]["metrics"];
    assert_eq!(metrics["limit_hit"], "timeout", "{v:#}");
    assert_eq!(metrics["exit"]["kind"], "signal", "{v:#}");
}

#[test]
fn api_with_a_tool_listed_twice_is_a_usage_error() {
    let env = Env::new();
    let out = env.run(&["api", "demo.notes_add", "demo.notes_add"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass each tool once"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_during_a_run_cancels_it_and_records_it_before_exiting() {
    let env = Env::new();
    let prog = env.write(
        "slow.py",
        "# count the words of a text\nimport time\nfrom codeward_api import demo\ntime.sleep(60)\nprint(demo.text_stats(text='too late'))\n",
    );
    let child = env
        .cmd(&["run", prog.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let started = || env.audit_bytes().contains("\"type\":\"execution_started\"");
    for _ in 0..600 {
        if env.data().join("audit").exists() && started() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(started(), "the run never started:\n{}", env.audit_bytes());
    let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGINT received"), "{}", stderr(&out));
    let log = env.audit_bytes();
    let kinds: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| r["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        kinds.ends_with(&[
            "execution_started".into(),
            "execution".into(),
            "error".into()
        ]),
        "{kinds:?}"
    );
    assert!(log.contains("\"cancelled\""), "{log}");
    // The log holds no execution without its completion.
    let (code, report) = env.json(&["audit", "report", "--format", "json"]);
    assert_eq!(code, 0, "{report:#}");
}
