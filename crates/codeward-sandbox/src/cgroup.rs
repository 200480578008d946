//! Control groups for one execution: memory and pids limits over the whole process tree,
//! honest peak memory, and a kill that reaches every process. Detects v1 and v2 at run time.

use std::fs;
use std::path::{Path, PathBuf};

use crate::child;

/// A cgroup hierarchy's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// A parent cgroup we may create children in, for one purpose.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub version: Version,
    pub dir: PathBuf,
}

/// What the host offers, found once.
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupSupport {
    pub memory: Option<Parent>,
    pub pids: Option<Parent>,
    /// CPU accounting for the whole tree: v1 `cpuacct`, or any v2 cgroup (`cpu.stat`).
    pub cpu: Option<Parent>,
    /// A v2 hierarchy with `cgroup.kill` (kernel 5.14+), usable even without controllers.
    pub kill: Option<Parent>,
    /// Why memory / pids are missing.
    pub memory_reason: String,
    pub pids_reason: String,
}

struct Mount {
    root: String,
    point: PathBuf,
    fstype: String,
    options: String,
}

fn mounts() -> Vec<Mount> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                root: (*l.get(3)?).to_owned(),
                point: PathBuf::from(unescape(l.get(4)?)),
                fstype: (*r.first()?).to_owned(),
                options: (*r.get(2).unwrap_or(&"")).to_owned(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Our own cgroup path per hierarchy: `(controllers, path)`; v2 has empty controllers.
fn self_cgroups() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_owned();
            let path = parts.next()?.to_owned();
            Some((controllers, path))
        })
        .collect()
}

fn join_under(mount: &Mount, path: &str) -> PathBuf {
    let rel = if mount.root != "/" && path.starts_with(&mount.root) {
        &path[mount.root.len()..]
    } else {
        path
    };
    mount.point.join(rel.trim_start_matches('/'))
}

fn probe_mkdir(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!("codeward-probe-{}", std::process::id()));
    fs::create_dir(&probe)
        .map_err(|e| format!("cannot create a cgroup under {}: {e}", dir.display()))?;
    let _ = fs::remove_dir(&probe);
    Ok(())
}

impl CgroupSupport {
    /// Looks at `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub(crate) fn detect() -> CgroupSupport {
        let mounts = mounts();
        let mine = self_cgroups();
        let mut s = CgroupSupport {
            memory_reason: "no memory cgroup controller mounted".to_owned(),
            pids_reason: "no pids cgroup controller mounted".to_owned(),
            ..Default::default()
        };
        // v1: one hierarchy per controller.
        let mut cpu_reason = String::new();
        for (controller, slot, reason) in [
            ("memory", &mut s.memory, &mut s.memory_reason),
            ("pids", &mut s.pids, &mut s.pids_reason),
            ("cpuacct", &mut s.cpu, &mut cpu_reason),
        ] {
            let Some(mount) = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == controller))
            else {
                continue;
            };
            let Some((_, path)) = mine
                .iter()
                .find(|(c, _)| c.split(',').any(|c| c == controller))
            else {
                continue;
            };
            let dir = join_under(mount, path);
            match probe_mkdir(&dir) {
                Ok(()) => {
                    *slot = Some(Parent {
                        version: Version::V1,
                        dir,
                    })
                }
                Err(e) => *reason = e,
            }
        }
        // v2: a unified hierarchy; controllers must be enabled for our children.
        if let Some(mount) = mounts.iter().find(|m| m.fstype == "cgroup2")
            && let Some((_, path)) = mine.iter().find(|(c, _)| c.is_empty())
        {
            let dir = join_under(mount, path);
            if probe_mkdir(&dir).is_ok() {
                let enabled =
                    fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                let has = |c: &str| enabled.split_whitespace().any(|x| x == c);
                for (controller, slot, reason) in [
                    ("memory", &mut s.memory, &mut s.memory_reason),
                    ("pids", &mut s.pids, &mut s.pids_reason),
                ] {
                    if slot.is_some() {
                        continue;
                    }
                    if has(controller) {
                        *slot = Some(Parent {
                            version: Version::V2,
                            dir: dir.clone(),
                        });
                    } else {
                        *reason = format!(
                            "the {controller} controller is not enabled in {}/cgroup.subtree_control \
                             (delegate it to this service)",
                            dir.display()
                        );
                    }
                }
                // The root cgroup has no cgroup.kill; look at a fresh child instead.
                let probe = dir.join(format!("codeward-probe-{}", std::process::id()));
                let has_kill = fs::create_dir(&probe).is_ok() && probe.join("cgroup.kill").exists();
                let _ = fs::remove_dir(&probe);
                if s.cpu.is_none() {
                    s.cpu = Some(Parent {
                        version: Version::V2,
                        dir: dir.clone(),
                    });
                }
                if has_kill {
                    s.kill = Some(Parent {
                        version: Version::V2,
                        dir,
                    });
                }
            }
        }
        s
    }
}

/// Limits to write into a run's cgroups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CgroupLimits {
    pub memory_bytes: Option<u64>,
    pub max_pids: Option<u64>,
}

/// What the cgroups measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CgroupStats {
    pub peak_memory_bytes: Option<u64>,
    pub oom_killed: bool,
    pub memory_limit_hit: bool,
    pub pids_limit_hit: bool,
}

/// CPU time of every process that ever ran in the run's cgroup.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUsage {
    pub user: std::time::Duration,
    pub system: std::time::Duration,
}

impl CpuUsage {
    pub(crate) fn total(&self) -> std::time::Duration {
        self.user + self.system
    }
}

#[derive(Debug)]
struct Dir {
    version: Version,
    path: PathBuf,
    memory: bool,
    pids: bool,
    cpu: bool,
}

/// One execution's cgroups; removed (after killing what is inside) on drop.
#[derive(Debug, Default)]
pub(crate) struct CgroupRun {
    dirs: Vec<Dir>,
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    fs::write(path, value)
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl CgroupRun {
    /// Creates the cgroups for one run named `name` and writes the limits.
    pub(crate) fn create(
        support: &CgroupSupport,
        use_memory: bool,
        use_pids: bool,
        use_kill: bool,
        name: &str,
        limits: CgroupLimits,
    ) -> std::io::Result<CgroupRun> {
        let mut run = CgroupRun::default();
        // (parent, memory, pids, cpu): one directory per hierarchy.
        let mut want: Vec<(&Parent, bool, bool, bool)> = Vec::new();
        fn add<'a>(
            want: &mut Vec<(&'a Parent, bool, bool, bool)>,
            p: &'a Parent,
            memory: bool,
            pids: bool,
            cpu: bool,
        ) {
            if let Some(w) = want.iter_mut().find(|(q, ..)| q.dir == p.dir) {
                w.1 |= memory;
                w.2 |= pids;
                w.3 |= cpu;
            } else {
                want.push((p, memory, pids, cpu));
            }
        }
        if use_memory && let Some(p) = &support.memory {
            add(&mut want, p, true, false, false);
        }
        if use_pids && let Some(p) = &support.pids {
            add(&mut want, p, false, true, false);
        }
        if let Some(p) = &support.cpu {
            add(&mut want, p, false, false, true);
        }
        if use_kill && let Some(k) = &support.kill {
            add(&mut want, k, false, false, false);
        }
        for (parent, memory, pids, cpu) in want {
            let path = parent.dir.join(name);
            fs::create_dir(&path)?;
            // Track it before configuring so a failure still removes it.
            run.dirs.push(Dir {
                version: parent.version,
                path: path.clone(),
                memory,
                pids,
                cpu,
            });
            if memory && let Some(bytes) = limits.memory_bytes {
                match parent.version {
                    Version::V1 => {
                        write(&path.join("memory.limit_in_bytes"), &bytes.to_string())?;
                        // Without swap accounting this file is absent; the limit still holds for RAM.
                        let memsw = path.join("memory.memsw.limit_in_bytes");
                        if memsw.exists() {
                            write(&memsw, &bytes.to_string())?;
                        }
                    }
                    Version::V2 => {
                        write(&path.join("memory.max"), &bytes.to_string())?;
                        let swap = path.join("memory.swap.max");
                        if swap.exists() {
                            write(&swap, "0")?;
                        }
                    }
                }
            }
            if pids && let Some(n) = limits.max_pids {
                write(&path.join("pids.max"), &n.to_string())?;
            }
        }
        Ok(run)
    }

    /// `file` in each of the run's cgroups of `version`.
    fn files(&self, version: Version, file: &str) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .filter(|d| d.version == version)
            .map(|d| d.path.join(file))
            .collect()
    }

    /// v2 `cgroup.procs` files the host writes the child's pid to.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.files(Version::V2, "cgroup.procs")
    }

    /// v1 `tasks` files the child joins by itself.
    pub(crate) fn tasks_files(&self) -> Vec<PathBuf> {
        self.files(Version::V1, "tasks")
    }

    /// Kills every process in the run's cgroups.
    pub(crate) fn kill_all(&self) {
        for d in &self.dirs {
            if d.version == Version::V2 && write(&d.path.join("cgroup.kill"), "1").is_ok() {
                continue;
            }
            // v1: no atomic kill; repeat while forks race with us (bounded).
            for _ in 0..50 {
                let procs = fs::read_to_string(d.path.join("cgroup.procs")).unwrap_or_default();
                let pids: Vec<i32> = procs
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect();
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    child::kill_pid(pid);
                }
                std::thread::yield_now();
            }
        }
    }

    /// Reads peak memory and which limits were hit.
    pub(crate) fn stats(&self) -> CgroupStats {
        let mut s = CgroupStats::default();
        for d in &self.dirs {
            if d.memory {
                match d.version {
                    Version::V1 => {
                        s.peak_memory_bytes = read_u64(&d.path.join("memory.max_usage_in_bytes"));
                        s.memory_limit_hit =
                            read_u64(&d.path.join("memory.failcnt")).unwrap_or(0) > 0;
                        s.oom_killed = read_key(&d.path.join("memory.oom_control"), "oom_kill")
                            .unwrap_or(0)
                            > 0;
                    }
                    Version::V2 => {
                        s.peak_memory_bytes = read_u64(&d.path.join("memory.peak"));
                        let events = d.path.join("memory.events");
                        s.memory_limit_hit = read_key(&events, "max").unwrap_or(0) > 0;
                        s.oom_killed = read_key(&events, "oom_kill").unwrap_or(0) > 0;
                    }
                }
            }
            if d.pids {
                s.pids_limit_hit = read_key(&d.path.join("pids.events"), "max").unwrap_or(0) > 0;
            }
        }
        s
    }

    /// CPU time used so far by the whole tree, if a cgroup accounts for it.
    pub(crate) fn cpu_usage(&self) -> Option<CpuUsage> {
        let d = self.dirs.iter().find(|d| d.cpu)?;
        let (user, system) = match d.version {
            Version::V1 => (
                std::time::Duration::from_nanos(read_u64(&d.path.join("cpuacct.usage_user"))?),
                std::time::Duration::from_nanos(read_u64(&d.path.join("cpuacct.usage_sys"))?),
            ),
            Version::V2 => {
                let stat = d.path.join("cpu.stat");
                (
                    std::time::Duration::from_micros(read_key(&stat, "user_usec")?),
                    std::time::Duration::from_micros(read_key(&stat, "system_usec")?),
                )
            }
        };
        Some(CpuUsage { user, system })
    }

    /// Kills what is left and removes the directories.
    pub(crate) fn remove(&mut self) {
        if self.dirs.is_empty() {
            return;
        }
        self.kill_all();
        for d in self.dirs.drain(..) {
            // rmdir fails with EBUSY until the last task is gone; that takes microseconds.
            for attempt in 0..200 {
                match fs::remove_dir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) if attempt < 199 => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => {
                        tracing::warn!(path = %d.path.display(), error = %e, "could not remove a sandbox cgroup");
                    }
                }
            }
        }
    }
}

impl Drop for CgroupRun {
    fn drop(&mut self) {
        self.remove();
    }
}
