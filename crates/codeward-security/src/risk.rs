//! The `RiskAssessor` implementation: documented, configurable weights turn findings, tool
//! annotations, loops, size and egress potential into a deterministic 0-100 score.

use std::collections::HashMap;

use codeward_core::{
    FindingCategory, Language, RiskAssessment, RiskAssessor, RiskFactor, RiskLevel, Severity,
    ToolSchema, ValidationReport,
};

/// The weights of [`Risk`]. Every number is points on the 0-100 scale; see the crate README
/// for the rationale. Defaults via [`RiskWeights::default`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RiskWeights {
    /// Points per critical finding.
    pub critical_finding: f64,
    /// Points per error finding.
    pub error_finding: f64,
    /// Points per warning finding.
    pub warning_finding: f64,
    /// Points per info finding (tool calls in loops are scored separately).
    pub info_finding: f64,
    /// Points per destructive tool the program calls.
    pub destructive_tool: f64,
    /// Cap of the destructive-tool factor.
    pub destructive_tool_cap: f64,
    /// Points per open-world (not read-only) tool the program calls.
    pub open_world_tool: f64,
    /// Cap of the open-world factor.
    pub open_world_tool_cap: f64,
    /// Points per read-only tool the program calls (negative: lowers risk).
    pub read_only_tool: f64,
    /// Floor of the read-only factor (negative).
    pub read_only_tool_floor: f64,
    /// Points per tool call site inside a loop.
    pub tool_call_in_loop: f64,
    /// Extra points when a looped tool is destructive.
    pub destructive_tool_in_loop: f64,
    /// Cap of the loop factor.
    pub loop_cap: f64,
    /// Points per 100 non-blank lines.
    pub per_hundred_lines: f64,
    /// Cap of the size factor.
    pub size_cap: f64,
    /// Points per decision point (if, loop, case, catch, boolean operator) beyond `complexity_free`.
    pub per_decision_point: f64,
    /// Decision points that cost nothing.
    pub complexity_free: u32,
    /// Cap of the complexity factor.
    pub complexity_cap: f64,
    /// Secrets or host files can reach the network.
    pub secret_egress: f64,
    /// Data from tools can leave through an open-world tool or the network.
    pub data_egress: f64,
    /// Lowest score of the medium level.
    pub medium_at: u8,
    /// Lowest score of the high level.
    pub high_at: u8,
    /// Lowest score of the critical level.
    pub critical_at: u8,
}

impl Default for RiskWeights {
    fn default() -> Self {
        RiskWeights {
            critical_finding: 60.0,
            error_finding: 25.0,
            warning_finding: 8.0,
            info_finding: 0.0,
            destructive_tool: 8.0,
            destructive_tool_cap: 16.0,
            open_world_tool: 4.0,
            open_world_tool_cap: 8.0,
            read_only_tool: -3.0,
            read_only_tool_floor: -9.0,
            tool_call_in_loop: 3.0,
            destructive_tool_in_loop: 6.0,
            loop_cap: 15.0,
            per_hundred_lines: 2.0,
            size_cap: 8.0,
            per_decision_point: 0.25,
            complexity_free: 20,
            complexity_cap: 6.0,
            secret_egress: 25.0,
            data_egress: 6.0,
            medium_at: 25,
            high_at: 50,
            critical_at: 75,
        }
    }
}

/// The default [`RiskAssessor`]. Deterministic: the same inputs give the same assessment.
#[derive(Debug, Clone, Default)]
pub struct Risk {
    weights: RiskWeights,
}

impl Risk {
    /// An assessor with the default weights.
    pub fn new() -> Risk {
        Risk::default()
    }

    /// An assessor with custom weights.
    pub fn with_weights(weights: RiskWeights) -> Risk {
        Risk { weights }
    }

    /// The weights in use.
    pub fn weights(&self) -> &RiskWeights {
        &self.weights
    }

    fn level(&self, score: u8) -> RiskLevel {
        let w = &self.weights;
        if score >= w.critical_at {
            RiskLevel::Critical
        } else if score >= w.high_at {
            RiskLevel::High
        } else if score >= w.medium_at {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

impl RiskAssessor for Risk {
    fn assess(
        &self,
        code: &str,
        language: Language,
        report: &ValidationReport,
        tools: &[ToolSchema],
    ) -> RiskAssessment {
        let w = &self.weights;
        let mut factors = Vec::new();

        // Findings by severity (tool calls in loops are info findings, scored below).
        let mut counts: [(Severity, f64, u32); 4] = [
            (Severity::Critical, w.critical_finding, 0),
            (Severity::Error, w.error_finding, 0),
            (Severity::Warning, w.warning_finding, 0),
            (Severity::Info, w.info_finding, 0),
        ];
        for f in &report.findings {
            if is_loop_finding(&f.rule_id) {
                continue;
            }
            if let Some(c) = counts.iter_mut().find(|c| c.0 == f.severity) {
                c.2 += 1;
            }
        }
        for (severity, weight, n) in counts {
            if n > 0 && weight != 0.0 {
                factors.push(RiskFactor::new(
                    format!("findings.{severity}"),
                    weight * f64::from(n),
                    format!("{n} {severity} finding(s) x {weight}"),
                ));
            }
        }

        // Annotations of the tools the program calls.
        let by_name: HashMap<String, &ToolSchema> =
            tools.iter().map(|t| (t.qualified_name(), t)).collect();
        let used: Vec<&ToolSchema> = report
            .tools_used
            .iter()
            .filter_map(|n| by_name.get(n).copied())
            .collect();
        let destructive: Vec<&str> = used
            .iter()
            .filter(|t| t.annotations.is_destructive())
            .map(|t| t.name.as_str())
            .collect();
        let open_world: Vec<&str> = used
            .iter()
            .filter(|t| !t.annotations.is_read_only() && t.annotations.is_open_world())
            .map(|t| t.name.as_str())
            .collect();
        let read_only: Vec<&str> = used
            .iter()
            .filter(|t| t.annotations.is_read_only())
            .map(|t| t.name.as_str())
            .collect();
        push_scaled(
            &mut factors,
            "tools.destructive",
            &destructive,
            w.destructive_tool,
            w.destructive_tool_cap,
        );
        push_scaled(
            &mut factors,
            "tools.open_world",
            &open_world,
            w.open_world_tool,
            w.open_world_tool_cap,
        );
        if !read_only.is_empty() {
            let points = (w.read_only_tool * read_only.len() as f64).max(w.read_only_tool_floor);
            factors.push(RiskFactor::new(
                "tools.read_only",
                points,
                format!("read-only: {}", read_only.join(", ")),
            ));
        }

        // Tool calls inside loops.
        let looped = &report.looped_tools;
        if !looped.is_empty() {
            let mut points = 0.0;
            for name in looped {
                points += w.tool_call_in_loop;
                if by_name
                    .get(name.as_str())
                    .is_some_and(|t| t.annotations.is_destructive())
                {
                    points += w.destructive_tool_in_loop;
                }
            }
            factors.push(RiskFactor::new(
                "loops.tool_calls",
                points.min(w.loop_cap),
                format!("{} tool call site(s) inside loops", looped.len()),
            ));
        }

        // Size and complexity.
        let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
        let size = (lines as f64 / 100.0 * w.per_hundred_lines).min(w.size_cap);
        if size >= 0.5 {
            factors.push(RiskFactor::new(
                "size",
                size,
                format!("{lines} non-blank lines"),
            ));
        }
        let decisions = decision_points(code, language);
        if decisions > w.complexity_free {
            let points = (f64::from(decisions - w.complexity_free) * w.per_decision_point)
                .min(w.complexity_cap);
            factors.push(RiskFactor::new(
                "complexity",
                points,
                format!("{decisions} decision points"),
            ));
        }

        // Egress: can secrets or data leave?
        let has = |c: FindingCategory| report.findings.iter().any(|f| f.category == c);
        let network = has(FindingCategory::Network);
        let secrets = has(FindingCategory::SecretAccess);
        // Secrets can leave through the network or through an open-world tool (a chat post
        // is as good an exfiltration channel as an HTTP request).
        if (network && (secrets || has(FindingCategory::Filesystem)))
            || (secrets && !open_world.is_empty())
        {
            factors.push(RiskFactor::new(
                "egress.secrets",
                w.secret_egress,
                "secrets or host files can reach the network or an open-world tool",
            ));
        } else if (network || !open_world.is_empty()) && !used.is_empty() {
            factors.push(RiskFactor::new(
                "egress.data",
                w.data_egress,
                "tool data can leave through the network or an open-world tool",
            ));
        }

        let total: f64 = factors.iter().map(|f| f.points).sum();
        let score = total.round().clamp(0.0, 100.0) as u8;
        let mut level = self.level(score);
        let max = report.max_severity();
        if max == Some(Severity::Critical) && level < RiskLevel::High {
            // A critical finding is never outweighed by friendly tool annotations.
            level = RiskLevel::High;
        }
        let recommendation = recommend(level, report);
        RiskAssessment::new(score, level, factors, recommendation)
    }
}

fn push_scaled(factors: &mut Vec<RiskFactor>, name: &str, tools: &[&str], each: f64, cap: f64) {
    if tools.is_empty() || each == 0.0 {
        return;
    }
    let points = (each * tools.len() as f64).min(cap);
    factors.push(RiskFactor::new(name, points, tools.join(", ")));
}

fn is_loop_finding(rule_id: &str) -> bool {
    rule_id.ends_with(".tool-call-in-loop")
}

/// Counts decision points lexically (`if`, loops, `case`, `catch`/`except`, `&&`/`and`...).
/// An estimate: it needs no parse and is the same for both languages' syntax.
fn decision_points(code: &str, language: Language) -> u32 {
    let keywords: &[&str] = match language {
        Language::Python => &["if", "elif", "for", "while", "except", "and", "or", "case"],
        _ => &["if", "for", "while", "case", "catch"],
    };
    let mut n = 0u32;
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if keywords.contains(&word) {
            n = n.saturating_add(1);
        }
    }
    if language != Language::Python {
        n = n.saturating_add(
            (code.matches("&&").count() + code.matches("||").count() + code.matches(" ? ").count())
                as u32,
        );
    }
    n
}

fn recommend(level: RiskLevel, report: &ValidationReport) -> String {
    if let Some(syntax) = report
        .findings
        .iter()
        .find(|f| f.category == FindingCategory::Syntax)
    {
        return format!(
            "reject: the program does not parse (line {}, column {}); fix it and validate again",
            syntax.line, syntax.column
        );
    }
    let worst = report
        .findings
        .iter()
        .filter(|f| !is_loop_finding(&f.rule_id))
        // The most severe; among equals the first in source order.
        .min_by_key(|f| (std::cmp::Reverse(f.severity), f.line, f.column));
    match level {
        RiskLevel::Low => "run: no significant risk found".to_owned(),
        RiskLevel::Medium => match worst {
            Some(f) => format!("run and log: review `{}` ({})", f.rule_id, f.message),
            None => "run and log: tool use or size raised the score".to_owned(),
        },
        RiskLevel::High => match worst {
            Some(f) => format!(
                "hold for approval: an operator must review `{}` at line {} ({})",
                f.rule_id, f.line, f.message
            ),
            None => "hold for approval: destructive or open-world tool use".to_owned(),
        },
        RiskLevel::Critical => match worst {
            Some(f) => format!(
                "block: do not run unless an operator explicitly approves; worst is `{}` at line {} ({})",
                f.rule_id, f.line, f.message
            ),
            None => "block: do not run unless an operator explicitly approves".to_owned(),
        },
    }
}
