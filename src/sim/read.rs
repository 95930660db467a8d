//! What a cell says: the answer its deep-health endpoint gives the next request, and the
//! figures the simulator samples every virtual second.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{Answer, Error, Fault, RegionSim, World};

impl World {
    /// Fraction of the user requests cell `region` serves that fail now (for failed-request
    /// counts).
    pub fn error_fraction(&self, region: &str) -> f64 {
        let regions = self.lock();
        let Some(r) = regions.get(region) else {
            return 0.0;
        };
        let versions = self
            .inner
            .version_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        error_fraction(r, &versions)
    }

    /// Every cell's [`Reading`] now, in key order, handed to `read` one at a time: what
    /// [`World::loads`], [`World::demand`], [`World::capacity`], [`World::error_fraction`] and
    /// [`World::fault`] say of it, read in one pass under one lock. The simulator samples every
    /// cell every virtual second; a look-up and a lock per figure per cell was a tenth of a
    /// large run.
    pub fn read_each(&self, mut read: impl FnMut(&str, Reading)) {
        self.with_loads(|loads| {
            let regions = self.lock();
            let versions = self
                .inner
                .version_errors
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (key, served) in loads {
                let Some(r) = regions.get(key) else { continue };
                let reading = Reading {
                    served_rps: *served,
                    demand_rps: r.demand_rps,
                    capacity_rps: r.capacity_rps,
                    error_fraction: error_fraction(r, &versions),
                    fault: r.fault,
                };
                read(key, reading);
            }
        });
    }

    /// Capacity of cell `region` in requests/s.
    pub fn capacity(&self, region: &str) -> Option<f64> {
        self.lock().get(region).map(|r| r.capacity_rps)
    }

    /// Requests/s cell `region`'s own users send, wherever they are routed.
    pub fn demand(&self, region: &str) -> Option<f64> {
        self.lock().get(region).map(|r| r.demand_rps)
    }

    /// What cell `region`'s endpoint does with the next request.
    pub fn answer(&self, region: &str) -> Result<Answer, Error> {
        let load = self.load(region);
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
            Fault::Flapping(period) => Fault::flap_down(r.fault_since, period),
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
                "region": r.region,
                "checks": checks,
                "load_rps": (load * 10.0).round() / 10.0,
                "capacity_rps": r.capacity_rps,
                "version": r.version,
            }),
        })
    }
}

/// One cell as [`World::read_each`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Requests/s it serves ([`World::loads`]).
    pub served_rps: f64,
    /// Requests/s its own users send ([`World::demand`]).
    pub demand_rps: f64,
    /// Its capacity in requests/s ([`World::capacity`]).
    pub capacity_rps: f64,
    /// Fraction of the user requests it serves that fail ([`World::error_fraction`]).
    pub error_fraction: f64,
    /// Its fault ([`World::fault`]).
    pub fault: Fault,
}

/// Fraction of the user requests cell `r` serves that fail now, given each version's
/// fraction of failed requests.
fn error_fraction(r: &RegionSim, versions: &BTreeMap<String, f64>) -> f64 {
    let release = versions.get(&r.version).copied().unwrap_or(0.0);
    // A request fails when the region's fault or its release fails it.
    let fault = match r.fault {
        Fault::Healthy | Fault::Slow(_) => 0.0,
        Fault::Down | Fault::Hang => 1.0,
        Fault::Brownout(f) => f,
        Fault::Flapping(period) => f64::from(u8::from(Fault::flap_down(r.fault_since, period))),
    };
    1.0 - (1.0 - fault) * (1.0 - release)
}
