//! `failoverd probe`: one round against every target (or one region's), for an operator to check
//! a deep-health config before trusting it.

use std::fmt;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use super::{HttpProber, RegionProbes, round};
use crate::clock::Clock;
use crate::config::Config;
use crate::health::ProbeStatus;
use crate::probe::{Error, resolve, resolve_region};
use crate::terminal::escape;

/// One target's line of the report.
#[derive(Debug, Clone)]
pub struct CheckLine {
    /// Region name.
    pub region: String,
    /// Target URL.
    pub url: String,
    /// What it concluded.
    pub status: ProbeStatus,
    /// Time it took, in ms.
    pub latency_ms: u128,
    /// Why. It can quote the target's answer, so it is printed [`escape`]d.
    pub reason: String,
    /// Load the body reported, read with the region's `load_from.load` pointer.
    pub load_rps: Option<f64>,
    /// Capacity the body reported, read with the region's `load_from.capacity` pointer.
    pub capacity_rps: Option<f64>,
}

/// The result of one round of every target.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One line per target probed.
    pub lines: Vec<CheckLine>,
    /// Regions with no probe target (simulated regions), named so they are not mistaken for passing.
    pub skipped: Vec<String>,
    /// Regions for which no target reported a load and the config gives none (`load_rps`):
    /// every move onto or off them would be counted at full capacity.
    pub no_load: Vec<String>,
}

impl CheckReport {
    /// True when every target passed.
    pub fn all_passed(&self) -> bool {
        self.lines.iter().all(|l| l.status == ProbeStatus::Pass)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = self
            .lines
            .iter()
            .map(|l| l.region.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        let uw = self
            .lines
            .iter()
            .map(|l| l.url.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        let rps = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
        writeln!(
            f,
            "{:<rw$}  {:<uw$}  {:<8}  {:>8}  {:>8}  {:>8}  REASON",
            "REGION", "TARGET", "RESULT", "LATENCY", "LOAD", "CAPACITY"
        )?;
        for l in &self.lines {
            writeln!(
                f,
                "{:<rw$}  {:<uw$}  {:<8}  {:>5} ms  {:>8}  {:>8}  {}",
                escape(&l.region),
                escape(&l.url),
                l.status.to_string(),
                l.latency_ms,
                rps(l.load_rps),
                rps(l.capacity_rps),
                escape(&l.reason)
            )?;
        }
        for r in &self.no_load {
            writeln!(
                f,
                "WARNING {}: no load figure: no target's body has one at load_from.load and the config gives no load_rps, so headroom counts every move onto or off it at full capacity",
                escape(r)
            )?;
        }
        for r in &self.skipped {
            writeln!(
                f,
                "{r:<rw$}  (no probe targets: a simulated region gets them from the demo world)"
            )?;
        }
        let passed = self
            .lines
            .iter()
            .filter(|l| l.status == ProbeStatus::Pass)
            .count();
        write!(f, "{passed} of {} targets passed", self.lines.len())
    }
}

/// Probes every target of `config` (or of `region`) once, all at once within the configured
/// concurrency bound.
pub async fn check(config: &Config, region: Option<&str>) -> Result<CheckReport, Error> {
    let regions: Vec<RegionProbes> = match region {
        Some(r) => vec![resolve_region(config, r)?],
        None => resolve(config)?,
    };
    let prober = Arc::new(HttpProber::new());
    let limit = Arc::new(Semaphore::new(config.probe.max_concurrency.max(1)));
    let clock = Clock::new();
    // The static load each region (of each service) has in the config, if any.
    let services = config.services();
    let static_load = |service: Option<&str>, region: &str| {
        services
            .iter()
            .find(|s| service.is_none_or(|n| n == s.name))
            .and_then(|s| s.config.region(region))
            .and_then(|r| r.load_rps)
    };
    // Every region's round at once (the semaphore bounds the probes in flight); join_all
    // keeps the results in config order, so the report reads the same however they finish.
    let rounds = join_all(regions.iter().map(|region| async {
        if region.targets.is_empty() {
            return None;
        }
        // Round 0 probes every target, whatever its own interval.
        round(region, 0, &prober, &limit, &clock).await
    }))
    .await;
    let mut report = CheckReport::default();
    for (region, observation) in regions.iter().zip(rounds) {
        let label = crate::config::cell_key(region.service.as_deref(), &region.region);
        if region.targets.is_empty() {
            report.skipped.push(label);
            continue;
        }
        if let Some(obs) = observation {
            if obs.load_rps.is_none()
                && static_load(region.service.as_deref(), &region.region).is_none()
            {
                report.no_load.push(label.clone());
            }
            for (url, o) in obs.outcomes {
                report.lines.push(CheckLine {
                    region: label.clone(),
                    url,
                    status: o.status,
                    latency_ms: o.latency.as_millis(),
                    reason: o.reason,
                    load_rps: o.load_rps,
                    capacity_rps: o.capacity_rps,
                });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_quoting_the_targets_answer_is_printed_escaped() {
        let report = CheckReport {
            lines: vec![CheckLine {
                region: "eu-west-1".into(),
                url: "https://x/health".into(),
                status: ProbeStatus::Fail,
                latency_ms: 3,
                reason: "/status = \"\u{9b}2J\u{202e}\", expected \"ok\"".into(),
                load_rps: None,
                capacity_rps: Some(100.0),
            }],
            skipped: Vec::new(),
            no_load: vec!["eu-west-1".into()],
        };
        let text = report.to_string();
        assert!(
            text.contains("/status = \"\\u{9b}2J\\u{202e}\", expected \"ok\"\n"),
            "{text}"
        );
        // The load and capacity read, and a warning for a region with no load figure at all.
        assert!(
            text.contains("     3 ms         –       100  /status"),
            "{text}"
        );
        assert!(
            text.contains("WARNING eu-west-1: no load figure: no target's body has one at load_from.load and the config gives no load_rps"),
            "{text}"
        );
    }
}
