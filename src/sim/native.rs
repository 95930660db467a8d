//! The native baselines of `failoverd simulate --compare native`: what Route 53's or Global
//! Accelerator's own health checks would have done with the same faults and no failoverd.
//!
//! Each service checks every region with a number of checkers, each on its own phase of the
//! interval. A checker calls the region unhealthy after `threshold` failed checks in a row and
//! healthy after `threshold` passing ones. Route 53 answers for a record while more than 18% of
//! its checkers call it healthy; Global Accelerator's checks are modelled as one checker per
//! endpoint group. A region the service calls unhealthy is left out of the answers, and its
//! users go elsewhere with no thought for headroom: Route 53 spreads them over the healthy
//! records by weight (weighted records, each at its `base_weight`) or sends them all to the
//! next-closest healthy region (failover records' secondary; latency and geolocation records,
//! split by the region's `spill_mix` when it has one); Global Accelerator sends them to the
//! three nearest healthy endpoint groups. When every region of a service is unhealthy, both
//! fail open and answer as if all were healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bounds::{Bounds, secs};

/// Allowed check timeouts.
pub const TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), secs(300));

/// Which service fails over on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Native {
    /// Route 53 health checks on the records.
    Route53,
    /// Global Accelerator health checks on the endpoint groups.
    GlobalAccelerator,
}

impl Native {
    /// For a column heading.
    pub fn short(self) -> &'static str {
        match self {
            Native::Route53 => "Route 53",
            Native::GlobalAccelerator => "Global Acc.",
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Native::Route53 => "Route 53 health checks",
            Native::GlobalAccelerator => "Global Accelerator health checks",
        }
    }
}

/// Where the users of a region the service leaves out go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spill {
    /// Over every healthy region of the service, by the weights of their records (weighted
    /// records; evenly when they all weigh 0).
    Spread,
    /// All to the first healthy region of its `spill_to` (a failover record's secondary).
    Nearest,
    /// Evenly over the first three healthy regions of its `spill_to` (Global Accelerator's
    /// three nearest healthy endpoint groups).
    NearestThree,
}

/// How one service checks the regions: `{ interval = "30s", threshold = 3 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Time between two checks of one checker (Route 53: 10 s or 30 s; Global Accelerator:
    /// 10 s or 30 s).
    #[serde(default = "thirty_seconds", with = "humantime_serde")]
    pub interval: Duration,
    /// Failed (or passing) checks in a row that turn a checker's view (1-10).
    #[serde(default = "three")]
    pub threshold: u8,
    /// A check that gets no answer this soon fails (Route 53: 2 s after connecting).
    #[serde(default = "two_seconds", with = "humantime_serde")]
    pub timeout: Duration,
}

fn thirty_seconds() -> Duration {
    secs(30)
}

fn two_seconds() -> Duration {
    secs(2)
}

fn three() -> u8 {
    3
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            interval: thirty_seconds(),
            threshold: three(),
            timeout: two_seconds(),
        }
    }
}

impl Checks {
    /// Every figure out of range, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        // Both services offer these two request intervals and no others.
        if self.interval != secs(10) && self.interval != secs(30) {
            out.push((
                "interval",
                format!(
                    "{} is not an interval Route 53 or Global Accelerator offers: 10s or 30s",
                    humantime::format_duration(self.interval)
                ),
            ));
        }
        if let Err(e) = TIMEOUT_BOUNDS.check(self.timeout) {
            out.push(("timeout", e.to_string()));
        }
        if !(1..=10).contains(&self.threshold) {
            out.push((
                "threshold",
                format!("{} is not from 1 to 10", self.threshold),
            ));
        }
        out
    }
}

/// Route 53's checkers per health check (its default checker regions, several checkers each).
pub const ROUTE53_CHECKERS: u16 = 16;
/// Route 53 answers for a record while more than this fraction of its checkers call it healthy.
pub const ROUTE53_HEALTHY_ABOVE: f64 = 0.18;

/// One native service's failover, as modelled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Model {
    /// Which service.
    pub native: Native,
    /// Its checks.
    pub checks: Checks,
    /// Checkers per region.
    pub checkers: u16,
    /// A region is answered for while more than this fraction of checkers call it healthy.
    pub healthy_above: f64,
    /// Where its users go when it is not.
    pub spill: Spill,
}

impl Model {
    /// Route 53 health checks on records routed by `spill` (weighted: spread; failover:
    /// nearest, the secondary).
    pub fn route53(checks: Checks, spill: Spill) -> Model {
        Model {
            native: Native::Route53,
            checks,
            checkers: ROUTE53_CHECKERS,
            healthy_above: ROUTE53_HEALTHY_ABOVE,
            spill,
        }
    }

    /// Global Accelerator's own health checks: one checker per endpoint group, traffic to the
    /// three nearest healthy groups, the dial untouched.
    pub fn global_accelerator(checks: Checks) -> Model {
        Model {
            native: Native::GlobalAccelerator,
            checks,
            checkers: 1,
            healthy_above: 0.5,
            spill: Spill::NearestThree,
        }
    }
}

#[derive(Debug, Clone)]
struct Checker {
    /// Its offset within the interval.
    phase: Duration,
    /// Index of its next check.
    next: u64,
    /// Failed (negative) or passing checks in a row.
    streak: i32,
    healthy: bool,
}

/// Every checker of every region, and what the service makes of them.
#[derive(Debug)]
pub struct Checkers {
    model: Model,
    seed: u64,
    cells: BTreeMap<String, Vec<Checker>>,
}

impl Checkers {
    /// Checkers for `cells`, all healthy, spread evenly over the interval.
    pub fn new(model: Model, cells: impl IntoIterator<Item = String>, seed: u64) -> Self {
        let n = u32::from(model.checkers.max(1));
        let checkers: Vec<Checker> = (0..n)
            .map(|i| Checker {
                phase: model.checks.interval * i / n,
                next: 0,
                streak: 0,
                healthy: true,
            })
            .collect();
        Self {
            model,
            seed,
            cells: cells.into_iter().map(|c| (c, checkers.clone())).collect(),
        }
    }

    /// Runs every check due by `elapsed` (since the start); each of `cell`'s fails with the
    /// probability `fails(cell)` gives (0 to 1). Returns whether the service answers for each
    /// cell (before failing open).
    pub fn advance(
        &mut self,
        elapsed: Duration,
        fails: impl Fn(&str) -> f64,
    ) -> BTreeMap<String, bool> {
        self.run(elapsed, true, fails);
        let above = self.model.healthy_above;
        self.cells
            .iter()
            .map(|(cell, checkers)| {
                let healthy = checkers.iter().filter(|c| c.healthy).count() as f64;
                (cell.clone(), healthy / checkers.len().max(1) as f64 > above)
            })
            .collect()
    }

    /// Runs every check due before `elapsed`, with what the cells were like until then (so a
    /// change at `elapsed` is not seen by checks made earlier in that second).
    pub fn check_before(&mut self, elapsed: Duration, fails: impl Fn(&str) -> f64) {
        self.run(elapsed, false, fails);
    }

    fn run(&mut self, until: Duration, inclusive: bool, fails: impl Fn(&str) -> f64) {
        let interval = self.model.checks.interval;
        let threshold = i32::from(self.model.checks.threshold.max(1));
        for (cell, checkers) in &mut self.cells {
            let p = fails(cell).clamp(0.0, 1.0);
            let salt = crate::sim::noise::fnv1a(cell.as_bytes()) ^ self.seed.rotate_left(29);
            for (i, c) in checkers.iter_mut().enumerate() {
                loop {
                    let at = c.phase + interval * u32::try_from(c.next).unwrap_or(u32::MAX);
                    if at > until || (at == until && !inclusive) {
                        break;
                    }
                    let mut state = salt ^ ((i as u64) << 40) ^ c.next;
                    let draw = crate::sim::noise::unit(crate::sim::noise::splitmix64(&mut state));
                    c.streak = match (draw < p, c.streak) {
                        (true, s) if s < 0 => s - 1,
                        (true, _) => -1,
                        (false, s) if s > 0 => s + 1,
                        (false, _) => 1,
                    };
                    if c.streak <= -threshold {
                        c.healthy = false;
                    } else if c.streak >= threshold {
                        c.healthy = true;
                    }
                    c.next += 1;
                }
            }
        }
    }
}

/// One cell as a native data plane routes it.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    /// Its key.
    pub name: &'a str,
    /// Requests/s its own users send.
    pub own_rps: f64,
    /// Share (0-100) of its users still sent to it, as they follow the answers.
    pub followed: f64,
    /// Whether the service answers with it now (after failing open).
    pub answered: bool,
    /// Where its users go, nearest first.
    pub spill_to: &'a [String],
    /// Its spill model: a client-location mix splits the users of a region left out by
    /// latency records (`Spill::Nearest`) as it splits them for failoverd.
    pub spill: &'a crate::plan::Spill,
}

/// Requests/s each cell serves: its followers, plus the users of cells left out, sent by
/// `spill` to cells the service answers with, with no regard for capacity.
pub fn route(cells: &[Cell<'_>], spill: Spill) -> Vec<f64> {
    let index: BTreeMap<&str, usize> = cells.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
    let mut served: Vec<f64> = cells
        .iter()
        .map(|c| c.own_rps * c.followed / 100.0)
        .collect();
    for (i, c) in cells.iter().enumerate() {
        let away = c.own_rps * (100.0 - c.followed) / 100.0;
        if away <= 0.0 {
            continue;
        }
        if let (Spill::Nearest, crate::plan::Spill::Mix(_)) = (spill, c.spill) {
            let answered = |t: &str| index.get(t).is_some_and(|&j| j != i && cells[j].answered);
            let parts = crate::plan::spill::destinations(c.spill, c.spill_to, answered);
            if parts.is_empty() {
                served[i] += away;
            }
            for (t, f) in parts {
                served[index[t]] += away * f;
            }
            continue;
        }
        let targets: Vec<usize> = match spill {
            Spill::Nearest | Spill::NearestThree => c
                .spill_to
                .iter()
                .filter_map(|t| index.get(t.as_str()).copied())
                .filter(|&j| j != i && cells[j].answered)
                .take(if spill == Spill::Nearest { 1 } else { 3 })
                .collect(),
            Spill::Spread => cells
                .iter()
                .enumerate()
                .filter(|(j, o)| *j != i && o.answered && service_of(o.name) == service_of(c.name))
                .map(|(j, _)| j)
                .collect(),
        };
        if targets.is_empty() {
            // Nowhere else answers: they keep coming here.
            served[i] += away;
            continue;
        }
        // Route 53 answers a weighted record set's healthy records in proportion to their
        // weights, and evenly when they all weigh 0; the nearest groups take equal parts.
        let weights: Vec<f64> = match spill {
            // Each record at its weight on the set, as the planner reads them (keyed by cell);
            // equal weights when the region's model carries none.
            Spill::Spread => targets
                .iter()
                .map(|&j| {
                    let w = c.spill.weight(cells[j].name);
                    f64::from(w.unwrap_or(crate::config::SPREAD_WEIGHT))
                })
                .collect(),
            Spill::Nearest | Spill::NearestThree => vec![1.0; targets.len()],
        };
        let (total, n) = (weights.iter().sum::<f64>(), targets.len() as f64);
        for (j, w) in targets.into_iter().zip(weights) {
            served[j] += if total > 0.0 {
                away * w / total
            } else {
                away / n
            };
        }
    }
    served
}

/// What the service answers with: the cells it calls healthy, or all of a service's cells
/// when it calls none of them healthy (failing open).
pub fn fail_open(healthy: &BTreeMap<String, bool>) -> BTreeMap<String, bool> {
    let answering: std::collections::BTreeSet<Option<&str>> = healthy
        .iter()
        .filter(|(_, up)| **up)
        .map(|(cell, _)| service_of(cell))
        .collect();
    healthy
        .iter()
        .map(|(cell, &ok)| (cell.clone(), ok || !answering.contains(&service_of(cell))))
        .collect()
}

/// The service of cell `key` (`service/region`); None for a file without `[[services]]`.
fn service_of(key: &str) -> Option<&str> {
    key.split_once('/').map(|(s, _)| s)
}

#[cfg(test)]
mod tests;
