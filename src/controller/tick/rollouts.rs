//! What a tick tells the ring rollouts and the DR drills, and what it takes from them.

use super::TickState;
use std::collections::BTreeMap;

use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::plan::{DrillInput, PlanInput, RolloutInput};
use crate::rollout::RegionView;
use crate::status::Evacuable;
use crate::traffic::Shares;

impl TickState {
    /// Each region as the rollouts see it: ring, verdict (combined, in a cluster), the versions
    /// its targets report and its validations' latest figures.
    pub fn rollout_regions(&self) -> Vec<RegionView> {
        self.config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let (verdict, verdict_reason, _) = self.verdict_of(&r.name);
                RegionView {
                    name: r.name.clone(),
                    ring: r.ring,
                    verdict,
                    verdict_reason,
                    versions: rt.versions.clone(),
                    validations: rt.validations.clone(),
                }
            })
            .collect()
    }

    /// Whether any region's targets have reported a version (`rollout.version_pointer`).
    pub fn reports_versions(&self) -> bool {
        self.regions.values().any(|rt| !rt.versions.is_empty())
    }

    /// The regions the rollouts drain and their alarms, for the coming step.
    pub fn set_rollouts(&mut self, inputs: Vec<RolloutInput>, alarms: Vec<Alarm>) {
        self.rollouts = (inputs, alarms);
    }

    /// Each region as the drills see it: ring, verdict, share as last read, utilization and
    /// the latest figure of every query.
    pub fn drill_regions(&self) -> Vec<crate::drill::RegionView> {
        self.config
            .regions
            .iter()
            .map(|r| {
                let rt = &self.regions[&r.name];
                let (verdict, verdict_reason, _) = self.verdict_of(&r.name);
                let capacity = rt.reported_capacity.unwrap_or(r.capacity());
                let load = rt.load.map(|l| l.load_rps).or(r.load_rps);
                crate::drill::RegionView {
                    name: r.name.clone(),
                    ring: r.ring,
                    verdict,
                    verdict_reason,
                    share: self.last_actual.get(&r.name).copied(),
                    utilization: load.filter(|_| capacity > 0.0).map(|l| l / capacity),
                    readings: rt.validations.clone(),
                }
            })
            .collect()
    }

    /// The regions the drills drain and their alarms, for the coming step.
    pub fn set_drills(&mut self, inputs: Vec<DrillInput>, alarms: Vec<Alarm>) {
        self.drills = (inputs, alarms);
    }

    /// Works out every region's evacuation readiness from `input`, keeps it for status and
    /// returns the alarm for the serving regions whose traffic would not all fit.
    pub(super) fn readiness(
        &mut self,
        input: &PlanInput,
        actual: &Shares,
        policy: &crate::plan::Policy,
        now: Timestamp,
    ) -> Option<Alarm> {
        let max_age = self.config.policy.load_max_age;
        let inputs = fingerprint(input, actual, &self.drills.0, max_age, now);
        let fresh = self.readiness_of.as_ref().is_some_and(|a| {
            a.inputs == inputs && a.intents == input.intents && now.since(a.at) < READINESS_MAX_AGE
        });
        if !fresh {
            let short = self.assess(input, actual, policy, now);
            self.readiness_of = Some(Assessed {
                inputs,
                intents: input.intents.clone(),
                at: now,
                short,
            });
        }
        let short = self
            .readiness_of
            .as_ref()
            .map(|a| a.short.clone())
            .unwrap_or_default();
        // Loads read just after a move count at the worst until measured again: only a
        // region's shortfall that outlasts three probe rounds and a tick is news.
        self.unevacuable_since
            .retain(|region, _| short.iter().any(|(r, _)| r == region));
        let settle = self.config.probe.interval * 3 + self.config.controller.tick_interval;
        let short: Vec<String> = short
            .into_iter()
            .filter(|(region, _)| {
                let since = *self.unevacuable_since.entry(region.clone()).or_insert(now);
                now.since(since) >= settle
            })
            .map(|(_, text)| text)
            .collect();
        let ceiling = self.config.policy.max_utilization.get();
        (!short.is_empty()).then(|| {
            Alarm::new(
                AlarmCode::RegionNotEvacuable,
                format!(
                    "N+1 lost: if it failed now, the survivors could not take all of its traffic under max_utilization {:.0}%: {}",
                    ceiling * 100.0,
                    short.join("; ")
                ),
            )
        })
    }

    /// Works out each region's evacuation readiness (into `self.readiness`) and returns the
    /// Healthy regions whose users would not all fit, each with its figures.
    fn assess(
        &mut self,
        input: &PlanInput,
        actual: &Shares,
        policy: &crate::plan::Policy,
        now: Timestamp,
    ) -> Vec<(String, String)> {
        // A region a drill holds away is back the moment a real outage aborts the drill: it
        // counts as a survivor at its full share.
        let mut input = input.clone();
        for r in &mut input.regions {
            if self.drills.0.iter().any(|d| d.region == r.name) {
                r.actual = crate::share::Share::FULL;
            }
        }
        let input = &input;
        let mut rooms = crate::drill::Rooms::new(input, policy);
        let mut short = Vec::new();
        self.readiness = BTreeMap::new();
        for r in &input.regions {
            // Nothing to evacuate from a region serving nothing, or one a drill moves; and
            // without its load, nothing to say.
            let serving = actual.get(&r.name).is_some_and(|s| s.is_serving());
            let drilled = self.drills.0.iter().any(|d| d.region == r.name);
            if r.load.is_none() || !serving || drilled {
                continue;
            }
            let Some(room) = rooms.of(std::slice::from_ref(&r.name), now) else {
                continue;
            };
            // Written once, for the alarm and the status.
            let survivors = room.survivors_text();
            if r.verdict == Verdict::Healthy && room.fit() < 1.0 {
                short.push((
                    r.name.clone(),
                    format!(
                        "{}: {:.0} of its {:.0} rps would not fit ({:.0}% evacuable; survivors {})",
                        r.name,
                        room.unplaced_rps,
                        room.load_rps,
                        (room.fit() * 100.0).floor(),
                        survivors
                    ),
                ));
            }
            let e = Evacuable {
                fit: room.fit(),
                load_rps: room.load_rps,
                unplaced_rps: room.unplaced_rps,
                survivors: survivors.into(),
            };
            self.readiness.insert(r.name.clone(), e);
        }
        short
    }
}

/// A readiness worked out: what from, when, and the shortfalls found.
#[derive(Debug, Clone)]
pub(super) struct Assessed {
    /// The [`fingerprint`] of the regions, rollouts and drills.
    inputs: u64,
    /// The intents, compared as they are: a tick compares them in a fraction of the time that
    /// hashing every knob's record of what failoverd set took.
    intents: crate::intent::Intents,
    pub(super) at: Timestamp,
    short: Vec<(String, String)>,
}

/// The longest a readiness worked out stays in use while its inputs do not change.
const READINESS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// What the readiness depends on besides the intents, as one number: each region's verdict,
/// share, load (to a percent of its capacity) and capacity, the rollouts and drills.
///
/// Each region's figures are hashed as values, and the rest as the text it writes, straight
/// into the hasher ([`HashWriter`]): every tick of a large estate works it out, and formatting
/// every region's figures cost more than all the rest of it.
fn fingerprint(
    input: &PlanInput,
    actual: &Shares,
    drills: &[DrillInput],
    max_age: std::time::Duration,
    now: Timestamp,
) -> u64 {
    use std::fmt::Write as _;
    use std::hash::{Hash, Hasher};
    let mut h = HashWriter(std::collections::hash_map::DefaultHasher::new());
    for r in &input.regions {
        // A reading that goes stale counts as no room, and one taken at another share is
        // scaled by it: both change the answer as much as the load does.
        let load = r.load.map(|l| {
            (
                (l.load_rps / r.capacity_rps.max(1.0) * 100.0).round() as i64,
                l.share.map(|s| s.get()),
                now.since(l.at) > max_age,
            )
        });
        (
            r.name.as_str(),
            r.verdict,
            r.actual.get(),
            actual.get(&r.name).map(|s| s.get()),
            load,
            r.capacity_rps.round() as i64,
            r.all_or_nothing,
            r.healthy_own_per_point.map(|p| (p * 100.0).round() as i64),
        )
            .hash(&mut h.0);
    }
    // Writing into a hasher cannot fail.
    write!(h, "|{:?}|{:?}", input.rollouts, drills).unwrap_or_default();
    h.0.finish()
}

/// Feeds what is written to it into a hasher, so a fingerprint is hashed without first being
/// built as a string.
struct HashWriter(std::collections::hash_map::DefaultHasher);

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        std::hash::Hasher::write(&mut self.0, s.as_bytes());
        Ok(())
    }
}
