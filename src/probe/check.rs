//! `failoverd probe`: one round against every target (or one region's), for an operator to check
//! a deep-health config before trusting it.

use std::fmt;
use std::sync::Arc;

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
}

/// The result of one round of every target.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One line per target probed.
    pub lines: Vec<CheckLine>,
    /// Regions with no probe target (simulated regions), named so they are not mistaken for passing.
    pub skipped: Vec<String>,
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
        writeln!(
            f,
            "{:<rw$}  {:<uw$}  {:<8}  {:>8}  REASON",
            "REGION", "TARGET", "RESULT", "LATENCY"
        )?;
        for l in &self.lines {
            writeln!(
                f,
                "{:<rw$}  {:<uw$}  {:<8}  {:>5} ms  {}",
                l.region,
                l.url,
                l.status.to_string(),
                l.latency_ms,
                escape(&l.reason)
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
    let mut report = CheckReport::default();
    for region in &regions {
        if region.targets.is_empty() {
            report.skipped.push(region.region.clone());
            continue;
        }
        // Round 0 probes every target, whatever its own interval.
        if let Some(obs) = round(region, 0, &prober, &limit, &clock).await {
            for (url, o) in obs.outcomes {
                report.lines.push(CheckLine {
                    region: region.region.clone(),
                    url,
                    status: o.status,
                    latency_ms: o.latency.as_millis(),
                    reason: o.reason,
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
            }],
            skipped: Vec::new(),
        };
        let text = report.to_string();
        assert!(
            text.contains("/status = \"\\u{9b}2J\\u{202e}\", expected \"ok\"\n"),
            "{text}"
        );
    }
}
