//! Printing: plain lines for people (progress on a TTY), one JSON document with `--json`.

use std::io::IsTerminal;

use serde::Serialize;

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
            println!("{}", line.as_ref());
        }
    }

    /// The machine-readable result (only with `--json`).
    pub fn json<T: Serialize>(&self, value: &T) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => println!("{{\"error\": \"cannot serialize the result: {e}\"}}"),
            }
        }
    }
}
