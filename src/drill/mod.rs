//! DR drills: scheduled and ad-hoc evacuations of a region (or a ring), measured and reported.
//!
//! A drill ([`Drill`], durable with the other intents) goes through its phases, each tick, in
//! [`Watch::tick`]:
//! - **due**: a configured drill's cron time (in its time zone) has come; in a blocked date or
//!   window it is recorded as skipped, with the reason;
//! - **preflight**: every region Healthy, no other drill, live rollout, freeze or manual drain in
//!   the way, and the survivors have room for all of the drilled regions' traffic (the planner's
//!   own headroom rule, moved in one go) — else skipped, with the figures, and alarmed;
//! - **evacuating**: the regions go to the planner as drained ([`DrillInput`]), so their traffic
//!   moves through the same stepped, headroom-checked path as a real failure's;
//! - **holding** once every drilled region reads back at 0%, for `hold`;
//! - **restoring** with the normal ramp; **ended** once every region is back where it was.
//!
//! It aborts at once (and restores) when a survivor goes Degraded or Down, a survivor passes
//! `max_utilization`, an abort query crosses its threshold, a freeze starts, an operator says
//! `failoverd drill abort`, or the controller that ran it restarted. A real outage of a drilled
//! region ends the drill: the verdict rules drain the region from then on. Nothing here does
//! I/O or reads a clock.

mod preflight;
pub mod report;
pub mod rules;
mod run;
mod watch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::preflight::{Room, Rooms, room};
pub use self::watch::{Seen, Tick, Watch, reads_regions};
use crate::clock::Timestamp;
use crate::health::Verdict;
pub use crate::intent::drill::{AbortMark, Drill, DrillPhase, Figure, Outcome, Sample, Step};
pub use crate::plan::DrillInput;
use crate::rollout::Reading;
use crate::share::Share;

/// What a tick knows of one region, for the drills.
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
    /// Its share as the backend last read it.
    pub share: Option<Share>,
    /// Its utilization (load / capacity), when its load is known.
    pub utilization: Option<f64>,
    /// Each query's latest figure for it, by key (an abort query's is
    /// [`crate::config::drill::AbortConfig::key`]).
    pub readings: BTreeMap<String, Reading>,
}

/// A drill's record, changed: put in the store as it is (an operator's abort already stored
/// is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The drill as it now stands.
    pub drill: Drill,
    /// What changed, for the journal (empty: only new samples).
    pub note: String,
}

impl Change {
    /// Puts the changed drill among `drills`, keeping an abort an operator stored meanwhile.
    /// A record never goes back: a change worked out from an older view than the stored one
    /// (the stored drill further on, or ended, by an operator's abort or another controller)
    /// is dropped.
    pub fn apply(&self, drills: &mut BTreeMap<String, Drill>) {
        let mut d = self.drill.clone();
        if let Some(stored) = drills.get(&d.id) {
            if stored.phase.rank() > d.phase.rank() || stored.phase == DrillPhase::Ended {
                return;
            }
            if d.abort.is_none() {
                d.abort.clone_from(&stored.abort);
            }
        }
        drills.insert(d.id.clone(), d);
    }
}

/// A configured drill's next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextDrill {
    /// The configured drill.
    pub name: String,
    /// Its service, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What it evacuates.
    pub regions: Vec<String>,
    /// When it is due.
    pub at: Timestamp,
    /// The same, in the drill's time zone.
    pub local: String,
    /// The schedule in words.
    pub schedule: String,
    /// Why it will not run then (a blocked date or window, or an operator's skip), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A drill as status shows it: where it stands and its figures, without its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brief {
    /// Its id.
    pub id: String,
    /// Its service, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What it evacuates.
    pub regions: Vec<String>,
    /// Where it stands.
    pub phase: DrillPhase,
    /// When it was due.
    pub due: Timestamp,
    /// Its figures (the result among them).
    pub figures: report::Figures,
    /// Why it ended as it did, if it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Brief {
    /// The brief of `d`.
    pub fn new(d: &Drill) -> Self {
        let reason = d
            .outcome
            .as_ref()
            .and_then(|o| o.reason().map(str::to_owned));
        let figures = report::Figures::of(d);
        Self {
            id: d.id.clone(),
            service: d.service.clone(),
            regions: d.regions.clone(),
            phase: d.phase,
            due: d.due,
            figures,
            reason,
        }
    }
}

/// How long an ended drill's skip or failure stays alarmed.
pub const ALARMED_AFTER_END: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A run of configured drill `cfg` due at `due`, as requested: its id, the regions it
/// evacuates, its hold and objectives, and `due` in its time zone. The callers set what
/// differs (an operator's skip ends it at once).
pub fn run_of(
    cfg: &crate::config::drill::DrillConfig,
    service: Option<String>,
    regions: Vec<String>,
    actor: &str,
    reason: String,
    due: Timestamp,
) -> Drill {
    let due_local = crate::config::drill::Schedule::new(cfg)
        .ok()
        .map(|s| s.local(due));
    Drill {
        id: scheduled_id(&cfg.name, due),
        name: Some(cfg.name.clone()),
        service,
        regions,
        ring: cfg.ring,
        actor: actor.to_owned(),
        reason,
        due,
        due_local,
        hold: cfg.hold,
        objective: cfg.objective,
        restore_objective: cfg.restore_objective.unwrap_or(cfg.objective),
        phase: DrillPhase::Requested,
        started: None,
        shares_before: BTreeMap::new(),
        evacuated: None,
        restoring: None,
        restored: None,
        abort: None,
        outcome: None,
        steps: Vec::new(),
        samples: Vec::new(),
        figures: BTreeMap::new(),
    }
}

/// The regions a drill of `region` or of `ring` evacuates, among `regions` (name, ring).
pub fn drilled<'a>(
    region: Option<&str>,
    ring: Option<u32>,
    regions: impl IntoIterator<Item = (&'a str, u32)>,
) -> Vec<String> {
    match (region, ring) {
        (Some(r), _) => vec![r.to_owned()],
        (None, Some(ring)) => regions
            .into_iter()
            .filter(|(_, g)| *g == ring)
            .map(|(n, _)| n.to_owned())
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// `t` as a compact UTC time for ids: `20261201T0900Z`.
pub fn compact_utc(t: Timestamp) -> String {
    let i = jiff::Timestamp::from_millisecond(i64::try_from(t.0).unwrap_or(i64::MAX))
        .unwrap_or(jiff::Timestamp::MAX);
    i.strftime("%Y%m%dT%H%MZ").to_string()
}

/// The id of configured drill `name`'s run due at `due`.
pub fn scheduled_id(name: &str, due: Timestamp) -> String {
    format!("{name}-{}", compact_utc(due))
}

/// Seconds, for reports: `42s`, `3m 5s`.
pub fn took(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests;
