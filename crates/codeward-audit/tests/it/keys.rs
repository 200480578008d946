//! The pseudonym key file: created whole or not at all, once, however many openers race.

use std::sync::{Arc, Barrier};

use codeward_audit::KeySource;

#[test]
fn openers_racing_to_create_the_key_all_get_the_same_complete_key() {
    for trial in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys").join("audit.key");
        let start = Arc::new(Barrier::new(8));
        let keys: Vec<_> = (0..8)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    KeySource::file_or_create(&path).load()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let first = keys[0]
            .as_ref()
            .unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        for key in &keys {
            match key {
                Ok(k) => assert_eq!(k, first, "trial {trial}: two different keys"),
                Err(e) => panic!("trial {trial}: a racing opener failed: {e}"),
            }
        }
        assert_eq!(KeySource::file(&path).load().unwrap(), *first);
        // Only the key file is left: no temporary files.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("audit.key")]);
    }
}

#[test]
fn a_created_key_file_is_private_and_a_stray_temporary_file_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.key");
    // What a crash between writing and linking leaves behind.
    std::fs::write(tmp.path().join(".audit.key.1.00.tmp"), "").unwrap();
    let key = KeySource::file_or_create(&path).load().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(KeySource::file(&path).load().unwrap(), key);
}

#[test]
fn a_lost_key_is_not_silently_replaced_once_the_log_has_records() {
    use codeward_audit::{AuditError, AuditLog, AuditLogOptions};
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = (tmp.path().join("log"), tmp.path().join("audit.key"));
    let open = || AuditLog::open(AuditLogOptions::new(&dir).key(KeySource::file_or_create(&key)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = open().unwrap();
        let _receipt = log.append(super::event(1)).await.unwrap();
        log.close().await.unwrap();
    });
    std::fs::remove_file(&key).unwrap();
    match open() {
        Err(AuditError::Key { problem, .. }) => {
            assert!(problem.contains("restore the key"), "{problem}")
        }
        other => panic!("expected a key error, got {other:?}"),
    }
    assert!(!key.exists(), "no new key was made");
}

#[test]
fn a_directory_where_the_key_should_be_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let err = KeySource::file(tmp.path()).load().unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!err.contains("chmod"), "{err}");
}
