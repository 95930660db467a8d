//! Durable state: the state directory and the journal.
//!
//! The journal is the audit trail: every verdict change, share change, refusal and alarm, with
//! its time, actor and reason, appended as one JSON line and synced to disk before the
//! controller moves on. Observers (the demo's timeline, later the admin API) subscribe to the
//! same entries as they are written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::plan::{Alarm, Decision, Refusal};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory is missing and could not be created, or is not writable.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An entry could not be written to the journal.
    #[error("journal {path}: {source}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Utilization of one region before and after a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// Region name.
    pub region: String,
    /// Load / capacity now.
    pub now: Option<f64>,
    /// Load / capacity once the step's moved load lands.
    pub projected: Option<f64>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The controller started.
    Started {
        /// Controller id.
        controller: String,
        /// Backend in use.
        backend: String,
    },
    /// A region's verdict changed.
    Verdict {
        /// Region name.
        region: String,
        /// Previous verdict.
        from: Verdict,
        /// New verdict.
        to: Verdict,
        /// Why.
        reason: String,
    },
    /// Shares were changed on the backend in one apply.
    Shift {
        /// Every change, with its reason.
        decisions: Vec<Decision>,
        /// Every region's utilization now and once the step lands.
        utilization: Vec<Utilization>,
    },
    /// A wanted move did not happen.
    Refusal(Refusal),
    /// An alarm was raised.
    Alarm(Alarm),
    /// An alarm stopped applying.
    AlarmCleared {
        /// The alarm's code.
        code: String,
    },
    /// An operator's intent reached its expiry.
    IntentExpired {
        /// Which intent, e.g. `drain of eu-west-1 by alice`.
        intent: String,
    },
    /// The backend failed a call; the next tick tries again.
    BackendError {
        /// Which call.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// The controller stopped.
    Stopped,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it happened.
    pub at: Timestamp,
    /// Who did it (the controller id for automated changes).
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The append-only journal; clones write to the same file.
#[derive(Debug, Clone)]
pub struct Journal {
    file: Option<Arc<Mutex<(PathBuf, File)>>>,
    tx: broadcast::Sender<Entry>,
}

impl Journal {
    /// Opens (creating if needed) `journal.jsonl` in `state_dir`, creating the directory too.
    pub fn open(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir).map_err(|source| Error::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join("journal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Journal {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            file: Some(Arc::new(Mutex::new((path, file)))),
            tx: broadcast::channel(1024).0,
        })
    }

    /// A journal that only notifies subscribers (simulation runs that must leave no files).
    pub fn in_memory() -> Self {
        Self {
            file: None,
            tx: broadcast::channel(1024).0,
        }
    }

    /// Receives every entry recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.tx.subscribe()
    }

    /// Appends an entry, syncs it to disk, then tells subscribers.
    pub fn record(&self, at: Timestamp, actor: &str, event: Event) -> Result<()> {
        let entry = Entry {
            at,
            actor: actor.to_owned(),
            event,
        };
        if let Some(file) = &self.file {
            // Entries are small and rare (changes, not probes), so a blocking write-and-sync
            // under a short-held lock is simpler than a writer task and loses nothing on crash.
            let mut guard = file.lock().unwrap_or_else(|e| e.into_inner());
            let (path, f) = &mut *guard;
            let mut line = serde_json::to_vec(&entry).map_err(|e| Error::Journal {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            line.push(b'\n');
            f.write_all(&line)
                .and_then(|()| f.sync_data())
                .map_err(|source| Error::Journal {
                    path: path.clone(),
                    source,
                })?;
        }
        // No subscriber is fine: the file is the record.
        let _no_subscribers = self.tx.send(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_as_json_lines_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = Journal::open(dir.path()).expect("open");
        let mut rx = journal.subscribe();
        let event = Event::Verdict {
            region: "eu-west-1".into(),
            from: Verdict::Healthy,
            to: Verdict::Down,
            reason: "3 consecutive failed rounds: HTTP 503".into(),
        };
        journal
            .record(Timestamp(1_000), "ctl-1", event.clone())
            .expect("record");
        drop(journal);
        let reopened = Journal::open(dir.path()).expect("reopen");
        reopened
            .record(Timestamp(2_000), "ctl-1", Event::Stopped)
            .expect("record");
        let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).expect("read");
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].event, event);
        assert_eq!(entries[0].actor, "ctl-1");
        assert_eq!(entries[1].event, Event::Stopped);
        assert_eq!(rx.try_recv().expect("broadcast").event, event);
    }

    #[test]
    fn an_unwritable_state_dir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").expect("write");
        let err = Journal::open(&blocker.join("state")).expect_err("not a dir");
        assert!(err.to_string().contains("state directory"), "{err}");
    }
}
