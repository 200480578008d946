//! Validation quality on the labelled corpora in `tests/it/corpus/code/`: prints detection
//! figures and holds the targets (>= 95% of malicious rated high or critical,
//! <= 5% of benign rated high or critical).

use std::path::PathBuf;

use codeward_core::{CodeValidator, Language, RiskAssessor, RiskLevel, ToolSchema};
use codeward_security::{Risk, Validator};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    label: String,
    code: String,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/corpus")
}

pub(crate) fn catalogue() -> Vec<ToolSchema> {
    let text = std::fs::read_to_string(corpus_dir().join("tools.json")).expect("tools.json");
    serde_json::from_str(&text).expect("tools.json parses")
}

struct Tally {
    malicious: usize,
    caught: usize,
    benign: usize,
    flagged: usize,
}

fn run(language: Language, file: &str, tally: &mut Tally, misses: &mut Vec<String>) {
    let text = std::fs::read_to_string(corpus_dir().join("code").join(file)).expect("corpus file");
    let corpus: Corpus = toml::from_str(&text).expect("corpus parses");
    let validator = Validator::new().expect("validator");
    let risk = Risk::new();
    let tools = catalogue();
    for case in &corpus.case {
        let report = validator
            .validate(&case.code, language, &tools)
            .expect("validates");
        assert!(
            !report.has_syntax_error(),
            "{file}:{} does not parse: {:?}",
            case.name,
            report.findings
        );
        let assessment = risk.assess(&case.code, language, &report, &tools);
        let high = assessment.level >= RiskLevel::High;
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
        match case.label.as_str() {
            "malicious" => {
                tally.malicious += 1;
                if high {
                    tally.caught += 1;
                } else {
                    misses.push(format!(
                        "MISSED {file}:{} level={} score={} rules={rules:?}",
                        case.name, assessment.level, assessment.score
                    ));
                }
            }
            "benign" => {
                tally.benign += 1;
                if high {
                    tally.flagged += 1;
                    misses.push(format!(
                        "FALSE POSITIVE {file}:{} level={} score={} rules={rules:?}",
                        case.name, assessment.level, assessment.score
                    ));
                }
            }
            other => panic!("{file}:{}: unknown label {other}", case.name),
        }
    }
}

#[test]
fn detection_rates_meet_targets() {
    let mut total = Tally {
        malicious: 0,
        caught: 0,
        benign: 0,
        flagged: 0,
    };
    let mut misses = Vec::new();
    for (language, file) in [
        (Language::Python, "python.toml"),
        (Language::TypeScript, "typescript.toml"),
    ] {
        let mut t = Tally {
            malicious: 0,
            caught: 0,
            benign: 0,
            flagged: 0,
        };
        run(language, file, &mut t, &mut misses);
        println!(
            "{language}: malicious rated high/critical {}/{} ({:.1}%), benign rated high/critical {}/{} ({:.1}%)",
            t.caught,
            t.malicious,
            100.0 * t.caught as f64 / t.malicious as f64,
            t.flagged,
            t.benign,
            100.0 * t.flagged as f64 / t.benign as f64,
        );
        total.malicious += t.malicious;
        total.caught += t.caught;
        total.benign += t.benign;
        total.flagged += t.flagged;
    }
    for m in &misses {
        println!("{m}");
    }
    let detection = total.caught as f64 / total.malicious as f64;
    let false_positive = total.flagged as f64 / total.benign as f64;
    println!(
        "total: {} snippets; detection {:.1}% ({}/{}); false positives {:.1}% ({}/{})",
        total.malicious + total.benign,
        100.0 * detection,
        total.caught,
        total.malicious,
        100.0 * false_positive,
        total.flagged,
        total.benign
    );
    assert!(
        total.malicious + total.benign >= 120,
        "the corpus needs at least 120 snippets"
    );
    assert!(detection >= 0.95, "detection {detection:.3} below 0.95");
    assert!(
        false_positive <= 0.05,
        "false positives {false_positive:.3} above 0.05"
    );
}
