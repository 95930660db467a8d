//! The simulated world: regions that serve real deep-health endpoints on loopback, whose health
//! an operator or a test can break on purpose, and a data plane that routes each region's users
//! by the shares in the simulated backend.
//!
//! A region's reported load is what the data plane sends it: its own users at its share, plus
//! what drained regions spill onto it (in `spill_to` order, filling each survivor up to
//! `max_utilization` first, as [`fill_in_order`] models; what fits nowhere goes to the first
//! serving survivor anyway, as a real data plane would send it).

mod prober;
mod server;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

pub use self::prober::SimProber;

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
pub use self::server::serve;

use crate::config::Config;
use crate::plan::fill_in_order;
use crate::traffic::sim::SimBackend;

/// How a simulated region's deep-health endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// 200, every check ok.
    Healthy,
    /// 503, the database check failing.
    Down,
    /// Accepts the request and never answers.
    Hang,
    /// Answers 200 after this delay.
    Slow(Duration),
    /// Fails this fraction of user requests; its deep health answers 500 to the same fraction
    /// (deterministically spread) and 200 with `"status": "degraded"` to the rest.
    Brownout(f64),
    /// Down for one period, healthy for the next, and so on, starting down.
    Flapping(Duration),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Healthy => f.write_str("healthy"),
            Fault::Down => f.write_str("down"),
            Fault::Hang => f.write_str("hang"),
            Fault::Slow(d) => write!(f, "slow ({})", humantime::format_duration(*d)),
            Fault::Brownout(x) => write!(f, "brownout ({:.0}% errors)", x * 100.0),
            Fault::Flapping(p) => write!(f, "flapping (period {})", humantime::format_duration(*p)),
        }
    }
}

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
    capacity_rps: f64,
    demand_rps: f64,
    spill_to: Vec<String>,
    fault: Fault,
    fault_since: Instant,
    requests: u64,
}

#[derive(Debug)]
struct Inner {
    regions: Mutex<BTreeMap<String, RegionSim>>,
    backend: SimBackend,
    max_utilization: f64,
}

/// The simulated world; clones share it.
#[derive(Debug, Clone)]
pub struct World {
    inner: Arc<Inner>,
}

/// Errors of the simulated world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named region is not in the world.
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
    /// A world with every region of `config` that has a `sim` section, all healthy, routed by
    /// `backend`'s shares.
    pub fn new(config: &Config, backend: SimBackend) -> Self {
        let now = Instant::now();
        let regions = config
            .regions
            .iter()
            .filter_map(|r| {
                let sim = r.sim.as_ref()?;
                Some((
                    r.name.clone(),
                    RegionSim {
                        capacity_rps: r.capacity(),
                        demand_rps: sim.demand_rps,
                        spill_to: r.spill_to.clone(),
                        fault: Fault::Healthy,
                        fault_since: now,
                        requests: 0,
                    },
                ))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                regions: Mutex::new(regions),
                backend,
                max_utilization: config.policy.max_utilization.get(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, RegionSim>> {
        self.inner.regions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names of the simulated regions.
    pub fn regions(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The backend whose shares route this world's users.
    pub fn backend(&self) -> &SimBackend {
        &self.inner.backend
    }

    /// Changes how `region`'s endpoint behaves from now on.
    pub fn set_fault(&self, region: &str, fault: Fault) -> Result<(), Error> {
        let mut regions = self.lock();
        let r = regions
            .get_mut(region)
            .ok_or_else(|| Error::UnknownRegion(region.to_owned()))?;
        r.fault = fault;
        r.fault_since = Instant::now();
        r.requests = 0;
        Ok(())
    }

    /// The current fault of `region`.
    pub fn fault(&self, region: &str) -> Option<Fault> {
        self.lock().get(region).map(|r| r.fault)
    }

    /// Changes the demand of `region`'s own users.
    pub fn set_demand(&self, region: &str, demand_rps: f64) -> Result<(), Error> {
        let mut regions = self.lock();
        let r = regions
            .get_mut(region)
            .ok_or_else(|| Error::UnknownRegion(region.to_owned()))?;
        r.demand_rps = demand_rps.max(0.0);
        Ok(())
    }

    /// Requests/s each region serves under the backend's current shares.
    pub fn loads(&self) -> BTreeMap<String, f64> {
        let shares = self.inner.backend.shares();
        let regions = self.lock();
        let share = |r: &str| shares.get(r).map_or(100.0, |s| f64::from(s.get()));
        let mut served: BTreeMap<String, f64> = regions
            .iter()
            .map(|(name, r)| (name.clone(), r.demand_rps * share(name) / 100.0))
            .collect();
        for (name, r) in regions.iter() {
            let drained = r.demand_rps * (100.0 - share(name)) / 100.0;
            let targets: Vec<&str> = r
                .spill_to
                .iter()
                .map(String::as_str)
                .filter(|t| share(t) > 0.0 && regions.contains_key(*t))
                .collect();
            let (taken, left) = fill_in_order(drained, targets.iter().copied(), |t| {
                self.inner.max_utilization * regions[t].capacity_rps - served[t]
            });
            for (t, rps) in taken {
                *served.entry(t.to_owned()).or_default() += rps;
            }
            if let Some(first) = targets.first() {
                *served.entry((*first).to_owned()).or_default() += left;
            }
        }
        served
    }

    /// Fraction of the user requests `region` serves that fail now (for failed-request counts).
    pub fn error_fraction(&self, region: &str) -> f64 {
        let regions = self.lock();
        let Some(r) = regions.get(region) else {
            return 0.0;
        };
        match r.fault {
            Fault::Healthy | Fault::Slow(_) => 0.0,
            Fault::Down | Fault::Hang => 1.0,
            Fault::Brownout(f) => f,
            Fault::Flapping(period) => {
                let phase = r.fault_since.elapsed().as_nanos() / period.as_nanos().max(1);
                if phase % 2 == 0 { 1.0 } else { 0.0 }
            }
        }
    }

    /// Capacity of `region` in requests/s.
    pub fn capacity(&self, region: &str) -> Option<f64> {
        self.lock().get(region).map(|r| r.capacity_rps)
    }

    /// What `region`'s endpoint does with the next request.
    pub fn answer(&self, region: &str) -> Result<Answer, Error> {
        let load = self.loads().get(region).copied().unwrap_or_default();
        let mut regions = self.lock();
        let r = regions
            .get_mut(region)
            .ok_or_else(|| Error::UnknownRegion(region.to_owned()))?;
        let n = r.requests;
        r.requests += 1;
        let fails = match r.fault {
            Fault::Healthy | Fault::Slow(_) => false,
            Fault::Down => true,
            Fault::Hang => return Ok(Answer::Hang),
            // Request n fails when the running count of failures ⌊(n+1)·f⌋ steps up.
            Fault::Brownout(f) => ((n + 1) as f64 * f).floor() > (n as f64 * f).floor(),
            Fault::Flapping(period) => {
                let phase = r.fault_since.elapsed().as_nanos() / period.as_nanos().max(1);
                phase % 2 == 0
            }
        };
        let delay = match r.fault {
            Fault::Slow(d) => d,
            _ => Duration::ZERO,
        };
        let (status, overall, checks) = match (fails, r.fault) {
            // A browning-out region says so in the answers it does give.
            (false, Fault::Brownout(_)) => (
                200,
                "degraded",
                json!({"api": "ok", "db": "ok", "cache": "ok", "downstreams": "slow"}),
            ),
            (false, _) => (
                200,
                "ok",
                json!({"api": "ok", "db": "ok", "cache": "ok", "downstreams": "ok"}),
            ),
            (true, Fault::Brownout(_)) => (
                500,
                "degraded",
                json!({"api": "ok", "db": "ok", "cache": "ok", "downstreams": "timeout"}),
            ),
            (true, _) => (
                503,
                "down",
                json!({"api": "ok", "db": "down", "cache": "ok", "downstreams": "ok"}),
            ),
        };
        Ok(Answer::Respond {
            delay,
            status,
            body: json!({
                "status": overall,
                "region": region,
                "checks": checks,
                "load_rps": (load * 10.0).round() / 10.0,
                "capacity_rps": r.capacity_rps,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
