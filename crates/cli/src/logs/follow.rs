//! `--follow`: prints lines appended to the log file as they come, until Ctrl-C (or SIGTERM).
//! A bounded poll (every [`POLL`]) reads what was appended; a line is printed once its newline
//! arrives, and a truncated or replaced file is read again from its start.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::Filter;
use crate::error::{CliError, CliResult};

/// How often the file is checked for new bytes.
pub const POLL: Duration = Duration::from_millis(200);

/// Follows `path` from byte `pos` until interrupted.
pub async fn run(path: &Path, mut pos: u64, filter: &Filter, json: bool) -> CliResult<()> {
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| CliError::io("SIGINT handler", &e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| CliError::io("SIGTERM handler", &e))?;
    let mut partial: Vec<u8> = Vec::new();
    loop {
        pos = read_new(path, pos, &mut partial, filter, json);
        tokio::select! {
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Prints the whole lines appended since `pos`; returns the new position.
fn read_new(path: &Path, pos: u64, partial: &mut Vec<u8>, filter: &Filter, json: bool) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else {
        return pos;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let pos = if len < pos {
        // Truncated or replaced: start over.
        partial.clear();
        0
    } else {
        pos
    };
    if len == pos || f.seek(SeekFrom::Start(pos)).is_err() {
        return pos;
    }
    let mut buf = Vec::new();
    let Ok(n) = f.take(len - pos).read_to_end(&mut buf) else {
        return pos;
    };
    partial.extend_from_slice(&buf);
    if let Some(end) = partial.iter().rposition(|b| *b == b'\n') {
        let whole: Vec<u8> = partial.drain(..=end).collect();
        for line in String::from_utf8_lossy(&whole).lines() {
            if let Some(l) = filter.keep(line) {
                l.print(json);
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    pos + n as u64
}
