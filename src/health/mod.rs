//! Per-region verdicts with hysteresis.
//!
//! A region's probe rounds fold into a [`Verdict`] through one small state machine: `fall`
//! consecutive failed rounds make it `Down`, `rise` passing rounds make it `Healthy`, and no
//! rounds at all for a while make it `Unknown`, which is never treated as healthy. One lost
//! packet therefore never moves traffic. No I/O here: rounds and `now` are handed in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// What the controller believes about a region's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not enough recent evidence either way; keeps its traffic but never gains any.
    Unknown,
    /// Passing its deep-health probes.
    Healthy,
    /// Failing its deep-health probes; its traffic should move away.
    Down,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Unknown => "Unknown",
            Verdict::Healthy => "Healthy",
            Verdict::Down => "Down",
        })
    }
}

/// The outcome of one probe round of a region (all its targets, folded).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundResult {
    /// Whether the round passed.
    pub passed: bool,
    /// Why it failed (or a summary of what passed), for people.
    pub reason: String,
    /// When the round finished.
    pub at: Timestamp,
}

/// Thresholds of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Consecutive failed rounds to go Down.
    pub fall: u32,
    /// Consecutive passing rounds to go Healthy.
    pub rise: u32,
    /// No round for this long makes the verdict Unknown.
    pub stale_after: Duration,
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

/// The verdict state of one region.
#[derive(Debug, Clone)]
pub struct RegionHealth {
    verdict: Verdict,
    since: Timestamp,
    reason: String,
    passes: u32,
    fails: u32,
    last_round: Option<Timestamp>,
}

impl RegionHealth {
    /// A region nothing is known about yet.
    pub fn new(now: Timestamp) -> Self {
        Self {
            verdict: Verdict::Unknown,
            since: now,
            reason: "no probe round yet".to_owned(),
            passes: 0,
            fails: 0,
            last_round: None,
        }
    }

    /// The current verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// When the current verdict began.
    pub fn since(&self) -> Timestamp {
        self.since
    }

    /// Why the region has its current verdict (the latest round's reason).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Folds one round in; returns the change when the verdict flips.
    pub fn observe(&mut self, round: &RoundResult, t: Thresholds) -> Option<VerdictChange> {
        self.last_round = Some(round.at);
        if round.passed {
            self.passes = self.passes.saturating_add(1);
            self.fails = 0;
        } else {
            self.fails = self.fails.saturating_add(1);
            self.passes = 0;
        }
        let next = if self.fails >= t.fall {
            Verdict::Down
        } else if self.passes >= t.rise {
            Verdict::Healthy
        } else {
            self.verdict
        };
        if next == self.verdict {
            if !round.passed || self.verdict != Verdict::Down {
                self.reason.clone_from(&round.reason);
            }
            return None;
        }
        let reason = if round.passed {
            format!(
                "{} consecutive passing rounds: {}",
                self.passes, round.reason
            )
        } else {
            format!("{} consecutive failed rounds: {}", self.fails, round.reason)
        };
        Some(self.flip(next, round.at, reason))
    }

    /// Makes the verdict Unknown when no round has arrived for `stale_after`.
    pub fn check_staleness(&mut self, now: Timestamp, t: Thresholds) -> Option<VerdictChange> {
        let last = self.last_round.unwrap_or(self.since);
        if self.verdict == Verdict::Unknown || now.since(last) < t.stale_after {
            return None;
        }
        self.passes = 0;
        self.fails = 0;
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Thresholds = Thresholds {
        fall: 3,
        rise: 2,
        stale_after: Duration::from_secs(30),
    };

    fn round(passed: bool, secs: u64) -> RoundResult {
        RoundResult {
            passed,
            reason: if passed {
                "HTTP 200".into()
            } else {
                "HTTP 503".into()
            },
            at: Timestamp(secs * 1000),
        }
    }

    #[test]
    fn one_blip_does_not_flip_a_healthy_region() {
        let mut h = RegionHealth::new(Timestamp(0));
        h.observe(&round(true, 1), T);
        assert!(h.observe(&round(true, 2), T).is_some());
        assert_eq!(h.verdict(), Verdict::Healthy);
        assert_eq!(h.observe(&round(false, 3), T), None);
        assert_eq!(h.observe(&round(false, 4), T), None);
        assert_eq!(h.observe(&round(true, 5), T), None);
        assert_eq!(h.verdict(), Verdict::Healthy);
    }

    #[test]
    fn fall_consecutive_failures_make_it_down_with_the_reason() {
        let mut h = RegionHealth::new(Timestamp(0));
        h.observe(&round(true, 1), T);
        h.observe(&round(true, 2), T);
        h.observe(&round(false, 3), T);
        h.observe(&round(false, 4), T);
        let change = h.observe(&round(false, 5), T).expect("third failure flips");
        assert_eq!((change.from, change.to), (Verdict::Healthy, Verdict::Down));
        assert_eq!(change.reason, "3 consecutive failed rounds: HTTP 503");
        assert_eq!(h.since(), Timestamp(5000));
    }

    #[test]
    fn silence_makes_it_unknown_never_healthy() {
        let mut h = RegionHealth::new(Timestamp(0));
        h.observe(&round(true, 1), T);
        h.observe(&round(true, 2), T);
        assert_eq!(h.check_staleness(Timestamp(31_000), T), None);
        let change = h.check_staleness(Timestamp(32_000), T).expect("stale");
        assert_eq!(change.to, Verdict::Unknown);
        assert_eq!(change.reason, "no probe result for 30s");
    }

    proptest! {
        /// No verdict flips to Down without `fall` consecutive failures just before, nor to
        /// Healthy without `rise` consecutive passes.
        #[test]
        fn flips_only_after_consecutive_rounds(rounds in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut h = RegionHealth::new(Timestamp(0));
            for (i, passed) in rounds.iter().enumerate() {
                let at = u64::try_from(i).unwrap_or_default();
                if let Some(change) = h.observe(&round(*passed, at), T) {
                    let needed = if change.to == Verdict::Down { T.fall } else { T.rise } as usize;
                    prop_assert!(i + 1 >= needed);
                    let window = &rounds[i + 1 - needed..=i];
                    prop_assert!(window.iter().all(|p| *p == (change.to == Verdict::Healthy)));
                }
            }
        }
    }
}
