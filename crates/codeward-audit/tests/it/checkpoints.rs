//! Ed25519-signed checkpoints: written every N records, checked by `verify`.

use codeward_audit::{
    AuditLog, CheckpointOptions, KeySource, ProblemKind, SignatureTrust, VerifyOptions,
    checkpoint_public_key, verify,
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
    let mut records = raw_records(&dir);
    records[1].message = "edited".into();
    rewrite_chain(&dir, records, 1, |_| {});
    let problem = verify(&dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .expect("forgery must be found");
    assert_eq!(problem.kind, ProblemKind::BadCheckpoint);
}

/// Rewrites the log from `records`, re-linking and re-hashing every record after the first
/// `keep` (what someone able to write the files can do), with checkpoints passed to `sign`.
fn rewrite_chain(
    dir: &std::path::Path,
    mut records: Vec<codeward_core::AuditRecord>,
    keep: usize,
    sign: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) {
    let mut prev = records[keep - 1].hash.clone();
    for r in records.iter_mut().skip(keep) {
        r.prev = prev.clone();
        if r.kind == AuditKind::Checkpoint {
            r.metadata.insert("head".into(), prev.clone().into());
            sign(&mut r.metadata);
            // Canonical order, as the writer writes it.
            r.metadata.sort_keys();
        }
        r.hash = codeward_audit::record_hash(r);
        prev = r.hash.clone();
    }
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(segment(dir, 1), text).unwrap();
}

async fn plain_log(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, log) = temp_log();
    for i in 0..n {
        let _r = log.append(event(i)).await.unwrap();
    }
    let dir = log.dir().to_owned();
    log.close().await.unwrap();
    (tmp, dir)
}

async fn signed_log(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let opts =
        options(&dir).checkpoints(CheckpointOptions::new(KeySource::Bytes(SIGNING_SEED)).every(5));
    let log = AuditLog::open(opts).unwrap();
    for i in 0..n {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    (tmp, dir)
}

#[tokio::test]
async fn with_a_trusted_key_an_unsigned_checkpoint_is_bad() {
    // Record 2 edited and the chain recomputed, the signatures stripped: the checkpoints then
    // match the chain but prove nothing.
    let (_tmp, dir) = signed_log(12).await;
    let mut records = raw_records(&dir);
    records[1].message = "edited".into();
    let first_checkpoint = records
        .iter()
        .find(|r| r.kind == AuditKind::Checkpoint)
        .unwrap()
        .seq;
    rewrite_chain(&dir, records, 1, |m| {
        m.remove("public_key");
        m.remove("signature");
    });
    let trusted = VerifyOptions::default().trust_key(checkpoint_public_key(&SIGNING_SEED));
    let problem = verify(&dir, &trusted).unwrap().problem.expect("refused");
    assert_eq!(problem.kind, ProblemKind::BadCheckpoint, "{problem}");
    assert_eq!(problem.seq, Some(first_checkpoint), "{problem}");
    assert!(problem.detail.contains("not signed"), "{problem}");
    // Without a trusted key an unsigned checkpoint is allowed, and the report says so.
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.signatures, SignatureTrust::Unsigned);
}

#[tokio::test]
async fn the_report_says_what_the_signatures_prove() {
    let trusted = VerifyOptions::default().trust_key(checkpoint_public_key(&SIGNING_SEED));

    let (_tmp, dir) = signed_log(12).await;
    let last_checkpoint = raw_records(&dir)
        .into_iter()
        .rfind(|r| r.kind == AuditKind::Checkpoint)
        .unwrap();
    let report = verify(&dir, &trusted).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.signatures, SignatureTrust::Trusted);
    assert_eq!(report.trusted_through, Some(last_checkpoint.seq - 1));
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert_eq!(
        (report.signatures, report.trusted_through),
        (SignatureTrust::SelfSigned, None)
    );

    // A log without checkpoints passes with a trusted key, but the report shows nothing
    // vouches for it, so a caller can require more.
    let (_tmp, dir) = plain_log(6).await;
    let report = verify(&dir, &trusted).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(
        (report.signatures, report.trusted_through),
        (SignatureTrust::Unsigned, None)
    );

    // Re-signed with the forger's own key: self-signed is all it is, and a trusted key
    // refuses it.
    let (_tmp, dir) = signed_log(12).await;
    let mut records = raw_records(&dir);
    records[1].message = "edited".into();
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    rewrite_chain(&dir, records, 1, |m| {
        let (seq, head) = (
            m["checkpoint_seq"].as_u64().unwrap(),
            m["head"].as_str().unwrap(),
        );
        let msg = format!("codeward-audit-checkpoint:v1:{seq}:{head}");
        let sig = ed25519_dalek::Signer::sign(&forger, msg.as_bytes());
        m.insert("signature".into(), hex::encode(sig.to_bytes()).into());
        m.insert(
            "public_key".into(),
            hex::encode(forger.verifying_key().as_bytes()).into(),
        );
    });
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.signatures, SignatureTrust::SelfSigned);
    let problem = verify(&dir, &trusted).unwrap().problem.expect("refused");
    assert_eq!(problem.kind, ProblemKind::BadCheckpoint, "{problem}");
}
