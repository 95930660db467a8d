//! Watching rollouts tick by tick: bakes started, validations checked, rings passed or broken,
//! drains released, and the regions the planner must drain.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::checks::{Check, CheckState};
use super::held::{drains, unexpected};
use super::{Change, RegionView, RingPhase, Rollout, RolloutInput, What};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::rollout::RolloutConfig;
use crate::health::Verdict;

/// What one tick of [`Watch::tick`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Changes to record, in order (already made in the rollouts the rest was worked out from).
    pub changes: Vec<Change>,
    /// The regions to drain.
    pub inputs: Vec<RolloutInput>,
    /// Alarms in force.
    pub alarms: Vec<Alarm>,
    /// The baking rings' checks.
    pub checks: Vec<Check>,
    /// The rollouts after the changes.
    pub rollouts: BTreeMap<String, Rollout>,
}

/// Failing figures in a row, per rollout, ring, validation and region.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub(super) streaks: HashMap<(String, u32, String, String), Streak>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Streak {
    pub(super) failing: u32,
    pub(super) last: Timestamp,
}

/// Whether a tick of `service`'s rollouts among `rollouts` reads the service's regions: only a
/// rollout of the service (to advance, drain or show) or a version some region reports (to
/// start a rollout of, or find unexpected) gives it anything to read. Without either, the tick
/// finds nothing and the caller need not build the regions' views.
pub fn reads_regions(
    service: Option<&str>,
    rollouts: &BTreeMap<String, Rollout>,
    versions_reported: bool,
) -> bool {
    versions_reported || rollouts.values().any(|r| r.service.as_deref() == service)
}

/// The version the last ring runs (most of its regions), which every ring ran before a rollout
/// reached it; None with a single ring, or while the last ring's versions are unknown.
fn stable_version(
    regions: &[RegionView],
    rings: &BTreeSet<u32>,
    rollouts: &BTreeMap<String, Rollout>,
) -> Option<String> {
    let (&first, &last) = (rings.first()?, rings.last()?);
    if first == last {
        return None;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in regions.iter().filter(|r| r.ring == last) {
        for v in &r.versions {
            *counts.entry(v.as_str()).or_default() += 1;
        }
    }
    // A version some rollout brings, or brought and was stopped, is not what ran before it.
    let incoming = |v: &str| {
        rollouts.values().any(|r| {
            r.version == v && (r.live() || r.aborted.is_some() || r.broken_ring().is_some())
        })
    };
    counts
        .into_iter()
        .filter(|(v, _)| !incoming(v))
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v.to_owned())
}

/// A rollout id made of `version`: its characters that ids allow, the others as `_`.
fn id_of(version: &str) -> String {
    version
        .chars()
        .map(|c| if super::rules::id_char(c) { c } else { '_' })
        .collect()
}

/// What one tick's work on the rollouts reads: the settings, the controller acting, the
/// service's regions and rings, and the time.
#[derive(Clone, Copy)]
pub(super) struct Tick<'a> {
    pub(super) cfg: &'a RolloutConfig,
    pub(super) actor: &'a str,
    pub(super) regions: &'a [RegionView],
    pub(super) rings: &'a BTreeSet<u32>,
    pub(super) now: Timestamp,
}

impl Watch {
    /// One tick: the rollouts of `service` (None: a config without `[[services]]`) among
    /// `rollouts`, checked against `regions` at `now`. `actor` is this controller, the actor of
    /// the changes it finds.
    pub fn tick(
        &mut self,
        cfg: &RolloutConfig,
        actor: &str,
        service: Option<&str>,
        regions: &[RegionView],
        rollouts: &BTreeMap<String, Rollout>,
        now: Timestamp,
    ) -> Seen {
        let mut seen = Seen {
            rollouts: rollouts
                .iter()
                .filter(|(_, r)| r.service.as_deref() == service)
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect(),
            ..Seen::default()
        };
        let rings: BTreeSet<u32> = regions.iter().map(|r| r.ring).collect();
        let stable = stable_version(regions, &rings, &seen.rollouts);
        let t = Tick {
            cfg,
            actor,
            regions,
            rings: &rings,
            now,
        };
        Self::auto_start(t, rollouts, service, stable.as_deref(), &mut seen);
        let mut ids: Vec<(Timestamp, String)> = seen
            .rollouts
            .values()
            .filter(|r| r.live())
            .map(|r| (r.started_at, r.id.clone()))
            .collect();
        ids.sort();
        for (_, id) in ids {
            self.advance(t, &id, &mut seen);
            drains(t, &id, &mut seen);
        }
        self.streaks
            .retain(|(id, ..), _| seen.rollouts.get(id).is_some_and(Rollout::live));
        unexpected(regions, &rings, stable.as_deref(), &mut seen);
        seen
    }

    fn auto_start(
        t: Tick<'_>,
        all: &BTreeMap<String, Rollout>,
        service: Option<&str>,
        stable: Option<&str>,
        seen: &mut Seen,
    ) {
        let Tick {
            cfg,
            actor,
            regions,
            rings,
            now,
        } = t;
        if !cfg.auto_start || cfg.version_pointer.is_none() {
            return;
        }
        let (Some(stable), Some(&first)) = (stable, rings.first()) else {
            return;
        };
        if seen.rollouts.values().any(Rollout::in_progress) {
            return;
        }
        let known = |v: &str| seen.rollouts.values().any(|r| r.version == v);
        let Some(version) = regions
            .iter()
            .filter(|r| r.ring == first)
            .flat_map(|r| r.versions.iter())
            .find(|v| *v != stable && !known(v))
        else {
            return;
        };
        // Ids are shared by every service: another service's rollout of the same version
        // keeps its own.
        let id = match service {
            Some(s) => format!("{}:{}", id_of(s), id_of(version)),
            None => id_of(version),
        };
        if all.contains_key(&id) {
            return;
        }
        let reason = format!(
            "ring {first} reports version {version}, which no rollout expects (the last ring runs {stable})"
        );
        let rollout = Rollout::new(crate::intent::rollout::Start {
            id: id.clone(),
            version: version.clone(),
            service: service.map(str::to_owned),
            by: super::Mark {
                actor: actor.to_owned(),
                at: now,
                reason: reason.clone(),
            },
            ring: first,
            phase: RingPhase::Deploying { since: now },
        });
        record(
            seen,
            actor,
            now,
            Change {
                rollout: id,
                ring: first,
                what: What::Started(Box::new(rollout)),
                reason,
            },
        );
    }

    /// Moves rollout `id`'s current ring on, as far as the figures allow.
    fn advance(&mut self, t: Tick<'_>, id: &str, seen: &mut Seen) {
        let Tick {
            cfg,
            actor,
            regions,
            now,
            ..
        } = t;
        promote_seen(t, id, seen);
        let Some(r) = seen.rollouts.get(id).cloned() else {
            return;
        };
        if r.aborted.is_some() || r.broken_ring().is_some() {
            return;
        }
        let ring_no = r.ring;
        let Some(ring) = r.rings.get(&ring_no) else {
            return;
        };
        let members: Vec<&RegionView> = regions.iter().filter(|x| x.ring == ring_no).collect();
        let change = |what, reason| Change {
            rollout: id.to_owned(),
            ring: ring_no,
            what,
            reason,
        };
        match ring.phase {
            RingPhase::Deploying { since } => {
                let on = members.iter().filter(|m| m.runs_only(&r.version)).count();
                if cfg.version_pointer.is_none() || (on == members.len() && on > 0) {
                    let reason = format!(
                        "every region of ring {ring_no} reports version {}: the {} bake starts",
                        r.version,
                        humantime::format_duration(cfg.bake(ring_no))
                    );
                    record(seen, actor, now, change(What::BakeStarted, reason));
                    return;
                }
                // A region that says no version at all can never start the bake: a blind spot.
                let mute: Vec<&str> = members
                    .iter()
                    .filter(|m| m.versions.is_empty())
                    .map(|m| m.name.as_str())
                    .collect();
                if !mute.is_empty() && now.since(since) > cfg.max_silence {
                    seen.alarms.push(Alarm::new(
                        AlarmCode::RolloutValidationSilent,
                        format!(
                            "rollout {id} waits for ring {ring_no} to report version {}, but {} report{} no version at {}; its bake cannot start",
                            r.version,
                            mute.join(", "),
                            if mute.len() == 1 { "s" } else { "" },
                            cfg.version_pointer.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
            RingPhase::Baking { since } => {
                if let Some((validation, detail)) =
                    self.check(t, &r, ring_no, since, &members, seen)
                {
                    let reason = format!(
                        "{validation} failed: {detail}; draining ring {ring_no} and shutting every gate; roll it back"
                    );
                    record(
                        seen,
                        actor,
                        now,
                        change(What::Broken { validation, detail }, reason),
                    );
                    return;
                }
                // A bake passes only on figures seen, every one holding: not on silence, nor
                // with a figure failing, however short its streak.
                let unsure = members.iter().any(|m| m.verdict != Verdict::Healthy)
                    || seen.checks.iter().any(|c| {
                        c.rollout == id && (c.state != CheckState::Ok || c.value.is_none())
                    });
                if now.since(since) >= cfg.bake(ring_no) && !unsure {
                    let reason = format!(
                        "ring {ring_no} baked {} with every validation holding",
                        humantime::format_duration(cfg.bake(ring_no))
                    );
                    record(seen, actor, now, change(What::Passed, reason));
                    after_pass(t, id, seen);
                }
            }
            RingPhase::Passed { .. } => after_pass(t, id, seen),
            RingPhase::Broken { .. } => {}
        }
    }
}

/// A deploy of the next ring, seen once the current one passed, is its promotion.
fn promote_seen(t: Tick<'_>, id: &str, seen: &mut Seen) {
    let Tick {
        cfg,
        actor,
        regions,
        rings,
        now,
    } = t;
    let Some(r) = seen.rollouts.get(id).cloned() else {
        return;
    };
    // The gate of the ring it is at says whether that ring passed (and is approved).
    let next = rings.range(r.ring + 1..).next().copied();
    if let (Some(next), Some(_)) = (next, &cfg.version_pointer)
        && crate::rollout::gate(&r, r.ring, cfg, rings, now).is_some_and(|g| g.promote)
        && regions.iter().any(|x| x.ring == next && x.runs(&r.version))
    {
        let reason = format!(
            "ring {next} reports version {}: ring {} is promoted",
            r.version, r.ring
        );
        let promoted = Change {
            rollout: id.to_owned(),
            ring: r.ring,
            what: What::Promoted {
                next,
                baking: false,
            },
            reason,
        };
        record(seen, actor, now, promoted);
    }
}

/// After a ring passed: the rollout ends when it was the last ring and needs no approval (or
/// has it).
fn after_pass(t: Tick<'_>, id: &str, seen: &mut Seen) {
    let Tick {
        cfg,
        actor,
        rings,
        now,
        ..
    } = t;
    let Some(r) = seen.rollouts.get(id) else {
        return;
    };
    let last = rings.last().copied().unwrap_or(r.ring);
    let approved = r.rings.get(&r.ring).is_some_and(|x| x.approved.is_some());
    if r.ring >= last && (approved || !cfg.approval(r.ring)) && r.live() {
        let change = Change {
            rollout: id.to_owned(),
            ring: r.ring,
            what: What::Ended,
            reason: format!("every ring passed: version {} is out", r.version),
        };
        record(seen, actor, now, change);
    }
}

/// Makes `change` in `seen`'s rollouts and keeps it to record.
pub(super) fn record(seen: &mut Seen, actor: &str, now: Timestamp, change: Change) {
    change.apply(&mut seen.rollouts, actor, now);
    seen.changes.push(change);
}
