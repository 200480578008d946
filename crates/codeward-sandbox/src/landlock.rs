//! The filesystem view as a Landlock ruleset (plain data; the child applies it): the working
//! directory is writable, and outside it only the interpreter, system libraries and a minimal
//! `/etc` are readable. From ABI 4 TCP bind/connect is denied, from ABI 6 signals and abstract
//! unix sockets outside the sandbox are out of reach.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::child::LandlockPlan;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
const READ: u64 = EXECUTE | READ_FILE | READ_DIR;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// System directories every interpreter needs.
const SYSTEM_DIRS: [&str; 9] = [
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ssl",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
];

/// The minimal `/etc`: the dynamic loader's cache, time zone, name service switch.
const ETC_FILES: [&str; 4] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/nsswitch.conf",
];

fn handled_fs(abi: u32) -> u64 {
    let mut mask = (1u64 << 13) - 1;
    if abi >= 2 {
        mask |= REFER;
    }
    if abi >= 3 {
        mask |= TRUNCATE;
    }
    if abi >= 5 {
        mask |= IOCTL_DEV;
    }
    mask
}

fn cstring(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

/// The ruleset for a run in `workdir` with an interpreter that reads `interp_paths`.
pub(crate) fn plan(abi: u32, workdir: &Path, interp_paths: &[PathBuf]) -> LandlockPlan {
    let handled = handled_fs(abi);
    let mut rules: Vec<(CString, u64)> = Vec::new();
    let mut add = |path: &Path, want: u64| {
        // Rights that apply to directories only are invalid on a file rule.
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mut access = want & handled;
        if !meta.is_dir() {
            access &= FILE_RIGHTS;
        }
        if let Some(c) = cstring(path) {
            rules.push((c, access));
        }
    };
    add(workdir, handled);
    for dir in SYSTEM_DIRS {
        add(Path::new(dir), READ);
    }
    for p in interp_paths {
        add(p, READ);
    }
    for f in ETC_FILES {
        add(Path::new(f), READ_FILE);
    }
    add(Path::new("/proc"), READ_FILE | READ_DIR);
    for dev in ["/dev/null", "/dev/zero", "/dev/full"] {
        add(Path::new(dev), READ_FILE | WRITE_FILE | IOCTL_DEV);
    }
    for dev in ["/dev/urandom", "/dev/random"] {
        add(Path::new(dev), READ_FILE);
    }
    LandlockPlan {
        abi,
        handled_fs: handled,
        handled_net: if abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        },
        scoped: if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        },
        rules,
    }
}
