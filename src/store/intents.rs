//! Durable intents: operators' drains and freeze, in `intents.json` in the state directory, or
//! in etcd for several controllers (one key, changed by compare-and-swap on its revision, so
//! two controllers' changes made at once are both kept).
//!
//! A change is on disk before anyone is told it happened: the new file is written beside the
//! old one, synced, renamed over it, and the directory synced, so a crash at any moment leaves
//! either the old intents or the new ones, never a torn file; the new file a crash leaves
//! behind, under a name only saves use, is removed on the next open. A file that cannot be read
//! or parsed stops the daemon from starting: starting with no intents would silently undo every
//! drain an operator set.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};
use tracing::{info, warn};

use std::sync::Arc;

use super::sync_dir;
use crate::clock::Timestamp;
use crate::cluster::etcd::{Compare, Etcd, Op as EtcdOp};
use crate::intent::Intents;

const FILE: &str = "intents.json";
const VERSION: u32 = 1;
/// A save writes its new file beside [`FILE`] as `.intents.json.<6 random>.tmp` before the
/// rename: a name this exact lets the leftovers of a save a crash cut short be removed on open
/// without touching anything else in the directory.
const TEMP_PREFIX: &str = ".intents.json.";
const TEMP_SUFFIX: &str = ".tmp";
const TEMP_RANDOM_CHARS: usize = 6;

/// Errors of the intent store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file exists but cannot be read or understood.
    #[error(
        "intent store {path}: {detail}; refusing to start without the drains and freezes it holds (fix or move the file aside after checking it)"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A change could not be made durable; nothing changed.
    #[error("intent store {path}: {source}; the change was not made")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// etcd did not take the change (or could not be read); nothing changed.
    #[error("intent store in etcd ({key}): {message}; the change was not made")]
    Etcd {
        /// The key.
        key: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    intents: Intents,
}

/// The intents, durable and watched: the controller holds a receiver, the admin API changes
/// them through [`IntentStore::update`].
#[derive(Debug)]
pub struct IntentStore {
    path: Option<PathBuf>,
    /// The etcd key holding the intents, when they live in etcd.
    etcd: Option<(Arc<Etcd>, String)>,
    tx: watch::Sender<Intents>,
    /// Serializes updates, so each one starts from the last one's result.
    writing: Mutex<()>,
}

impl IntentStore {
    /// Loads `intents.json` from `state_dir` (no file: no intents yet), removing what saves a
    /// crash cut short left beside it.
    pub fn open(state_dir: &Path) -> Result<Self, Error> {
        remove_interrupted_saves(state_dir);
        let path = state_dir.join(FILE);
        let intents = match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes).map_err(|detail| Error::Unreadable {
                path: path.clone(),
                detail,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Intents::default(),
            Err(e) => {
                return Err(Error::Unreadable {
                    path,
                    detail: e.to_string(),
                });
            }
        };
        Ok(Self {
            path: Some(path),
            etcd: None,
            tx: watch::channel(intents).0,
            writing: Mutex::new(()),
        })
    }

    /// The intents kept under `key` in etcd, shared by every controller of the cluster. An
    /// unreadable value stops the start, as an unreadable file does.
    pub async fn etcd(etcd: Arc<Etcd>, key: String) -> Result<Self, Error> {
        let (intents, _) = read_etcd(&etcd, &key).await?;
        Ok(Self {
            path: None,
            etcd: Some((etcd, key)),
            tx: watch::channel(intents).0,
            writing: Mutex::new(()),
        })
    }

    /// Reads the intents again from etcd and publishes them if another controller changed
    /// them (a file store has nothing to refresh).
    pub async fn refresh(&self) -> Result<(), Error> {
        let Some((etcd, key)) = &self.etcd else {
            return Ok(());
        };
        // Not while an update of this controller's is on its way: a read taken before it
        // landed would put the intents back as they were.
        let _one_at_a_time = self.writing.lock().await;
        let (intents, _) = read_etcd(etcd, key).await?;
        self.tx.send_if_modified(|current| {
            let changed = *current != intents;
            *current = intents;
            changed
        });
        Ok(())
    }

    /// A store that keeps intents in memory only (the demo, simulations, tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            etcd: None,
            tx: watch::channel(Intents::default()).0,
            writing: Mutex::new(()),
        }
    }

    /// A store in memory whose intents `tx` changes too: simulations and tests set intents
    /// directly, and the controller saves its rollouts' changes through the store.
    pub fn in_memory_sharing(tx: watch::Sender<Intents>) -> Self {
        Self {
            path: None,
            etcd: None,
            tx,
            writing: Mutex::new(()),
        }
    }

    /// Watches the intents.
    pub fn subscribe(&self) -> watch::Receiver<Intents> {
        self.tx.subscribe()
    }

    /// The intents now.
    pub fn current(&self) -> Intents {
        self.tx.borrow().clone()
    }

    /// Applies `change` to the intents (dropping those expired at `now`), makes the result
    /// durable, and only then publishes it. On error nothing changed.
    pub async fn update<T>(
        &self,
        now: Timestamp,
        mut change: impl FnMut(&mut Intents) -> T,
    ) -> Result<T, Error> {
        let _one_at_a_time = self.writing.lock().await;
        if let Some((etcd, key)) = &self.etcd {
            return self.update_etcd(etcd, key, now, change).await;
        }
        let mut next = self.current();
        expire(&mut next, now);
        let out = change(&mut next);
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&OnDisk {
                version: VERSION,
                intents: next.clone(),
            })
            .map_err(|e| Error::Write {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            let path = path.clone();
            let written = tokio::task::spawn_blocking({
                let path = path.clone();
                move || write_atomically(&path, &bytes)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            written.map_err(|source| Error::Write { path, source })?;
        }
        self.tx.send_replace(next);
        Ok(out)
    }

    /// [`IntentStore::update`] in etcd: read, change, and write back only if no one wrote
    /// since the read; otherwise again from the newer value, so no controller's change is lost.
    async fn update_etcd<T>(
        &self,
        etcd: &Etcd,
        key: &str,
        now: Timestamp,
        mut change: impl FnMut(&mut Intents) -> T,
    ) -> Result<T, Error> {
        let failed = |message: String| Error::Etcd {
            key: key.to_owned(),
            message,
        };
        for _ in 0..16 {
            let (mut next, revision) = read_etcd(etcd, key).await?;
            expire(&mut next, now);
            let out = change(&mut next);
            let bytes = serde_json::to_vec(&OnDisk {
                version: VERSION,
                intents: next.clone(),
            })
            .map_err(|e| failed(e.to_string()))?;
            let txn = etcd
                .txn(
                    &[Compare::Modified(key.to_owned(), revision)],
                    &[EtcdOp::Put(key.to_owned(), bytes, 0)],
                    &[],
                )
                .await
                .map_err(|e| failed(e.to_string()))?;
            if txn.succeeded {
                self.tx.send_replace(next);
                return Ok(out);
            }
        }
        Err(failed(
            "it kept changing under this controller's write".to_owned(),
        ))
    }
}

/// Drops the intents expired at `now`.
fn expire(intents: &mut Intents, now: Timestamp) {
    intents.drains.retain(|_, d| now < d.expires_at);
    if intents.freeze.as_ref().is_some_and(|f| now >= f.expires_at) {
        intents.freeze = None;
    }
    intents.external.retain(|_, n| n.stands(now));
}

/// The intents under `key` and the revision that last changed them (0: none yet).
async fn read_etcd(etcd: &Etcd, key: &str) -> Result<(Intents, i64), Error> {
    let unreadable = |message: String| Error::Etcd {
        key: key.to_owned(),
        message,
    };
    let Some(kv) = etcd.get(key).await.map_err(|e| unreadable(e.to_string()))? else {
        return Ok((Intents::default(), 0));
    };
    let intents = parse(&kv.value).map_err(|e| {
        unreadable(format!(
            "{e}; refusing to go on without the drains and freezes it holds"
        ))
    })?;
    Ok((intents, kv.mod_revision))
}

/// The intents in `bytes` as a save wrote them, or what is wrong with them.
fn parse(bytes: &[u8]) -> Result<Intents, String> {
    let on_disk: OnDisk = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if on_disk.version != VERSION {
        return Err(format!(
            "version {} is not {VERSION}, the version this build reads",
            on_disk.version
        ));
    }
    Ok(on_disk.intents)
}

/// A new temp file in `dir`, named as only a save names its files.
fn temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .rand_bytes(TEMP_RANDOM_CHARS)
        .tempfile_in(dir)
}

/// Whether `name` is the name [`temp_file`] gives.
fn is_save_temp_file(name: &OsStr) -> bool {
    name.to_str()
        .and_then(|n| n.strip_prefix(TEMP_PREFIX))
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|random| {
            random.len() == TEMP_RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Removes the temp files of saves a crash cut short: written, never renamed over the intents,
/// so they hold nothing the intents do not, and they would otherwise stay forever. A file that
/// cannot be removed is left, with a warning; it does not stop the start.
fn remove_interrupted_saves(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_save_temp_file(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => info!(
                file = %path.display(),
                "Removed the temp file of an intent save a crash cut short."
            ),
            Err(e) => warn!(
                file = %path.display(),
                error = %e,
                "Cannot remove the temp file of an intent save a crash cut short."
            ),
        }
    }
}

/// Temp file beside `path`, fsync, rename over `path`, fsync the directory.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = temp_file(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{Freeze, test_drain as drain};

    #[tokio::test]
    async fn intents_survive_reopening_and_watchers_see_them_after_they_are_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = IntentStore::open(dir.path()).expect("open");
        let mut rx = store.subscribe();
        store
            .update(Timestamp(10), |i| {
                i.drains.insert("eu-west-1".into(), drain(1_000));
                i.freeze = Some(Freeze {
                    actor: "bob".into(),
                    reason: "game day".into(),
                    since: Timestamp(10),
                    expires_at: Timestamp(2_000),
                });
            })
            .await
            .expect("update");
        assert!(rx.has_changed().expect("open channel"));
        assert!(rx.borrow_and_update().drains.contains_key("eu-west-1"));
        drop(store);
        let reopened = IntentStore::open(dir.path()).expect("reopen");
        let intents = reopened.current();
        assert_eq!(intents.drains["eu-west-1"], drain(1_000));
        assert_eq!(
            intents.freeze.as_ref().map(|f| f.actor.as_str()),
            Some("bob")
        );
        // Updating after expiry drops what expired.
        reopened
            .update(Timestamp(1_500), |_| ())
            .await
            .expect("update");
        assert!(reopened.current().drains.is_empty());
        assert!(reopened.current().freeze.is_some());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from(FILE)],
            "no temp files left"
        );
    }

    #[tokio::test]
    async fn temp_files_of_saves_a_crash_interrupted_are_removed_on_open_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        // What saves cut short by a crash leave beside intents.json: written, never renamed.
        for name in [".intents.json.A1b2C3.tmp", ".intents.json.xYz789.tmp"] {
            std::fs::write(dir.path().join(name), b"{\"version\": 1, \"int").expect("write");
        }
        let (_file, kept) = temp_file(dir.path())
            .expect("a save's temp file")
            .keep()
            .expect("kept as a crash leaves it");
        // Files that are not a save's, even ones that look alike, are left alone.
        let others = [
            ".intents.json.notes.tmp",
            ".intents.json.A1b2C3",
            "intents.json.bak",
            "notes.txt",
        ];
        for name in others {
            std::fs::write(dir.path().join(name), b"mine").expect("write");
        }
        let store = IntentStore::open(dir.path()).expect("open");
        store
            .update(Timestamp(10), |i| {
                i.drains.insert("eu-west-1".into(), drain(1_000));
            })
            .await
            .expect("update");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert!(!kept.exists(), "{} removed", kept.display());
        let mut expected: Vec<String> = others.iter().map(|s| (*s).to_owned()).collect();
        expected.push(FILE.to_owned());
        expected.sort();
        assert_eq!(left, expected);
        for name in others {
            let text = std::fs::read(dir.path().join(name)).expect("read");
            assert_eq!(text, b"mine", "{name} untouched");
        }
    }

    #[test]
    fn an_unreadable_store_is_an_error_naming_the_file_never_an_empty_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(FILE),
            b"{\"version\": 1, \"intents\": {\"drains\": ",
        )
        .expect("write");
        let err = IntentStore::open(dir.path()).expect_err("torn file");
        let text = err.to_string();
        assert!(text.contains("intents.json"), "{text}");
        assert!(text.contains("refusing to start"), "{text}");
        std::fs::write(
            dir.path().join(FILE),
            b"{\"version\": 7, \"intents\": {\"drains\": {}, \"freeze\": null}}",
        )
        .expect("write");
        let err = IntentStore::open(dir.path()).expect_err("future version");
        assert!(err.to_string().contains("version 7"), "{err}");
    }
}
