//! Integration tests of the vocabulary: serde shapes, defaults, ordering, object safety.

use codeward_core::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn check_language(input: &str, expect: Option<Language>) {
    assert_eq!(input.parse::<Language>().ok(), expect, "parsing {input:?}");
}

#[test]
fn languages_parse_from_names_and_extensions() {
    check_language("python", Some(Language::Python));
    check_language("PY", Some(Language::Python));
    check_language("ts", Some(Language::TypeScript));
    check_language("javascript", Some(Language::TypeScript));
    check_language("cobol", None);
    assert_eq!(Language::from_extension("mjs"), Some(Language::TypeScript));
    assert_eq!(Language::from_extension("rb"), None);
    let err = "cobol".parse::<Language>().unwrap_err().to_string();
    assert!(err.contains("cobol") && err.contains("python"), "{err}");
}

#[test]
fn annotations_follow_mcp_defaults() {
    let none = ToolAnnotations::default();
    assert!(!none.is_read_only());
    assert!(
        none.is_destructive(),
        "MCP: destructiveHint defaults to true"
    );
    assert!(none.is_open_world(), "MCP: openWorldHint defaults to true");
    assert!(!none.is_idempotent());
    let ro = ToolAnnotations::read_only();
    assert!(ro.is_read_only() && !ro.is_destructive() && ro.is_idempotent() && !ro.is_open_world());
}

#[test]
fn tool_schema_reads_mcp_shape() {
    let tool: ToolSchema = serde_json::from_value(json!({
        "name": "write_file",
        "description": "Write a file",
        "inputSchema": {"type": "object"},
        "annotations": {"destructiveHint": true, "readOnlyHint": false}
    }))
    .unwrap();
    assert_eq!(tool.name, "write_file");
    assert!(tool.annotations.is_destructive());
    assert_eq!(tool.qualified_name(), "write_file");
    assert_eq!(tool.with_server("fs").qualified_name(), "fs.write_file");
}

#[test]
fn severities_and_risk_levels_are_ordered() {
    assert!(Severity::Info < Severity::Warning && Severity::Error < Severity::Critical);
    assert!(!RiskLevel::Medium.requires_approval());
    assert!(RiskLevel::High.requires_approval() && RiskLevel::Critical.requires_approval());
    assert_eq!(
        serde_json::to_value(Severity::Critical).unwrap(),
        json!("critical")
    );
}

#[test]
fn audit_kinds_round_trip_through_their_names() {
    for kind in AuditKind::ALL {
        assert_eq!(kind.as_str().parse::<AuditKind>().unwrap(), kind);
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    assert!("nonsense".parse::<AuditKind>().is_err());
}

#[test]
fn audit_record_uses_type_as_the_kind_field() {
    let line = r#"{"v":1,"seq":7,"ts":"2026-01-01T00:00:00Z","type":"tool_call","severity":"info",
        "message":"m","execution_id":"e","principal":null,"metadata":{},"prev":"00","hash":"ff"}"#;
    let rec: AuditRecord = serde_json::from_str(line).unwrap();
    assert_eq!(rec.kind, AuditKind::ToolCall);
    assert_eq!(rec.redacted, 0);
    let back = serde_json::to_value(&rec).unwrap();
    assert_eq!(back["type"], "tool_call");
    assert!(
        back.get("redacted").is_none(),
        "zero redactions are omitted"
    );
}

#[test]
fn limits_apply_overrides_field_by_field() {
    let base = ExecutionLimits::default();
    let mut over = LimitOverrides::default();
    over.timeout = Some(Duration::from_secs(2));
    let merged = base.with_overrides(&over);
    assert_eq!(merged.timeout, Duration::from_secs(2));
    assert_eq!(merged.memory_bytes, base.memory_bytes);
}

#[test]
fn durations_serialize_as_milliseconds() {
    let metrics = ExecutionMetrics {
        wall_time: Duration::from_millis(1500),
        ..Default::default()
    };
    let v = serde_json::to_value(&metrics).unwrap();
    assert_eq!(v["wall_time"], json!(1500.0));
    let back: ExecutionMetrics = serde_json::from_value(v).unwrap();
    assert_eq!(back.wall_time, Duration::from_millis(1500));
}

#[test]
fn token_economics_reports_savings() {
    let t = TokenEconomics {
        api_tokens: 13,
        all_definitions_tokens: 1000,
        output_tokens: 0,
    };
    assert!((t.saved_percent() - 98.7).abs() < 1e-9);
    assert_eq!(TokenEconomics::default().saved_percent(), 0.0);
}

#[test]
fn overlapping_spans_keep_the_earliest_longest() {
    let s = |start, end, kind| PiiSpan { start, end, kind };
    let out = non_overlapping(vec![
        s(5, 9, PiiKind::Ipv4),
        s(0, 10, PiiKind::Email),
        s(12, 14, PiiKind::Ssn),
    ]);
    assert_eq!(out, vec![s(0, 10, PiiKind::Email), s(12, 14, PiiKind::Ssn)]);
}

#[test]
fn anomaly_report_risk_follows_the_worst_severity() {
    assert_eq!(AnomalyReport::from_anomalies(vec![]).risk, RiskLevel::Low);
    let a = |sev| Anomaly::new(AnomalyKind::NewTool, sev, "x", 0);
    let r = AnomalyReport::from_anomalies(vec![a(Severity::Warning), a(Severity::Error)]);
    assert_eq!(r.risk, RiskLevel::High);
    assert!(r.detected());
}

struct Approvals(Option<ApprovalTicket>);

#[async_trait::async_trait]
impl ApprovalStore for Approvals {
    async fn request(&self, _: ApprovalRequest) -> Result<ApprovalTicket> {
        unreachable!("not used")
    }
    async fn decide(&self, _: &str, _: ApprovalDecision) -> Result<ApprovalTicket> {
        unreachable!("not used")
    }
    async fn get(&self, _: &str) -> Result<Option<ApprovalTicket>> {
        Ok(self.0.clone())
    }
    async fn list(&self) -> Result<Vec<ApprovalTicket>> {
        Ok(self.0.iter().cloned().collect())
    }
}

fn ticket(status: ApprovalStatus) -> ApprovalTicket {
    let risk = RiskAssessment::new(80, RiskLevel::High, vec![], "review");
    let request: ApprovalRequest = serde_json::from_value(json!({
        "execution_id": "e1", "principal": "p", "code_hash": "abc", "tools": [],
        "risk": serde_json::to_value(&risk).unwrap()
    }))
    .unwrap();
    serde_json::from_value(json!({
        "id": "a1", "request": request, "status": status, "created_ms": 0, "expires_ms": 1
    }))
    .unwrap()
}

#[tokio::test]
async fn default_authorize_binds_approval_to_the_exact_code() {
    let approved = ApprovalStatus::Approved {
        approver: "ops".into(),
        reason: "ok".into(),
    };
    let store: Arc<dyn ApprovalStore> = Arc::new(Approvals(Some(ticket(approved))));
    assert!(store.authorize("a1", "abc").await.is_ok());
    let err = store.authorize("a1", "other").await.unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");

    let pending: Arc<dyn ApprovalStore> =
        Arc::new(Approvals(Some(ticket(ApprovalStatus::Pending))));
    assert!(
        pending
            .authorize("a1", "abc")
            .await
            .unwrap_err()
            .to_string()
            .contains("pending")
    );
    let missing: Arc<dyn ApprovalStore> = Arc::new(Approvals(None));
    assert!(
        missing
            .authorize("a1", "abc")
            .await
            .unwrap_err()
            .to_string()
            .contains("no such")
    );
}

#[test]
fn a_redactor_without_scope_state_need_not_end_scopes() {
    struct Upper;
    impl PiiRedactor for Upper {
        fn tokenize(&self, value: &mut serde_json::Value, _scope: &str) -> PiiReport {
            if let Some(s) = value.as_str() {
                *value = json!(s.to_uppercase());
            }
            PiiReport::default()
        }
    }
    let redactor: Arc<dyn PiiRedactor> = Arc::new(Upper);
    redactor.end_scope("exec-1");
    let mut value = json!("after the end");
    redactor.tokenize(&mut value, "exec-1");
    assert_eq!(value, "AFTER THE END");
}

#[test]
fn every_seam_is_object_safe_and_thread_safe() {
    fn is_send_sync<T: ?Sized + Send + Sync>() {}
    is_send_sync::<dyn ToolIndex>();
    is_send_sync::<dyn ApiGenerator>();
    is_send_sync::<dyn CodeValidator>();
    is_send_sync::<dyn RiskAssessor>();
    is_send_sync::<dyn Sandbox>();
    is_send_sync::<dyn ToolInvoker>();
    is_send_sync::<dyn ToolCallObserver>();
    is_send_sync::<dyn PiiDetector>();
    is_send_sync::<dyn PiiRedactor>();
    is_send_sync::<dyn AnomalyDetector>();
    is_send_sync::<dyn ResultCache>();
    is_send_sync::<dyn AuditSink>();
    is_send_sync::<dyn ApprovalStore>();
}
