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
            // Both maps are in key order: walked side by side, each cell is found without a
            // look-up by name (a cell the loads name but the world lacks is skipped, as ever).
            let mut cells = regions.iter().peekable();
            for (key, served) in loads {
                while cells.next_if(|(k, _)| k.as_str() < key.as_str()).is_some() {}
                let Some((_, r)) = cells.next_if(|(k, _)| *k == key) else {
                    continue;
                };
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
        Ok(match self.said(region, |_, said| said.body())? {
            Some((delay, status, body)) => Answer::Respond {
                delay,
                status,
                body,
            },
            None => Answer::Hang,
        })
    }

    /// What cell `region`'s endpoint does with the next request, its body as the bytes sent
    /// (None: it never answers). The same request as [`World::answer`], answered alike; the
    /// body is written anew only when something in it changed since the cell's last answer
    /// (every probe of a steady cell gets the same bytes).
    pub fn answer_bytes(&self, region: &str) -> Result<Replied<Vec<u8>>, Error> {
        self.said(region, |r, said| {
            if let Some((last, bytes)) = &r.body
                && *last == *said
            {
                return bytes.clone();
            }
            let bytes = serde_json::to_vec(&said.body()).unwrap_or_default();
            r.body = Some((said.clone(), bytes.clone()));
            bytes
        })
    }

    /// Counts a request to cell `region` and works out its answer: None when it hangs, else
    /// its delay, status and the body `body` makes of what it says.
    fn said<B>(
        &self,
        region: &str,
        body: impl FnOnce(&mut RegionSim, &Said) -> B,
    ) -> Result<Replied<B>, Error> {
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
            Fault::Hang => return Ok(None),
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
            (false, Fault::Brownout(_)) => (200, "degraded", ["ok", "ok", "ok", "slow"]),
            (false, _) => (200, "ok", ["ok", "ok", "ok", "ok"]),
            (true, Fault::Brownout(_)) => (500, "degraded", ["ok", "ok", "ok", "timeout"]),
            (true, _) => (503, "down", ["ok", "down", "ok", "ok"]),
        };
        let said = Said {
            status,
            overall,
            checks,
            region: r.region.clone(),
            load_rps: (load * 10.0).round() / 10.0,
            capacity_rps: r.capacity_rps,
            version: r.version.clone(),
        };
        let body = body(r, &said);
        Ok(Some((delay, status, body)))
    }
}

/// A cell's answer to one request: its delay, status and body; None when it never answers.
pub type Replied<B> = Option<(Duration, u16, B)>;

/// Everything a cell's deep-health body says, to write it or to tell that the body written
/// last still holds (figures compared bit for bit: 0.0 and -0.0 are written apart).
#[derive(Debug, Clone)]
pub(super) struct Said {
    status: u16,
    overall: &'static str,
    /// `api`, `db`, `cache` and `downstreams`.
    checks: [&'static str; 4],
    region: String,
    /// To a tenth, as reported.
    load_rps: f64,
    capacity_rps: f64,
    version: String,
}

impl PartialEq for Said {
    fn eq(&self, other: &Self) -> bool {
        (self.status, self.overall, self.checks) == (other.status, other.overall, other.checks)
            && self.load_rps.to_bits() == other.load_rps.to_bits()
            && self.capacity_rps.to_bits() == other.capacity_rps.to_bits()
            && (&self.region, &self.version) == (&other.region, &other.version)
    }
}

impl Said {
    /// The body as JSON.
    fn body(&self) -> serde_json::Value {
        let [api, db, cache, downstreams] = self.checks;
        json!({
            "status": self.overall,
            "region": self.region,
            "checks": {"api": api, "db": db, "cache": cache, "downstreams": downstreams},
            "load_rps": self.load_rps,
            "capacity_rps": self.capacity_rps,
            "version": self.version,
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
