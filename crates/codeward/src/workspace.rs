//! Per-execution workspaces: a directory with a status file that lives while the execution
//! runs. A guard removes it on every path (success, error, panic, a dropped future).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WorkspaceStatus {
    /// Created, not yet running.
    Pending,
    /// The program is running.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure.
    Failed,
}

#[derive(Serialize, Deserialize)]
struct StatusFile {
    execution_id: String,
    status: WorkspaceStatus,
    pid: u32,
}

/// Counts of workspaces by status, plus how many are open now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkspaceStats {
    /// Open now.
    pub active: u64,
    /// Closed as completed.
    pub completed: u64,
    /// Closed as failed.
    pub failed: u64,
    /// Stale directories removed by cleanup.
    pub stale_removed: u64,
}

/// Creates and tracks workspaces under one directory.
#[derive(Debug, Clone)]
pub struct WorkspaceManager {
    root: PathBuf,
    state: Arc<Mutex<(HashMap<String, WorkspaceStatus>, WorkspaceStats)>>,
}

impl WorkspaceManager {
    /// Workspaces under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkspaceManager {
            root: root.into(),
            state: Arc::default(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the workspace of `execution_id` (status pending).
    pub fn open(&self, execution_id: &str) -> std::io::Result<Workspace> {
        let dir = self.root.join(execution_id);
        std::fs::create_dir_all(&dir)?;
        let ws = Workspace {
            manager: self.clone(),
            id: execution_id.to_owned(),
            dir,
            status: WorkspaceStatus::Pending,
        };
        ws.write_status()?;
        if let Ok(mut s) = self.state.lock() {
            s.0.insert(execution_id.to_owned(), WorkspaceStatus::Pending);
            s.1.active += 1;
        }
        Ok(ws)
    }

    /// Statistics.
    pub fn stats(&self) -> WorkspaceStats {
        self.state.lock().map(|s| s.1.clone()).unwrap_or_default()
    }

    /// Status of the open workspaces.
    pub fn open_workspaces(&self) -> Vec<(String, WorkspaceStatus)> {
        self.state
            .lock()
            .map(|s| s.0.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Removes workspace directories left by dead processes (a crash skips the guard) once
    /// they are older than `stale_after`. Returns how many were removed.
    pub fn cleanup_stale(&self, stale_after: Duration) -> u64 {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let open: Vec<String> = self
            .open_workspaces()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let id = entry.file_name().to_string_lossy().into_owned();
            if open.contains(&id) || !path.is_dir() {
                continue;
            }
            let owner_alive = std::fs::read_to_string(path.join("status.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<StatusFile>(&t).ok())
                .is_some_and(|s| {
                    s.pid != std::process::id() && Path::new(&format!("/proc/{}", s.pid)).exists()
                });
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= stale_after);
            if old && !owner_alive && std::fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        }
        if let Ok(mut s) = self.state.lock() {
            s.1.stale_removed += removed;
        }
        removed
    }

    /// Removes every workspace directory not open in this process (shutdown).
    pub fn remove_all_closed(&self) {
        let _ = self.cleanup_stale(Duration::ZERO);
    }
}

/// One execution's workspace; removed when dropped.
#[derive(Debug)]
pub struct Workspace {
    manager: WorkspaceManager,
    id: String,
    dir: PathBuf,
    status: WorkspaceStatus,
}

impl Workspace {
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current status.
    pub fn status(&self) -> WorkspaceStatus {
        self.status
    }

    /// Moves to `status`. Transitions are tracked in memory (`open_workspaces`, `stats`);
    /// the status file written at open names the owning process, which is all crash cleanup
    /// needs, and keeps an execution to three file operations (create, write, remove).
    pub fn set_status(&mut self, status: WorkspaceStatus) {
        self.status = status;
        if let Ok(mut s) = self.manager.state.lock() {
            s.0.insert(self.id.clone(), status);
        }
    }

    fn write_status(&self) -> std::io::Result<()> {
        let file = StatusFile {
            execution_id: self.id.clone(),
            status: self.status,
            pid: std::process::id(),
        };
        // A torn file only makes the owner unknown: cleanup then waits for `stale_after`.
        std::fs::write(
            self.dir.join("status.json"),
            serde_json::to_vec(&file).unwrap_or_default(),
        )
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Ok(mut s) = self.manager.state.lock() {
            s.0.remove(&self.id);
            s.1.active = s.1.active.saturating_sub(1);
            match self.status {
                WorkspaceStatus::Completed => s.1.completed += 1,
                // Pending or running at drop means the execution was abandoned.
                _ => s.1.failed += 1,
            }
        }
    }
}
