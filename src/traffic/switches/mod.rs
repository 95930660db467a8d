//! Data-plane switches: a region's traffic withdrawn or given back with no control-plane call.
//!
//! Every controller serves, per service and region, `/switch/{region}` (or
//! `/switch/{service}/{region}`): 200 while the region should take traffic, 503 while it is
//! drained. Route 53 health checks probe each controller's switch (one check per controller and
//! switch), a calculated check per switch needs a majority of them, and the region's records
//! carry the calculated check: Route 53 leaves an unhealthy record out of its answers, so a
//! drain is a switch flip, which keeps working while the Route 53 API does not (as on
//! 2021-12-07). Losing a minority of controllers, or their regions, changes no answer.
//!
//! The parts:
//! - [`SwitchStates`]: which switches are off (a switch never written is on), and
//!   [`SwitchBoard`], the shared, watched copy each controller serves from, kept in a
//!   [`SwitchStore`]: a file for a controller alone, a fenced etcd key for a cluster (written
//!   only by the leader, read by every member), memory for tests and the simulator.
//! - [`Switched`]: a backend whose knobs act through the switches, alone (`mode = "switches"`)
//!   or beside the records it wraps (`mode = "mixed"`).
//! - [`SwitchSettings`]: `[switches]`, where each controller serves and how Route 53 checks it.

mod backend;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use self::backend::{Switched, Wiring};
pub use self::settings::{
    DEFAULT_PORT, FAILURE_THRESHOLD_BOUNDS, Mode, SwitchController, SwitchSettings,
};
use super::{Error, ErrorCode, Result, Shares};

/// Name of the switches in errors and logs.
pub const NAME: &str = "switches";

/// The switch a knob key acts through: its service and region, without the knob's index
/// (`api/us-east-1#2` → `api/us-east-1`), so every knob of a region shares one switch.
pub fn switch_of(key: &str) -> &str {
    key.split_once('#').map_or(key, |(switch, _)| switch)
}

/// The path a switch is served at: `/switch/us-east-1`, `/switch/api/us-east-1`.
pub fn path_of(switch: &str) -> String {
    format!("/switch/{switch}")
}

/// Which switches are off; every other switch is on. Unknown fields are ignored, so a
/// controller of an older release still reads what a newer leader wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchStates {
    /// Switches that are off: their regions take no traffic.
    #[serde(default)]
    pub off: BTreeSet<String>,
    /// Who last changed them (controller id), for the served answer and the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The writer's fencing epoch when it changed them.
    #[serde(default)]
    pub epoch: u64,
    /// The records' shares at the leader's last good read, by knob key: what a withdrawn
    /// region would get back by its switch, known to a new leader or a restarted one while the
    /// records cannot be read.
    #[serde(default, skip_serializing_if = "Shares::is_empty")]
    pub records: Shares,
}

impl SwitchStates {
    /// Whether `switch` is on.
    pub fn on(&self, switch: &str) -> bool {
        !self.off.contains(switch)
    }
}

/// A boxed future, for the object-safe [`SwitchStore`].
pub type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the switch states live.
pub trait SwitchStore: Send + Sync + std::fmt::Debug + 'static {
    /// The states saved last (None: never saved, every switch on).
    fn load(&self) -> Boxed<'_, Result<Option<SwitchStates>>>;
    /// Saves `states` durably, only while this controller may write (a cluster's leader);
    /// [`ErrorCode::Fenced`] otherwise.
    fn save<'a>(&'a self, states: &'a SwitchStates) -> Boxed<'a, Result<()>>;
    /// Whether [`load`](SwitchStore::load) must ask someone else (etcd): the board then loads
    /// before every read, so a new leader starts from what its predecessor saved.
    fn shared(&self) -> bool {
        false
    }
}

/// Switch states held in memory only: tests and the simulator.
#[derive(Debug, Default)]
pub struct MemoryStore(std::sync::Mutex<Option<SwitchStates>>);

impl SwitchStore for MemoryStore {
    fn load(&self) -> Boxed<'_, Result<Option<SwitchStates>>> {
        let got = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { Ok(got) })
    }

    fn save<'a>(&'a self, states: &'a SwitchStates) -> Boxed<'a, Result<()>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(states.clone());
        Box::pin(async { Ok(()) })
    }
}

/// What a controller serves: the states, and when they were last read from their store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The states.
    pub states: SwitchStates,
    /// When they were last loaded or saved (None: not yet; every switch is served on).
    pub confirmed: Option<tokio::time::Instant>,
}

/// The switch states this controller serves and writes, shared by the backend that flips them
/// and the listener that serves them; clones share it.
#[derive(Debug, Clone)]
pub struct SwitchBoard {
    store: Arc<dyn SwitchStore>,
    tx: Arc<watch::Sender<Snapshot>>,
    /// Every switch this controller knows, by id, with its path; others are not served.
    known: Arc<BTreeMap<String, String>>,
    /// Serialises writes, so two applies never save from the same old states.
    write: Arc<tokio::sync::Mutex<()>>,
    /// Whether a mode that acts through the switches is on; in `records` mode every switch
    /// is served on, whatever an earlier mode left in the store.
    in_use: bool,
}

/// What a switch answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Take traffic (200).
    On,
    /// Drained (503).
    Off,
    /// Not read from the store yet (503: a vote for no region until it knows).
    Unknown,
    /// `records` mode: the switches are not in use and every one is on (200).
    NotInUse,
}

impl SwitchBoard {
    /// A board over `store` serving the switches `known` (switch ids).
    pub fn new(store: Arc<dyn SwitchStore>, known: impl IntoIterator<Item = String>) -> Self {
        Self {
            store,
            tx: Arc::new(watch::channel(Snapshot::default()).0),
            known: Arc::new(known.into_iter().map(|s| (path_of(&s), s)).collect()),
            write: Arc::new(tokio::sync::Mutex::new(())),
            in_use: true,
        }
    }

    /// The same board serving every switch on, for `records` mode (`in_use` false).
    #[must_use]
    pub fn in_use(mut self, in_use: bool) -> Self {
        self.in_use = in_use;
        self
    }

    /// Whether a mode that acts through the switches is on.
    pub fn is_in_use(&self) -> bool {
        self.in_use
    }

    /// What `switch` answers now.
    pub fn answer(&self, switch: &str) -> Answer {
        if !self.in_use {
            return Answer::NotInUse;
        }
        let snapshot = self.tx.borrow();
        match (snapshot.confirmed, snapshot.states.on(switch)) {
            (None, _) => Answer::Unknown,
            (Some(_), true) => Answer::On,
            (Some(_), false) => Answer::Off,
        }
    }

    /// The switch served at `path`, if this controller knows it.
    pub fn switch_at(&self, path: &str) -> Option<&str> {
        self.known.get(path).map(String::as_str)
    }

    /// Every switch this controller knows.
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.known.values().map(String::as_str)
    }

    /// What is served now.
    pub fn snapshot(&self) -> Snapshot {
        self.tx.borrow().clone()
    }

    /// Watches what is served.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.tx.subscribe()
    }

    /// Reads the states from the store and serves them; in turn with writes, so a read that
    /// started before a write never replaces what it wrote.
    pub async fn refresh(&self) -> Result<SwitchStates> {
        let _one = self.write.lock().await;
        self.load().await
    }

    async fn load(&self) -> Result<SwitchStates> {
        let states = self.store.load().await?.unwrap_or_default();
        self.tx.send_replace(Snapshot {
            states: states.clone(),
            confirmed: Some(tokio::time::Instant::now()),
        });
        Ok(states)
    }

    /// The states to act on: read anew from a shared store, else the ones served (loaded
    /// once).
    pub async fn states(&self) -> Result<SwitchStates> {
        let _one = self.write.lock().await;
        self.current().await
    }

    async fn current(&self) -> Result<SwitchStates> {
        let snapshot = self.snapshot();
        if self.store.shared() || snapshot.confirmed.is_none() {
            return self.load().await;
        }
        Ok(snapshot.states)
    }

    async fn save(&self, states: SwitchStates) -> Result<()> {
        self.store.save(&states).await?;
        self.tx.send_replace(Snapshot {
            states,
            confirmed: Some(tokio::time::Instant::now()),
        });
        Ok(())
    }

    /// Whether `records` (some knobs' shares) differ from what the states keep of them.
    pub fn keeps_other(&self, records: &Shares) -> bool {
        let kept = &self.tx.borrow().states.records;
        records.iter().any(|(k, s)| kept.get(k) != Some(s))
    }

    /// Keeps `records` (the shares of some knobs at a good read; several backends may each
    /// keep their own) with the states, as `writer` at `epoch`.
    pub async fn keep_records(&self, records: &Shares, writer: &str, epoch: u64) -> Result<()> {
        let _one = self.write.lock().await;
        let mut states = self.current().await?;
        if !records
            .iter()
            .any(|(k, s)| states.records.get(k) != Some(s))
        {
            return Ok(());
        }
        states
            .records
            .extend(records.iter().map(|(k, s)| (k.clone(), *s)));
        states.by = Some(writer.to_owned());
        states.epoch = epoch;
        self.save(states).await
    }

    /// Turns each switch of `set` on (true) or off (false), as `writer` at `epoch`; saved
    /// before it is served, so what any controller serves was saved first.
    pub async fn set(&self, set: &BTreeMap<String, bool>, writer: &str, epoch: u64) -> Result<()> {
        let _one = self.write.lock().await;
        let mut states = self.current().await?;
        let before = states.off.clone();
        for (switch, on) in set {
            if *on {
                states.off.remove(switch);
            } else {
                states.off.insert(switch.clone());
            }
        }
        if states.off == before {
            return Ok(());
        }
        states.by = Some(writer.to_owned());
        states.epoch = epoch;
        self.save(states).await
    }
}

/// An error of the switch store, for [`SwitchStore`] implementations.
pub fn store_error(operation: &'static str, code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(NAME, operation, code, message)
}

#[cfg(test)]
mod tests;
