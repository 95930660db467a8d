//! The promotion gate: may ring N be promoted? Answered from the durable rollout alone, so
//! every controller of a cluster answers the same and a restart changes no answer.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{RingPhase, Rollout};
use crate::clock::Timestamp;
use crate::config::rollout::RolloutConfig;

/// Where a gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatePhase {
    /// The rollout has not reached the ring yet.
    Pending,
    /// The ring is being deployed or is baking.
    Baking,
    /// The bake passed; a person's approval is still needed (`rollout.rings[].approval`).
    AwaitingApproval,
    /// The bake passed: the ring may be promoted.
    Passed,
    /// A ring of the rollout broke: no ring may be promoted.
    Broken,
    /// The rollout was aborted: no ring may be promoted.
    Aborted,
}

impl GatePhase {
    /// Its name, as the API gives it.
    pub const fn as_str(self) -> &'static str {
        match self {
            GatePhase::Pending => "pending",
            GatePhase::Baking => "baking",
            GatePhase::AwaitingApproval => "awaiting_approval",
            GatePhase::Passed => "passed",
            GatePhase::Broken => "broken",
            GatePhase::Aborted => "aborted",
        }
    }

    /// Whether the answer is final: waiting longer will not open the gate.
    pub const fn shut_for_good(self) -> bool {
        matches!(self, GatePhase::Broken | GatePhase::Aborted)
    }
}

/// A gate's answer, as `GET /v1/rollouts/{id}/gate?ring=N` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// The rollout.
    pub rollout: String,
    /// The ring asked about.
    pub ring: u32,
    /// Whether the ring may be promoted.
    pub promote: bool,
    /// Where it stands.
    pub phase: GatePhase,
    /// Why, in words (the failed validation and its figures, when broken).
    pub reason: String,
    /// Bake time left, as a duration (`1h 12m`; `0s` when none).
    pub remaining: String,
    /// Bake time left, in whole seconds.
    pub remaining_seconds: u64,
}

fn whole(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// The gate of `ring` of rollout `r` at `now`; `rings` are the configured rings. None when
/// `ring` is not one of them.
pub fn gate(
    r: &Rollout,
    ring: u32,
    cfg: &RolloutConfig,
    rings: &BTreeSet<u32>,
    now: Timestamp,
) -> Option<Gate> {
    if !rings.contains(&ring) {
        return None;
    }
    let bake = cfg.bake(ring);
    let answer = |promote, phase, reason: String, left: Duration| Gate {
        rollout: r.id.clone(),
        ring,
        promote,
        phase,
        reason,
        remaining: whole(left),
        remaining_seconds: left.as_secs(),
    };
    if let Some(m) = &r.aborted {
        return Some(answer(
            false,
            GatePhase::Aborted,
            format!("aborted by {} at {}: {}", m.actor, m.at, m.reason),
            Duration::ZERO,
        ));
    }
    let broke = |n: u32, validation: &str, detail: &str| {
        let whose = if n == ring {
            String::new()
        } else {
            format!("ring {n} of this rollout broke: ")
        };
        answer(
            false,
            GatePhase::Broken,
            format!("{whose}{validation} failed: {detail}; roll ring {n} back to the old version"),
            Duration::ZERO,
        )
    };
    // Another ring's break shuts this gate too; this ring's own is its phase, below.
    if let Some((n, other)) = r.broken_ring().filter(|(n, _)| *n != ring)
        && let RingPhase::Broken {
            validation, detail, ..
        } = &other.phase
    {
        return Some(broke(n, validation, detail));
    }
    let Some(state) = r.rings.get(&ring) else {
        return Some(answer(
            false,
            GatePhase::Pending,
            format!(
                "the rollout has not reached ring {ring}; it is at ring {}",
                r.ring
            ),
            bake,
        ));
    };
    if let Some(m) = r.ended.as_ref().filter(|_| r.broken_ring().is_none()) {
        // Aborted rollouts are answered above, broken ones by their broken ring: this one
        // went out.
        return Some(answer(
            true,
            GatePhase::Passed,
            format!("the rollout ended at {}: {}", m.at, m.reason),
            Duration::ZERO,
        ));
    }
    if let Some(m) = &state.promoted {
        // Promoted (by a person, forced or not, or by the next ring's deploy): the gate was
        // passed, whatever the bake had left.
        return Some(answer(
            true,
            GatePhase::Passed,
            format!("promoted by {} at {}: {}", m.actor, m.at, m.reason),
            Duration::ZERO,
        ));
    }
    Some(match &state.phase {
        RingPhase::Deploying { since } => answer(
            false,
            GatePhase::Baking,
            format!(
                "waiting since {since} for every region of ring {ring} to report version {}; the {} bake starts then",
                r.version,
                whole(bake)
            ),
            bake,
        ),
        RingPhase::Baking { since } => {
            let left = bake.saturating_sub(now.since(*since));
            let reason = if left.is_zero() {
                "the bake time is over; waiting for every validation to hold on a fresh figure"
                    .to_owned()
            } else {
                format!("baking since {since}; {} left", whole(left))
            };
            answer(false, GatePhase::Baking, reason, left)
        }
        RingPhase::Passed { at, .. } => match (&state.approved, cfg.approval(ring)) {
            (None, true) => answer(
                false,
                GatePhase::AwaitingApproval,
                format!(
                    "the bake passed at {at}; waiting for a person's approval (failoverd rollout approve --id {} --ring {ring} --reason ...)",
                    r.id
                ),
                Duration::ZERO,
            ),
            (Some(m), _) => answer(
                true,
                GatePhase::Passed,
                format!("the bake passed at {at}; approved by {}", m.actor),
                Duration::ZERO,
            ),
            (None, false) => answer(
                true,
                GatePhase::Passed,
                format!("the bake passed at {at} with every validation holding"),
                Duration::ZERO,
            ),
        },
        RingPhase::Broken {
            validation, detail, ..
        } => broke(ring, validation, detail),
    })
}
