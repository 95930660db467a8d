//! The simulated world: regions that serve real deep-health endpoints on loopback, whose health
//! an operator or a test can break on purpose, and a data plane that routes each region's users
//! by the shares in the simulated backend.
//!
//! A region's reported load is what the data plane sends it: its own users at its share, plus
//! what drained regions spill onto it by their spill model, as [`route`] models (filling
//! `spill_to` in order up to `max_utilization`, what fits nowhere to the first serving survivor
//! anyway; or all to the nearest serving survivor, or split by client location). A failing region takes no
//! spill, whatever share it still holds: its load is its own users only.

pub mod clients;
mod fault;
pub mod native;
pub mod noise;
mod prober;
mod read;
mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

pub use self::prober::SimProber;
pub use self::read::{Reading, Replied};

/// The deep-health probe failoverd points at a simulated region: its `/healthz/deep`, with a
/// self-reported `"status": "degraded"` counting as Degraded.
pub fn probe_target(url: String) -> crate::config::ProbeTarget {
    crate::config::ProbeTarget {
        url,
        degraded_when: vec![crate::config::BodyAssertion::equals(
            "/status",
            serde_json::json!("degraded"),
        )],
        ..crate::config::ProbeTarget::default()
    }
}
pub use self::fault::Fault;
pub use self::server::serve;

use crate::config::Config;
use crate::plan::{Cell, route};
use crate::traffic::sim::SimBackend;

/// What a simulated endpoint does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Answer after `delay` with `status` and a JSON body.
    Respond {
        /// Wait before answering.
        delay: Duration,
        /// HTTP status.
        status: u16,
        /// Deep-health JSON.
        body: serde_json::Value,
    },
    /// Never answer.
    Hang,
}

#[derive(Debug)]
struct RegionSim {
    /// The serving region this cell is in (faults without a service break all of its cells).
    region: String,
    capacity_rps: f64,
    demand_rps: f64,
    /// Cells (of the same service) its drained users go to, in order, and how.
    spill_to: Vec<String>,
    spill: crate::plan::Spill,
    fault: Fault,
    fault_since: Instant,
    requests: u64,
    /// The version it runs, as its deep health reports it.
    version: String,
    /// Its latest deep-health body and what it said, reused while it says the same
    /// ([`World::answer_bytes`]).
    body: Option<(read::Said, Vec<u8>)>,
}

/// The version every simulated region runs until a deploy says otherwise.
pub const FIRST_VERSION: &str = "v1";

#[derive(Debug)]
struct Inner {
    /// By cell key: one service in one region, keyed like its simulated knob ([`cell_key`]).
    regions: Mutex<BTreeMap<String, RegionSim>>,
    backend: SimBackend,
    max_utilization: f64,
    /// Fraction of user requests each version fails, by version (none: 0).
    version_errors: Mutex<BTreeMap<String, f64>>,
    /// Data-plane switches the users' answers also follow, each flip after a delay.
    switches: Mutex<Option<DelayedSwitches>>,
    /// How users follow the answers.
    followers: Mutex<clients::Followers>,
    /// Set when a native service's own health checks route the users instead of the shares.
    native: Mutex<Option<NativeRouting>>,
    /// Whether routing depends on time ([`World::routes_by_time`]), kept by the setters of
    /// `switches`, `followers` and `native`: every probe asks, and three locks per probe cost
    /// more than the answer.
    by_time: AtomicBool,
    /// Counts changes to the cells (faults, demand), so [`World::loads`] knows to route again.
    generation: AtomicU64,
    /// The last loads routed: the virtual second they were routed in, the generations of the
    /// world and the backend then, and the loads.
    routed: Mutex<Option<Routed>>,
    /// When the world was made: seconds are counted from it.
    created: Instant,
}

/// Loads routed once and reused within the same virtual second while nothing changed: every
/// probe of a round asks for its region's load, and routing every cell for each would make a
/// run slow with the square of the cell count. Where time alone cannot change the loads
/// ([`World::routes_by_time`]), `second` stays 0 and they are reused until something changes.
#[derive(Debug)]
struct Routed {
    second: u64,
    world: u64,
    backend: u64,
    loads: BTreeMap<String, f64>,
}

/// A native service's routing: which cells it answers with (after failing open), and where
/// the users of the others go.
#[derive(Debug)]
struct NativeRouting {
    spill: native::Spill,
    answered: BTreeMap<String, bool>,
}

/// Route 53's view of the switches: a flip shows in answers only once the health checkers have
/// seen it `delay` (interval x threshold) long.
#[derive(Debug)]
struct DelayedSwitches {
    board: crate::traffic::switches::SwitchBoard,
    delay: Duration,
    /// Every set of switches off, from when it was first seen.
    seen: Vec<(Instant, std::collections::BTreeSet<String>)>,
}

impl DelayedSwitches {
    /// The switches off in the answers at `now`.
    fn off(&mut self, now: Instant) -> std::collections::BTreeSet<String> {
        let off = self.board.snapshot().states.off;
        if self.seen.last().is_none_or(|(_, last)| *last != off) {
            self.seen.push((now, off));
        }
        self.seen
            .iter()
            .rev()
            .find(|(at, _)| *at + self.delay <= now)
            .map(|(_, off)| off.clone())
            .unwrap_or_default()
    }
}

/// The simulated world; clones share it.
///
/// Its unit is the **cell**: one service in one region, with its own users, capacity, health
/// and share. A file without `[[services]]` has one cell per region, keyed by the region's
/// name; with services, `service/region` ([`cell_key`]), which is also the key of the cell's
/// simulated knob. Users of a drained cell spill only to cells of the same service.
#[derive(Debug, Clone)]
pub struct World {
    inner: Arc<Inner>,
}

pub use crate::config::cell_key;

/// Every cell of `config` that has a `sim` section: its key, its service (None for a file
/// without `[[services]]`) and its region, in file order.
pub fn cells(config: &Config) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    for service in config.services() {
        let named = config.has_services().then_some(service.name.as_str());
        for r in &service.config.regions {
            if r.sim.is_some() {
                out.push((
                    cell_key(named, &r.name),
                    named.map(str::to_owned),
                    r.name.clone(),
                ));
            }
        }
    }
    out
}

/// Points the probes of every cell of `config` at the simulated endpoint `url(key)` gives
/// (cells it gives none keep theirs), one target a round with the default quorum.
pub fn point_probes(config: &mut Config, url: impl Fn(&str) -> Option<String>) {
    let point = |service: Option<&str>,
                 region: &str,
                 probes: &mut Vec<crate::config::ProbeTarget>,
                 quorum: &mut Option<usize>| {
        if let Some(url) = url(&cell_key(service, region)) {
            *probes = vec![probe_target(url)];
            *quorum = None;
        }
    };
    if config.has_services() {
        for s in &mut config.services {
            for r in &mut s.regions {
                point(Some(&s.name), &r.name, &mut r.probes, &mut r.quorum);
            }
        }
    } else {
        for r in &mut config.regions {
            point(None, &r.name, &mut r.probes, &mut r.quorum);
        }
    }
}

/// Errors of the simulated world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named region or cell is not in the world.
    #[error("no simulated region \"{0}\"")]
    UnknownRegion(String),
    /// A region's endpoint could not be bound.
    #[error("cannot bind the endpoint of {region}: {source}")]
    Bind {
        /// Region name.
        region: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

impl World {
    /// A world with a cell for every region of every service of `config` that has a `sim`
    /// section, all healthy, routed by `backend`'s shares.
    pub fn new(config: &Config, backend: SimBackend) -> Self {
        let now = Instant::now();
        let mut regions = BTreeMap::new();
        for service in config.services() {
            let named = config.has_services().then_some(service.name.as_str());
            for r in &service.config.regions {
                let Some(sim) = r.sim.as_ref() else { continue };
                regions.insert(
                    cell_key(named, &r.name),
                    RegionSim {
                        region: r.name.clone(),
                        capacity_rps: r.capacity(),
                        demand_rps: sim.demand_rps,
                        spill_to: r.spill_to.iter().map(|t| cell_key(named, t)).collect(),
                        spill: service
                            .config
                            .spill_of(r)
                            .map_regions(|t| cell_key(named, t)),
                        fault: Fault::Healthy,
                        fault_since: now,
                        requests: 0,
                        version: FIRST_VERSION.to_owned(),
                        body: None,
                    },
                );
            }
        }
        Self {
            inner: Arc::new(Inner {
                regions: Mutex::new(regions),
                backend,
                max_utilization: config.policy.max_utilization.get(),
                version_errors: Mutex::new(BTreeMap::new()),
                switches: Mutex::new(None),
                followers: Mutex::new(clients::Followers::new(clients::Clients::Instant {})),
                native: Mutex::new(None),
                by_time: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                routed: Mutex::new(None),
                created: now,
            }),
        }
    }

    /// Makes users' answers also follow `board`'s switches, each flip `delay` after it is
    /// made (Route 53's health checks: interval x threshold): a cell whose switch is off gets
    /// no users, whatever its share in the backend.
    pub fn follow_switches(&self, board: crate::traffic::switches::SwitchBoard, delay: Duration) {
        *self
            .inner
            .switches
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(DelayedSwitches {
            board,
            delay,
            seen: Vec::new(),
        });
        self.note_routing();
        self.changed();
    }

    /// Makes users follow the answers as `clients` says: at once (the default), as cached DNS
    /// answers expire, or as connections end.
    pub fn follow_clients(&self, clients: clients::Clients) {
        *self
            .inner
            .followers
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = clients::Followers::new(clients);
        self.note_routing();
        self.changed();
    }

    /// Routes users as a native service does, from now on: answering with the cells
    /// `answered` says (no share, no switch), sending the users of the others by `spill`.
    pub fn route_natively(&self, spill: native::Spill, answered: BTreeMap<String, bool>) {
        *self.inner.native.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(NativeRouting { spill, answered });
        self.note_routing();
        self.changed();
    }

    /// Fraction of plain health checks (status code only, failing past `timeout`) that cell
    /// `key` fails now, as a native service's checkers see it.
    pub fn check_failure(&self, key: &str, timeout: Duration) -> f64 {
        self.lock()
            .get(key)
            .map_or(0.0, |r| r.fault.check_failure(r.fault_since, timeout))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, RegionSim>> {
        self.inner.regions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Something that routing depends on changed.
    fn changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Keys of the simulated cells (region names for a file without `[[services]]`).
    pub fn regions(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The backend whose shares route this world's users.
    pub fn backend(&self) -> &SimBackend {
        &self.inner.backend
    }

    /// Changes how `target` behaves from now on: a cell by its key, or every cell of a region
    /// by the region's name.
    pub fn set_fault(&self, target: &str, fault: Fault) -> Result<(), Error> {
        let mut regions = self.lock();
        let now = Instant::now();
        let mut found = false;
        for (key, r) in regions.iter_mut() {
            if key == target || r.region == target {
                r.fault = fault;
                r.fault_since = now;
                r.requests = 0;
                found = true;
            }
        }
        self.changed();
        if found {
            Ok(())
        } else {
            Err(Error::UnknownRegion(target.to_owned()))
        }
    }

    /// Cell `key` (or every cell of region `key`) runs `version` from now on.
    pub fn deploy(&self, target: &str, version: &str) -> Result<(), Error> {
        let mut regions = self.lock();
        let mut found = false;
        for (key, r) in regions.iter_mut() {
            if key == target || r.region == target {
                r.version = version.to_owned();
                found = true;
            }
        }
        if found {
            Ok(())
        } else {
            Err(Error::UnknownRegion(target.to_owned()))
        }
    }

    /// From now on `fraction` of the user requests `version` serves fail, wherever it runs.
    pub fn set_version_errors(&self, version: &str, fraction: f64) {
        self.inner
            .version_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(version.to_owned(), fraction.clamp(0.0, 1.0));
    }

    /// The current fault of cell `key`.
    pub fn fault(&self, key: &str) -> Option<Fault> {
        self.lock().get(key).map(|r| r.fault)
    }

    /// Changes the demand of cell `key`'s own users.
    pub fn set_demand(&self, key: &str, demand_rps: f64) -> Result<(), Error> {
        let mut regions = self.lock();
        let r = regions
            .get_mut(key)
            .ok_or_else(|| Error::UnknownRegion(key.to_owned()))?;
        r.demand_rps = demand_rps.max(0.0);
        self.changed();
        Ok(())
    }

    /// Requests/s each cell serves under the backend's current shares, as its users follow
    /// them ([`World::follow_clients`]), routed by the model the planner works from
    /// ([`route`]): drained users go to serving cells in `spill_to` order, never to a failing
    /// one (a Down region that still holds some share takes none of them). Under a native
    /// service's routing ([`World::route_natively`]), by its model instead.
    ///
    /// Routed at most once per virtual second while no fault, demand or share changes; and
    /// when no delay of the data plane makes the time matter, once until one does.
    pub fn loads(&self) -> BTreeMap<String, f64> {
        self.with_loads(BTreeMap::clone)
    }

    /// Requests/s cell `key` serves now (see [`World::loads`]), without copying every cell's.
    pub fn load(&self, key: &str) -> f64 {
        self.with_loads(|loads| loads.get(key).copied().unwrap_or_default())
    }

    fn with_loads<R>(&self, f: impl FnOnce(&BTreeMap<String, f64>) -> R) -> R {
        let now = Instant::now();
        // Routing depends on the time only through a delay of the data plane: switches seen
        // late, or users holding an answer for a while. Without either the same inputs route
        // the same, so the loads stand until something changes, not just for the second.
        let second = if self.routes_by_time() {
            now.saturating_duration_since(self.inner.created).as_secs()
        } else {
            0
        };
        let world = self.inner.generation.load(Ordering::Relaxed);
        let backend = self.inner.backend.generation();
        let mut routed = self.inner.routed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = routed.as_ref()
            && (r.second, r.world, r.backend) == (second, world, backend)
        {
            return f(&r.loads);
        }
        let loads = self.route(now);
        let out = f(&loads);
        *routed = Some(Routed {
            second,
            world,
            backend,
            loads,
        });
        out
    }

    /// Whether the loads can change with nothing but time passing: switches followed after a
    /// delay, users who hold an answer for a while, or a native service's routing.
    fn routes_by_time(&self) -> bool {
        self.inner.by_time.load(Ordering::Relaxed)
    }

    /// Works out [`World::routes_by_time`] again, after one of what it depends on was set.
    fn note_routing(&self) {
        let by_time = self
            .inner
            .native
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
            || self
                .inner
                .switches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
            || !self
                .inner
                .followers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .at_once();
        self.inner.by_time.store(by_time, Ordering::Relaxed);
    }

    fn route(&self, now: Instant) -> BTreeMap<String, f64> {
        let native = self.inner.native.lock().unwrap_or_else(|e| e.into_inner());
        let mut answered: BTreeMap<String, f64> = match native.as_ref() {
            Some(n) => n
                .answered
                .iter()
                .map(|(k, ok)| (k.clone(), if *ok { 100.0 } else { 0.0 }))
                .collect(),
            None => self
                .inner
                .backend
                .shares()
                .into_iter()
                .map(|(k, s)| (k, f64::from(s.get())))
                .collect(),
        };
        if native.is_none()
            && let Some(switches) = self
                .inner
                .switches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
        {
            for off in switches.off(now) {
                answered.insert(off, 0.0);
            }
        }
        let regions = self.lock();
        for key in regions.keys() {
            answered.entry(key.clone()).or_insert(100.0);
        }
        let followed = self
            .inner
            .followers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .follow(now, &answered);
        let share = |name: &str| followed.get(name).copied().unwrap_or(100.0);
        let served = if let Some(n) = native.as_ref() {
            let cells: Vec<native::Cell<'_>> = regions
                .iter()
                .map(|(name, r)| native::Cell {
                    name,
                    own_rps: r.demand_rps,
                    followed: share(name),
                    answered: n.answered.get(name).copied().unwrap_or(true),
                    spill_to: &r.spill_to,
                    spill: &r.spill,
                })
                .collect();
            native::route(&cells, n.spill)
        } else {
            let cells: Vec<Cell<'_>> = regions
                .iter()
                .map(|(name, r)| Cell {
                    name,
                    own_rps: r.demand_rps,
                    share: share(name),
                    capacity_rps: r.capacity_rps,
                    spill_to: &r.spill_to,
                    answers: r.fault.answers(),
                    spill: &r.spill,
                })
                .collect();
            route(&cells, self.inner.max_utilization)
        };
        regions.keys().cloned().zip(served).collect()
    }
}

#[cfg(test)]
mod tests;
