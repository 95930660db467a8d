//! Where each region is heading, and why: intents first, then drills, then rollouts, then
//! verdicts; automated goals are held by fail-open, a freeze, or flap damping.

use std::time::Duration;

use super::{PlanInput, Policy, Refusal, RefusalKind, RegionState, RolloutPhase, TrafficPlan};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::share::Share;

/// A region's goal for the coming ticks.
#[derive(Debug, Clone)]
pub(crate) struct Goal {
    /// The share it is heading to.
    pub share: Share,
    /// Why, as the start of a decision's reason.
    pub why: String,
    /// Set by an operator's drain (not blocked by a freeze).
    pub manual: bool,
    /// Headroom overridden by the operator, who is named here.
    pub forced_by: Option<String>,
}

fn whole_secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Direction changes among `r`'s moves inside the window and after any lift of its damping
/// (`lifted`), whether the latest went down, and when the count falls below
/// `max_reversals` as moves leave the window.
fn reversals(
    r: &RegionState,
    policy: &Policy,
    now: Timestamp,
    lifted: Option<Timestamp>,
) -> (u32, bool, Timestamp) {
    let recent: Vec<&super::Move> = r
        .recent_moves
        .iter()
        .filter(|m| now.since(m.at) <= policy.flap_window && lifted.is_none_or(|l| m.at > l))
        .collect();
    let changes = |moves: &[&super::Move]| {
        let n = moves.windows(2).filter(|w| w[0].up != w[1].up).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    // The hold ends when enough of the oldest moves have left the window.
    let until = (1..=recent.len())
        .find(|&k| changes(&recent[k..]) < policy.max_reversals.get())
        .map_or(now, |k| recent[k - 1].at + policy.flap_window);
    (
        changes(&recent),
        recent.last().is_some_and(|m| !m.up),
        until,
    )
}

fn automated(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    r: &RegionState,
) -> (Share, String) {
    if let Some(rollout) = input
        .rollouts
        .iter()
        .find(|ro| ro.regions.contains(&r.name))
    {
        let why = match &rollout.phase {
            RolloutPhase::Broken { reason } => {
                format!(
                    "rollout {} broke ring {} ({reason})",
                    rollout.id, rollout.ring
                )
            }
            RolloutPhase::Aborted { by, reason } => {
                format!("rollout {} aborted by {by} ({reason})", rollout.id)
            }
        };
        return (Share::ZERO, why);
    }
    match r.verdict {
        Verdict::Down => (
            Share::ZERO,
            format!("{} is Down ({})", r.name, r.verdict_reason),
        ),
        Verdict::Degraded => degraded(policy, now, r),
        Verdict::Unknown => (r.actual, format!("{} is Unknown", r.name)),
        Verdict::Healthy => {
            let healthy_for = now.since(r.verdict_since);
            if healthy_for >= policy.hold_down {
                (
                    Share::FULL,
                    format!(
                        "{} Healthy for {} (hold-down {})",
                        r.name,
                        whole_secs(healthy_for),
                        humantime::format_duration(policy.hold_down)
                    ),
                )
            } else {
                (r.actual, format!("{} in hold-down", r.name))
            }
        }
    }
}

/// A Degraded region's goal: `degraded_share`; towards 0 while it fails at least
/// `brownout_escalation` of its recent rounds (a worsening brownout); back up to `degraded_share`
/// once it fails under half of that and has been Degraded for `hold_down`. In between, or before
/// the fraction is known, it holds where it is, at most `degraded_share`.
fn degraded(policy: &Policy, now: Timestamp, r: &RegionState) -> (Share, String) {
    let threshold = policy.brownout_escalation.get();
    let pct = |f: f64| format!("{:.0}%", f * 100.0);
    let held = r.actual.min(policy.degraded_share);
    match r.failed_fraction {
        Some(f) if f >= threshold && threshold < 1.0 => (
            Share::ZERO,
            format!(
                "{} is Degraded and failing {} of its last {} probe rounds (escalation at {}; {})",
                r.name,
                pct(f),
                policy.error_window,
                pct(threshold),
                r.verdict_reason
            ),
        ),
        Some(f)
            if f < threshold / 2.0
                && held < policy.degraded_share
                && now.since(r.verdict_since) >= policy.hold_down =>
        {
            (
                policy.degraded_share,
                format!(
                    "{} is Degraded but now failing only {} of its last {} probe rounds (under {}): back to degraded_share ({})",
                    r.name,
                    pct(f),
                    policy.error_window,
                    pct(threshold / 2.0),
                    r.verdict_reason
                ),
            )
        }
        _ => (
            held,
            format!("{} is Degraded ({})", r.name, r.verdict_reason),
        ),
    }
}

/// Each region's goal, in input order; refusals for automated moves that are held go to `out`.
pub(crate) fn goals(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    answering: bool,
    out: &mut TrafficPlan,
) -> Vec<Goal> {
    let freeze = input.intents.freeze(now);
    input
        .regions
        .iter()
        .map(|r| {
            // Drains and holds are ceilings: where the verdicts (a Down region, a broken ring)
            // take a region lower still, that goal holds, so people's intents never keep users
            // on a region failoverd would evacuate.
            let below = automated(input, policy, now, r).0;
            if let Some(d) = input.intents.drain(&r.name, now) {
                // A drain never raises a region's share. A knob that moves all or nothing
                // drains fully.
                let ceiling = if r.all_or_nothing && d.share < r.actual {
                    Share::ZERO
                } else {
                    r.actual.min(d.share)
                };
                if below >= ceiling {
                    return Goal {
                        share: ceiling,
                        why: format!(
                            "manual drain by {} until {} ({})",
                            d.actor, d.expires_at, d.reason
                        ),
                        manual: true,
                        forced_by: d.force.then(|| d.actor.clone()),
                    };
                }
            }
            // Someone changed its knobs outside failoverd and the policy is to hold: nothing
            // raises or rebalances it until an operator acknowledges (an operator's drain,
            // above, still moves it; a verdict that evacuates it, below, still does).
            if let Some(n) = input.intents.held(&r.name).filter(|_| below >= r.actual) {
                return Goal {
                    share: r.actual,
                    why: format!(
                        "held after a change outside failoverd ({} set to {} at {}) until `failoverd ack {}`",
                        n.label, n.after, n.noticed_at, r.name
                    ),
                    manual: true,
                    forced_by: None,
                };
            }
            // A DR drill is people's decision, scheduled: like a drain, it is not held by a
            // freeze (a freeze aborts it, and its restore must not wait for the unfreeze) and
            // its moves do not count towards flap damping; headroom holds it like any drain.
            if let Some(d) = input.drills.iter().find(|d| d.region == r.name) {
                let (share, verb) = if d.evacuate {
                    (Share::ZERO, "evacuates")
                } else {
                    (Share::FULL, "restores")
                };
                return Goal {
                    share,
                    why: format!("drill {} {verb} {}", d.id, r.name),
                    manual: true,
                    forced_by: None,
                };
            }
            let (share, why) = automated(input, policy, now, r);
            let hold = |out: &mut TrafficPlan, kind: RefusalKind, reason: String| {
                out.refusals.push(Refusal {
                    service: None,
                until: None,
                    region: r.name.clone(),
                    kind,
                    wanted_points: share.get().abs_diff(r.actual.get()),
                    moved_points: 0,
                    unplaced_rps: 0.0,
                    reason,
                });
                Goal {
                    share: r.actual,
                    why: why.clone(),
                    manual: false,
                    forced_by: None,
                }
            };
            if share == r.actual || !answering {
                // Fail-open is reported once, as an alarm, not per region.
                return Goal {
                    share: r.actual,
                    why,
                    manual: false,
                    forced_by: None,
                };
            }
            if let Some(f) = freeze {
                return hold(
                    out,
                    RefusalKind::Frozen,
                    format!(
                        "{why}: would move {} -> {share}, but automated changes are frozen by {} until {}",
                        r.actual, f.actor, f.expires_at
                    ),
                );
            }
            if r.all_or_nothing && share.is_serving() && share < r.actual {
                return hold(
                    out,
                    RefusalKind::AllOrNothing,
                    format!(
                        "{why}: its traffic moves all or nothing, so it cannot go to {share}; holding at {}",
                        r.actual
                    ),
                );
            }
            let lifted = input.intents.damping_lifted.get(&r.name).copied();
            let (changes, last_down, until) = reversals(r, policy, now, lifted);
            if share > r.actual && last_down && changes >= policy.max_reversals.get() {
                let goal = hold(
                    out,
                    RefusalKind::FlapDamping,
                    format!(
                        "flap damping: {} changed direction {changes} times in the last {}; holding at {} instead of raising it until {until} (failoverd undamp {} lifts it)",
                        r.name,
                        humantime::format_duration(policy.flap_window),
                        r.actual,
                        r.name
                    ),
                );
                if let Some(refusal) = out.refusals.last_mut() {
                    refusal.until = Some(until);
                }
                return goal;
            }
            Goal {
                share,
                why,
                manual: false,
                forced_by: None,
            }
        })
        .collect()
}
