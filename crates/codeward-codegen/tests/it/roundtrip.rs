//! Round trips: the generated client, run by real python3 and node, against a fake host that
//! speaks the bridge protocol on fds 3 and 4 (docs/bridge-protocol.md).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use codeward_core::Language;
use serde_json::{Value, json};

use crate::common::{fixture, generate, python, transpile};

/// What the host saw.
#[derive(Debug, Default)]
struct Transcript {
    /// `tools/call` requests: (id, name, arguments).
    calls: Vec<(u64, String, Value)>,
    /// `notifications/cancelled` request ids.
    cancelled: Vec<u64>,
    /// The last `codeward/result` value.
    result: Option<Value>,
    /// Lines that were not valid JSON-RPC.
    garbage: Vec<String>,
}

/// The scripted tools of the fake host.
fn answer(name: &str, arguments: &Value) -> Option<Value> {
    let text = |t: &str| json!({"content": [{"type": "text", "text": t}], "isError": false});
    Some(match name {
        "demo.notes_add" => json!({
            "content": [{"type": "text", "text": "stored"}],
            "structuredContent": {"id": "n1", "title": arguments["title"], "createdAt": "2026-01-01T00:00:00Z"},
            "isError": false
        }),
        "demo.notes_search" if arguments["query"] == "plain" => text("just words"),
        "demo.notes_search" => json!({"content": [
            {"type": "text", "text": "[\"milk\","},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "text", "text": "\"bread\"]"}
        ]}),
        "demo.boom" => {
            json!({"content": [{"type": "text", "text": "disk on fire"}], "isError": true})
        }
        "demo.empty" => json!({"content": []}),
        // Never answered until the client cancels it.
        "demo.slow" => return None,
        _ => {
            return Some(
                json!({"error": {"code": -32601, "message": format!("unknown tool {name}")}}),
            );
        }
    })
}

/// Serves the protocol until the child closes fd 3. Calls to `demo.hold` are answered only
/// after the next call, so responses arrive out of order.
fn serve(requests: OwnedFd, responses: OwnedFd) -> Transcript {
    let mut transcript = Transcript::default();
    let mut out = std::fs::File::from(responses);
    let mut held: Vec<Value> = Vec::new();
    let mut slow: Vec<u64> = Vec::new();
    let reader = BufReader::new(std::fs::File::from(requests));
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            transcript.garbage.push(line);
            continue;
        };
        match message["method"].as_str() {
            Some("tools/call") => {
                let id = message["id"].as_u64().expect("integer id");
                let name = message["params"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let arguments = message["params"]["arguments"].clone();
                transcript.calls.push((id, name.clone(), arguments.clone()));
                if name == "demo.hold" {
                    held.push(json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "\"held\""}]}}));
                    continue;
                }
                match answer(&name, &arguments) {
                    Some(reply) => {
                        let mut response = json!({"jsonrpc": "2.0", "id": id});
                        match reply.get("error") {
                            Some(error) => response["error"] = error.clone(),
                            None => response["result"] = reply,
                        }
                        send(&mut out, response);
                    }
                    None => slow.push(id),
                }
                for response in held.drain(..) {
                    send(&mut out, response);
                }
            }
            Some("notifications/cancelled") => {
                let id = message["params"]["requestId"].as_u64().expect("requestId");
                transcript.cancelled.push(id);
                if slow.contains(&id) {
                    send(
                        &mut out,
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32004, "message": "cancelled: timeout in program"}}),
                    );
                }
            }
            Some("codeward/result") => transcript.result = Some(message["params"]["value"].clone()),
            _ => transcript.garbage.push(line),
        }
    }
    transcript
}

fn send(out: &mut std::fs::File, message: Value) {
    // The child may already be gone; a broken pipe is its business, not the host's.
    let _ = writeln!(out, "{message}");
}

/// Runs `command` with the bridge on fds 3 (child writes) and 4 (child reads).
fn run_with_bridge(mut command: Command) -> (std::process::Output, Transcript) {
    let (requests_read, requests_write) = std::io::pipe().expect("pipe");
    let (responses_read, responses_write) = std::io::pipe().expect("pipe");
    let child_write = requests_write.as_raw_fd();
    let child_read = responses_read.as_raw_fd();
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("CODEWARD_BRIDGE_FDS", "3,4")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec. Moving both
    // ends above 10 first keeps dup2 from clobbering one with the other when either is 3 or 4.
    unsafe {
        command.pre_exec(move || {
            let w = libc::fcntl(child_write, libc::F_DUPFD_CLOEXEC, 10);
            let r = libc::fcntl(child_read, libc::F_DUPFD_CLOEXEC, 10);
            if w < 0 || r < 0 || libc::dup2(w, 3) < 0 || libc::dup2(r, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("interpreter starts");
    // The child holds its own copies; the host must drop these so EOF can happen.
    drop(requests_write);
    drop(responses_read);
    let host = std::thread::spawn(move || serve(requests_read.into(), responses_write.into()));
    let output = child.wait_with_output().expect("child runs");
    let transcript = host.join().expect("host thread");
    (output, transcript)
}

fn write_api(dir: &Path, language: Language) {
    let api = generate(&fixture("demo"), language);
    match language {
        Language::Python => std::fs::write(dir.join("codeward_api.py"), api.module),
        _ => std::fs::write(dir.join("codeward_api.mjs"), transpile(&api.module)),
    }
    .expect("write module");
}

fn check_transcript(output: &std::process::Output, transcript: &Transcript, language: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{language} program failed:\n{stderr}\n{stdout}"
    );
    assert!(
        transcript.garbage.is_empty(),
        "not JSON-RPC: {:?}",
        transcript.garbage
    );
    // The program's own prints go to stdout and never reach the bridge.
    assert!(stdout.contains("noise {\"id\": 99}"), "stdout: {stdout}");
    let ids: Vec<u64> = transcript.calls.iter().map(|c| c.0).collect();
    let expected_ids: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, expected_ids, "ids are unique and increase from 1");
}

#[test]
fn python_client_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_api(dir.path(), Language::Python);
    let program = r#"
from codeward_api import demo, set_result, call_tool, ToolError

note = demo.notes_add("Groceries", tags=["home"])
hits = demo.notes_search(query="milk", limit=5)
plain = call_tool("demo.notes_search", {"query": "plain"})
empty = call_tool("demo.empty")
errors = []
for name, args, timeout in [("demo.notes_delete", {"id": "n9"}, None), ("demo.boom", {}, None), ("demo.slow", {}, 0.05)]:
    try:
        call_tool(name, args, timeout=timeout)
        errors.append(None)
    except ToolError as error:
        errors.append({"message": error.message, "code": error.code, "tool": error.tool})
try:
    demo.notes_delete("n1")
except ToolError as error:
    errors.append(error.code)
print('noise {"id": 99}')
set_result({"note": note, "hits": hits, "plain": plain, "empty": empty, "errors": errors})
"#;
    std::fs::write(dir.path().join("main.py"), program).expect("write program");
    let mut command = Command::new(python());
    command
        .args(["-E", "-s", "main.py"])
        .current_dir(dir.path());
    let (output, transcript) = run_with_bridge(command);
    check_transcript(&output, &transcript, "python");
    let calls: Vec<(&str, &Value)> = transcript
        .calls
        .iter()
        .map(|c| (c.1.as_str(), &c.2))
        .collect();
    assert_eq!(
        calls,
        vec![
            // The optional `body` / `pinned` the program left out are not sent.
            (
                "demo.notes_add",
                &json!({"title": "Groceries", "tags": ["home"]})
            ),
            ("demo.notes_search", &json!({"query": "milk", "limit": 5})),
            ("demo.notes_search", &json!({"query": "plain"})),
            ("demo.empty", &json!({})),
            ("demo.notes_delete", &json!({"id": "n9"})),
            ("demo.boom", &json!({})),
            ("demo.slow", &json!({})),
            ("demo.notes_delete", &json!({"id": "n1"})),
        ]
    );
    assert_eq!(
        transcript.cancelled,
        vec![7],
        "the timed-out call was cancelled"
    );
    assert_eq!(transcript.result, Some(expected_result()));
}

#[test]
fn typescript_client_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_api(dir.path(), Language::TypeScript);
    // The program as an agent writes it, in TypeScript; the host rewrites the module specifier
    // to the transpiled file (docs/bridge-protocol.md, "The generated module").
    let program = r#"
import { demo, setResult, callTool, ToolError } from "./codeward_api.mjs";

const note = await demo.notesAdd({ title: "Groceries", tags: ["home"] });
const hits = await demo.notesSearch({ query: "milk", limit: 5 });
const plain = await callTool("demo.notes_search", { query: "plain" });
const empty = await callTool("demo.empty");
const errors: unknown[] = [];
for (const [name, args, timeoutMs] of [["demo.notes_delete", { id: "n9" }, undefined], ["demo.boom", {}, undefined], ["demo.slow", {}, 50]] as const) {
  try {
    await callTool(name, args, { timeoutMs });
    errors.push(null);
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    errors.push({ message: error.message, code: error.code, tool: error.tool });
  }
}
try {
  await demo.notesDelete({ id: "n1" });
} catch (error) {
  errors.push((error as ToolError).code);
}
// Two calls in flight; the host answers the second first.
const both = await Promise.all([callTool("demo.hold", { n: 1 }), demo.notesSearch({ query: "plain" })]);
// An AbortSignal cancels a call in flight.
const controller = new AbortController();
const aborted = callTool("demo.slow", { n: 2 }, { signal: controller.signal }).catch((error) => (error as ToolError).code);
controller.abort();
errors.push(await aborted);
console.log('noise {"id": 99}');
setResult({ note, hits, plain, empty, errors, both });
"#;
    std::fs::write(dir.path().join("main.mjs"), transpile(program)).expect("write program");
    let mut command = Command::new("node");
    command.arg("main.mjs").current_dir(dir.path());
    let (output, transcript) = run_with_bridge(command);
    check_transcript(&output, &transcript, "node");
    let names: Vec<&str> = transcript.calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo.notes_add",
            "demo.notes_search",
            "demo.notes_search",
            "demo.empty",
            "demo.notes_delete",
            "demo.boom",
            "demo.slow",
            "demo.notes_delete",
            "demo.hold",
            "demo.notes_search",
            "demo.slow"
        ]
    );
    assert_eq!(
        transcript.calls[0].2,
        json!({"title": "Groceries", "tags": ["home"]})
    );
    assert_eq!(
        transcript.cancelled,
        vec![7, 11],
        "the timed-out call and the aborted call were cancelled"
    );
    let mut expected = expected_result();
    expected["both"] = json!(["held", "just words"]);
    if let Some(errors) = expected["errors"].as_array_mut() {
        errors.push(json!(-32004));
    }
    assert_eq!(transcript.result, Some(expected));
}

fn expected_result() -> Value {
    json!({
        // structuredContent wins over text.
        "note": {"id": "n1", "title": "Groceries", "createdAt": "2026-01-01T00:00:00Z"},
        // Text items joined with a newline, then parsed as JSON.
        "hits": ["milk", "bread"],
        // Text that is not JSON comes back as a string.
        "plain": "just words",
        "empty": null,
        "errors": [
            {"message": "unknown tool demo.notes_delete", "code": -32601, "tool": "demo.notes_delete"},
            {"message": "disk on fire", "code": -32000, "tool": "demo.boom"},
            {"message": "cancelled: timeout in program", "code": -32004, "tool": "demo.slow"},
            -32601
        ]
    })
}

#[test]
fn clients_outside_codeward_fail_fast_with_bridge_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_api(dir.path(), Language::Python);
    write_api(dir.path(), Language::TypeScript);
    std::fs::write(
        dir.path().join("main.mjs"),
        "import { demo } from './codeward_api.mjs';\n\
         try { await demo.notesDelete({ id: 'x' }); } catch (e) { console.log(e.name + ': ' + e.message); }\n",
    )
    .expect("write program");
    let node = Command::new("node")
        .arg("main.mjs")
        .current_dir(dir.path())
        .env_remove("CODEWARD_BRIDGE_FDS")
        .output()
        .expect("node runs");
    let py = Command::new(python())
        .args(["-I", "-c", "import sys; sys.path.insert(0, '.')\nfrom codeward_api import demo, BridgeError\ntry:\n    demo.notes_delete('x')\nexcept BridgeError as e:\n    print('BridgeError: ' + str(e))"])
        .current_dir(dir.path())
        .env_remove("CODEWARD_BRIDGE_FDS")
        .output()
        .expect("python runs");
    for (language, out) in [("node", node), ("python", py)] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("BridgeError: not running inside codeward"),
            "{language}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
