//! A real MCP client, the Python `mcp` SDK, drives `codeward serve` over stdio.

use super::*;

#[test]
fn the_python_mcp_sdk_drives_codeward_serve() {
    let has_sdk = Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        // CI installs it (.ci/run); say so loudly rather than pass silently.
        eprintln!("SKIPPED: the Python `mcp` package is not installed (pip install mcp)");
        return;
    }
    let env = Env::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_codeward"))
        .arg(env.data())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let seen: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(seen["server"], "codeward");
    assert!(
        seen["instructions"]
            .as_str()
            .unwrap()
            .contains("search_tools")
    );
    assert_eq!(
        seen["tools"],
        serde_json::json!(["execute_code", "get_tool_api", "search_tools"])
    );
    assert_eq!(seen["search"]["tools"][0]["name"], "demo.text_stats");
    assert!(
        seen["api"]["module"]
            .as_str()
            .unwrap()
            .contains("def text_stats")
    );
    assert_eq!(seen["execute_is_error"], false, "{seen:#}");
    assert_eq!(seen["execute"]["result"]["words"], 4);
    assert_eq!(seen["risky_is_error"], true);
    assert!(
        seen["risky"]["approval_required"]
            .as_str()
            .unwrap()
            .starts_with("apr_"),
        "{seen:#}"
    );
    assert!(
        seen["risky"]["next_step"]
            .as_str()
            .unwrap()
            .contains("codeward approvals approve")
    );
    // Only tools a configured server serves are offered.
    let mail = seen["mail_search"]["tools"].as_array().unwrap();
    assert!(
        mail.iter()
            .all(|t| t["name"].as_str().unwrap().starts_with("demo.")),
        "{seen:#}"
    );
    assert_eq!(seen["unserved_is_error"], true);
    assert!(
        seen["unserved_text"]
            .as_str()
            .unwrap()
            .contains("no configured MCP server `gmail`"),
        "{seen:#}"
    );
    // Code that does not parse is an invalid program, not a lack of tools.
    assert!(
        seen["broken"]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid program"),
        "{seen:#}"
    );
    // A failed run says how it ended.
    assert!(
        seen["silent"]["error"]
            .as_str()
            .unwrap()
            .contains("exit status 3"),
        "{seen:#}"
    );
    assert_eq!(
        seen["silent"]["exit"],
        serde_json::json!({"kind": "code", "value": 3}),
        "{seen:#}"
    );
    assert_eq!(seen["bad_is_error"], true);
    assert!(seen["bad_text"].as_str().unwrap().contains("search_tools"));
    // The executions went through the audit log.
    let verify = env.run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn a_client_that_leaves_before_initializing_is_not_an_internal_error() {
    let env = Env::new();
    // stdin is /dev/null: the client is gone before it said anything.
    let out = env.run(&["serve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("closed the connection before initializing"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}
