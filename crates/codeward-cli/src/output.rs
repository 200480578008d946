//! Printing: plain lines for people (progress on a TTY), one JSON document with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// Set once stdout's reader has gone (`codeward audit tail | head`).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Prints `text` and a newline to stdout. When the reader has closed the pipe the rest of
/// the output is dropped quietly and the command ends with its own exit code (`println!`
/// would panic); any other write error is reported once on stderr.
pub fn print(text: &str) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
        }
    }
}

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub tty: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output {
            json,
            tty: std::io::stdout().is_terminal(),
        }
    }

    /// A progress line (people only; on a TTY it is marked as transient).
    pub fn progress(&self, line: &str) {
        if self.json {
            return;
        }
        if self.tty {
            eprintln!("\x1b[2m… {line}\x1b[0m");
        } else {
            eprintln!("{line}");
        }
    }

    /// A result line for people.
    pub fn line(&self, line: impl AsRef<str>) {
        if !self.json {
            print(line.as_ref());
        }
    }

    /// The machine-readable result (only with `--json`).
    pub fn json<T: Serialize>(&self, value: &T) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => print(&text),
                Err(e) => print(&format!(
                    "{{\"error\": \"cannot serialize the result: {e}\"}}"
                )),
            }
        }
    }
}
