//! Durable state: the state directory, the journal and the intents ([`intents`]).
//!
//! The journal is the audit trail: every verdict change, share change, refusal, alarm and
//! operator action, with its time, actor and reason, appended as one JSON line and synced to
//! disk before the controller moves on. It is rotated by size, keeping a set number of older
//! files. Observers (the demo's timeline, the admin API) subscribe to the same entries as they
//! are written, and the latest entries are kept in memory for the status page.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tracing::warn;

use crate::clock::Timestamp;
use crate::health::Verdict;
pub mod intents;
pub mod lock;
pub mod switches;

use crate::alarm::{Alarm, AlarmCode};
use crate::plan::{Decision, Refusal};
use crate::share::Share;

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

/// A refusal as a journal entry writes it: the refusal's own `kind` (its rule) as `rule`, so
/// it does not stand over the entry's `kind` (`refusal`). (A line written with both as `kind`
/// does not read back: the journal's tail skips it at start-up.)
mod refusal_entry {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::plan::Refusal;

    pub(super) fn serialize<S: Serializer>(r: &Refusal, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(r).map_err(serde::ser::Error::custom)?;
        if let Some(map) = v.as_object_mut()
            && let Some(rule) = map.remove("kind")
        {
            map.insert("rule".to_owned(), rule);
        }
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Refusal, D::Error> {
        let mut v = serde_json::Value::deserialize(d)?;
        if let Some(map) = v.as_object_mut()
            && let Some(rule) = map.remove("rule")
        {
            map.insert("kind".to_owned(), rule);
        }
        serde_json::from_value(v).map_err(serde::de::Error::custom)
    }
}

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
    /// In shadow mode: the shares the controller would have changed, with the reasons. Nothing
    /// was written to the backend.
    ShadowShift {
        /// Every change it would have made, with its reason.
        decisions: Vec<Decision>,
        /// Every region's utilization now and once the step would have landed.
        utilization: Vec<Utilization>,
    },
    /// The backend reported a shift's changes live (Route 53: every batch INSYNC).
    Confirmed {
        /// Regions whose share changed.
        regions: Vec<String>,
        /// Milliseconds from the first write until the backend reported the change live.
        propagation_ms: u64,
    },
    /// A change reached some of a region's knobs and not others; those are retried every tick
    /// (journaled when the set of knobs left behind changes).
    PartlyApplied {
        /// Region name.
        region: String,
        /// The knobs that did not take the change, each with what its backend said.
        knobs: Vec<KnobFailure>,
    },
    /// Knobs of regions whose share did not change this tick were written again to the share
    /// failoverd last set, because a write to them failed or had not been made.
    KnobRepair {
        /// Each knob written: its region, description, the share read and the share written.
        changes: Vec<KnobChange>,
    },
    /// A wanted move did not happen (journaled when it starts and when its rule or points
    /// change). Its rule is written as `rule`, beside the entry's `kind`.
    Refusal(#[serde(with = "refusal_entry")] Refusal),
    /// A region's moves are no longer held back.
    RefusalEnded {
        /// Region name.
        region: String,
    },
    /// An alarm was raised.
    Alarm(Alarm),
    /// An alarm stopped applying.
    AlarmCleared {
        /// The alarm's code.
        code: AlarmCode,
    },
    /// An operator drained a region (or changed a drain).
    DrainSet {
        /// Region name.
        region: String,
        /// Share it is drained to.
        share: Share,
        /// Why, in the operator's words.
        reason: String,
        /// When the drain ends by itself.
        expires_at: Timestamp,
        /// Whether headroom was overridden.
        force: bool,
    },
    /// An operator undrained a region.
    DrainCleared {
        /// Region name.
        region: String,
    },
    /// An operator lifted a region's flap-damping hold: its earlier moves no longer count.
    DampingLifted {
        /// Region name.
        region: String,
    },
    /// An operator froze automated changes.
    FreezeSet {
        /// Why.
        reason: String,
        /// When the freeze ends by itself.
        expires_at: Timestamp,
    },
    /// An operator lifted the freeze.
    FreezeCleared,
    /// A ring rollout changed: started, a bake started, passed or broke, a ring promoted or
    /// approved, the rollout aborted or ended, a region's drain by it released.
    Rollout {
        /// The rollout.
        rollout: String,
        /// The ring it concerns.
        ring: u32,
        /// What happened (`started`, `baking`, `passed`, `broken`, `promoted`, `approved`,
        /// `aborted`, `released`, `ended`).
        change: String,
        /// Why, with the figures.
        reason: String,
    },
    /// A DR drill changed: due, started (preflight passed), evacuated, aborted, restoring,
    /// ended, or skipped.
    Drill {
        /// The drill's id.
        drill: String,
        /// Its phase now (`requested`, `evacuating`, `holding`, `restoring`, `ended`).
        phase: String,
        /// What happened, with the figures.
        note: String,
    },
    /// A knob read a value failoverd did not set (a person, Terraform, another tool), and
    /// what failoverd did about it; the entry's time is when it was noticed.
    ExternalChange {
        /// The knob's key.
        knob: String,
        /// The knob as a person knows it.
        label: String,
        /// The region whose share it carries.
        region: String,
        /// What failoverd had set.
        before: Share,
        /// What it read.
        after: Share,
        /// The region's `on_external_change`.
        policy: crate::intent::external::OnExternalChange,
        /// What failoverd did (`adopted`, `adopted_as_drain`, `reverted`, `put_back`, `held`).
        action: crate::intent::external::Action,
        /// The whole story in a line.
        note: String,
    },
    /// Another tool claims a knob failoverd drives (external-dns ownership, a Terraform or
    /// CloudFormation tag), found at start: it may undo failoverd's changes.
    OtherToolClaim {
        /// What is claimed.
        what: String,
        /// By whom, and the sign of it.
        claimed_by: String,
        /// What that tool does, and what to change in it.
        advice: String,
    },
    /// An operator acknowledged external changes (`failoverd ack`), releasing any hold.
    Acknowledged {
        /// What was acknowledged, one line per change.
        changes: Vec<String>,
    },
    /// An operator's action journaled above could not be saved to the intent store, so it did
    /// not take effect (the API answered with an error).
    IntentNotSaved {
        /// What was asked, e.g. `drain of eu-west-1`.
        intent: String,
        /// Why the store refused.
        message: String,
    },
    /// The admin tokens were reloaded from the config file (SIGHUP).
    TokensReloaded {
        /// Names of the tokens accepted from now on.
        names: Vec<String>,
        /// Names no longer accepted.
        removed: Vec<String>,
        /// Names still accepted whose hash changed: a credential rotated under the same name.
        /// Entries written before rotations were journaled read as none.
        #[serde(default)]
        rotated: Vec<String>,
        /// Whether the file holds other changes, which wait for a restart.
        restart_needed: bool,
    },
    /// An operator's intent reached its expiry.
    IntentExpired {
        /// Which intent, e.g. `drain of eu-west-1 by alice`.
        intent: String,
    },
    /// The backend failed a call; the next tick tries again. Journaled when a call starts
    /// failing and when its error changes, not for every failed call.
    BackendError {
        /// Which call.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// A backend call works again after failing.
    BackendRecovered {
        /// Which call.
        operation: String,
        /// How many calls failed in a row.
        failed_calls: u32,
        /// When the first of them failed.
        failing_since: Timestamp,
    },
    /// The controller stopped.
    Stopped,
    /// This controller's standing in the cluster changed: it took or lost leadership, or lost
    /// etcd.
    Leadership {
        /// Its role now.
        role: crate::membership::Role,
    },
}

/// A knob a change did not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnobFailure {
    /// What the knob is (`global_accelerator eg-1`).
    pub knob: String,
    /// What its backend said.
    pub message: String,
}

/// One knob written outside a region's share change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnobChange {
    /// Region name.
    pub region: String,
    /// What the knob is.
    pub knob: String,
    /// Share read.
    pub from: Share,
    /// Share written.
    pub to: Share,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it happened.
    pub at: Timestamp,
    /// Who did it (the controller id for automated changes).
    pub actor: String,
    /// The service it concerns, in a file with `[[services]]`; absent otherwise (and for
    /// what concerns every service, such as a region-wide drain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// When the journal file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file grows past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept: `journal.1.jsonl` (newest) to `journal.<keep>.jsonl`.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// Entries kept in memory for the admin API and the status page.
const RECENT: usize = 1000;

/// How much of the journal's end is read back on open to refill the recent entries.
const RECENT_TAIL_BYTES: u64 = 4 * 1024 * 1024;

/// The last `bytes` of the file at `path` as text (empty if it cannot be read).
fn read_tail(path: &Path, bytes: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(bytes))).is_ok() {
        let _partial_is_fine = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[derive(Debug)]
struct JournalFile {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl JournalFile {
    fn error(&self, source: std::io::Error) -> Error {
        Error::Journal {
            path: self.path.clone(),
            source,
        }
    }

    /// Shifts `journal.<k>.jsonl` to `<k+1>` (the last one falls off), moves the live file to
    /// `journal.1.jsonl`, starts a new one and syncs the directory so the renames are durable.
    fn rotate(&mut self) -> Result<()> {
        let rotated = |k: u32| self.dir.join(format!("journal.{k}.jsonl"));
        for k in (1..self.rotation.keep).rev() {
            match std::fs::rename(rotated(k), rotated(k + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(self.error(e)),
                _ => {}
            }
        }
        std::fs::rename(&self.path, rotated(1)).map_err(|e| self.error(e))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        sync_dir(&self.dir).map_err(|e| self.error(e))
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Journal {
            path: path.to_path_buf(),
            source,
        })
}

/// Ends the line of an entry a crash cut short (the file, `size` bytes long, does not end in a
/// newline), so the next entry starts a line of its own instead of being glued to the torn one
/// and lost with it. Readers skip the torn line. Returns the bytes written.
fn end_torn_entry(path: &Path, file: &mut File, size: u64) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let journal_error = |source| Error::Journal {
        path: path.to_path_buf(),
        source,
    };
    if size == 0 {
        return Ok(0);
    }
    let mut last = [0u8];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(size - 1))?;
            f.read_exact(&mut last)
        })
        .map_err(journal_error)?;
    if last[0] == b'\n' {
        return Ok(0);
    }
    warn!(
        journal = %path.display(),
        "The journal ends in an entry cut short by a crash; it is skipped and the next entry starts on a new line."
    );
    file.write_all(b"\n")
        .and_then(|()| file.sync_data())
        .map_err(journal_error)?;
    Ok(1)
}

/// Syncs a directory, making renames and new files in it durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn create_state_dir(state_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(state_dir).map_err(|source| Error::StateDir {
        path: state_dir.to_path_buf(),
        source,
    })
}

/// The append-only journal; clones write to the same file.
#[derive(Debug, Clone)]
pub struct Journal {
    file: Option<Arc<Mutex<JournalFile>>>,
    recent: Arc<Mutex<VecDeque<Entry>>>,
    tx: broadcast::Sender<Entry>,
}

impl Journal {
    /// Opens (creating if needed) `journal.jsonl` in `state_dir`, creating the directory too,
    /// with the default rotation.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Self::open_rotating(state_dir, Rotation::default())
    }

    /// Opens the journal in `state_dir`, rotating it per `rotation`; the latest entries of the
    /// live file are read back so recent history survives a restart, and an entry a crash cut
    /// short is ended so the next one starts a line of its own.
    pub fn open_rotating(state_dir: &Path, rotation: Rotation) -> Result<Self> {
        create_state_dir(state_dir)?;
        let path = state_dir.join("journal.jsonl");
        let mut file = open_append(&path)?;
        let mut size = file.metadata().map(|m| m.len()).unwrap_or(0);
        size += end_torn_entry(&path, &mut file, size)?;
        // Only the file's tail is read back. A line cut by the tail's start, or torn by a crash
        // mid-write, is skipped, not fatal: the rest is still the record.
        let recent: VecDeque<Entry> = read_tail(&path, RECENT_TAIL_BYTES)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = recent.len().saturating_sub(RECENT);
        Ok(Self {
            file: Some(Arc::new(Mutex::new(JournalFile {
                dir: state_dir.to_path_buf(),
                path,
                file,
                size,
                rotation,
            }))),
            recent: Arc::new(Mutex::new(recent.into_iter().skip(skip).collect())),
            tx: broadcast::channel(1024).0,
        })
    }

    /// A journal that only notifies subscribers (simulation runs that must leave no files).
    pub fn in_memory() -> Self {
        Self {
            file: None,
            recent: Arc::default(),
            tx: broadcast::channel(1024).0,
        }
    }

    /// Receives every entry recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.tx.subscribe()
    }

    /// The latest `limit` entries (at most the last 1,000), oldest first.
    pub fn recent(&self, limit: usize) -> Vec<Entry> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .skip(recent.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    /// Appends an entry, syncs it to disk, then tells subscribers.
    pub fn record(&self, at: Timestamp, actor: &str, event: Event) -> Result<()> {
        self.record_for(at, actor, None, event)
    }

    /// Appends an entry about `service` (None: not about one service), syncs it to disk, then
    /// tells subscribers.
    pub fn record_for(
        &self,
        at: Timestamp,
        actor: &str,
        service: Option<&str>,
        event: Event,
    ) -> Result<()> {
        let entry = Entry {
            at,
            actor: actor.to_owned(),
            service: service.map(str::to_owned),
            event,
        };
        if let Some(file) = &self.file {
            // Entries are small and rare (changes, not probes), so a blocking write-and-sync
            // under a short-held lock is simpler than a writer task and loses nothing on crash.
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            let mut line =
                serde_json::to_vec(&entry).map_err(|e| f.error(std::io::Error::other(e)))?;
            line.push(b'\n');
            f.file
                .write_all(&line)
                .and_then(|()| f.file.sync_data())
                .map_err(|e| f.error(e))?;
            f.size += line.len() as u64;
            if f.size > f.rotation.max_bytes {
                f.rotate()?;
            }
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(entry.clone());
        }
        // No subscriber is fine: the file is the record.
        let _no_subscribers = self.tx.send(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
