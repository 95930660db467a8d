//! Ring rollout series: each gate, its phase and the bake time left, for the rollouts status
//! shows (a rollout's series go when it leaves status).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::rollout::{GatePhase, RolloutStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GateLabel {
    rollout: String,
    ring: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    rollout: String,
    ring: String,
    phase: String,
}

const PHASES: [GatePhase; 6] = [
    GatePhase::Pending,
    GatePhase::Baking,
    GatePhase::AwaitingApproval,
    GatePhase::Passed,
    GatePhase::Broken,
    GatePhase::Aborted,
];

/// The rollout families.
pub(super) struct Gates {
    open: Family<GateLabel, Gauge>,
    phase: Family<PhaseLabel, Gauge>,
    remaining: Family<GateLabel, Gauge>,
}

impl Gates {
    /// Registers the families in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let gates = Self {
            open: Family::default(),
            phase: Family::default(),
            remaining: Family::default(),
        };
        registry.register(
            "rollout_gate_open",
            "1 while the ring of the rollout may be promoted, 0 while its gate is shut",
            gates.open.clone(),
        );
        registry.register(
            "rollout_ring_phase",
            "1 for the phase of the ring's gate (pending, baking, awaiting_approval, passed, broken, aborted), 0 for the others",
            gates.phase.clone(),
        );
        registry.register(
            "rollout_bake_remaining_seconds",
            "Bake time the ring has left before its gate can open",
            gates.remaining.clone(),
        );
        gates
    }

    /// Sets the series of `rollouts`, and only theirs.
    pub(super) fn set(&self, rollouts: &[RolloutStatus]) {
        self.open.clear();
        self.phase.clear();
        self.remaining.clear();
        for r in rollouts {
            for g in &r.gates {
                let label = GateLabel {
                    rollout: g.rollout.clone(),
                    ring: g.ring.to_string(),
                };
                self.open.get_or_create(&label).set(i64::from(g.promote));
                self.remaining
                    .get_or_create(&label)
                    .set(i64::try_from(g.remaining_seconds).unwrap_or(i64::MAX));
                for p in PHASES {
                    self.phase
                        .get_or_create(&PhaseLabel {
                            rollout: g.rollout.clone(),
                            ring: g.ring.to_string(),
                            phase: p.as_str().to_owned(),
                        })
                        .set(i64::from(g.phase == p));
                }
            }
        }
    }
}
