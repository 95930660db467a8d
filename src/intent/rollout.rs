//! Ring rollouts as durable intents: a version going out ring by ring, where each ring's bake
//! stands, and what people said (promote, approve, abort). They are kept with the drains and
//! freezes, so they survive restarts and are shared by a cluster's controllers; the rules of a
//! bake live in the rollout module, above the planner.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Longest rollout id: a version string or a pipeline's run id.
pub const MAX_ID_CHARS: usize = 128;

/// A version going out ring by ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Its id (usually the version).
    pub id: String,
    /// The version the deep-health bodies report while running it.
    pub version: String,
    /// The service it deploys, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Who started it (the controller's id when a version seen started it).
    pub actor: String,
    /// Why, in their words.
    pub reason: String,
    /// When it started.
    pub started_at: Timestamp,
    /// The ring it has reached.
    pub ring: u32,
    /// Each ring reached, by number.
    pub rings: BTreeMap<u32, Ring>,
    /// The kill switch: every ring on the new version drains and every gate shuts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Mark>,
    /// Regions whose drain by this rollout ended (an operator's undrain, or a rollback seen),
    /// by region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub released: BTreeMap<String, Mark>,
    /// When it ended: its last ring passed, or it broke or was aborted and no region is held
    /// drained by it any more. An ended rollout changes nothing; its gates still answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Mark>,
}

/// One ring of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring {
    /// Where its bake stands (`phase` and its times, beside the other fields).
    #[serde(flatten)]
    pub phase: RingPhase,
    /// A person's approval, for a ring whose gate needs one (`rollout.rings[].approval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Mark>,
    /// Its promotion: the next ring started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<Mark>,
}

/// Where a ring's bake stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RingPhase {
    /// The version is on its way: the bake starts when every region of the ring reports it.
    Deploying {
        /// Since when.
        since: Timestamp,
    },
    /// The bake clock runs from `since`; every validation is checked each probe round.
    Baking {
        /// When the bake started.
        since: Timestamp,
    },
    /// The bake ran its full time with every validation holding.
    Passed {
        /// When the bake started.
        since: Timestamp,
        /// When it passed.
        at: Timestamp,
    },
    /// A validation failed: the ring is drained and its gate shut.
    Broken {
        /// When the bake started.
        since: Timestamp,
        /// When it broke.
        at: Timestamp,
        /// The validation that failed (`deep-health` for a verdict).
        validation: String,
        /// What was seen, with its figures.
        detail: String,
    },
}

/// Who did something, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Who.
    pub actor: String,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

impl RingPhase {
    /// Its name, as the API and metrics give it.
    pub const fn name(&self) -> &'static str {
        match self {
            RingPhase::Deploying { .. } => "deploying",
            RingPhase::Baking { .. } => "baking",
            RingPhase::Passed { .. } => "passed",
            RingPhase::Broken { .. } => "broken",
        }
    }

    /// When its bake started, once it has.
    pub const fn bake_started(&self) -> Option<Timestamp> {
        match self {
            RingPhase::Deploying { .. } => None,
            RingPhase::Baking { since }
            | RingPhase::Passed { since, .. }
            | RingPhase::Broken { since, .. } => Some(*since),
        }
    }
}

impl Ring {
    /// A ring in `phase`, neither approved nor promoted yet.
    pub const fn new(phase: RingPhase) -> Self {
        Self {
            phase,
            approved: None,
            promoted: None,
        }
    }
}

/// What starts a rollout: who, why, when, and where its first ring stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Its id.
    pub id: String,
    /// The version it takes out.
    pub version: String,
    /// Its service, in a config with `[[services]]`.
    pub service: Option<String>,
    /// Who starts it, when and why.
    pub by: Mark,
    /// Its first ring.
    pub ring: u32,
    /// Where that ring stands.
    pub phase: RingPhase,
}

impl Rollout {
    /// A rollout just started, at its first ring.
    pub fn new(start: Start) -> Self {
        Self {
            id: start.id,
            version: start.version,
            service: start.service,
            actor: start.by.actor,
            reason: start.by.reason,
            started_at: start.by.at,
            ring: start.ring,
            rings: [(start.ring, Ring::new(start.phase))].into(),
            aborted: None,
            released: BTreeMap::new(),
            ended: None,
        }
    }

    /// The ring that broke, if one did.
    pub fn broken_ring(&self) -> Option<(u32, &Ring)> {
        self.rings
            .iter()
            .find(|(_, r)| matches!(r.phase, RingPhase::Broken { .. }))
            .map(|(n, r)| (*n, r))
    }

    /// Whether the ring it is at has passed its bake.
    pub fn at_passed_ring(&self) -> bool {
        self.rings
            .get(&self.ring)
            .is_some_and(|g| matches!(g.phase, RingPhase::Passed { .. }))
    }

    /// Whether it still acts (not ended).
    pub const fn live(&self) -> bool {
        self.ended.is_none()
    }

    /// Whether it is still on its way: live, neither broken nor aborted. Another rollout of
    /// the same service waits for it.
    pub fn in_progress(&self) -> bool {
        self.live() && self.aborted.is_none() && self.broken_ring().is_none()
    }
}

/// A request to start a rollout: the flags of `failoverd rollout start` and the body of
/// `POST /v1/rollouts`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStartRequest {
    /// Rollout id, usually the version being deployed (v2.1.0).
    #[arg(long)]
    pub id: String,
    /// The ring being deployed first (default: the lowest, the canary).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<u32>,
    /// The version the deep-health bodies report when running it (default: the id).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The service being deployed (when the config lists services).
    #[arg(long, value_name = "NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Why (recorded in the journal with your token's name).
    #[arg(long, default_value = "deploy")]
    #[serde(default = "deploy")]
    pub reason: String,
}

/// A request to act on one ring of a rollout: the flags of `failoverd rollout promote |
/// approve` and the body of `POST /v1/rollouts/{id}/promote | approve`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingRequest {
    /// The ring.
    #[arg(long)]
    pub ring: u32,
    /// Why (recorded in the journal with your token's name).
    #[arg(long)]
    pub reason: String,
    /// Promote even though the ring's gate is shut (audited).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// A request to abort a rollout: the flags of `failoverd rollout abort` and the body of
/// `POST /v1/rollouts/{id}/abort`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortRequest {
    /// Why (recorded in the journal with your token's name).
    #[arg(long)]
    pub reason: String,
}

fn deploy() -> String {
    "deploy".to_owned()
}
