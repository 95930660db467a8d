//! Ring rollouts: rings, bakes, validations and promotion gates.
//!
//! A rollout ([`Rollout`], durable with the other intents) takes a version through the rings
//! (`regions[].ring`; the lowest is the canary). Each probe round brings every region's
//! version (`rollout.version_pointer`) and its figure for every validation
//! (`rollout.validations`); each tick, [`Watch::tick`] turns them, with the rollouts, into:
//! - the changes to record ([`Change`]): a rollout started by a version seen, a bake started,
//!   passed or broken, a ring promoted by a deploy seen, a drain released by a rollback seen;
//! - the regions to drain ([`RolloutInput`]): a broken ring's, or, after an abort, every region
//!   on the new version, until an operator's undrain or a rollback ends it;
//! - alarms: a ring broken, a validation without figures, a version no rollout expects.
//!
//! [`gate`] answers a pipeline's question, "may ring N be promoted?", from the rollout alone;
//! [`rules`] holds what an operator may do (start, promote, approve, abort, undrain). Nothing
//! here does I/O or reads a clock.

mod checks;
mod gate;
mod held;
pub mod rules;
mod watch;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use self::checks::{Check, CheckState};
pub use self::gate::{Gate, GatePhase, gate};
pub use self::watch::{Seen, Watch, reads_regions};
use crate::clock::Timestamp;
use crate::config::rollout::RolloutConfig;
use crate::health::Verdict;
pub use crate::intent::rollout::{Mark, Ring, RingPhase, Rollout};
pub use crate::plan::RolloutInput;

/// The validation name a region's Degraded or Down verdict breaks a bake under.
pub const DEEP_HEALTH: &str = "deep-health";

/// What a tick knows of one region, for the rollouts.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionView {
    /// Region name.
    pub name: String,
    /// Its ring.
    pub ring: u32,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why.
    pub verdict_reason: String,
    /// The distinct versions its targets reported in the latest round that reported any,
    /// sorted (empty: unknown).
    pub versions: Vec<String>,
    /// Each validation's latest figure for it, by validation name.
    pub validations: BTreeMap<String, Reading>,
}

/// A validation's figure for one region, from one probe round.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The value, or why there is none.
    pub value: Result<f64, String>,
    /// When it was taken.
    pub at: Timestamp,
}

impl RegionView {
    /// Whether every target reports `version`.
    fn runs_only(&self, version: &str) -> bool {
        self.versions.len() == 1 && self.versions[0] == version
    }

    /// Whether some target reports `version`.
    fn runs(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// Whether its targets report versions and none is `version`.
    fn runs_other_than(&self, version: &str) -> bool {
        !self.versions.is_empty() && !self.runs(version)
    }
}

/// One change to the rollouts, with its reason for the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The rollout.
    pub rollout: String,
    /// The ring it concerns.
    pub ring: u32,
    /// What changes.
    pub what: What,
    /// Why, in words.
    pub reason: String,
}

/// What a [`Change`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A rollout starts (a version seen where none was expected).
    Started(Box<Rollout>),
    /// The ring's bake starts.
    BakeStarted,
    /// A validation's figure for a region of the baking ring failed, the first of a streak
    /// (a note for the journal: nothing changes until the streak breaks the ring).
    Failing,
    /// The ring's bake passed.
    Passed,
    /// The ring broke.
    Broken {
        /// The validation that failed.
        validation: String,
        /// What was seen.
        detail: String,
    },
    /// The ring was promoted: the next ring starts (deploying, or baking without a version
    /// pointer).
    Promoted {
        /// The next ring.
        next: u32,
        /// Whether its bake starts at once (no version pointer to wait for).
        baking: bool,
    },
    /// A person approved the ring's promotion.
    Approved,
    /// A person aborted the rollout.
    Aborted,
    /// A region's drain by the rollout ended.
    Released {
        /// The region.
        region: String,
    },
    /// The rollout ended.
    Ended,
}

impl Change {
    /// The name of the change, as the journal gives it.
    pub const fn kind(&self) -> &'static str {
        match self.what {
            What::Started(_) => "started",
            What::BakeStarted => "baking",
            What::Failing => "failing",
            What::Passed => "passed",
            What::Broken { .. } => "broken",
            What::Promoted { .. } => "promoted",
            What::Approved => "approved",
            What::Aborted => "aborted",
            What::Released { .. } => "released",
            What::Ended => "ended",
        }
    }

    /// Makes every one of `changes` in `rollouts`, by `actor` at `now`, in order.
    pub fn apply_all(
        changes: &[Change],
        rollouts: &mut BTreeMap<String, Rollout>,
        actor: &str,
        now: Timestamp,
    ) {
        for c in changes {
            c.apply(rollouts, actor, now);
        }
    }

    /// Makes the change in `rollouts`, by `actor` at `now`.
    pub fn apply(&self, rollouts: &mut BTreeMap<String, Rollout>, actor: &str, now: Timestamp) {
        let mark = || Mark {
            actor: actor.to_owned(),
            at: now,
            reason: self.reason.clone(),
        };
        // Each change holds only from the state it was worked out from: applied to intents
        // another controller or request changed meanwhile, it changes nothing it would undo.
        if let What::Started(r) = &self.what {
            let taken = rollouts.contains_key(&self.rollout)
                || rollouts
                    .values()
                    .any(|o| o.in_progress() && o.service == r.service && o.version == r.version);
            if !taken {
                rollouts.insert(self.rollout.clone(), (**r).clone());
            }
            return;
        }
        let Some(r) = rollouts.get_mut(&self.rollout) else {
            return;
        };
        if r.ended.is_some() {
            return;
        }
        let current = r.ring == self.ring;
        let phase = r.rings.get(&self.ring).map(|g| g.phase.clone());
        match (&self.what, phase) {
            (What::BakeStarted, Some(RingPhase::Deploying { .. })) if current => {
                set(r, self.ring, RingPhase::Baking { since: now });
            }
            (What::Passed, Some(RingPhase::Baking { since })) if r.aborted.is_none() => {
                set(r, self.ring, RingPhase::Passed { since, at: now });
            }
            (What::Broken { validation, detail }, Some(RingPhase::Baking { since })) => {
                let phase = RingPhase::Broken {
                    since,
                    at: now,
                    validation: validation.clone(),
                    detail: detail.clone(),
                };
                set(r, self.ring, phase);
            }
            (What::Promoted { next, baking }, Some(_))
                if current && r.aborted.is_none() && r.broken_ring().is_none() =>
            {
                if let Some(ring) = r.rings.get_mut(&self.ring) {
                    ring.promoted = Some(mark());
                }
                r.ring = *next;
                let phase = if *baking {
                    RingPhase::Baking { since: now }
                } else {
                    RingPhase::Deploying { since: now }
                };
                r.rings.insert(*next, Ring::new(phase));
            }
            (What::Approved, Some(_)) => {
                if let Some(ring) = r.rings.get_mut(&self.ring) {
                    ring.approved.get_or_insert_with(mark);
                }
            }
            (What::Aborted, _) => {
                r.aborted.get_or_insert_with(mark);
            }
            (What::Released { region }, _) => {
                r.released.entry(region.clone()).or_insert_with(mark);
            }
            (What::Ended, _) => r.ended = Some(mark()),
            _ => {}
        }
    }
}

/// Sets the phase of ring `n` of `r`.
fn set(r: &mut Rollout, n: u32, phase: RingPhase) {
    if let Some(ring) = r.rings.get_mut(&n) {
        ring.phase = phase;
    }
}

/// A number as status and reasons show it: at most four decimals, no trailing zeros.
pub fn figure(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A rollout as status shows it: the record, each ring's gate and the latest checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// The durable record.
    pub rollout: Rollout,
    /// Each configured ring's gate, lowest first.
    pub gates: Vec<Gate>,
    /// The baking ring's checks at the latest tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

impl RolloutStatus {
    /// `rollout` with the gate of each of `rings` at `now`, and `checks`.
    pub fn new(
        rollout: Rollout,
        cfg: &RolloutConfig,
        rings: &BTreeSet<u32>,
        now: Timestamp,
        checks: Vec<Check>,
    ) -> Self {
        let gates = rings
            .iter()
            .filter_map(|&ring| gate(&rollout, ring, cfg, rings, now))
            .collect();
        Self {
            rollout,
            gates,
            checks,
        }
    }
}

#[cfg(test)]
mod tests;
