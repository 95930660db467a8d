//! DR drills as durable intents: each drill, live or ended, with its measured report. They are
//! kept with the drains and freezes, so a restart (even `kill -9`) finds a drill mid-run and
//! restores its regions, and a cluster's controllers share them. The rules of a run live in the
//! drill module, above the planner.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::share::Share;

/// Longest drill id.
pub const MAX_ID_CHARS: usize = 128;

/// One DR drill: what it evacuates, where it stands and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    /// Its id: `NAME-YYYYMMDDTHHMMZ` for a scheduled drill (the time it was due), `adhoc-...`
    /// for one an operator ran.
    pub id: String,
    /// The configured drill it runs (`drills[].name`); None for an ad-hoc drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The service it drills, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The regions it evacuates.
    pub regions: Vec<String>,
    /// The ring those regions make up, for a ring drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<u32>,
    /// Who asked: the controller's id for a scheduled drill, the operator's name otherwise.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When it was due (scheduled) or asked for (ad-hoc).
    pub due: Timestamp,
    /// The same in the drill's time zone, for a scheduled drill (`2026-12-01 10:00
    /// Europe/Berlin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_local: Option<String>,
    /// How long the regions are held evacuated.
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// The evacuation's objective.
    #[serde(with = "humantime_serde")]
    pub objective: Duration,
    /// The restore's objective.
    #[serde(with = "humantime_serde")]
    pub restore_objective: Duration,
    /// Where it stands.
    pub phase: DrillPhase,
    /// When the evacuation began (preflight passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    /// Each drilled region's share when it began.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shares_before: BTreeMap<String, Share>,
    /// When every drilled region read back at 0%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evacuated: Option<Timestamp>,
    /// When the restore began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restoring: Option<Timestamp>,
    /// When every drilled region read back at its share from before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<Timestamp>,
    /// An abort: asked by an operator (`failoverd drill abort`) or decided by the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortMark>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// What happened, in order, each with its time: preflight, each share step, the hold,
    /// an abort, the restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Shares and utilization over the drill, for the report's chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// Each abort query's figures over the drill, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, Figure>,
}

// Utilization figures are finite (loads and capacities are), so equality is total.
impl Eq for Drill {}

/// Where a drill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillPhase {
    /// Asked for by an operator; the controller's preflight comes next.
    Requested,
    /// The regions' traffic is moving away, step by step within headroom.
    Evacuating,
    /// Every drilled region is at 0%, held for `hold`.
    Holding,
    /// The regions ramp back with the normal ramp.
    Restoring,
    /// Over: see the outcome.
    Ended,
}

impl DrillPhase {
    /// The name used in the API, the journal and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DrillPhase::Requested => "requested",
            DrillPhase::Evacuating => "evacuating",
            DrillPhase::Holding => "holding",
            DrillPhase::Restoring => "restoring",
            DrillPhase::Ended => "ended",
        }
    }

    /// Its place in the order a drill goes through (requested 0 ... ended 4).
    pub const fn rank(self) -> u8 {
        match self {
            DrillPhase::Requested => 0,
            DrillPhase::Evacuating => 1,
            DrillPhase::Holding => 2,
            DrillPhase::Restoring => 3,
            DrillPhase::Ended => 4,
        }
    }

    /// Whether the drill still drains or restores its regions.
    pub const fn live(self) -> bool {
        !matches!(self, DrillPhase::Ended)
    }
}

/// Who stopped a drill early, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortMark {
    /// An operator's name, or the controller's id for an abort condition it saw.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// How a drill ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Evacuated and restored within their objectives.
    Passed,
    /// Ran, but missed an objective (or could not finish).
    Failed {
        /// Which objective, with the figures.
        reason: String,
    },
    /// Stopped early: restored, or, for a real outage of a drilled region, left to the verdict
    /// rules.
    Aborted {
        /// The abort's reason.
        reason: String,
    },
    /// Never started: blocked, or the preflight found something in the way.
    Skipped {
        /// Why, with the figures.
        reason: String,
        /// The operator who skipped it (`failoverd drill skip`); None when failoverd did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

impl Outcome {
    /// `passed`, `failed`, `aborted` or `skipped`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::Aborted { .. } => "aborted",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    /// The reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Passed => None,
            Outcome::Failed { reason }
            | Outcome::Aborted { reason }
            | Outcome::Skipped { reason, .. } => Some(reason),
        }
    }
}

/// One event of a drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// When it happened.
    pub at: Timestamp,
    /// What happened, with its figures.
    pub what: String,
}

/// Every region's share and utilization at one moment of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When.
    pub at: Timestamp,
    /// By region: its share and its utilization (load / capacity) when known.
    pub regions: BTreeMap<String, (Share, Option<f64>)>,
}

/// An abort query's figures over a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Highest value seen.
    pub peak: f64,
    /// Lowest value seen.
    pub low: f64,
    /// Latest value seen.
    pub last: f64,
}

/// A request to run a drill now: `POST /v1/drills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRequest {
    /// The region to evacuate (or `ring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The ring to evacuate (or `region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<u32>,
    /// The service, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How long to hold; default the configured drill's of that region, else 10 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// The evacuation's objective; default the configured drill's, else 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Why.
    pub reason: String,
}

/// `POST /v1/drills/{id}/abort` and `POST /v1/drills/skip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillStop {
    /// For a skip: the configured drill whose next run is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why.
    pub reason: String,
}
