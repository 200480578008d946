//! Secret keys the log needs: the HMAC key for pseudonyms and an optional Ed25519 signing key.
//! Keys live outside the log (a 0600 file or an environment variable) and never enter it.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
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
    // The permission check and the read use one handle, so the file cannot be swapped
    // between them.
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            return create_file(path);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AuditError::Key {
                source_name: name,
                problem: "the key file does not exist; restore it from your key backup \
                          (pseudonyms made under another key will not match), or allow \
                          creating one (KeySource::file_or_create; codeward: [audit] \
                          create_key = true)"
                    .to_owned(),
            });
        }
        Err(e) => return Err(AuditError::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| AuditError::io(path, e))?;
    if !meta.is_file() {
        return Err(AuditError::Key {
            source_name: name,
            problem: "is not a regular file; point the key setting at the key file itself \
                      (64 hex characters, mode 0600)"
                .to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuditError::Key {
            source_name: name.clone(),
            problem: format!("readable by group or others (mode {mode:o}); run `chmod 600 {name}`"),
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| AuditError::io(path, e))?;
    parse_hex_key(&text, &name)
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

/// Creates the key file whole or not at all: the key is written and synced under a temporary
/// name, then hard-linked into place, which fails if the file exists. So a process that loses
/// a race with another one creating the same key loads the winner's complete key, and a crash
/// never leaves an empty or partial key file behind (at most a stray temporary file).
fn create_file(path: &Path) -> Result<[u8; 32]> {
    let key = random_key(&path.display().to_string())?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_owned());
    let tmp = parent.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(&random_key("a temporary key file name")?[..8])
    ));
    let written = new_private_file(&tmp).and_then(|mut file| write_key(&mut file, &key));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(AuditError::io(&tmp, e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            crate::segment::sync_dir(parent)?;
            Ok(key)
        }
        // Another process created it first: its key is complete (linked only after sync).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_file(path, false),
        // A filesystem without hard links (some FUSE and network mounts): create the file
        // itself exclusively, write and sync it (a crash there can leave it partial, which
        // loading reports).
        Err(e) if e.raw_os_error() == Some(1) || e.kind() == std::io::ErrorKind::Unsupported => {
            create_in_place(path, &key, parent)
        }
        Err(e) => Err(AuditError::io(path, e)),
    }
}

fn create_in_place(path: &Path, key: &[u8; 32], parent: &Path) -> Result<[u8; 32]> {
    let mut file = match new_private_file(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_file(path, false),
        Err(e) => return Err(AuditError::io(path, e)),
    };
    write_key(&mut file, key).map_err(|e| AuditError::io(path, e))?;
    crate::segment::sync_dir(parent)?;
    Ok(*key)
}

/// Creates `path` (failing if it exists), readable by its owner only.
fn new_private_file(path: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes `key` as hex and a newline, then syncs it.
fn write_key(file: &mut fs::File, key: &[u8; 32]) -> std::io::Result<()> {
    file.write_all(hex::encode(key).as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
