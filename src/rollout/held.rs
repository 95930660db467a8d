//! What a broken or aborted rollout holds drained, the releases a rollback brings, and the
//! versions no rollout expects.

use std::collections::BTreeSet;
use std::time::Duration;

use super::watch::{Seen, record};
use super::{Change, RegionView, RingPhase, RolloutInput, What};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::plan::RolloutPhase;

/// The regions rollout `id` drains, released as rollbacks are seen; ends the rollout once it
/// drains none.
pub(super) fn drains(
    id: &str,
    regions: &[RegionView],
    grace: Duration,
    now: Timestamp,
    actor: &str,
    seen: &mut Seen,
) {
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

/// Versions no rollout expects: neither the last ring's, nor a live rollout's in a ring it
/// has reached (or the next one, once its gate is open), nor an ended rollout's that passed.
pub(super) fn unexpected(
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
