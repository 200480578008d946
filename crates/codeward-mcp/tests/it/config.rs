//! Config parsing: the ecosystem's format, env references, and errors that say where.

use codeward_mcp::{McpConfig, McpError, ServerConfig};

fn lookup(var: &str) -> Option<String> {
    match var {
        "GITHUB_TOKEN" => Some("ghp_secret".into()),
        "HOME" => Some("/home/me".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<McpConfig, McpError> {
    McpConfig::parse_with_env(text, "test.json", &lookup)
}

#[test]
fn claude_desktop_format_with_env_references() {
    let config = parse(
        r#"{
          "mcpServers": {
            "github": {"command": "npx", "args": ["-y", "server-github"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}", "DEPTH": 3}},
            "files": {"command": "mcp-server-filesystem", "args": ["${HOME}/notes", "${DATA:-/tmp}"],
                      "cwd": "/srv", "alwaysAllow": ["read_file"]},
            "remote": {"type": "http", "url": "https://example.com/mcp",
                       "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}},
            "old": {"command": "x", "disabled": true}
          }
        }"#,
    )
    .unwrap();
    assert_eq!(
        config.servers.keys().collect::<Vec<_>>(),
        ["files", "github", "remote"]
    );
    let ServerConfig::Stdio(github) = &config.servers["github"] else {
        panic!("stdio expected")
    };
    assert_eq!(github.command_line(), "npx -y server-github");
    assert_eq!(github.env["GITHUB_PERSONAL_ACCESS_TOKEN"], "ghp_secret");
    assert_eq!(github.env["DEPTH"], "3");
    // Secrets stay out of Debug output (and so out of logs).
    assert!(!format!("{config:?}").contains("ghp_secret"));
    let ServerConfig::Stdio(files) = &config.servers["files"] else {
        panic!("stdio expected")
    };
    assert_eq!(files.args, ["/home/me/notes", "/tmp"]);
    assert_eq!(files.cwd.as_deref(), Some(std::path::Path::new("/srv")));
    let ServerConfig::Http(remote) = &config.servers["remote"] else {
        panic!("http expected")
    };
    assert_eq!(remote.headers["Authorization"], "Bearer ghp_secret");
}

#[test]
fn vs_code_servers_key_is_accepted() {
    let config = parse(r#"{"servers": {"a": {"command": "x"}}}"#).unwrap();
    assert!(config.servers.contains_key("a"));
}

/// Each bad config and words its error must contain.
#[test]
fn bad_configs_say_where_and_what() {
    let cases: &[(&str, &[&str])] = &[
        (
            "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}",
            &["test.json:3:", "invalid JSON"],
        ),
        ("[]", &["top level is not an object"]),
        (r#"{"other": {}}"#, &["no \"mcpServers\""]),
        (r#"{"mcpServers": []}"#, &["not an object of servers"]),
        (
            r#"{"mcpServers": {"a": 1}}"#,
            &["server \"a\"", "not an object"],
        ),
        (
            r#"{"mcpServers": {"a": {}}}"#,
            &["server \"a\"", "needs \"command\""],
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}"#,
            &["server \"a\"", "both"],
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "args": "-v"}}}"#,
            &["server \"a\"", "\"args\" must be an array"],
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "args": [1]}}}"#,
            &["server \"a\"", "args[0]"],
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "env": {"K": []}}}}"#,
            &["server \"a\"", "env.K"],
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "env": {"K": "${NOPE}"}}}}"#,
            &["server \"a\"", "NOPE is not set"],
        ),
        (
            r#"{"mcpServers": {"a": {"command": " "}}}"#,
            &["server \"a\"", "empty"],
        ),
        (
            r#"{"mcpServers": {"a": {"url": "ftp://h"}}}"#,
            &["server \"a\"", "http://"],
        ),
        (
            r#"{"mcpServers": {"a": {"type": "sse", "command": "x"}}}"#,
            &["server \"a\"", "\"type\""],
        ),
        (
            r#"{"mcpServers": {"a.b": {"command": "x"}}}"#,
            &["server \"a.b\"", "letters, digits"],
        ),
    ];
    for (text, words) in cases {
        let error = parse(text).expect_err(text).to_string();
        for word in *words {
            assert!(
                error.contains(word),
                "{text}\n-> {error}\n(missing {word:?})"
            );
        }
    }
}

#[test]
fn files_report_their_path_and_resolve_relative_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let error = McpConfig::from_file(&missing).unwrap_err().to_string();
    assert!(error.contains("missing.json"), "{error}");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"mcpServers\": {\n\n oops").unwrap();
    let error = McpConfig::from_file(&bad).unwrap_err().to_string();
    assert!(error.contains("bad.json:3:"), "{error}");

    let good = dir.path().join(".mcp.json");
    std::fs::write(
        &good,
        r#"{"mcpServers": {"a": {"command": "x", "cwd": "work"}}}"#,
    )
    .unwrap();
    let config = McpConfig::from_file(&good).unwrap();
    let ServerConfig::Stdio(a) = &config.servers["a"] else {
        panic!("stdio expected")
    };
    assert_eq!(a.cwd.as_deref(), Some(dir.path().join("work").as_path()));
}
