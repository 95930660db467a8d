//! Per-region verdicts with hysteresis.
//!
//! A region's probe rounds fold into a [`Verdict`] through one small state machine counting
//! consecutive rounds: `fall` failed rounds make it `Down`, `rise` passing rounds make it
//! `Healthy`, rounds that answer but only degraded (slow, self-reported brownout) make it
//! `Degraded`, and no rounds at all for a while make it `Unknown`, which is never treated as
//! healthy. One lost packet therefore never moves traffic. No I/O here: rounds and `now` are
//! handed in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

pub mod quorum;

/// What the controller believes about a region's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not enough recent evidence either way; keeps its traffic but never gains any.
    Unknown,
    /// Passing its deep-health probes.
    Healthy,
    /// Answering, but slowly or reporting itself degraded (brownout).
    Degraded,
    /// Failing its deep-health probes; its traffic should move away.
    Down,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Unknown => "Unknown",
            Verdict::Healthy => "Healthy",
            Verdict::Degraded => "Degraded",
            Verdict::Down => "Down",
        })
    }
}

/// What one probe (or one round) concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    /// Answered as expected, within budget.
    Pass,
    /// Answered, but slowly or reporting itself degraded (brownout).
    Degraded,
    /// Did not answer as expected.
    Fail,
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeStatus::Pass => "PASS",
            ProbeStatus::Degraded => "DEGRADED",
            ProbeStatus::Fail => "FAIL",
        })
    }
}

/// The outcome of one probe round of a region (all its probed targets, folded by quorum).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundResult {
    /// Pass, degraded or fail.
    pub status: ProbeStatus,
    /// What was seen, for people.
    pub reason: String,
    /// When the round finished.
    pub at: Timestamp,
}

/// Thresholds of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Consecutive failed rounds to go Down (and non-passing rounds to go from Healthy to Degraded).
    pub fall: u32,
    /// Consecutive passing rounds to go Healthy (and answering rounds to leave Down or Unknown).
    pub rise: u32,
    /// No round for this long makes the verdict Unknown.
    pub stale_after: Duration,
    /// Rounds over which the failed fraction is measured ([`RegionHealth::failed_fraction`]).
    pub error_window: u32,
}

/// A verdict change, for the journal and the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictChange {
    /// The previous verdict.
    pub from: Verdict,
    /// The new verdict.
    pub to: Verdict,
    /// Why, in words a person can act on.
    pub reason: String,
}

/// Consecutive-round counters; each resets when a round breaks its run.
#[derive(Debug, Clone, Copy, Default)]
struct Streaks {
    pass: u32,
    fail: u32,
    not_pass: u32,
    not_fail: u32,
}

impl Streaks {
    fn count(&mut self, status: ProbeStatus) {
        let bump = |n: &mut u32, yes: bool| *n = if yes { n.saturating_add(1) } else { 0 };
        bump(&mut self.pass, status == ProbeStatus::Pass);
        bump(&mut self.fail, status == ProbeStatus::Fail);
        bump(&mut self.not_pass, status != ProbeStatus::Pass);
        bump(&mut self.not_fail, status != ProbeStatus::Fail);
    }
}

/// The verdict state of one region.
#[derive(Debug, Clone)]
pub struct RegionHealth {
    verdict: Verdict,
    since: Timestamp,
    reason: String,
    streaks: Streaks,
    last_round: Option<Timestamp>,
    /// Whether each of the latest rounds failed, newest last, at most `error_window` of them.
    recent: std::collections::VecDeque<bool>,
}

impl RegionHealth {
    /// A region nothing is known about yet.
    pub fn new(now: Timestamp) -> Self {
        Self {
            verdict: Verdict::Unknown,
            since: now,
            reason: "no probe round yet".to_owned(),
            streaks: Streaks::default(),
            last_round: None,
            recent: std::collections::VecDeque::new(),
        }
    }

    /// The fraction of the last `t.error_window` rounds that failed; None until that many
    /// rounds have come in since the region was last Unknown for lack of rounds.
    pub fn failed_fraction(&self, t: Thresholds) -> Option<f64> {
        let window = t.error_window as usize;
        (window > 0 && self.recent.len() >= window).then(|| {
            let failed = self.recent.iter().filter(|f| **f).count();
            failed as f64 / self.recent.len() as f64
        })
    }

    /// The current verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// When the current verdict began.
    pub fn since(&self) -> Timestamp {
        self.since
    }

    /// Why the region has its current verdict (the latest relevant round's reason).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Folds one round in; returns the change when the verdict flips.
    pub fn observe(&mut self, round: &RoundResult, t: Thresholds) -> Option<VerdictChange> {
        self.last_round = Some(round.at);
        self.streaks.count(round.status);
        self.recent.push_back(round.status == ProbeStatus::Fail);
        while self.recent.len() > t.error_window as usize {
            self.recent.pop_front();
        }
        let s = self.streaks;
        let (next, run, what) = if s.fail >= t.fall {
            (Verdict::Down, s.fail, "failed")
        } else {
            match self.verdict {
                Verdict::Healthy if s.not_pass >= t.fall => {
                    (Verdict::Degraded, s.not_pass, "degraded or failed")
                }
                Verdict::Degraded | Verdict::Down | Verdict::Unknown if s.pass >= t.rise => {
                    (Verdict::Healthy, s.pass, "passing")
                }
                Verdict::Down | Verdict::Unknown if s.not_fail >= t.rise => {
                    (Verdict::Degraded, s.not_fail, "answering but degraded")
                }
                same => (same, 0, ""),
            }
        };
        if next == self.verdict {
            // Keep the reason that explains the verdict: a Down region's reason stays its
            // failure until it has recovered.
            let explains = match self.verdict {
                Verdict::Down => round.status == ProbeStatus::Fail,
                Verdict::Degraded => round.status != ProbeStatus::Pass,
                _ => true,
            };
            if explains {
                self.reason.clone_from(&round.reason);
            }
            return None;
        }
        let reason = format!("{run} consecutive {what} rounds: {}", round.reason);
        Some(self.flip(next, round.at, reason))
    }

    /// Makes the verdict Unknown when no round has arrived for `stale_after`.
    pub fn check_staleness(&mut self, now: Timestamp, t: Thresholds) -> Option<VerdictChange> {
        let last = self.last_round.unwrap_or(self.since);
        if self.verdict == Verdict::Unknown || now.since(last) < t.stale_after {
            return None;
        }
        self.streaks = Streaks::default();
        self.recent.clear();
        let reason = format!(
            "no probe result for {}",
            humantime::format_duration(now.since(last))
        );
        Some(self.flip(Verdict::Unknown, now, reason))
    }

    fn flip(&mut self, to: Verdict, at: Timestamp, reason: String) -> VerdictChange {
        let change = VerdictChange {
            from: self.verdict,
            to,
            reason: reason.clone(),
        };
        self.verdict = to;
        self.since = at;
        self.reason = reason;
        change
    }
}

#[cfg(test)]
mod tests;
