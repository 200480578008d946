//! `--json` outputs are part of the interface: snapshot them, with times, ids and hashes
//! redacted.

use super::*;

#[test]
fn json_outputs_are_stable() {
    let env = Env::new();
    let aliased = env.write("aliased.py", "from subprocess import run as r\nr(['ls'])\n");
    let (_, check) = env.json(&["check", aliased.to_str().unwrap()]);
    insta::assert_json_snapshot!("check", check, { ".file" => "[file]" });

    let (_, search) = env.json(&["search", "add a note", "--limit", "3"]);
    insta::assert_json_snapshot!("search", search, { "[].score" => "[score]" });

    let (_, demo) = env.json(&["demo"]);
    insta::assert_json_snapshot!("demo", demo, {
        ".outcome.execution_id" => "[id]",
        ".outcome.metrics" => "[metrics]",
        ".outcome.summary.text" => "[text]",
        ".outcome.summary.tokens" => "[tokens]",
        ".outcome.output.search.matches[].score" => "[score]",
        ".audit.dir" => "[dir]",
    });

    let (_, verify) = env.json(&["audit", "verify"]);
    insta::assert_json_snapshot!("verify", verify, { ".head[1]" => "[hash]" });
}
