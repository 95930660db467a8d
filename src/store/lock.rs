//! The state directory's lock: one daemon per state directory.
//!
//! Two daemons on one directory would interleave the journal and overwrite each other's intents.
//! The lock is an advisory `flock` on `failoverd.lock`, which the OS releases when the process
//! ends however it ends (`kill -9` included), so a stale lock never needs cleaning up; the file
//! says which process holds it, for the error the second daemon prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::create_state_dir;

const FILE: &str = "failoverd.lock";

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the lock.
    #[error(
        "state directory {dir} is in use by another failoverd ({holder}); two daemons on one state directory would interleave its journal and intents: stop that one, or give this one its own store.state_dir (several controllers share state through [cluster], not a directory)"
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("state directory lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The state directory could not be created.
    #[error(transparent)]
    Store(#[from] super::Error),
}

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Locks `state_dir` (creating it) for this process, recording `controller` and the pid in the
/// lock file; fails at once, naming the holder, if another process holds it.
pub fn lock(state_dir: &Path, controller: &str) -> Result<StateLock, Error> {
    create_state_dir(state_dir)?;
    let path = state_dir.join(FILE);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::Held {
                dir: state_dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "holder unknown".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "pid {}, controller {controller}", std::process::id()).map_err(io)?;
    Ok(StateLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_state_directory_is_refused_naming_the_holder_until_the_first_is_dropped()
     {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = lock(dir.path(), "ctl-a").expect("first lock");
        let err = lock(dir.path(), "ctl-b").expect_err("second lock");
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}, controller ctl-a", std::process::id())),
            "{text}"
        );
        assert!(text.contains("store.state_dir"), "{text}");
        drop(first);
        lock(dir.path(), "ctl-b").expect("free again once dropped");
    }
}
