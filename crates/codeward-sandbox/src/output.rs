//! Captures stdout and stderr with a cap: the first bytes are kept, the rest is counted and
//! drained (so the program never blocks on a full pipe), and a marker says what was cut.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// What one stream produced so far.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub kept: Vec<u8>,
    pub total: u64,
}

impl Captured {
    /// The kept text, with a truncation marker when bytes were dropped.
    pub(crate) fn text(&self) -> (String, bool) {
        let mut s = String::from_utf8_lossy(&self.kept).into_owned();
        let truncated = self.total > self.kept.len() as u64;
        if truncated {
            s.push_str(&format!(
                "\n[codeward: output truncated: {} bytes written, first {} kept]\n",
                self.total,
                self.kept.len()
            ));
        }
        (s, truncated)
    }
}

/// A stream being captured by a background task.
pub(crate) struct Capture {
    pub shared: Arc<Mutex<Captured>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts draining `fd` (a pipe read end), keeping at most `cap` bytes.
pub(crate) fn capture(fd: OwnedFd, cap: u64) -> std::io::Result<Capture> {
    let mut rx = pipe::Receiver::from_owned_fd(fd)?;
    let shared = Arc::new(Mutex::new(Captured::default()));
    let out = shared.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Ok(mut c) = out.lock() else { break };
            c.total += n as u64;
            let room = cap.saturating_sub(c.kept.len() as u64) as usize;
            let take = room.min(n);
            c.kept.extend_from_slice(&buf[..take]);
        }
    });
    Ok(Capture { shared, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_says_what_was_cut() {
        let c = Captured {
            kept: b"abc".to_vec(),
            total: 10,
        };
        let (text, truncated) = c.text();
        assert!(truncated);
        assert!(
            text.starts_with("abc\n[codeward: output truncated: 10 bytes written, first 3 kept]"),
            "{text}"
        );
        let whole = Captured {
            kept: b"abc".to_vec(),
            total: 3,
        };
        assert_eq!(whole.text(), ("abc".to_owned(), false));
    }
}
