//! Secret keys the log needs: the HMAC key for pseudonyms and an optional Ed25519 signing key.
//! Keys live outside the log (a 0600 file or an environment variable) and never enter it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{AuditError, Result};

/// Where a 32-byte secret comes from.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A file holding the key as 64 hex characters; must not be readable by group or others.
    File {
        /// The key file.
        path: PathBuf,
        /// Create the file with a fresh random key (mode 0600) when it does not exist.
        create_if_missing: bool,
    },
    /// An environment variable holding 64 hex characters.
    Env(String),
    /// The key itself (tests, or keys fetched from a secret manager by the caller).
    Bytes([u8; 32]),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File {
                path,
                create_if_missing,
            } => f
                .debug_struct("File")
                .field("path", path)
                .field("create_if_missing", create_if_missing)
                .finish(),
            KeySource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            KeySource::Bytes(_) => f.write_str("Bytes(<redacted>)"),
        }
    }
}

impl KeySource {
    /// A key file that must already exist.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        KeySource::File {
            path: path.into(),
            create_if_missing: false,
        }
    }

    /// A key file created with a random key on first use.
    pub fn file_or_create(path: impl Into<PathBuf>) -> Self {
        KeySource::File {
            path: path.into(),
            create_if_missing: true,
        }
    }

    /// Loads the key.
    pub fn load(&self) -> Result<[u8; 32]> {
        match self {
            KeySource::Bytes(bytes) => Ok(*bytes),
            KeySource::Env(var) => {
                let text = std::env::var(var).map_err(|_| AuditError::Key {
                    source_name: format!("${var}"),
                    problem: format!("the variable is not set; export {var}=<64 hex characters>"),
                })?;
                parse_hex_key(&text, &format!("${var}"))
            }
            KeySource::File {
                path,
                create_if_missing,
            } => load_file(path, *create_if_missing),
        }
    }
}

fn parse_hex_key(text: &str, source_name: &str) -> Result<[u8; 32]> {
    let bad = |problem: String| AuditError::Key {
        source_name: source_name.to_owned(),
        problem,
    };
    let bytes = hex::decode(text.trim())
        .map_err(|e| bad(format!("not hex ({e}); expected 64 hex characters")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        bad(format!(
            "{} bytes; expected 32 (64 hex characters)",
            b.len()
        ))
    })
}

fn load_file(path: &Path, create: bool) -> Result<[u8; 32]> {
    let name = path.display().to_string();
    match fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(AuditError::Key {
                    source_name: name.clone(),
                    problem: format!(
                        "readable by group or others (mode {mode:o}); run `chmod 600 {name}`"
                    ),
                });
            }
            let text = fs::read_to_string(path).map_err(|e| AuditError::io(path, e))?;
            parse_hex_key(&text, &name)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => create_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AuditError::Key {
            source_name: name,
            problem: "the key file does not exist; restore it from your key backup (pseudonyms \
                      made under another key will not match), or allow creating one \
                      (KeySource::file_or_create; codeward: [audit] create_key = true)"
                .to_owned(),
        }),
        Err(e) => Err(AuditError::io(path, e)),
    }
}

/// 32 fresh random bytes from the OS.
pub(crate) fn random_key(what: &str) -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| AuditError::Key {
        source_name: what.to_owned(),
        problem: format!("the OS random source failed: {e}"),
    })?;
    Ok(key)
}

fn create_file(path: &Path) -> Result<[u8; 32]> {
    let key = random_key(&path.display().to_string())?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuditError::io(path, e))?;
    file.write_all(hex::encode(key).as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| AuditError::io(path, e))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::segment::sync_dir(parent)?;
    }
    Ok(key)
}
