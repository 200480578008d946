//! demo and run through the real binary: phases, exit codes, approvals, durability at exit.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::*;

#[test]
fn the_demo_runs_end_to_end_in_both_languages_and_leaves_a_verified_pii_free_log() {
    let env = Env::new();
    for lang in ["python", "typescript"] {
        let (code, v) = env.json(&["demo", "--lang", lang]);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(v["outcome"]["success"], true);
        assert_eq!(v["outcome"]["output"]["words"], 14);
        assert_eq!(
            record_types(&v),
            [
                "discovery",
                "security",
                "execution_started",
                "tool_call",
                "tool_call",
                "tool_call",
                "tool_call",
                "execution"
            ]
        );
        assert_eq!(v["audit"]["chain_ok"], true);
        // Each run checks the chain from the head it started at, not the whole log.
        let from = if lang == "python" { 1 } else { 9 };
        assert_eq!(v["audit"]["verified_from_seq"], from, "{v:#}");
        assert!(
            v["outcome"]["summary"]["tokens"]["all_definitions_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    // The demo's note mentions an email address: it reached the demo server, never the log.
    let log = env.audit_bytes();
    assert!(!log.contains("alice@example.com"));
    assert!(!log.contains("demo-user"), "principals are pseudonymized");
    let verify = env.run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(
        stdout(&verify).starts_with("ok: 16 records"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn a_failing_program_exits_1_with_its_records() {
    let env = Env::new();
    let file = env.write(
        "fail.py",
        "# count words of a text\nraise ValueError('boom for bob@example.org')\n",
    );
    let (code, v) = env.json(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        record_types(&v),
        [
            "discovery",
            "security",
            "execution_started",
            "execution",
            "error"
        ]
    );
    let message = v["outcome"]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("boom") && !message.contains("bob@example.org"),
        "{message}"
    );
    assert!(!env.audit_bytes().contains("bob@example.org"));
}

#[test]
fn high_risk_needs_approval_and_approval_binds_to_the_exact_program() {
    let env = Env::new();
    let risky = env.write(
        "risky.py",
        "# list my notes\nimport subprocess as sp\nsp.run(['true'])\nprint('done')\n",
    );
    let (code, v) = env.json(&["run", risky.to_str().unwrap()]);
    assert_eq!(code, 3, "{v:#}");
    let id = v["outcome"]["error"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(record_types(&v), ["discovery", "security", "approval"]);

    let (code, list) = env.json(&["approvals", "list"]);
    assert_eq!(code, 0);
    assert_eq!(list[0]["id"], id.as_str());
    // The operator reads the program they are asked to approve.
    let show = env.run(&["approvals", "show", &id]);
    assert!(show.status.success(), "{}", stderr(&show));
    assert!(
        stdout(&show).contains("sp.run(['true'])"),
        "{}",
        stdout(&show)
    );
    let (code, ticket) = env.json(&["approvals", "show", &id]);
    assert_eq!(code, 0);
    assert_eq!(ticket["request"]["language"], "python", "{ticket}");
    assert_eq!(
        env.run(&["approvals", "show", "apr_missing"]).status.code(),
        Some(2)
    );
    let approve = env.run(&[
        "approvals",
        "approve",
        &id,
        "--approver",
        "ops",
        "--reason",
        "checked",
    ]);
    assert!(approve.status.success(), "{}", stderr(&approve));

    let (code, v) = env.json(&["run", risky.to_str().unwrap(), "--approval", &id]);
    assert_eq!(code, 0, "{v:#}");
    assert!(record_types(&v).contains(&"execution".to_owned()));

    let other = env.write(
        "other.py",
        "# list my notes\nimport subprocess as sp\nsp.run(['false'])\n",
    );
    let (code, v) = env.json(&["run", other.to_str().unwrap(), "--approval", &id]);
    assert_eq!(code, 5, "{v:#}");
    assert_eq!(record_types(&v), ["discovery", "security", "approval"]);

    let reject = env.run(&["approvals", "reject", "apr_missing"]);
    assert_eq!(reject.status.code(), Some(2));
    // Deciding a settled request again is the operator's mistake too.
    let again = env.run(&["approvals", "reject", &id]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains(&id), "{}", stderr(&again));
    assert!(
        stderr(&reject).contains("codeward approvals list"),
        "{}",
        stderr(&reject)
    );
    // Pruning: a fresh approval survives the default age; with 0 days it goes, is recorded,
    // and no longer authorizes its program.
    let (code, kept) = env.json(&["approvals", "prune"]);
    assert_eq!(code, 0);
    assert_eq!(kept, serde_json::json!([]));
    let (code, pruned) = env.json(&["approvals", "prune", "--older-than-days", "0"]);
    assert_eq!(code, 0);
    assert_eq!(pruned[0]["id"], id.as_str());
    assert!(env.audit_bytes().contains("approvals pruned"));
    let (code, v) = env.json(&["run", risky.to_str().unwrap(), "--approval", &id]);
    assert_eq!(code, 5, "{v:#}");

    // The compliance report counts every approval step by its decision.
    let (code, report) = env.json(&["audit", "report"]);
    assert_eq!(code, 0, "{report:#}");
    let approvals = &report["approvals"];
    for (decision, n) in [
        ("requested", 1),
        ("approved", 1),
        ("used", 1),
        ("refused", 2),
        ("pruned", 1),
    ] {
        assert_eq!(approvals[decision], n, "{decision}: {approvals:#}");
    }
    assert!(approvals.get("unknown").is_none(), "{approvals:#}");
}

#[test]
fn sigkill_right_after_the_result_is_printed_loses_nothing() {
    let env = Env::new();
    let file = env.write("ok.py", "# count the words of a text\nfrom codeward_api import demo, set_result\nset_result(demo.text_stats(text='one two three'))\n");
    let mut child = env
        .cmd(&["run", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut execution_id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("execution ") {
            execution_id = Some(id.trim().to_owned());
        }
        if line.starts_with("result:") {
            // The result is out: kill the process at once, before it can flush anything.
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            break;
        }
    }
    let _ = child.wait();
    let id = execution_id.expect("the run printed its execution id");
    let (code, records) = env.json(&["audit", "show", &id]);
    assert_eq!(code, 0, "{records:#}");
    let types: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "discovery",
            "security",
            "execution_started",
            "tool_call",
            "execution"
        ]
    );
    assert!(env.run(&["audit", "verify"]).status.success());
}

#[test]
fn a_typescript_program_with_many_large_concurrent_calls_does_not_deadlock() {
    // More calls in flight than the bridge holds at once, with replies large enough to fill
    // the pipes (200 x 16 KB hung until the deadline before the cap; 130 did not): the generated client caps its calls on the wire, so the program
    // finishes instead of blocking in a write until its deadline.
    let env = Env::new();
    let cfg = env.write("many.toml", "[limits]\nmax_tool_calls = 300\n");
    let program = env.write(
        "many.ts",
        "// add many notes at once\n\
         import { demo, setResult } from \"./codeward_api\";\n\
         const body = \"x\".repeat(16000);\n\
         const results = await Promise.allSettled(\n\
           Array.from({ length: 200 }, (_, i) => demo.notesAdd({ title: `n${i}`, body })),\n\
         );\n\
         setResult(results.filter((r) => r.status === \"fulfilled\").length);\n",
    );
    let (code, v) = env.json(&[
        "--config",
        cfg.to_str().unwrap(),
        "run",
        program.to_str().unwrap(),
        "--timeout-ms",
        "60000",
    ]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["outcome"]["output"], 200, "{v:#}");
}
