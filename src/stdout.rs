//! The commands' standard output, written one way: when the reader goes away
//! (`failoverd check-config F | head -1`), the rest of the output is dropped and the command
//! ends with its own exit code. `println!` panics there instead (exit 101): Rust ignores
//! SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`, and `println!` panics on any
//! failed write.

use std::fmt::Display;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};

/// Stdout takes what is written.
const OPEN: u8 = 0;
/// The reader went away; what is written is dropped.
const CLOSED: u8 = 1;
/// A write failed for another reason (a full disk); what is written is dropped and the
/// command fails.
const FAILED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OPEN);

/// Writes `bytes` to standard output and flushes them. Once the reader is gone this and every
/// later write is dropped quietly; any other failure is said once on stderr and makes the
/// command fail ([`exit_code`]).
pub fn write(bytes: &[u8]) {
    if STATE.load(Ordering::Acquire) != OPEN {
        return;
    }
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            let _already_failed =
                STATE.compare_exchange(OPEN, CLOSED, Ordering::AcqRel, Ordering::Acquire);
        }
        Err(e) => {
            if STATE.swap(FAILED, Ordering::AcqRel) != FAILED {
                eprintln!("failoverd: cannot write to stdout: {e}");
            }
        }
    }
}

/// Writes `text` to standard output, as [`write()`].
pub fn print(text: &str) {
    write(text.as_bytes());
}

/// Writes `text` and a newline to standard output, as [`write()`].
pub fn line(text: impl Display) {
    write(format!("{text}\n").as_bytes());
}

/// The exit code of a command that ended with `code`: `code` itself, unless stdout failed for
/// another reason than its reader going away.
pub fn exit_code(code: ExitCode) -> ExitCode {
    if STATE.load(Ordering::Acquire) == FAILED {
        ExitCode::FAILURE
    } else {
        code
    }
}

/// Prints a command's result for people, or as JSON.
pub fn result<T: serde::Serialize + Display>(result: &T, json: bool) -> ExitCode {
    if !json {
        line(result);
        return ExitCode::SUCCESS;
    }
    match serde_json::to_string_pretty(result) {
        Ok(text) => {
            line(text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::FAILURE
        }
    }
}
