//! Ed25519-signed checkpoints: written every N records, checked by `verify`.

use codeward_audit::{
    AuditLog, CheckpointOptions, KeySource, ProblemKind, VerifyOptions, checkpoint_public_key,
    verify,
};
use codeward_core::AuditKind;

use super::*;

const SIGNING_SEED: [u8; 32] = [5; 32];

#[tokio::test]
async fn checkpoints_are_signed_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let opts =
        options(&dir).checkpoints(CheckpointOptions::new(KeySource::Bytes(SIGNING_SEED)).every(10));
    let log = AuditLog::open(opts).unwrap();
    for i in 0..35 {
        let _r = log.append(event(i)).await.unwrap();
    }
    let explicit = log.checkpoint().await.unwrap();
    log.close().await.unwrap();
    let records = raw_records(&dir);
    let checkpoints: Vec<_> = records
        .iter()
        .filter(|r| r.kind == AuditKind::Checkpoint)
        .collect();
    assert!(checkpoints.len() >= 3, "got {}", checkpoints.len());
    assert_eq!(checkpoints.last().unwrap().seq, explicit.seq);

    let trusted = VerifyOptions::default().trust_key(checkpoint_public_key(&SIGNING_SEED));
    let report = verify(&dir, &trusted).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.signed_checkpoints, checkpoints.len() as u64);

    // A checkpoint from an untrusted key is refused.
    let other = VerifyOptions::default().trust_key(checkpoint_public_key(&[6; 32]));
    let problem = verify(&dir, &other).unwrap().problem.unwrap();
    assert_eq!(problem.kind, ProblemKind::BadCheckpoint);
    assert_eq!(problem.seq, Some(checkpoints[0].seq));
}

#[tokio::test]
async fn rewriting_the_whole_chain_is_caught_by_the_signatures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let opts =
        options(&dir).checkpoints(CheckpointOptions::new(KeySource::Bytes(SIGNING_SEED)).every(5));
    let log = AuditLog::open(opts).unwrap();
    for i in 0..12 {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    // An attacker edits record 2 and recomputes every hash and link after it, but cannot sign.
    let seg = segment(&dir, 1);
    let mut records = raw_records(&dir);
    records[1].message = "edited".into();
    let mut prev = records[0].hash.clone();
    for r in records.iter_mut().skip(1) {
        r.prev = prev.clone();
        if r.kind == AuditKind::Checkpoint {
            r.metadata.insert("head".into(), prev.clone().into());
        }
        r.hash = codeward_audit::record_hash(r);
        prev = r.hash.clone();
    }
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&seg, text).unwrap();
    let problem = verify(&dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .expect("forgery must be found");
    assert_eq!(problem.kind, ProblemKind::BadCheckpoint);
}
