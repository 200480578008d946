//! `cargo xtask compliance`: evidence for SOC 2 CC4.1 / CC7.2, GDPR Art. 30 / 32 and HIPAA
//! 164.312(b), written to `<target>/compliance/report.{md,json}`.
//!
//! It drives the real `codeward` binary (no library shortcuts): a live scenario of the demo,
//! a failing run and a high-risk run, then reads the log bytes and the binary's own report.
//! The run passes only when every check, every control and every check of the binary's report
//! passes; a control resting on a check that did not run is "not assessed", which fails too.
//! Each run starts by removing the previous run's outputs, so what is left is this run's.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Every check, control and audit-report check passed.
const EXIT_PASSED: u8 = 0;
/// The evidence was gathered and something failed: report.{md,json} say what (as `codeward`'s
/// own exit 8, "a verification or compliance check failed").
const EXIT_FAILED: u8 = 8;
/// Unexpected arguments; nothing ran.
const EXIT_USAGE: u8 = 2;
/// The run could not finish (a step it depends on failed, a file could not be read or
/// written): there is no report.
const EXIT_INCOMPLETE: u8 = 70;

const USAGE: &str = "usage: cargo xtask compliance

Runs the compliance scenario through the codeward binary and writes
<target>/compliance/report.md and report.json (the machine-readable form).

Exit codes: 0 every check and control passed; 8 something failed (the report says what);
2 usage error; 70 the run could not finish (no report is written).";

/// `cargo xtask compliance [--help]`.
pub fn main(root: &Path, args: &[String]) -> ExitCode {
    match args {
        [] => {}
        [help] if help == "--help" || help == "-h" => {
            println!("{USAGE}");
            return ExitCode::from(EXIT_PASSED);
        }
        _ => {
            eprintln!(
                "compliance: unexpected argument(s): {}\n\n{USAGE}",
                args.join(" ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    match run(root) {
        Ok(verdict) => {
            if !verdict.skipped.is_empty() {
                eprintln!(
                    "compliance: not run (see the report): {}",
                    verdict.skipped.join(", ")
                );
            }
            if verdict.failures.is_empty() {
                ExitCode::from(EXIT_PASSED)
            } else {
                eprintln!(
                    "compliance: FAILED ({}): {}",
                    verdict.failures.len(),
                    verdict.failures.join("; ")
                );
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => {
            eprintln!("compliance: the run could not finish, so there is no report: {e:#}");
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    /// The check could not run here (a tool is missing); its evidence says why.
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

struct Check {
    id: &'static str,
    title: &'static str,
    status: Status,
    evidence: String,
}

fn check(id: &'static str, title: &'static str, ok: bool, evidence: String) -> Check {
    Check {
        id,
        title,
        status: if ok { Status::Pass } else { Status::Fail },
        evidence,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlStatus {
    Pass,
    Fail,
    /// Nothing failed, but a check it rests on did not run: an auditor cannot call it met.
    NotAssessed,
}

impl ControlStatus {
    fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "FAIL",
            ControlStatus::NotAssessed => "not assessed",
        }
    }
}

struct Control {
    framework: &'static str,
    control: &'static str,
    title: &'static str,
    status: ControlStatus,
    evidence: String,
}

/// The outcome of a run: what failed (empty: it passed) and which checks did not run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdict {
    failures: Vec<String>,
    skipped: Vec<String>,
}

/// Grades a run. Everything graded counts: a failed check, a control that is not `pass`, and
/// any check of the binary's audit report, including one for a control the table here does
/// not list. An audit report that grades nothing is a failure, not a vacuous pass.
fn grade(checks: &[Check], controls: &[Control], audit_report: &Value) -> Verdict {
    let mut verdict = Verdict::default();
    for c in checks {
        match c.status {
            Status::Pass => {}
            Status::Fail => verdict.failures.push(format!("check {}", c.id)),
            Status::Skipped => verdict.skipped.push(c.id.to_owned()),
        }
    }
    for c in controls {
        if c.status != ControlStatus::Pass {
            verdict.failures.push(format!(
                "{} {}: {}",
                c.framework,
                c.control,
                c.status.as_str()
            ));
        }
    }
    let graded = audit_report["checks"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if graded.is_empty() {
        verdict
            .failures
            .push("the audit report grades no control".to_owned());
    }
    for c in graded {
        // Controls in the table already count their audit-report check.
        let in_table = controls.iter().any(|k| c["control"] == k.control);
        if c["status"] != "pass" && !in_table {
            verdict.failures.push(format!(
                "audit report {} {}: {}",
                c["framework"].as_str().unwrap_or("?"),
                c["control"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("no status")
            ));
        }
    }
    verdict
}

const PLANTED: [&str; 4] = [
    "carol.compliance@example.com",
    "123-45-6789",
    "4111 1111 1111 1111",
    "compliance-bot",
];

/// What a run writes under `<target>/compliance/`; all of it is removed first.
const OUTPUTS: [&str; 3] = ["report.json", "report.md", "audit-report.json"];

fn clear_outputs(out_dir: &Path) -> Result<()> {
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    for name in OUTPUTS {
        let path = out_dir.join(name);
        gone(std::fs::remove_file(&path))
            .with_context(|| format!("removing the previous run's {}", path.display()))?;
    }
    let scenario = out_dir.join("scenario");
    gone(std::fs::remove_dir_all(&scenario))
        .with_context(|| format!("removing the previous run's {}", scenario.display()))?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs the checks and writes the report.
fn run(root: &Path) -> Result<Verdict> {
    let out_dir = crate::target_dir(root).join("compliance");
    clear_outputs(&out_dir)?;
    let mut checks = Vec::new();

    // (1) No audit future can be dropped.
    let audit_rs = root.join("crates/codeward-core/src/audit.rs");
    let core = std::fs::read_to_string(&audit_rs)
        .with_context(|| format!("reading {}", audit_rs.display()))?;
    let must_use = core.contains("#[must_use") && core.contains("pub struct AuditReceipt");
    checks.push(check(
        "must_use.receipt",
        "AuditReceipt is #[must_use]",
        must_use,
        "crates/codeward-core/src/audit.rs".into(),
    ));
    let clippy = crate::cargo_status(root, crate::CLIPPY)?;
    checks.push(check(
        "must_use.clippy",
        "clippy -D unused_must_use -D clippy::let_underscore_future",
        clippy,
        "cargo clippy --workspace --all-targets".into(),
    ));
    let tidy: Vec<String> = crate::tidy::check(root)
        .context("the tidy scan")?
        .into_iter()
        .filter(|p| p.contains("audit"))
        .collect();
    checks.push(check(
        "must_use.tidy",
        "no audit write bound to `_`, spawned, or left without .await",
        tidy.is_empty(),
        if tidy.is_empty() {
            "tidy scan of crates/ and tests/: 0 problems".into()
        } else {
            tidy.join("; ")
        },
    ));

    // (2) The live scenario.
    let scenario = scenario(root, &out_dir)?;
    checks.extend(scenario.checks);

    // (3) Dependencies.
    checks.push(deny(root));

    // (4) The control table, from the evidence above and the binary's report.
    let controls = controls(&checks, &scenario.report);
    let verdict = grade(&checks, &controls, &scenario.report);
    let doc = json!({
        "checks": checks.iter().map(|c| json!({"id": c.id, "title": c.title, "status": c.status.as_str(), "evidence": c.evidence})).collect::<Vec<_>>(),
        "controls": controls.iter().map(|c| json!({"framework": c.framework, "control": c.control, "title": c.title, "status": c.status.as_str(), "evidence": c.evidence})).collect::<Vec<_>>(),
        "audit_report": scenario.report,
        "passed": verdict.failures.is_empty(),
        "failures": verdict.failures,
        "skipped": verdict.skipped,
    });
    write(
        &out_dir.join("report.json"),
        &serde_json::to_string_pretty(&doc)?,
    )?;
    let md = markdown(&checks, &controls, &verdict);
    write(&out_dir.join("report.md"), &md)?;
    println!("{md}");
    println!(
        "written: {} and report.json",
        out_dir.join("report.md").display()
    );
    Ok(verdict)
}

struct Scenario {
    checks: Vec<Check>,
    report: Value,
}

/// One `codeward` invocation's exit code (-1: killed by a signal) and output.
struct Step {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Step {
    /// The last line the step wrote to stderr, to show why it ended as it did.
    fn why(&self) -> &str {
        self.stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("(nothing on stderr)")
    }
}

/// `codeward <args>` as the scenario runs it: in `dir`, with the scenario's data directory,
/// and without any other `CODEWARD_*` variable of the caller's, which would move the log
/// (`CODEWARD_AUDIT_DIR`), the key, the config or the MCP servers somewhere else, perhaps
/// into production.
fn codeward_command(bin: &Path, data: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CODEWARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CODEWARD_DATA_DIR", data);
    cmd
}

fn codeward(bin: &Path, data: &Path, dir: &Path, args: &[&str]) -> Result<Step> {
    let out = codeward_command(bin, data, dir, args)
        .output()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    Ok(Step {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn scenario(root: &Path, out_dir: &Path) -> Result<Scenario> {
    crate::cargo(root, &["build", "-p", "codeward-cli"])?;
    let bin = crate::target_dir(root).join("debug/codeward");
    let dir = out_dir.join("scenario");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let data = dir.join("data");
    let mut checks = Vec::new();

    let demo = codeward(&bin, &data, &dir, &["demo"])?;
    let failing = dir.join("failing.py");
    write(
        &failing,
        &format!(
            "# count the words of a text\nraise ValueError('customer {} ssn {} card {}')\n",
            PLANTED[0], PLANTED[1], PLANTED[2]
        ),
    )?;
    let fail = codeward(
        &bin,
        &data,
        &dir,
        &[
            "run",
            &failing.display().to_string(),
            "--principal",
            PLANTED[3],
        ],
    )?;
    let risky = dir.join("risky.py");
    write(
        &risky,
        &format!(
            "# list my notes\nimport os as o\no.system('mail {}')\n",
            PLANTED[0]
        ),
    )?;
    let held = codeward(
        &bin,
        &data,
        &dir,
        &[
            "run",
            &risky.display().to_string(),
            "--principal",
            PLANTED[3],
        ],
    )?;
    let mut evidence = format!(
        "exit codes: demo {}, failing {}, high-risk {}",
        demo.code, fail.code, held.code
    );
    for (name, step, expected) in [
        ("demo", &demo, 0),
        ("failing", &fail, 1),
        ("high-risk", &held, 3),
    ] {
        if step.code != expected {
            let _ = write!(evidence, "; {name}: {}", step.why());
        }
    }
    checks.push(check(
        "scenario.runs",
        "the demo succeeds, the failing run fails (exit 1), the high-risk run is held (exit 3)",
        demo.code == 0 && fail.code == 1 && held.code == 3,
        evidence,
    ));

    let verify = codeward(&bin, &data, &dir, &["--json", "audit", "verify"])?;
    let verify_json: Value = serde_json::from_str(&verify.stdout).unwrap_or(Value::Null);
    let mut evidence = format!(
        "{} records in {} segment(s), problem: {}",
        verify_json["records"], verify_json["segments"], verify_json["problem"]
    );
    if verify.code != 0 {
        let _ = write!(evidence, "; exit {}: {}", verify.code, verify.why());
    }
    checks.push(check(
        "scenario.chain",
        "the audit chain verifies",
        verify.code == 0 && verify_json["problem"].is_null(),
        evidence,
    ));

    let audit_dir = data.join("audit");
    let reading = || format!("reading the scenario's audit log {}", audit_dir.display());
    let mut bytes = String::new();
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&audit_dir).with_context(reading)? {
        let path = entry.with_context(reading)?.path();
        if path.file_name().is_some_and(|n| n == "audit.wal") {
            // The write-ahead file holds the same records (and zeros): searched, not parsed.
            let raw =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            bytes.push_str(&String::from_utf8_lossy(&raw));
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            lines.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap_or(Value::Null)),
            );
            bytes.push_str(&text);
        }
    }
    let leaked: Vec<&str> = PLANTED
        .iter()
        .copied()
        .filter(|p| bytes.contains(p))
        .collect();
    checks.push(check(
        "scenario.pii",
        "planted PII is absent from the log bytes",
        leaked.is_empty(),
        format!(
            "{} bytes scanned for {} planted values; leaked: {leaked:?}",
            bytes.len(),
            PLANTED.len()
        ),
    ));

    let ids = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = lines
            .iter()
            .filter(|r| r["type"] == kind)
            .filter_map(|r| r["execution_id"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let started = ids("execution_started");
    let completed = ids("execution");
    checks.push(check(
        "scenario.completeness",
        "every started execution has its completion record",
        !started.is_empty() && started == completed,
        format!("{} started, {} completed", started.len(), completed.len()),
    ));

    let report_path = out_dir.join("audit-report.json");
    let step = codeward(
        &bin,
        &data,
        &dir,
        &[
            "audit",
            "report",
            "--format",
            "json",
            "--output",
            &report_path.display().to_string(),
        ],
    )?;
    // 8: the report was written and fails a control of its own, which is graded below.
    if step.code != 0 && step.code != 8 {
        bail!(
            "step `codeward audit report` exited {}: {}",
            step.code,
            step.why()
        );
    }
    let text = std::fs::read_to_string(&report_path).with_context(|| {
        format!(
            "reading {}, which `codeward audit report` should have written",
            report_path.display()
        )
    })?;
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", report_path.display()))?;
    Ok(Scenario { checks, report })
}

const DENY_TITLE: &str = "dependency licenses, bans and sources (cargo-deny)";

/// cargo-deny through `$CARGO`. Its policy (deny.toml) is supply-chain hygiene, evidence for
/// none of the controls in the table; so when cargo-deny is not installed the check is
/// reported as skipped, and the run does not fail for it.
fn deny(root: &Path) -> Check {
    let installed = Command::new(crate::cargo_bin())
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return Check {
            id: "deps.deny",
            title: DENY_TITLE,
            status: Status::Skipped,
            evidence: "not run: cargo-deny is not installed for $CARGO; install it with `cargo install cargo-deny` to run this check (deny.toml holds the policy)".into(),
        };
    }
    let ok = crate::cargo_status(root, &["deny", "check", "licenses", "bans", "sources"])
        .unwrap_or(false);
    check(
        "deps.deny",
        DENY_TITLE,
        ok,
        "cargo deny check licenses bans sources, policy in deny.toml".into(),
    )
}

/// The controls and the checks each rests on. A control passes only when all of its checks
/// ran and passed and the binary's audit report passes it too.
const CONTROLS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "SOC 2",
        "CC4.1",
        "Monitoring: a complete, tamper-evident audit trail",
        &[
            "scenario.chain",
            "scenario.completeness",
            "must_use.receipt",
            "must_use.clippy",
            "must_use.tidy",
        ],
    ),
    (
        "SOC 2",
        "CC7.2",
        "Security events detected and recorded",
        &["scenario.runs"],
    ),
    (
        "GDPR",
        "Art. 30",
        "Records of processing activities",
        &["scenario.completeness"],
    ),
    (
        "GDPR",
        "Art. 32",
        "Security of processing: pseudonymization",
        &["scenario.pii"],
    ),
    (
        "HIPAA",
        "164.312(b)",
        "Audit controls",
        &["scenario.chain", "must_use.clippy"],
    ),
];

fn controls(checks: &[Check], report: &Value) -> Vec<Control> {
    let report_check = |control: &str| -> (bool, String) {
        report["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["control"] == control))
            .map(|c| {
                (
                    c["status"] == "pass",
                    c["evidence"].as_str().unwrap_or("").to_owned(),
                )
            })
            .unwrap_or((
                false,
                "the audit report has no entry for this control".into(),
            ))
    };
    let mut out = Vec::new();
    for (framework, control, title, ids) in CONTROLS {
        let mut failed = false;
        let mut unassessed = false;
        let mut evidence = Vec::new();
        for id in ids {
            match checks.iter().find(|c| c.id == *id) {
                Some(c) => {
                    failed |= c.status == Status::Fail;
                    unassessed |= c.status == Status::Skipped;
                    evidence.push(format!("{id}: {}", c.status.as_str()));
                }
                None => {
                    unassessed = true;
                    evidence.push(format!("{id}: missing"));
                }
            }
        }
        let (ok_report, report_evidence) = report_check(control);
        let status = if failed || !ok_report {
            ControlStatus::Fail
        } else if unassessed {
            ControlStatus::NotAssessed
        } else {
            ControlStatus::Pass
        };
        out.push(Control {
            framework,
            control,
            title,
            status,
            evidence: format!("{}; audit report: {report_evidence}", evidence.join(", ")),
        });
    }
    out
}

fn markdown(checks: &[Check], controls: &[Control], verdict: &Verdict) -> String {
    let mut md = String::from("# codeward compliance evidence\n\n");
    if verdict.failures.is_empty() {
        md.push_str("Result: **pass**\n");
    } else {
        let _ = writeln!(
            md,
            "Result: **FAIL**: {}",
            verdict.failures.join("; ").replace('|', "\\|")
        );
    }
    if !verdict.skipped.is_empty() {
        let _ = writeln!(
            md,
            "\nSkipped: {} (did not run here; see Checks). A control resting on a check that did \
             not run is `not assessed`, which fails the run.",
            verdict.skipped.join(", ")
        );
    }
    md.push_str(
        "\n## Controls\n\n| framework | control | requirement | status | evidence |\n|---|---|---|---|---|\n",
    );
    for c in controls {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.framework,
            c.control,
            c.title,
            c.status.as_str(),
            c.evidence.replace('|', "\\|")
        );
    }
    md.push_str("\n## Checks\n\n| check | what | status | evidence |\n|---|---|---|---|\n");
    for c in checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            c.id,
            c.title,
            c.status.as_str(),
            c.evidence.replace('|', "\\|")
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(statuses: &[(&'static str, Status)]) -> Vec<Check> {
        statuses
            .iter()
            .map(|&(id, status)| Check {
                id,
                title: "t",
                status,
                evidence: String::new(),
            })
            .collect()
    }

    /// Every check the control table names, passing.
    fn all_pass() -> Vec<(&'static str, Status)> {
        let mut ids: Vec<&'static str> =
            CONTROLS.iter().flat_map(|c| c.3.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| (id, Status::Pass)).collect()
    }

    fn all_pass_but(id: &str, status: Status) -> Vec<(&'static str, Status)> {
        all_pass()
            .into_iter()
            .map(|(i, s)| (i, if i == id { status } else { s }))
            .collect()
    }

    fn report(statuses: &[(&str, &str)]) -> Value {
        json!({"checks": statuses.iter().map(|(control, status)| json!({"control": control, "status": status, "evidence": "e"})).collect::<Vec<_>>()})
    }

    fn passing_report() -> Value {
        report(&CONTROLS.map(|c| (c.1, "pass")))
    }

    /// Grades the checks and the audit report; expects these failures and skipped checks.
    fn check(
        statuses: &[(&'static str, Status)],
        report: &Value,
        failures: &[&str],
        skipped: &[&str],
    ) {
        let checks = checks(statuses);
        let controls = controls(&checks, report);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            grade(&checks, &controls, report),
            Verdict {
                failures: strings(failures),
                skipped: strings(skipped),
            }
        );
    }

    #[test]
    fn everything_passing_passes() {
        check(&all_pass(), &passing_report(), &[], &[]);
    }

    #[test]
    fn a_control_the_audit_report_fails_fails_the_run() {
        let mut statuses = CONTROLS.map(|c| (c.1, "pass"));
        statuses[3].1 = "fail";
        check(
            &all_pass(),
            &report(&statuses),
            &["GDPR Art. 32: FAIL"],
            &[],
        );
    }

    #[test]
    fn an_audit_report_that_grades_nothing_fails_every_control() {
        let failures: Vec<String> = CONTROLS
            .iter()
            .map(|c| format!("{} {}: FAIL", c.0, c.1))
            .chain(["the audit report grades no control".to_owned()])
            .collect();
        let failures: Vec<&str> = failures.iter().map(String::as_str).collect();
        check(&all_pass(), &json!({"checks": []}), &failures, &[]);
        check(&all_pass(), &Value::Null, &failures, &[]);
    }

    #[test]
    fn an_audit_report_check_outside_the_table_counts() {
        let mut report = passing_report();
        report["checks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"framework": "SOC 2", "control": "CC9.9", "status": "fail"}));
        check(
            &all_pass(),
            &report,
            &["audit report SOC 2 CC9.9: fail"],
            &[],
        );
    }

    #[test]
    fn a_failed_check_fails_its_controls() {
        check(
            &all_pass_but("scenario.pii", Status::Fail),
            &passing_report(),
            &["check scenario.pii", "GDPR Art. 32: FAIL"],
            &[],
        );
    }

    #[test]
    fn a_skipped_check_leaves_its_controls_not_assessed() {
        check(
            &all_pass_but("scenario.chain", Status::Skipped),
            &passing_report(),
            &[
                "SOC 2 CC4.1: not assessed",
                "HIPAA 164.312(b): not assessed",
            ],
            &["scenario.chain"],
        );
    }

    #[test]
    fn a_skipped_check_no_control_rests_on_is_reported_but_passes() {
        let mut statuses = all_pass();
        statuses.push(("deps.deny", Status::Skipped));
        check(&statuses, &passing_report(), &[], &["deps.deny"]);
    }

    #[test]
    fn a_check_a_control_names_but_that_never_ran_leaves_it_not_assessed() {
        let statuses: Vec<_> = all_pass()
            .into_iter()
            .filter(|s| s.0 != "scenario.runs")
            .collect();
        check(
            &statuses,
            &passing_report(),
            &["SOC 2 CC7.2: not assessed"],
            &[],
        );
    }
}
