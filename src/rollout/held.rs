//! What a broken or aborted rollout holds drained, the releases a rollback brings, and the
//! versions no rollout expects.

use std::collections::BTreeSet;

use super::watch::{Seen, Tick, record};
use super::{Change, RegionView, RingPhase, Rollout, RolloutInput, What};
use crate::alarm::{Alarm, AlarmCode};
use crate::plan::RolloutPhase;

/// The regions rollout `id` drains, released as rollbacks are seen; ends the rollout once it
/// drains none.
pub(super) fn drains(t: Tick<'_>, id: &str, seen: &mut Seen) {
    let Tick {
        cfg,
        actor,
        regions,
        now,
        ..
    } = t;
    let grace = cfg.max_silence;
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
    // A broken ring's rollout ends once none of its regions is drained. An aborted one ends
    // once none is drained and none runs its version, `grace` (a few probe rounds) after the
    // abort at the soonest: an abort sent just after a deploy, before a round has seen the new
    // version, still catches it.
    if drained.is_empty() {
        let quiet = r
            .aborted
            .as_ref()
            .is_none_or(|m| now.since(m.at) > grace && !regions.iter().any(|x| x.runs(&r.version)));
        if quiet {
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

/// Versions no rollout expects: a version of a rollout in a ring it has not reached (the next
/// one only once the ring before it passed), a version of a rollout that broke or was aborted
/// after it ended, or (once the old version is known) a version no rollout started.
pub(super) fn unexpected(
    regions: &[RegionView],
    rings: &BTreeSet<u32>,
    stable: Option<&str>,
    seen: &mut Seen,
) {
    let mut found = Vec::new();
    for x in regions {
        for v in &x.versions {
            if Some(v.as_str()) == stable {
                continue;
            }
            let of: Vec<&Rollout> = seen.rollouts.values().filter(|r| r.version == *v).collect();
            if of.is_empty() {
                if stable.is_some() {
                    found.push(format!(
                        "{} (ring {}) runs {v}, which no rollout started",
                        x.name, x.ring
                    ));
                }
                continue;
            }
            let allowed = |r: &Rollout| {
                let sound = r.aborted.is_none() && r.broken_ring().is_none();
                if !r.live() {
                    return sound;
                }
                // A ring reached (drained, if the rollout broke), or the next one once the
                // ring before it passed.
                x.ring <= r.ring
                    || (sound
                        && r.at_passed_ring()
                        && rings.range(r.ring + 1..).next() == Some(&x.ring))
            };
            if !of.iter().any(|r| allowed(r)) {
                let r = of[0];
                let phase = r.rings.get(&r.ring).map_or("–", |g| g.phase.name());
                found.push(format!(
                    "{} (ring {}) runs {v} ahead of its gate: rollout {} is at ring {} ({phase}{})",
                    x.name,
                    x.ring,
                    r.id,
                    r.ring,
                    if r.live() { "" } else { ", ended" }
                ));
            }
        }
    }
    if !found.is_empty() {
        seen.alarms.push(Alarm::new(
            AlarmCode::UnexpectedVersion,
            format!(
                "{}; promote the rollout, start one for it (failoverd rollout start) or roll it back",
                found.join("; ")
            ),
        ));
    }
}
