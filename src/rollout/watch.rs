//! Watching rollouts tick by tick: bakes started, validations checked, rings passed or broken,
//! drains released, and the regions the planner must drain.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{Change, DEEP_HEALTH, RegionView, RingPhase, Rollout, RolloutInput, What, figure};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::rollout::{RolloutConfig, ValidationConfig};
use crate::health::Verdict;
use crate::plan::RolloutPhase;

/// How one validation stands for one region of a baking ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Its latest figure holds.
    Ok,
    /// Its latest figure fails (the ring breaks after `rollout.failures` in a row).
    Failing,
    /// No figure within `rollout.max_silence`: the bake cannot pass on it.
    Silent,
}

/// One validation of one region of a baking ring, at the latest tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The rollout.
    pub rollout: String,
    /// The ring.
    pub ring: u32,
    /// The region.
    pub region: String,
    /// The validation.
    pub validation: String,
    /// Its latest figure, if any.
    pub value: Option<f64>,
    /// How it stands.
    pub state: CheckState,
    /// What was seen, with the thresholds.
    pub detail: String,
}

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
    streaks: HashMap<(String, u32, String, String), Streak>,
}

#[derive(Debug, Clone, Copy)]
struct Streak {
    failing: u32,
    last: Timestamp,
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
    // A live rollout's version in the last ring is on its way in, not what ran before it.
    let incoming = |v: &str| rollouts.values().any(|r| r.live() && r.version == v);
    let most = |counts: &mut dyn Iterator<Item = (&&str, &usize)>| {
        counts
            .max_by_key(|(_, n)| **n)
            .map(|(v, _)| (*v).to_owned())
    };
    most(&mut counts.iter().filter(|(v, _)| !incoming(v))).or_else(|| most(&mut counts.iter()))
}

/// A rollout id made of `version`: its characters that ids allow, the others as `_`.
fn id_of(version: &str) -> String {
    version
        .chars()
        .map(|c| if super::rules::id_char(c) { c } else { '_' })
        .collect()
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
        Self::auto_start(
            cfg,
            rollouts,
            actor,
            service,
            regions,
            &rings,
            stable.as_deref(),
            now,
            &mut seen,
        );
        let mut ids: Vec<(Timestamp, String)> = seen
            .rollouts
            .values()
            .filter(|r| r.live())
            .map(|r| (r.started_at, r.id.clone()))
            .collect();
        ids.sort();
        for (_, id) in ids {
            self.advance(cfg, actor, &id, regions, &rings, now, &mut seen);
            drains(&id, regions, now, actor, &mut seen);
        }
        self.streaks
            .retain(|(id, ..), _| seen.rollouts.get(id).is_some_and(Rollout::live));
        unexpected(regions, &rings, stable.as_deref(), &mut seen);
        seen
    }

    #[allow(clippy::too_many_arguments)]
    fn auto_start(
        cfg: &RolloutConfig,
        all: &BTreeMap<String, Rollout>,
        actor: &str,
        service: Option<&str>,
        regions: &[RegionView],
        rings: &BTreeSet<u32>,
        stable: Option<&str>,
        now: Timestamp,
        seen: &mut Seen,
    ) {
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
        let rollout = Rollout {
            id: id.clone(),
            version: version.clone(),
            service: service.map(str::to_owned),
            actor: actor.to_owned(),
            reason: reason.clone(),
            started_at: now,
            ring: first,
            rings: [(
                first,
                super::Ring {
                    phase: RingPhase::Deploying { since: now },
                    approved: None,
                    promoted: None,
                },
            )]
            .into(),
            aborted: None,
            released: BTreeMap::new(),
            ended: None,
        };
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
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        cfg: &RolloutConfig,
        actor: &str,
        id: &str,
        regions: &[RegionView],
        rings: &BTreeSet<u32>,
        now: Timestamp,
        seen: &mut Seen,
    ) {
        self.promote_seen(cfg, actor, id, regions, rings, now, seen);
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
                    self.check(cfg, &r, ring_no, since, &members, regions, now, seen)
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
                let silent = seen
                    .checks
                    .iter()
                    .any(|c| c.rollout == id && c.state == CheckState::Silent);
                if now.since(since) >= cfg.bake(ring_no) && !silent {
                    let reason = format!(
                        "ring {ring_no} baked {} with every validation holding",
                        humantime::format_duration(cfg.bake(ring_no))
                    );
                    record(seen, actor, now, change(What::Passed, reason));
                    after_pass(cfg, actor, id, rings, now, seen);
                }
            }
            RingPhase::Passed { .. } => after_pass(cfg, actor, id, rings, now, seen),
            RingPhase::Broken { .. } => {}
        }
    }

    /// A deploy of the next ring, seen once the current one passed, is its promotion.
    #[allow(clippy::too_many_arguments)]
    fn promote_seen(
        &self,
        cfg: &RolloutConfig,
        actor: &str,
        id: &str,
        regions: &[RegionView],
        rings: &BTreeSet<u32>,
        now: Timestamp,
        seen: &mut Seen,
    ) {
        let Some(r) = seen.rollouts.get(id).cloned() else {
            return;
        };
        let passed = r
            .rings
            .get(&r.ring)
            .is_some_and(|x| matches!(x.phase, RingPhase::Passed { .. }));
        let next = rings.range(r.ring + 1..).next().copied();
        if let (true, Some(next), Some(_)) = (passed, next, &cfg.version_pointer)
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

    /// Checks ring `ring_no` of `r`, baking since `since`: verdicts first, then every
    /// validation. Returns the failure that breaks it, if one does; adds every check to `seen`.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        cfg: &RolloutConfig,
        r: &Rollout,
        ring_no: u32,
        since: Timestamp,
        members: &[&RegionView],
        regions: &[RegionView],
        now: Timestamp,
        seen: &mut Seen,
    ) -> Option<(String, String)> {
        if let Some(m) = members
            .iter()
            .find(|m| matches!(m.verdict, Verdict::Down | Verdict::Degraded))
        {
            return Some((
                DEEP_HEALTH.to_owned(),
                format!(
                    "{} is {} during its bake ({})",
                    m.name, m.verdict, m.verdict_reason
                ),
            ));
        }
        let mut broken = None;
        for v in cfg.validations.iter().filter(|v| v.checks(ring_no)) {
            let baseline = baseline(v, r, regions, cfg, now);
            for m in members {
                let key = (r.id.clone(), ring_no, v.name.clone(), m.name.clone());
                let reading = m.validations.get(&v.name);
                let fresh = reading.filter(|x| {
                    x.value.is_ok() && x.at >= since && now.since(x.at) <= cfg.max_silence
                });
                let Some(reading) = fresh else {
                    let why = match reading.map(|x| &x.value) {
                        Some(Err(e)) => e.clone(),
                        _ => "no figure yet".to_owned(),
                    };
                    // Silent once the bake has run max_silence without a figure.
                    let state = if now.since(since) > cfg.max_silence {
                        CheckState::Silent
                    } else {
                        CheckState::Ok
                    };
                    seen.checks.push(Check {
                        rollout: r.id.clone(),
                        ring: ring_no,
                        region: m.name.clone(),
                        validation: v.name.clone(),
                        value: None,
                        state,
                        detail: why,
                    });
                    continue;
                };
                let value = reading.value.clone().unwrap_or(f64::NAN);
                let failure = judge(v, value, baseline);
                let streak = self.streaks.entry(key).or_insert(Streak {
                    failing: 0,
                    last: Timestamp(0),
                });
                if reading.at > streak.last {
                    streak.last = reading.at;
                    streak.failing = if failure.is_some() {
                        streak.failing + 1
                    } else {
                        0
                    };
                    if let (1, Some(f)) = (streak.failing, &failure) {
                        // The first of a streak: a blip, or the start of a break.
                        seen.changes.push(Change {
                            rollout: r.id.clone(),
                            ring: ring_no,
                            what: What::Failing,
                            reason: format!(
                                "{} of {}: {f} (1 of {} in a row breaks the ring)",
                                v.name, m.name, cfg.failures
                            ),
                        });
                    }
                }
                let detail = failure
                    .clone()
                    .unwrap_or_else(|| passing(v, value, baseline));
                if let Some(f) = &failure
                    && streak.failing >= cfg.failures
                    && broken.is_none()
                {
                    broken = Some((
                        v.name.clone(),
                        format!(
                            "{}: {f} ({} evaluation{} in a row)",
                            m.name,
                            streak.failing,
                            if streak.failing == 1 { "" } else { "s" }
                        ),
                    ));
                }
                seen.checks.push(Check {
                    rollout: r.id.clone(),
                    ring: ring_no,
                    region: m.name.clone(),
                    validation: v.name.clone(),
                    value: Some(value),
                    state: if failure.is_some() {
                        CheckState::Failing
                    } else {
                        CheckState::Ok
                    },
                    detail,
                });
            }
        }
        let silent: Vec<String> = seen
            .checks
            .iter()
            .filter(|c| c.rollout == r.id && c.state == CheckState::Silent)
            .map(|c| format!("{} of {} ({})", c.validation, c.region, c.detail))
            .collect();
        if !silent.is_empty() {
            seen.alarms.push(Alarm::new(
                AlarmCode::RolloutValidationSilent,
                format!(
                    "rollout {} ring {ring_no}: no figure for {} within {}; the bake cannot pass on what is not seen",
                    r.id,
                    silent.join(", "),
                    humantime::format_duration(cfg.max_silence)
                ),
            ));
        }
        broken
    }
}

/// After a ring passed: the rollout ends when it was the last ring and needs no approval (or
/// has it).
fn after_pass(
    cfg: &RolloutConfig,
    actor: &str,
    id: &str,
    rings: &BTreeSet<u32>,
    now: Timestamp,
    seen: &mut Seen,
) {
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

/// The old version's figure for `v`: the mean over the regions whose targets all report a
/// version other than `r`'s, from figures within `max_silence`.
fn baseline(
    v: &ValidationConfig,
    r: &Rollout,
    regions: &[RegionView],
    cfg: &RolloutConfig,
    now: Timestamp,
) -> Option<(f64, usize)> {
    v.max_baseline_ratio?;
    let values: Vec<f64> = regions
        .iter()
        .filter(|x| x.runs_other_than(&r.version))
        .filter_map(|x| x.validations.get(&v.name))
        .filter(|x| now.since(x.at) <= cfg.max_silence)
        .filter_map(|x| x.value.as_ref().ok().copied())
        .collect();
    (!values.is_empty()).then(|| {
        (
            values.iter().sum::<f64>() / values.len() as f64,
            values.len(),
        )
    })
}

/// Why `value` fails `v` (against the old version's `baseline`), or None when it holds.
fn judge(v: &ValidationConfig, value: f64, baseline: Option<(f64, usize)>) -> Option<String> {
    if let Some(max) = v.max
        && value > max
    {
        return Some(format!("{} is over max {}", figure(value), figure(max)));
    }
    if let Some(min) = v.min
        && value < min
    {
        return Some(format!("{} is under min {}", figure(value), figure(min)));
    }
    if let (Some(k), Some((base, n))) = (v.max_baseline_ratio, baseline)
        && value > base * k
        && value >= v.ignore_below
    {
        return Some(format!(
            "{} is over {} × the old version's {} (mean of {n} region{})",
            figure(value),
            figure(k),
            figure(base),
            if n == 1 { "" } else { "s" }
        ));
    }
    None
}

/// What a holding figure is held to.
fn passing(v: &ValidationConfig, value: f64, baseline: Option<(f64, usize)>) -> String {
    let mut bounds = Vec::new();
    if let Some(max) = v.max {
        bounds.push(format!("max {}", figure(max)));
    }
    if let Some(min) = v.min {
        bounds.push(format!("min {}", figure(min)));
    }
    match (v.max_baseline_ratio, baseline) {
        (Some(k), Some((base, _))) => {
            bounds.push(format!("{} × old version's {}", figure(k), figure(base)));
        }
        (Some(_), None) => bounds.push("no old-version baseline to compare".to_owned()),
        _ => {}
    }
    format!("{} (within {})", figure(value), bounds.join(", "))
}

/// The regions rollout `id` drains, released as rollbacks are seen; ends the rollout once it
/// drains none.
fn drains(id: &str, regions: &[RegionView], now: Timestamp, actor: &str, seen: &mut Seen) {
    let Some(r) = seen.rollouts.get(id).cloned() else {
        return;
    };
    let (phase, ring, held): (RolloutPhase, u32, Vec<&RegionView>) = if let Some(m) = &r.aborted {
        // Every region on the new version: its targets report it, or its ring's bake had
        // started (every region of it reported it then; one that reports another version now
        // was rolled back, and is released below with a record saying so).
        let held = regions
            .iter()
            .filter(|x| {
                x.runs(&r.version)
                    || r.rings
                        .get(&x.ring)
                        .is_some_and(|g| g.phase.bake_started().is_some())
            })
            .collect();
        let phase = RolloutPhase::Aborted {
            by: m.actor.clone(),
            reason: m.reason.clone(),
        };
        (phase, r.ring, held)
    } else if let Some((n, ring)) = r.broken_ring() {
        let RingPhase::Broken {
            validation, detail, ..
        } = &ring.phase
        else {
            return;
        };
        let phase = RolloutPhase::Broken {
            reason: format!("{validation}: {detail}"),
        };
        (phase, n, regions.iter().filter(|x| x.ring == n).collect())
    } else {
        return;
    };
    let mut drained = Vec::new();
    for x in held {
        if r.released.contains_key(&x.name) {
            continue;
        }
        if x.runs_other_than(&r.version) {
            let reason = format!(
                "{} reports version {}: rolled back, so its drain by rollout {id} ends",
                x.name,
                x.versions.join(", ")
            );
            let change = Change {
                rollout: id.to_owned(),
                ring: x.ring,
                what: What::Released {
                    region: x.name.clone(),
                },
                reason,
            };
            record(seen, actor, now, change);
            continue;
        }
        drained.push(x.name.clone());
    }
    // An aborted rollout stays, draining any region its version turns up in, until people
    // release each; a broken ring's rollout ends once none of its regions is drained.
    if drained.is_empty() {
        if r.aborted.is_none() {
            let change = Change {
                rollout: id.to_owned(),
                ring,
                what: What::Ended,
                reason: format!("rollout {id} drains no region any more"),
            };
            record(seen, actor, now, change);
        }
        return;
    }
    if let RolloutPhase::Broken { reason } = &phase {
        seen.alarms.push(Alarm::new(
            AlarmCode::RolloutBroken,
            format!(
                "rollout {id} broke ring {ring} ({reason}); {} drained until rolled back or undrained",
                drained.join(", ")
            ),
        ));
    }
    seen.inputs.push(RolloutInput {
        id: id.to_owned(),
        ring,
        phase,
        regions: drained,
    });
}

/// Versions no rollout expects: neither the last ring's, nor a live rollout's in a ring it
/// has reached (or the next one, once its gate is open), nor an ended rollout's that passed.
fn unexpected(
    regions: &[RegionView],
    rings: &BTreeSet<u32>,
    stable: Option<&str>,
    seen: &mut Seen,
) {
    let Some(stable) = stable else {
        return;
    };
    let mut found = Vec::new();
    for x in regions {
        for v in &x.versions {
            if v == stable {
                continue;
            }
            let expected = seen.rollouts.values().any(|r| {
                let sound = r.aborted.is_none() && r.broken_ring().is_none();
                let passed = r
                    .rings
                    .get(&r.ring)
                    .is_some_and(|g| matches!(g.phase, RingPhase::Passed { .. }));
                if r.version != *v {
                    false
                } else if r.live() {
                    // A ring reached (drained, if the rollout broke), or the next one once
                    // the ring before it passed.
                    x.ring <= r.ring
                        || (sound && passed && rings.range(r.ring + 1..).next() == Some(&x.ring))
                } else {
                    sound
                }
            });
            if !expected {
                found.push(format!("{} (ring {}) runs {v}", x.name, x.ring));
            }
        }
    }
    if !found.is_empty() {
        seen.alarms.push(Alarm::new(
            AlarmCode::UnexpectedVersion,
            format!(
                "{}; no rollout expects it there (the last ring runs {stable}): start one (failoverd rollout start) or roll it back",
                found.join(", ")
            ),
        ));
    }
}

/// Makes `change` in `seen`'s rollouts and keeps it to record.
fn record(seen: &mut Seen, actor: &str, now: Timestamp, change: Change) {
    change.apply(&mut seen.rollouts, actor, now);
    seen.changes.push(change);
}
