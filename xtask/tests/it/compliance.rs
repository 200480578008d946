//! `cargo xtask compliance` against a fake `codeward`: what it grades, the exit code it
//! ends with and the files it leaves under `<target>/compliance/`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

/// A target directory holding a fake `debug/codeward`, a fake cargo and the environment one
/// run of `xtask compliance` gets.
struct Fixture {
    dir: TempDir,
    env: Vec<(String, String)>,
}

/// What one run left behind.
struct Run {
    code: Option<i32>,
    stderr: String,
    /// `<target>/compliance/report.json`, when there is one.
    report: Option<Value>,
}

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The audit report `codeward audit report --format json` writes when every control passes.
fn passing_report() -> Value {
    let checks: Vec<Value> = [
        ("SOC 2", "CC4.1"),
        ("SOC 2", "CC7.2"),
        ("GDPR", "Art. 30"),
        ("GDPR", "Art. 32"),
        ("HIPAA", "164.312(b)"),
    ]
    .iter()
    .map(|(framework, control)| {
        json!({"framework": framework, "control": control, "title": "t", "status": "pass", "evidence": "fake"})
    })
    .collect();
    json!({"records": 5, "checks": checks})
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("debug")).unwrap();
        script(
            &dir.path().join("debug/codeward"),
            include_str!("fake-codeward.sh"),
        );
        script(&dir.path().join("cargo"), include_str!("fake-cargo.sh"));
        std::fs::write(
            dir.path().join("passing-report.json"),
            passing_report().to_string(),
        )
        .unwrap();
        Fixture {
            dir,
            env: Vec::new(),
        }
    }

    fn env(mut self, key: &str, value: impl Into<String>) -> Fixture {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `<target>/compliance/<name>`.
    fn output(&self, name: &str) -> PathBuf {
        self.path("compliance").join(name)
    }

    fn put(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("compliance").args(args);
        // The run must not depend on the environment the tests happen to run in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CODEWARD_")
                || key.to_string_lossy().starts_with("FAKE_")
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("CARGO", self.path("cargo"))
            .env("CARGO_TARGET_DIR", self.dir.path())
            .env("FAKE_DIR", self.dir.path());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let out = cmd.output().unwrap();
        let report = std::fs::read_to_string(self.output("report.json"))
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap());
        Run {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            report,
        }
    }
}

impl Run {
    /// Asserts the exit code, showing stderr when it differs.
    fn exits(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "stderr:\n{}", self.stderr);
        self
    }

    /// Asserts that stderr says `text`.
    fn says(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "no report.json (exit {:?}); stderr:\n{}",
                self.code, self.stderr
            )
        })
    }

    /// `framework control: status` for every control.
    fn controls(&self) -> Vec<String> {
        self.report()["controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    c["framework"].as_str().unwrap(),
                    c["control"].as_str().unwrap(),
                    c["status"].as_str().unwrap()
                )
            })
            .collect()
    }
}

const ALL_PASS: [&str; 5] = [
    "SOC 2 CC4.1: pass",
    "SOC 2 CC7.2: pass",
    "GDPR Art. 30: pass",
    "GDPR Art. 32: pass",
    "HIPAA 164.312(b): pass",
];

#[test]
fn a_clean_scenario_passes() {
    let run = Fixture::new().run(&[]);
    run.exits(0);
    assert_eq!(run.report()["passed"], true);
    assert_eq!(run.controls(), ALL_PASS);
}

fn check_status<'a>(run: &'a Run, id: &str) -> &'a str {
    run.report()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn a_failing_check_fails_the_run() {
    let run = Fixture::new().env("FAKE_CLIPPY", "fail").run(&[]);
    run.exits(8);
    assert_eq!(run.report()["passed"], false);
    assert_eq!(check_status(&run, "must_use.clippy"), "FAIL");
    run.says("check must_use.clippy");
}

#[test]
fn a_failing_control_fails_the_run() {
    // Every check passes; only the binary's own report fails all five controls.
    let f = Fixture::new();
    let report = f.put("empty-report.json", r#"{"checks": []}"#);
    let run = f.env("FAKE_REPORT", report.display().to_string()).run(&[]);
    run.exits(8);
    assert_eq!(run.report()["passed"], false);
    assert!(
        run.controls().iter().all(|c| c.ends_with("FAIL")),
        "{:?}",
        run.controls()
    );
    run.says("CC4.1");
}

#[test]
fn a_check_of_the_audit_report_outside_the_control_table_is_graded_too() {
    let f = Fixture::new();
    let mut report = passing_report();
    report["checks"].as_array_mut().unwrap().push(json!({
        "framework": "SOC 2", "control": "CC9.9", "title": "t", "status": "fail", "evidence": "e"
    }));
    let report = f.put("report-cc99.json", &report.to_string());
    let run = f.env("FAKE_REPORT", report.display().to_string()).run(&[]);
    run.exits(8);
    assert_eq!(run.report()["passed"], false);
    run.says("CC9.9");
}

#[test]
fn every_run_grades_its_own_audit_report() {
    // An audit-report.json left by an earlier run (here one that fails everything) must not
    // be graded, nor block the new one from being written.
    let f = Fixture::new();
    f.put("compliance/audit-report.json", r#"{"checks": []}"#);
    let run = f.run(&[]);
    run.exits(0);
    assert_eq!(run.controls(), ALL_PASS);

    // And the other way round: a second run whose report fails is not graded on the first.
    let failing = f.put("empty-report.json", r#"{"checks": []}"#);
    let second = f.env("FAKE_REPORT", failing.display().to_string()).run(&[]);
    second.exits(8);
    assert_eq!(second.report()["passed"], false);
}

#[test]
fn a_failed_audit_report_step_ends_the_run_naming_the_step() {
    let f = Fixture::new();
    f.put("compliance/report.json", r#"{"passed": true}"#);
    let run = f.env("FAKE_REPORT_EXIT", "4").run(&[]);
    // The step, its exit code and its own message.
    run.exits(70)
        .says("step `codeward audit report` exited 4")
        .says("the audit log is unavailable");
    assert!(
        run.report.is_none(),
        "the previous run's report.json is left"
    );
}

#[test]
fn codeward_variables_in_the_environment_do_not_reach_the_scenario() {
    let f = Fixture::new();
    let production = f.path("production-audit");
    let run = f
        .env("CODEWARD_AUDIT_DIR", production.display().to_string())
        .env("CODEWARD_DATA_DIR", "/nonexistent/codeward-data")
        .env("CODEWARD_AUDIT_KEY_FILE", "/nonexistent/audit.key")
        .run(&[]);
    run.exits(0);
    assert!(
        !production.exists(),
        "scenario records were written to $CODEWARD_AUDIT_DIR"
    );
}

#[test]
fn a_run_that_cannot_finish_names_the_path_and_leaves_no_report() {
    let f = Fixture::new().env("FAKE_NO_LOG", "1");
    f.put("compliance/report.json", r#"{"passed": true}"#);
    f.put("compliance/report.md", "an earlier run's report");
    f.run(&[])
        .exits(70)
        .says("could not finish")
        .says("reading the scenario's audit log")
        .says("scenario/data/audit");
    assert!(!f.output("report.json").exists() && !f.output("report.md").exists());
}

#[test]
fn cargo_deny_is_run_through_dollar_cargo_and_its_failure_fails_the_run() {
    let run = Fixture::new().env("FAKE_DENY", "fail").run(&[]);
    run.exits(8).says("check deps.deny");
    assert_eq!(check_status(&run, "deps.deny"), "FAIL");

    let run = Fixture::new().env("FAKE_DENY", "pass").run(&[]);
    run.exits(0);
    assert_eq!(check_status(&run, "deps.deny"), "pass");
}

#[test]
fn a_skipped_check_is_reported_and_no_passing_control_rests_on_it() {
    let f = Fixture::new();
    let run = f.run(&[]);
    run.exits(0).says("not run (see the report): deps.deny");
    assert_eq!(check_status(&run, "deps.deny"), "skipped");
    assert_eq!(run.report()["skipped"], json!(["deps.deny"]));
    for control in run.report()["controls"].as_array().unwrap() {
        assert!(
            !(control["status"] == "pass"
                && control["evidence"].as_str().unwrap().contains("skipped")),
            "a control passes on a check that did not run: {control}"
        );
    }
    let md = std::fs::read_to_string(f.output("report.md")).unwrap();
    assert!(md.contains("Skipped: deps.deny"), "{md}");
}

#[test]
fn unexpected_arguments_are_a_usage_error_and_nothing_runs() {
    for args in [&["--json"][..], &["--verbose", "now"][..]] {
        let f = Fixture::new();
        let run = f.run(args);
        assert_eq!(run.code, Some(2), "{args:?}; stderr:\n{}", run.stderr);
        run.says("usage");
        assert!(!f.path("compliance").exists(), "{args:?} ran the scenario");
    }
    let run = Fixture::new().run(&["--help"]);
    run.exits(0);
}
