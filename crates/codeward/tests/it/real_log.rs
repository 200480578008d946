//! "Does not lose logs on rapid executions": concurrent executions against the real log.

use std::collections::BTreeMap;
use std::sync::Arc;

use codeward_audit::{
    AuditLog, AuditLogOptions, AuditReader, KeySource, Query, VerifyOptions, verify,
};
use codeward_core::*;

use super::fakes::*;

async fn concurrent(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        AuditLogOptions::new(dir.path().join("audit")).key(KeySource::Bytes([3; 32])),
    )
    .unwrap();
    let (orch, _f) = orchestrator(Arc::new(log.clone()), tools()).await;
    let mut tasks = Vec::new();
    for i in 0..n {
        let orch = orch.clone();
        // Distinct programs so the cache does not serve them.
        tasks.push(tokio::spawn(async move {
            orch.execute(request(&format!("CALL 2 # run {i}"))).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let o = t.await.unwrap();
        assert!(o.success, "{:?}", o.error);
        ids.push(o.execution_id);
    }
    // Read back from disk with the crate's reader: exactly n execution records.
    let records: Vec<AuditRecord> = AuditReader::new(log.dir())
        .records(Query::all())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.kind == AuditKind::Execution)
            .count(),
        n
    );
    let mut by_exec: BTreeMap<String, Vec<AuditKind>> = BTreeMap::new();
    for r in &records {
        by_exec
            .entry(r.execution_id.clone().unwrap())
            .or_default()
            .push(r.kind);
    }
    for id in &ids {
        let kinds = &by_exec[id];
        assert_eq!(
            kinds,
            &vec![
                AuditKind::Discovery,
                AuditKind::Security,
                AuditKind::ExecutionStarted,
                AuditKind::ToolCall,
                AuditKind::ToolCall,
                AuditKind::Execution
            ],
            "execution {id}"
        );
    }
    let report = verify(log.dir(), &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, records.len() as u64);
    // Group commit shares syncs between concurrent executions.
    let stats = log.stats();
    assert!(stats.syncs < stats.records, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_executions_lose_no_record() {
    concurrent(10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_executions_lose_no_record() {
    concurrent(200).await;
}
