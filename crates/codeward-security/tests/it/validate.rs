//! Validator behaviour: semantic matching, aliases, strings and comments, syntax errors.

use codeward_core::{FindingCategory, Language, ToolAnnotations, ToolSchema};
use codeward_security::Validator;
use serde_json::json;

fn validator() -> Validator {
    Validator::new().expect("built-in rules compile")
}

/// Rule ids found in `code`, deduplicated, sorted.
fn rules(language: Language, code: &str) -> Vec<String> {
    let report = validator()
        .check(code, language, &[])
        .expect("validator runs");
    let mut ids: Vec<String> = report.findings.iter().map(|f| f.rule_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn py(code: &str) -> Vec<String> {
    rules(Language::Python, code)
}

fn ts(code: &str) -> Vec<String> {
    rules(Language::TypeScript, code)
}

#[track_caller]
fn has(found: &[String], rule: &str) {
    assert!(
        found.iter().any(|r| r == rule),
        "expected {rule} in {found:?}"
    );
}

#[test]
fn debug_dump() {
    let cases = [
        (Language::Python, "import os as o\no.system('ls')\n"),
        (
            Language::Python,
            "from subprocess import run as r\nr(['ls'])\n",
        ),
        (
            Language::Python,
            "x = 'eval(1)'  # os.system('rm')\nprint(x)\n",
        ),
        (
            Language::Python,
            "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
        ),
        (
            Language::Python,
            "import os\ngetattr(os, 'sys'+'tem')('id')\n",
        ),
        (
            Language::TypeScript,
            "const cp = require('child_process');\ncp.exec('ls');\n",
        ),
        (
            Language::TypeScript,
            "import * as cp from 'child_process';\ncp.execSync('ls');\n",
        ),
        (
            Language::TypeScript,
            "const { exec } = require('child_process');\nexec('ls');\n",
        ),
        (
            Language::TypeScript,
            "const s = 'eval(1)'; // child_process.exec\nconsole.log(s);\n",
        ),
        (
            Language::TypeScript,
            "[].constructor.constructor('return process')();\n",
        ),
        (Language::TypeScript, "while (true) { x++; }\n"),
        (Language::Python, "def f(:\n  pass\n"),
        (Language::TypeScript, "const x = ;\n"),
    ];
    for (lang, code) in cases {
        let r = validator().check(code, lang, &[]).expect("runs");
        println!("--- {code}");
        for f in &r.findings {
            println!(
                "  {} {:?} {} {}:{} `{}` {}",
                f.rule_id, f.category, f.severity, f.line, f.column, f.snippet, f.message
            );
        }
    }
}
