//! The host side of the tool bridge, driven by minimal inline clients (Python and TypeScript)
//! speaking docs/bridge-protocol.md, with a recording fake invoker and observer.

use std::sync::Arc;
use std::time::Duration;

use codeward_core::{Language, LimitKind};
use codeward_sandbox::MAX_PROTOCOL_ERRORS;
use serde_json::json;

use crate::support::*;

async fn run_py(
    name: &str,
    body: &str,
    recorder: Arc<Recorder>,
    l: codeward_core::ExecutionLimits,
) -> codeward_sandbox::SandboxRun {
    let _s = serial().await;
    let m = marker(name);
    let program = format!("{PY_CLIENT}\n{body}\n");
    let run = sandbox()
        .run_detailed(bridge_job(&m, Language::Python, &program, l, recorder))
        .await
        .expect("runs");
    assert_clean(&m);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_call_is_observed_then_dispatched() {
    let rec = Arc::new(Recorder::default());
    let run = run_py(
        "allowed",
        "r = call('math.add', {'a': 2, 'b': 3})\nprint(json.dumps(r))\nset_result({'sum': r['result']['structuredContent']['sum']})",
        rec.clone(),
        limits(),
    )
    .await;
    let out = &run.output;
    assert!(out.success, "{out:?}");
    let reply: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json reply");
    assert_eq!(reply["id"], json!(1));
    assert_eq!(reply["result"]["structuredContent"], json!({"sum": 5}));
    assert_eq!(reply["result"]["isError"], json!(false));
    assert_eq!(out.result, Some(json!({"sum": 5})));
    assert_eq!(out.metrics.tool_calls, 1);
    assert_eq!(
        rec.events(),
        vec!["before math.add #1", "invoke math.add", "after math.add ok"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_outside_the_job_is_refused_without_dispatch() {
    let rec = Arc::new(Recorder::default());
    let run = run_py(
        "disallowed",
        "print(json.dumps(call('files.delete_everything', {})))",
        rec.clone(),
        limits(),
    )
    .await;
    let reply: serde_json::Value = serde_json::from_str(run.output.stdout.trim()).expect("json");
    assert_eq!(reply["error"]["code"], json!(-32601));
    assert_eq!(
        reply["error"]["data"]["tool"],
        json!("files.delete_everything")
    );
    assert!(rec.events().is_empty(), "{:?}", rec.events());
    assert_eq!(run.bridge.refused, 1);
    assert_eq!(run.output.metrics.tool_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_that_violate_the_schema_are_refused() {
    let rec = Arc::new(Recorder::default());
    let run = run_py(
        "schema",
        "print(json.dumps(call('math.add', {'a': 'two', 'b': 3})))\nprint(json.dumps(call('math.add', {'a': 1})))",
        rec.clone(),
        limits(),
    )
    .await;
    let lines: Vec<serde_json::Value> = run
        .output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["error"]["code"], json!(-32602), "{l}");
    }
    let first = lines[0]["error"]["message"].as_str().expect("message");
    assert!(first.contains("/a"), "{first}");
    assert!(
        lines[1]["error"]["message"]
            .as_str()
            .expect("message")
            .contains("required")
            || lines[1]["error"]["message"]
                .as_str()
                .expect("message")
                .contains("\"b\""),
        "{}",
        lines[1]
    );
    assert!(rec.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_refusal_fails_the_call_closed() {
    let rec = Arc::new(Recorder {
        refuse: Some("math.add".to_owned()),
        ..Recorder::default()
    });
    let run = run_py(
        "refuse",
        "print(json.dumps(call('math.add', {'a': 1, 'b': 2})))",
        rec.clone(),
        limits(),
    )
    .await;
    let reply: serde_json::Value = serde_json::from_str(run.output.stdout.trim()).expect("json");
    assert_eq!(reply["error"]["code"], json!(-32005));
    assert!(
        reply["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("audit log is down")
    );
    // Observed, never invoked.
    assert_eq!(rec.events(), vec!["before math.add #1"]);
    assert_eq!(run.output.metrics.tool_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_budget_holds() {
    let rec = Arc::new(Recorder::default());
    let mut l = limits();
    l.max_tool_calls = 2;
    let run = run_py(
        "budget",
        "for i in range(3):\n    r = call('math.add', {'a': i, 'b': 1})\n    print(r.get('error', {}).get('code', 'ok'))",
        rec.clone(),
        l,
    )
    .await;
    let codes: Vec<&str> = run.output.stdout.lines().collect();
    assert_eq!(codes, vec!["ok", "ok", "-32001"]);
    assert_eq!(run.output.metrics.tool_calls, 2);
    assert_eq!(run.output.metrics.limit_hit, Some(LimitKind::ToolCalls));
    assert!(run.bridge.budget_exceeded);
    assert!(!run.output.success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tool_times_out_and_the_observer_hears_of_it() {
    let rec = Arc::new(Recorder::default());
    let mut l = limits();
    l.tool_call_timeout = Duration::from_millis(200);
    let run = run_py(
        "tooltimeout",
        "print(json.dumps(call('slow.wait', {})))",
        rec.clone(),
        l,
    )
    .await;
    let reply: serde_json::Value = serde_json::from_str(run.output.stdout.trim()).expect("json");
    assert_eq!(reply["error"]["code"], json!(-32002));
    assert_eq!(
        rec.events(),
        vec![
            "before slow.wait #1",
            "invoke slow.wait",
            "after slow.wait timeout"
        ]
    );
    assert_eq!(run.bridge.timed_out, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_and_protocol_errors_are_answered() {
    let rec = Arc::new(Recorder::default());
    let body = r#"
send({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow.wait", "arguments": {}}})
send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "timeout in program"}})
print(json.loads(_R.readline())["error"]["code"])
_W.write("this is not json\n"); _W.flush()
print(json.loads(_R.readline())["error"]["code"])
send({"jsonrpc": "2.0", "id": 8, "method": "resources/list"})
print(json.loads(_R.readline())["error"]["code"])
"#;
    let run = run_py("cancel", body, rec.clone(), limits()).await;
    let codes: Vec<&str> = run.output.stdout.lines().collect();
    assert_eq!(
        codes,
        vec!["-32004", "-32700", "-32601"],
        "{:?}",
        run.output
    );
    assert_eq!(run.bridge.cancelled, 1);
    assert!(rec.events().contains(&"after slow.wait err".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_calls_through_the_bridge() {
    let _s = serial().await;
    let m = marker("ts-bridge");
    let rec = Arc::new(Recorder::default());
    let program = r#"
import fs from "node:fs";
function send(msg: object): void {
  fs.writeSync(3, JSON.stringify(msg) + "\n");
}
function readLine(): string {
  const buf = Buffer.alloc(65536);
  let text = "";
  while (!text.includes("\n")) {
    const n = fs.readSync(4, buf, 0, buf.length, null);
    if (n === 0) break;
    text += buf.subarray(0, n).toString("utf8");
  }
  return text.trim();
}
send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "text.echo", arguments: { text: "hi" } } });
const reply = JSON.parse(readLine());
send({ jsonrpc: "2.0", method: "codeward/result", params: { value: { echoed: reply.result.structuredContent } } });
console.log("done");
"#;
    let run = sandbox()
        .run_detailed(bridge_job(
            &m,
            Language::TypeScript,
            program,
            limits(),
            rec.clone(),
        ))
        .await
        .expect("runs");
    assert!(run.output.success, "{:?}", run.output);
    assert_eq!(run.output.result, Some(json!({"echoed": "hi"})));
    assert_eq!(run.output.metrics.tool_calls, 1);
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_api_module_is_importable() {
    let _s = serial().await;
    let m = marker("api-module");
    let rec = Arc::new(Recorder::default());
    let api = "export function add(a: number, b: number): number { return a + b; }\n";
    let program = "import { add } from \"./codeward_api\";\nconsole.log(add(20, 22));\n";
    let mut job = bridge_job(&m, Language::TypeScript, program, limits(), rec.clone());
    job.api = Some(codeward_core::GeneratedApi::new(
        Language::TypeScript,
        api.to_owned(),
        String::new(),
        0,
        0,
    ));
    let sb = sandbox();
    let run = sb.run_detailed(job).await.expect("runs");
    assert_eq!(run.output.stdout.trim(), "42", "{:?}", run.output);
    assert_clean(&m);
    // The sandbox keeps transpiled API modules: another module gets its own JavaScript, and
    // the first one, asked for again, still its own.
    let ts_api = |module: &str| {
        Some(codeward_core::GeneratedApi::new(
            Language::TypeScript,
            module.to_owned(),
            String::new(),
            0,
            0,
        ))
    };
    let times = "export function add(a: number, b: number): number { return a * b; }\n";
    for (module, expected) in [(times, "440"), (api, "42")] {
        let m = marker("api-module-again");
        let mut job = bridge_job(&m, Language::TypeScript, program, limits(), rec.clone());
        job.api = ts_api(module);
        let run = sb.run_detailed(job).await.expect("runs");
        assert_eq!(run.output.stdout.trim(), expected, "{:?}", run.output);
        assert_clean(&m);
    }

    let m = marker("api-module-py");
    let mut job = bridge_job(
        &m,
        Language::Python,
        "from codeward_api import add\nprint(add(20, 22))\n",
        limits(),
        rec,
    );
    job.api = Some(codeward_core::GeneratedApi::new(
        Language::Python,
        "def add(a, b):\n    return a + b\n".to_owned(),
        String::new(),
        0,
        0,
    ));
    let run = sandbox().run_detailed(job).await.expect("runs");
    assert_eq!(run.output.stdout.trim(), "42", "{:?}", run.output);
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_invoker_answers_the_call_with_an_error() {
    let rec = Arc::new(Recorder::default());
    let run = run_py(
        "invoker-panic",
        "print(json.dumps(call('text.panic', {})))\nprint(json.dumps(call('math.add', {'a': 1, 'b': 1})))",
        rec,
        limits(),
    )
    .await;
    let lines: Vec<serde_json::Value> = run
        .output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["error"]["code"], json!(-32000), "{:?}", run.output);
    assert_eq!(lines[1]["result"]["structuredContent"], json!({"sum": 2}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_of_more_than_half_the_line_limit_arrives_whole() {
    // 10 MB of text: it fits a 16 MiB response line once, not twice (text and structured).
    let n = 10_000_000;
    let rec = Arc::new(Recorder::default());
    let run = run_py(
        "big-result",
        &format!("r = call('text.big', {{'n': {n}}})\nres = r['result']\nprint(len(res['structuredContent']), len(res['content']), res['isError'])"),
        rec,
        limits(),
    )
    .await;
    assert!(run.output.success, "{:?}", run.output);
    assert_eq!(run.output.stdout.trim(), format!("{n} 0 False"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoker_is_given_the_deadline_and_its_timeout_counts_as_one() {
    // The bridge hands the per-call timeout to the invoker (the MCP pool enforces it to spot
    // hung servers); an invoker's own timeout is reported like the bridge's.
    let rec = Arc::new(Recorder::default());
    let mut l = limits();
    l.tool_call_timeout = Duration::from_secs(7);
    let run = run_py(
        "aware",
        "print(json.dumps(call('slow.aware', {})))",
        rec.clone(),
        l,
    )
    .await;
    let reply: serde_json::Value = serde_json::from_str(run.output.stdout.trim()).expect("json");
    assert_eq!(reply["error"]["code"], json!(-32002), "{reply}");
    assert_eq!(
        rec.events(),
        vec![
            "before slow.aware #1",
            "deadline slow.aware 7s",
            "after slow.aware timeout"
        ]
    );
    assert_eq!(run.bridge.timed_out, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_junk_lines_ends_the_run() {
    // 1 MB of junk and never a read of fd 4: each line used to queue an error reply on the
    // host, without bound.
    let rec = Arc::new(Recorder::default());
    let body = r#"
junk = b"x\n" * (512 * 1024)
for i in range(0, len(junk), 65536):
    os.write(3, junk[i:i + 65536])
print("DONE")
"#;
    let run = run_py("junk", body, rec, limits()).await;
    let out = &run.output;
    assert!(!out.stdout.contains("DONE"), "{out:?}");
    assert!(!out.success, "{out:?}");
    assert_eq!(
        run.bridge.protocol_errors, MAX_PROTOCOL_ERRORS,
        "{:?}",
        run.bridge
    );
    assert!(run.bridge.protocol_limit_hit, "{:?}", run.bridge);
    assert!(
        out.stderr.contains("[codeward: the run was stopped"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_never_reads_replies_is_held_back() {
    // Calls to a tool outside the job are refused at once, each with a reply. A program that
    // never reads them must find fd 3 full (the host stopped reading) instead of piling
    // replies up on the host. The program gives the host two seconds to drain fd 3; a host
    // holding back never does, so the test does not depend on that time.
    let rec = Arc::new(Recorder::default());
    let body = r#"
import fcntl, select
line = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "nope." + "x" * 1000, "arguments": {}}}) + "\n").encode()
fcntl.fcntl(3, fcntl.F_SETFL, fcntl.fcntl(3, fcntl.F_GETFL) | os.O_NONBLOCK)
sent = 0
while sent < 5000:
    try:
        os.write(3, line)
        sent += 1
    except BlockingIOError:
        if not select.select([], [3], [], 2)[1]:
            print("HELD", sent)
            break
else:
    print("DONE")
"#;
    let run = run_py("no-reader", body, rec, limits()).await;
    assert!(run.output.stdout.starts_with("HELD"), "{:?}", run.output);
    assert!(run.bridge.refused < 5000, "{:?}", run.bridge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_unknown_tool_name_is_not_echoed_whole() {
    let rec = Arc::new(Recorder::default());
    let name = format!("nope.{}", "x".repeat(100_000));
    let run = run_py(
        "long-name",
        &format!("r = call({name:?}, {{}})\nprint(len(json.dumps(r)), r['error']['code'])"),
        rec,
        limits(),
    )
    .await;
    let out = run.output.stdout.trim();
    let (len, code) = out.split_once(' ').expect("two fields");
    assert_eq!(code, "-32601", "{:?}", run.output);
    let len: usize = len.parse().expect("length");
    assert!(len < 1000, "reply of {len} bytes: {:?}", run.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_is_read_even_when_every_call_slot_is_taken() {
    // 64 calls to a tool that waits for its timeout (5 s) fill the bridge; the cancellation
    // sent next must still be read and answered (-32004), not after a slot frees (-32002).
    let rec = Arc::new(Recorder::default());
    let body = r#"
for i in range(1, 65):
    send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "slow.wait", "arguments": {}}})
send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "reason": "timeout in program"}})
while True:
    reply = json.loads(_R.readline())
    if reply.get("id") == 1:
        print(reply["error"]["code"])
        break
"#;
    let run = run_py("cancel-full", body, rec, limits()).await;
    assert_eq!(run.output.stdout.trim(), "-32004", "{:?}", run.output);
}
