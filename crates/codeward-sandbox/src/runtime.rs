//! The interpreters (resolved once) and how a program is laid out and started for each
//! language: files in the working directory, argv, environment, what must stay readable.

use std::path::{Path, PathBuf};
use std::process::Command;

use codeward_core::Language;

use crate::error::SandboxError;

/// A resolved interpreter and the directories it needs to read.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    pub exe: PathBuf,
    pub read_paths: Vec<PathBuf>,
    /// Reported by the interpreter, for diagnostics.
    #[allow(dead_code)]
    pub version: String,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The install tree of a binary at `<root>/bin/<exe>`: `<root>`.
fn install_root(exe: &Path) -> Option<PathBuf> {
    let bin = exe.parent()?;
    (bin.file_name()? == "bin").then(|| bin.parent().map(Path::to_path_buf))?
}

/// Python: the configured path, `/usr/bin/python3`, or `python3` on PATH resolved through
/// `sys.executable` (a pyenv shim costs ~140 ms a start; the real binary does not).
pub(crate) fn resolve_python(configured: Option<&Path>) -> Result<Interpreter, SandboxError> {
    let fail = |reason: String| SandboxError::Interpreter {
        language: "python".to_owned(),
        reason,
    };
    let candidate = match configured {
        Some(p) => p.to_path_buf(),
        None if Path::new("/usr/bin/python3").is_file() => PathBuf::from("/usr/bin/python3"),
        None => on_path("python3").ok_or_else(|| {
            fail("no python3 on PATH; install Python 3 or set SandboxConfig::python".to_owned())
        })?,
    };
    let probe = "import sys,json;print(json.dumps([sys.executable,sys.prefix,sys.base_prefix,\
                 sys.exec_prefix,sys.version.split()[0]]))";
    let out = Command::new(&candidate)
        .args(["-I", "-c", probe])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", candidate.display())))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{} -I -c ... failed: {}",
            candidate.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v: Vec<String> = serde_json::from_slice(&out.stdout).map_err(|e| {
        fail(format!(
            "unexpected answer from {}: {e}",
            candidate.display()
        ))
    })?;
    let [exe, prefix, base, exec_prefix, version] = <[String; 5]>::try_from(v)
        .map_err(|_| fail(format!("unexpected answer from {}", candidate.display())))?;
    let exe = if exe.is_empty() {
        candidate
    } else {
        PathBuf::from(exe)
    };
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let mut read_paths: Vec<PathBuf> = [prefix, base, exec_prefix]
        .into_iter()
        .map(PathBuf::from)
        .collect();
    read_paths.extend(install_root(&exe));
    read_paths.sort();
    read_paths.dedup();
    Ok(Interpreter {
        exe,
        read_paths,
        version,
    })
}

/// Node: the configured path or `node` on PATH, canonicalized.
pub(crate) fn resolve_node(configured: Option<&Path>) -> Result<Interpreter, SandboxError> {
    let fail = |reason: String| SandboxError::Interpreter {
        language: "typescript".to_owned(),
        reason,
    };
    let candidate = match configured {
        Some(p) => p.to_path_buf(),
        None => on_path("node").ok_or_else(|| {
            fail("no node on PATH; install Node.js 18+ or set SandboxConfig::node".to_owned())
        })?,
    };
    let exe = std::fs::canonicalize(&candidate)
        .map_err(|e| fail(format!("{}: {e}", candidate.display())))?;
    let out = Command::new(&exe)
        .arg("--version")
        .env_clear()
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", exe.display())))?;
    if !out.status.success() {
        return Err(fail(format!("{} --version failed", exe.display())));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(Interpreter {
        read_paths: install_root(&exe).into_iter().collect(),
        exe,
        version,
    })
}

/// Programs up to this size are handed to node on the command line (`-e`), which starts
/// ~7 ms faster than an ES module file; larger ones run from `main.mjs`.
const MAX_INLINE_JS: usize = 100 * 1024;

/// The argv for `language` (argv[0] is the interpreter).
///
/// Python runs with `-E -s`: no `PYTHON*` variables, no user site directory. That is `-I`
/// without `-P`; `-P` keeps the script's directory off `sys.path`, but here that directory is
/// the private working directory and holds the generated API the program imports. (Putting it
/// back on the path under `-I` costs ~1.7 ms a start.)
///
/// Node gets a V8 heap cap only when no memory cgroup holds the line: any V8 flag makes node
/// skip its startup snapshot (~7 ms), and RLIMIT_AS breaks V8 altogether.
pub(crate) fn argv(
    language: Language,
    interp: &Interpreter,
    memory_bytes: u64,
    memory_cgroup: bool,
    program_js: Option<&str>,
) -> Vec<String> {
    let exe = interp.exe.to_string_lossy().into_owned();
    match language {
        Language::Python => vec![exe, "-E".into(), "-s".into(), "main.py".into()],
        _ => {
            let mut v = vec![exe];
            if !memory_cgroup {
                let heap_mb = (memory_bytes / 4 * 3 / (1024 * 1024)).max(16);
                v.push(format!("--max-old-space-size={heap_mb}"));
            }
            v.push("--no-warnings".into());
            match program_js {
                Some(js) if js.len() <= MAX_INLINE_JS => {
                    v.extend(["--input-type=module".into(), "-e".into(), js.to_owned()]);
                }
                _ => v.push("main.mjs".into()),
            }
            v
        }
    }
}

/// The fresh environment: an allowlist, nothing from the host.
pub(crate) fn environment(
    workdir: &Path,
    execution_id: &str,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let wd = workdir.to_string_lossy().into_owned();
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), wd.clone()),
        ("TMPDIR".to_owned(), wd),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("CODEWARD_BRIDGE_FDS".to_owned(), "3,4".to_owned()),
        ("CODEWARD_EXECUTION_ID".to_owned(), execution_id.to_owned()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    env
}
