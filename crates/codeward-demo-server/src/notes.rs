//! The notes store: notes kept in one JSON file under the data directory.
//! Every change is written to a temporary file, synced and renamed over the old one, so a
//! crash leaves either the old or the new file, never a torn one.

use crate::error::{DemoError, Result};
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file name inside the data directory.
pub const NOTES_FILE: &str = "notes.json";
/// Snippets show about this many characters around the first match.
const SNIPPET_CHARS: usize = 120;

/// A stored note, shaped as `notes_add` / `notes_get` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// `n-<number>`, increasing.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
}

/// A note without its body, as `notes_list` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteSummary {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteMatch {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text around the first match.
    pub snippet: String,
    /// Relevance, higher is better.
    pub score: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NotesFile {
    #[serde(default = "format_version")]
    version: u32,
    next_id: u64,
    notes: Vec<Note>,
}

fn format_version() -> u32 {
    1
}

/// Notes persisted as JSON in a data directory.
#[derive(Debug)]
pub struct NotesStore {
    path: PathBuf,
    state: Mutex<NotesFile>,
}

impl NotesStore {
    /// Opens (or starts) the store in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<Self> {
        fs::create_dir_all(data_dir).map_err(|e| {
            DemoError::io(format!("creating data directory {}", data_dir.display()), e)
        })?;
        let path = data_dir.join(NOTES_FILE);
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| DemoError::NotesFile {
                path: path.clone(),
                problem: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => NotesFile {
                version: format_version(),
                next_id: 1,
                notes: Vec::new(),
            },
            Err(e) => {
                return Err(DemoError::NotesFile {
                    path,
                    problem: e.to_string(),
                });
            }
        };
        Ok(NotesStore {
            path,
            state: Mutex::new(state),
        })
    }

    /// The notes file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a note and returns it.
    pub fn add(&self, title: String, body: String, tags: Vec<String>) -> Result<Note> {
        self.update(|file| {
            let note = Note {
                id: format!("n-{}", file.next_id),
                title,
                body,
                tags,
                created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            };
            file.next_id += 1;
            file.notes.push(note.clone());
            note
        })
    }

    /// Deletes a note; `false` when no note had the id.
    pub fn delete(&self, id: &str) -> Result<bool> {
        let exists = self.with(|file| file.notes.iter().any(|n| n.id == id));
        if !exists {
            return Ok(false);
        }
        self.update(|file| {
            file.notes.retain(|n| n.id != id);
            true
        })
    }

    /// One note by id.
    pub fn get(&self, id: &str) -> Result<Note> {
        self.with(|file| file.notes.iter().find(|n| n.id == id).cloned())
            .ok_or_else(|| DemoError::NoSuchNote(id.to_owned()))
    }

    /// Notes newest first, optionally with a tag; returns at most `limit` and the total.
    pub fn list(&self, tag: Option<&str>, limit: usize) -> (Vec<NoteSummary>, usize) {
        self.with(|file| {
            let mut notes: Vec<&Note> = file
                .notes
                .iter()
                .filter(|n| tag.is_none_or(|t| n.tags.iter().any(|nt| nt == t)))
                .collect();
            notes.sort_by_key(|n| std::cmp::Reverse(id_number(&n.id)));
            let total = notes.len();
            let summaries = notes
                .into_iter()
                .take(limit)
                .map(|n| NoteSummary {
                    id: n.id.clone(),
                    title: n.title.clone(),
                    tags: n.tags.clone(),
                    created_at: n.created_at.clone(),
                })
                .collect();
            (summaries, total)
        })
    }

    /// Notes containing every word of `query` (case-insensitive), best first.
    pub fn search(&self, query: &str, limit: usize) -> Vec<NoteMatch> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Vec::new();
        }
        self.with(|file| {
            let mut hits: Vec<(f64, u64, NoteMatch)> = file
                .notes
                .iter()
                .filter_map(|note| {
                    let title = note.title.to_lowercase();
                    let body = note.body.to_lowercase();
                    let tags: Vec<String> = note.tags.iter().map(|t| t.to_lowercase()).collect();
                    let mut score = 0.0;
                    for word in &words {
                        // A word in the title says more about the note than one in the body.
                        let in_title = title.matches(word.as_str()).count() as f64;
                        let in_tags =
                            tags.iter().filter(|t| t.contains(word.as_str())).count() as f64;
                        let in_body = body.matches(word.as_str()).count() as f64;
                        if in_title + in_tags + in_body == 0.0 {
                            return None;
                        }
                        score += 3.0 * in_title + 2.0 * in_tags + in_body.min(10.0);
                    }
                    let snippet = snippet(&note.body, &words[0])
                        .or_else(|| snippet(&note.title, &words[0]))
                        .unwrap_or_else(|| note.title.clone());
                    let hit = NoteMatch {
                        id: note.id.clone(),
                        title: note.title.clone(),
                        snippet,
                        score,
                    };
                    Some((score, id_number(&note.id), hit))
                })
                .collect();
            // Best first; among equals, the newest.
            hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            hits.into_iter()
                .take(limit)
                .map(|(_, _, hit)| hit)
                .collect()
        })
    }

    fn with<T>(&self, read: impl FnOnce(&NotesFile) -> T) -> T {
        let guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&guard)
    }

    /// Applies `change` to a copy, persists the copy, and only then makes it current, so
    /// a failed write leaves memory and disk agreeing.
    fn update<T>(&self, change: impl FnOnce(&mut NotesFile) -> T) -> Result<T> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = guard.clone();
        let out = change(&mut next);
        write_atomically(&self.path, &next)?;
        *guard = next;
        Ok(out)
    }
}

fn id_number(id: &str) -> u64 {
    id.strip_prefix("n-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// About `SNIPPET_CHARS` characters of `text` around the first occurrence of `word`.
fn snippet(text: &str, word: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find(word)?;
    // Lower-casing can change byte lengths; map back through character positions.
    let char_at = lower[..at].chars().count();
    let chars: Vec<char> = text.chars().collect();
    let start = char_at.saturating_sub(SNIPPET_CHARS / 3);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let mut out: String = chars[start.min(chars.len())..end].iter().collect();
    out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if start > 0 {
        out.insert(0, '…');
    }
    if end < chars.len() {
        out.push('…');
    }
    Some(out)
}

fn write_atomically(path: &Path, file: &NotesFile) -> Result<()> {
    let io = |e| DemoError::io(format!("writing {}", path.display()), e);
    let bytes = serde_json::to_vec_pretty(file)
        .map_err(|e| DemoError::io("encoding notes", std::io::Error::other(e)))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{NOTES_FILE}.{}.tmp", std::process::id()));
    let written = fs::File::create(&tmp)
        .and_then(|mut out| out.write_all(&bytes).and_then(|()| out.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        // Never leave the half-written temporary file behind (a full disk, say).
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    // The rename is durable only once the directory entry is.
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_search_delete_persist() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| DemoError::io("tempdir", e))?;
        let store = NotesStore::open(dir.path())?;
        let a = store.add(
            "Groceries".into(),
            "milk and bread".into(),
            vec!["home".into()],
        )?;
        let b = store.add(
            "Rust ideas".into(),
            "a bread-themed crate".into(),
            vec!["work".into()],
        )?;
        assert_eq!((a.id.as_str(), b.id.as_str()), ("n-1", "n-2"));
        let (listed, total) = store.list(None, 1);
        assert_eq!((listed[0].id.as_str(), total), ("n-2", 2));
        assert_eq!(store.list(Some("home"), 10).0[0].id, "n-1");
        let hits = store.search("BREAD", 10);
        assert_eq!(hits.len(), 2);
        assert!(store.search("bread milk", 10).iter().all(|h| h.id == "n-1"));
        assert!(store.delete("n-1")?);
        assert!(!store.delete("n-1")?);
        let reopened = NotesStore::open(dir.path())?;
        assert_eq!(reopened.list(None, 10).1, 1);
        assert_eq!(reopened.add("x".into(), "y".into(), vec![])?.id, "n-3");
        Ok(())
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(NOTES_FILE), "{not json").unwrap();
        let err = NotesStore::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("notes.json") && err.contains("unreadable"),
            "{err}"
        );
    }

    #[test]
    fn snippet_marks_cuts() {
        let text = format!("{} needle {}", "a ".repeat(100), "b ".repeat(100));
        let s = snippet(&text, "needle").unwrap();
        assert!(s.starts_with('…') && s.ends_with('…') && s.contains("needle"));
    }
}
