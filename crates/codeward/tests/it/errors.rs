//! Every error path leaves its records, in order, before returning.

use std::sync::Arc;

use codeward_core::AuditKind::*;
use codeward_core::*;
use codeward_test_support::RecordingSink;
use serde_json::json;

use super::fakes::*;

async fn check(
    req: ExecutionRequest,
    tools: Vec<ToolSchema>,
    expect_kinds: &[AuditKind],
) -> (ExecutionOutcome, RecordingSink) {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator(Arc::new(sink.clone()), tools).await;
    let outcome = orch.execute(req).await;
    assert!(!outcome.success);
    let kinds: Vec<AuditKind> = sink
        .for_execution(&outcome.execution_id)
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, expect_kinds, "records of {:?}", outcome.error);
    (outcome, sink)
}

/// [`check`] for a program that started and then failed: the five records of such a run.
async fn check_ran(program: &str) -> (ExecutionOutcome, RecordingSink) {
    check(
        request(program),
        tools(),
        &[Discovery, Security, ExecutionStarted, Execution, Error],
    )
    .await
}

#[tokio::test]
async fn no_tools_found() {
    let req = ExecutionRequest::new("nothing matches", Language::Python).with_program("x");
    let (o, _) = check(req, tools(), &[Discovery, Error]).await;
    assert_eq!(o.error, Some(ExecutionFailure::NoTools));
}

#[tokio::test]
async fn invalid_program() {
    let (o, sink) = check(
        request("SYNTAX_ERROR"),
        tools(),
        &[Discovery, Security, Error],
    )
    .await;
    assert!(
        matches!(o.error, Some(ExecutionFailure::InvalidProgram { ref message }) if message.contains("line 1, column 5"))
    );
    assert_eq!(sink.events()[1].metadata["risk_level"], "low");
}

#[tokio::test]
async fn validator_error() {
    let (o, _) = check(request("VALIDATOR_BREAKS"), tools(), &[Discovery, Error]).await;
    assert!(
        matches!(o.error, Some(ExecutionFailure::Internal { ref message }) if message.contains("validator"))
    );
}

#[tokio::test]
async fn approval_required() {
    let (o, sink) = check(
        request("import os; os.system('x')"),
        tools(),
        &[Discovery, Security, Approval],
    )
    .await;
    assert!(matches!(
        o.error,
        Some(ExecutionFailure::ApprovalRequired { .. })
    ));
    assert_eq!(sink.events()[1].severity, Severity::Critical);
}

#[tokio::test]
async fn sandbox_failure() {
    let (o, _) = check_ran("SANDBOX_BREAKS").await;
    assert!(
        matches!(o.error, Some(ExecutionFailure::Internal { ref message }) if message.contains("sandbox"))
    );
}

#[tokio::test]
async fn a_sandbox_failure_names_its_cause() {
    // The layer error's own text is only "sandbox": the cause is its source.
    let (o, sink) = check_ran("SANDBOX_LAYER_BREAKS").await;
    let Some(failure @ ExecutionFailure::Internal { .. }) = &o.error else {
        panic!("{:?}", o.error)
    };
    assert!(
        failure
            .to_string()
            .contains("the sandbox failed: sandbox: setting pids.max"),
        "{failure}"
    );
    let error = sink.for_execution(&o.execution_id).pop().unwrap();
    assert!(
        error.metadata["detail"]
            .as_str()
            .is_some_and(|d| d.contains("max_processes = 0")),
        "{:?}",
        error.metadata
    );
}

#[tokio::test]
async fn an_output_limit_hit_is_named_as_the_limit() {
    let (o, sink) = check_ran("TRUNCATED").await;
    assert_eq!(
        o.error,
        Some(ExecutionFailure::LimitExceeded {
            limit: LimitKind::Output
        })
    );
    assert_eq!(
        o.error.unwrap().to_string(),
        "output limit exceeded",
        "not 'program failed: exit status 0'"
    );
    assert_eq!(sink.events()[3].metadata["limit_hit"], "output");
    // A program that failed on its own says why, and the cap is mentioned.
    let (o, _) = check_ran("TRUNCATED FAIL").await;
    let message = o.error.unwrap().to_string();
    assert!(
        message.contains("ValueError: bad input") && message.contains("output limit"),
        "{message}"
    );
}

#[tokio::test]
async fn timeout() {
    let (o, sink) = check_ran("TIMEOUT").await;
    assert_eq!(
        o.error,
        Some(ExecutionFailure::LimitExceeded {
            limit: LimitKind::Timeout
        })
    );
    let execution = &sink.events()[3];
    assert_eq!(execution.metadata["limit_hit"], "timeout");
    assert_eq!(execution.metadata["success"], false);
}

#[tokio::test]
async fn tool_error() {
    let broken = vec![
        ToolSchema::new("broken_tool", "fails", json!({"type": "object"})).with_server("demo"),
    ];
    let (o, _) = check(
        request("CALL 1"),
        broken,
        &[
            Discovery,
            Security,
            ExecutionStarted,
            ToolCall,
            Execution,
            Error,
        ],
    )
    .await;
    assert!(
        matches!(o.error, Some(ExecutionFailure::ProgramFailed { ref message }) if message.contains("server says no"))
    );
}

#[tokio::test]
async fn program_failure_messages_are_pii_tokenized() {
    let (o, sink) = check_ran("FAIL").await;
    let Some(ExecutionFailure::ProgramFailed { message }) = o.error else {
        panic!("{:?}", o.error)
    };
    assert!(
        !message.contains("bob@example.com") && message.contains("[EMAIL_1]"),
        "{message}"
    );
    assert_eq!(sink.events()[3].metadata["pii_tokenized"], 1);
}

#[tokio::test]
async fn output_pii_is_tokenized_and_counted() {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let o = orch.execute(request("EMAIL")).await;
    assert!(o.success);
    assert_eq!(o.output, json!("contact [EMAIL_1]"));
    assert_eq!(o.pii_tokenized, 1);
    assert!(o.summary.tokens.all_definitions_tokens > 0);
}

#[tokio::test]
async fn the_exfiltration_shape_is_refused_before_dispatch() {
    // A read from a sensitive source (category crm), then an open-world tool in the same run.
    let crm = ToolSchema::new("get_customer", "Read a customer", json!({"type": "object"}))
        .with_server("crm")
        .with_category("crm")
        .with_annotations(ToolAnnotations::read_only());
    let mut web = ToolAnnotations::default();
    web.open_world_hint = Some(true);
    web.destructive_hint = Some(false);
    let post = ToolSchema::new("post_message", "Post to the web", json!({"type": "object"}))
        .with_server("web")
        .with_annotations(web);
    let (o, sink) = check(
        request("EACH_TOOL"),
        vec![crm, post],
        &[
            Discovery,
            Security,
            ExecutionStarted,
            ToolCall,
            Security,
            Execution,
            Security,
            Error,
        ],
    )
    .await;
    let records = sink.for_execution(&o.execution_id);
    let refusal = &records[4];
    assert_eq!(refusal.severity, Severity::Critical);
    // The refusal is a critical security event of the execution: the anomaly detector is
    // told (it used to get 0) and its critical-event check fires.
    assert_eq!(records[5].metadata["critical_events"], 1);
    assert!(
        records[6].metadata["anomalies"][0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("1 critical security event(s)")),
        "{:?}",
        records[6].metadata
    );
    assert!(
        refusal.message.contains("web.post_message refused"),
        "{}",
        refusal.message
    );
    assert!(
        matches!(o.error, Some(ExecutionFailure::ProgramFailed { ref message }) if message.contains("refused")),
        "{:?}",
        o.error
    );
}

#[tokio::test]
async fn an_approval_store_that_cannot_answer_is_an_internal_failure_not_a_refusal() {
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let risky = "import os; os.system('x')";
    let first = orch.execute(request(risky)).await;
    let Some(ExecutionFailure::ApprovalRequired { approval_id }) = first.error else {
        panic!("expected an approval request, got {:?}", first.error);
    };
    // The store file is damaged between the request and the retry.
    std::fs::write(fakes.dir.path().join("approvals.json"), "{ not json").unwrap();
    let retry = orch
        .execute(request(risky).with_approval(approval_id.clone()))
        .await;
    match &retry.error {
        Some(ExecutionFailure::Internal { message }) => {
            assert!(
                message.contains("checking the approval") && message.contains("corrupt"),
                "the cause is named: {message}"
            )
        }
        other => panic!("expected an internal failure, got {other:?}"),
    }
    let refused = sink
        .events()
        .iter()
        .any(|e| e.kind == Approval && e.metadata.get(keys::DECISION) == Some(&json!("refused")));
    assert!(!refused, "a store failure is not recorded as a refusal");
}

#[tokio::test]
async fn a_damaged_approval_store_stops_only_the_runs_that_need_an_approval() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("approvals.json"), "{ not json").unwrap();
    // The default store per `[approvals]` (no `.approvals(..)`): building must not fail.
    let orch = codeward::OrchestratorBuilder::new(config(dir.path()))
        .audit(Arc::new(RecordingSink::new()))
        .index(Arc::new(FixedIndex(tools())))
        .generator(Arc::new(FakeGenerator))
        .validator(Arc::new(FakeValidator))
        .assessor(Arc::new(FakeRisk))
        .sandbox(Arc::new(FakeSandbox::default()))
        .invoker(Arc::new(EchoInvoker))
        .build()
        .await
        .unwrap();
    let low = orch.execute(request("CALL 1")).await;
    assert!(low.success, "{:?}", low.error);
    let risky = orch.execute(request("import os; os.system('x')")).await;
    match &risky.error {
        Some(ExecutionFailure::Internal { message }) => {
            assert!(message.contains("corrupt"), "{message}")
        }
        other => panic!("expected an internal failure naming the store, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_run_reports_what_the_sandbox_measured() {
    // The execution record had the real values; the outcome used to carry zeros.
    let (o, _) = check_ran("TIMEOUT").await;
    assert_eq!(o.metrics.limit_hit, Some(LimitKind::Timeout));
    assert_eq!(o.metrics.exit, ExitState::Signal(9));
    assert_eq!(o.metrics.wall_time, std::time::Duration::from_millis(20));
    assert!(o.summary.text.contains("program failed"), "{:?}", o.summary);
    let (o, _) = check_ran("FAIL").await;
    assert_eq!(o.metrics.exit, ExitState::Code(1));
    assert_eq!(o.metrics.wall_time, std::time::Duration::from_millis(20));
    assert_eq!(
        o.pii_tokenized, 1,
        "the stderr's email address was tokenized"
    );
}

#[tokio::test]
async fn a_program_that_fails_without_a_word_is_reported_with_its_exit_status() {
    let (o, _) = check_ran("SILENT_EXIT_3").await;
    let Some(failure @ ExecutionFailure::ProgramFailed { .. }) = &o.error else {
        panic!("{:?}", o.error)
    };
    assert!(failure.to_string().contains("exit status 3"), "{failure}");
}

#[tokio::test]
async fn a_program_that_does_not_parse_is_invalid_even_when_no_tool_matches() {
    // serve discovers by the program text when there is no intent: broken code matches nothing.
    let req =
        ExecutionRequest::new("nothing matches", Language::Python).with_program("SYNTAX_ERROR");
    let (o, _) = check(req, tools(), &[Discovery, Security, Error]).await;
    assert!(
        matches!(o.error, Some(ExecutionFailure::InvalidProgram { ref message }) if message.contains("line 1, column 5")),
        "{:?}",
        o.error
    );
    // A program that parses still finds no tools.
    let req = ExecutionRequest::new("nothing matches", Language::Python).with_program("x = 1");
    let (o, _) = check(req, tools(), &[Discovery, Error]).await;
    assert_eq!(o.error, Some(ExecutionFailure::NoTools));
}

fn tools_of_two_servers() -> Vec<ToolSchema> {
    let tool = |server: &str, name: &str| {
        ToolSchema::new(name, "a tool", json!({"type": "object"}))
            .with_server(server)
            .with_annotations(ToolAnnotations::read_only())
    };
    // The unserved ones rank first.
    vec![
        tool("gmail", "labels_list"),
        tool("gmail", "labels_add"),
        tool("demo", "notes_search"),
        tool("demo", "text_stats"),
    ]
}

#[tokio::test]
async fn discovery_offers_only_tools_a_configured_server_serves() {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator_with(Arc::new(sink.clone()), tools_of_two_servers(), |b| {
        b.servers(["demo"])
    })
    .await;
    let o = orch.execute(request("EACH_TOOL").with_tool_limit(2)).await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!(o.summary.tools, ["demo.notes_search", "demo.text_stats"]);
    let hits = orch.discover(&SearchQuery::new("labels", 3)).unwrap();
    let names: Vec<String> = hits.iter().map(|h| h.tool.qualified_name()).collect();
    assert_eq!(names, ["demo.notes_search", "demo.text_stats"]);
    let gmail = orch.index().get("gmail.labels_list").unwrap();
    assert!(!orch.serves(&gmail));
    assert!(orch.serves(&orch.index().get("demo.text_stats").unwrap()));

    // No server at all: nothing to offer.
    let (orch, _f) = orchestrator_with(
        Arc::new(RecordingSink::new()),
        tools_of_two_servers(),
        |b| b.servers(Vec::<String>::new()),
    )
    .await;
    let o = orch.execute(request("EACH_TOOL")).await;
    assert_eq!(o.error, Some(ExecutionFailure::NoTools));

    // Not told which servers exist: every catalogue tool, as before.
    let (orch, _f) = orchestrator(Arc::new(RecordingSink::new()), tools_of_two_servers()).await;
    let o = orch.execute(request("x").with_tool_limit(2)).await;
    assert_eq!(o.summary.tools, ["gmail.labels_list", "gmail.labels_add"]);
    assert!(orch.serves(&gmail));
}

#[tokio::test]
async fn a_run_under_an_approval_gets_the_approved_tool_set_not_a_fresh_search() {
    // The operator approved the program with `demo.text_stats` only; a new search would
    // offer both tools (a different set, so a different hash, so a refusal).
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let risky = "import os; os.system('x')";
    let store =
        codeward_security::FileApprovalStore::open(fakes.dir.path().join("approvals.json"), {
            Arc::new(sink.clone())
        })
        .await
        .unwrap();
    let request_for = codeward_security::approval_request(
        "exec-earlier",
        "alice", // the principal `request` runs as: an approval is bound to its requester
        risky,
        Language::Python,
        &["demo.text_stats".to_owned()],
        RiskAssessment::new(80, RiskLevel::Critical, Vec::new(), "block"),
    )
    .unwrap();
    let ticket = store.file_request(request_for).await.unwrap();
    store
        .decide_request(&ticket.id, ApprovalDecision::approve("ops", "reviewed"))
        .await
        .unwrap();

    let o = orch
        .execute(request(risky).with_approval(ticket.id.clone()))
        .await;
    assert!(o.success, "{:?}", o.error);
    let discovery = &sink.for_execution(&o.execution_id)[0];
    assert_eq!(discovery.kind, Discovery);
    assert_eq!(
        discovery.metadata["tools"],
        json!([{"tool": "demo.text_stats", "score": 1.0}])
    );
}

#[tokio::test]
async fn a_request_that_names_its_tools_gets_exactly_those() {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator_with(Arc::new(sink.clone()), tools_of_two_servers(), |b| {
        b.servers(["demo"])
    })
    .await;
    // "labels" would discover nothing served here; the named tool replaces discovery.
    let req = ExecutionRequest::new("labels", Language::Python)
        .with_program("EACH_TOOL")
        .with_tools(["demo.text_stats"]);
    let o = orch.execute(req).await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!(o.summary.tools, ["demo.text_stats"]);
    let discovery = &sink.for_execution(&o.execution_id)[0];
    assert_eq!(discovery.message, "1 tool(s) chosen by the caller");

    // A named tool that no configured server serves, or that is not in the catalogue, is a
    // failure naming it, recorded like any other.
    for (name, problem) in [
        ("gmail.labels_list", "no configured MCP server"),
        ("demo.nope", "not in the catalogue"),
    ] {
        let req = ExecutionRequest::new("x", Language::Python)
            .with_program("EACH_TOOL")
            .with_tools([name]);
        let o = orch.execute(req).await;
        assert_eq!(o.error, Some(ExecutionFailure::NoTools), "{name}");
        let records = sink.for_execution(&o.execution_id);
        let kinds: Vec<AuditKind> = records.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Error], "{name}");
        let detail = serde_json::to_string(&records[0].metadata).unwrap();
        assert!(
            detail.contains(name) && detail.contains(problem),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_zero_limit_override_is_an_invalid_request_naming_it_and_nothing_runs() {
    let mut limits = LimitOverrides::default();
    limits.timeout = Some(std::time::Duration::ZERO);
    let (o, sink) = check(request("x = 1").with_limits(limits), tools(), &[Error]).await;
    let Some(ExecutionFailure::InvalidRequest { message }) = &o.error else {
        panic!("{:?}", o.error)
    };
    assert!(message.contains("`timeout` is 0"), "{message}");
    assert_eq!(
        sink.events()[0].metadata["failure"]["kind"],
        "invalid_request"
    );

    // A program that may not call tools is a policy, not a mistake.
    let mut limits = LimitOverrides::default();
    limits.max_tool_calls = Some(0);
    assert_eq!(limits.zero_limit(), None);
    limits.memory_bytes = Some(0);
    assert_eq!(limits.zero_limit(), Some("memory_bytes"));
}
