//! Where each region is heading, and why: intents first, then drills, then rollouts, then
//! verdicts; automated goals are held by fail-open, a freeze, or flap damping.
//!
//! A goal's reason is kept as a [`Why`], what it is made of, and written out only where a
//! decision or a refusal is built: on most plans most regions neither move nor are refused, so
//! their reasons are never read.

use std::fmt;
use std::time::Duration;

use super::{
    DrillInput, PlanInput, Policy, Refusal, RefusalKind, RegionState, RolloutInput, RolloutPhase,
    TrafficPlan,
};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::Drain;
use crate::intent::external::Notice;
use crate::share::Share;

/// A region's goal for the coming ticks.
#[derive(Debug, Clone)]
pub(crate) struct Goal<'a> {
    /// The share it is heading to.
    pub share: Share,
    /// Why, as the start of a decision's reason.
    pub why: Why<'a>,
    /// Set by an operator's drain (not blocked by a freeze).
    pub manual: bool,
    /// Headroom overridden by the operator, who is named here.
    pub forced_by: Option<String>,
}

/// Why a region heads where it does, written (by `Display`) as the start of a decision's or a
/// refusal's reason, word for word as each case reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Why<'a> {
    /// A rollout broke its ring: `rollout r1 broke ring 2 (reason)`.
    Broken(&'a RolloutInput, &'a str),
    /// An operator aborted a rollout: `rollout r1 aborted by alice (reason)`.
    Aborted(&'a RolloutInput, &'a str, &'a str),
    /// `eu-west-1 is Down (reason)`.
    Down(&'a RegionState),
    /// `eu-west-1 is Unknown`.
    Unknown(&'a RegionState),
    /// Healthy past its hold-down: `eu-west-1 Healthy for 5m 3s (hold-down 5m)`.
    Healthy(&'a RegionState, Duration, Duration),
    /// `eu-west-1 in hold-down`.
    HoldDown(&'a RegionState),
    /// A worsening brownout, with the fraction of rounds failed.
    Escalating(&'a RegionState, f64, &'a Policy),
    /// A brownout easing, with the fraction of rounds failed.
    Easing(&'a RegionState, f64, &'a Policy),
    /// `eu-west-1 is Degraded (reason)`.
    Degraded(&'a RegionState),
    /// An operator's drain.
    Drain(&'a Drain),
    /// Held after a change outside failoverd, to the region named.
    Held(&'a Notice, &'a str),
    /// A DR drill, evacuating or restoring the region named.
    Drill(&'a DrillInput, &'a str),
}

/// A fraction as a whole percentage: `35%`.
struct Pct(f64);

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0}%", self.0 * 100.0)
    }
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Why::Broken(rollout, reason) => write!(
                f,
                "rollout {} broke ring {} ({reason})",
                rollout.id, rollout.ring
            ),
            Why::Aborted(rollout, by, reason) => {
                write!(f, "rollout {} aborted by {by} ({reason})", rollout.id)
            }
            Why::Down(r) => write!(f, "{} is Down ({})", r.name, r.verdict_reason),
            Why::Unknown(r) => write!(f, "{} is Unknown", r.name),
            Why::Healthy(r, healthy_for, hold_down) => write!(
                f,
                "{} Healthy for {} (hold-down {})",
                r.name,
                humantime::format_duration(Duration::from_secs(healthy_for.as_secs())),
                humantime::format_duration(hold_down)
            ),
            Why::HoldDown(r) => write!(f, "{} in hold-down", r.name),
            Why::Escalating(r, failed, policy) => write!(
                f,
                "{} is Degraded and failing {} of its last {} probe rounds (escalation at {}; {})",
                r.name,
                Pct(failed),
                policy.error_window,
                Pct(policy.brownout_escalation.get()),
                r.verdict_reason
            ),
            Why::Easing(r, failed, policy) => write!(
                f,
                "{} is Degraded but now failing only {} of its last {} probe rounds (under {}): back to degraded_share ({})",
                r.name,
                Pct(failed),
                policy.error_window,
                Pct(policy.brownout_escalation.get() / 2.0),
                r.verdict_reason
            ),
            Why::Degraded(r) => write!(f, "{} is Degraded ({})", r.name, r.verdict_reason),
            Why::Drain(d) => write!(
                f,
                "manual drain by {} until {} ({})",
                d.actor, d.expires_at, d.reason
            ),
            Why::Held(n, region) => write!(
                f,
                "held after a change outside failoverd ({} set to {} at {}) until `failoverd ack {region}`",
                n.label, n.after, n.noticed_at
            ),
            Why::Drill(d, region) => {
                let verb = if d.evacuate { "evacuates" } else { "restores" };
                write!(f, "drill {} {verb} {region}", d.id)
            }
        }
    }
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

fn automated<'a>(
    input: &'a PlanInput,
    policy: &'a Policy,
    now: Timestamp,
    r: &'a RegionState,
) -> (Share, Why<'a>) {
    if let Some(rollout) = input
        .rollouts
        .iter()
        .find(|ro| ro.regions.contains(&r.name))
    {
        let why = match &rollout.phase {
            RolloutPhase::Broken { reason } => Why::Broken(rollout, reason),
            RolloutPhase::Aborted { by, reason } => Why::Aborted(rollout, by, reason),
        };
        return (Share::ZERO, why);
    }
    match r.verdict {
        Verdict::Down => (Share::ZERO, Why::Down(r)),
        Verdict::Degraded => degraded(policy, now, r),
        Verdict::Unknown => (r.actual, Why::Unknown(r)),
        Verdict::Healthy => {
            let healthy_for = now.since(r.verdict_since);
            if healthy_for >= policy.hold_down {
                (Share::FULL, Why::Healthy(r, healthy_for, policy.hold_down))
            } else {
                (r.actual, Why::HoldDown(r))
            }
        }
    }
}

/// A Degraded region's goal: `degraded_share`; towards 0 while it fails at least
/// `brownout_escalation` of its recent rounds (a worsening brownout); back up to `degraded_share`
/// once it fails under half of that and has been Degraded for `hold_down`. In between, or before
/// the fraction is known, it holds where it is, at most `degraded_share`.
fn degraded<'a>(policy: &'a Policy, now: Timestamp, r: &'a RegionState) -> (Share, Why<'a>) {
    let threshold = policy.brownout_escalation.get();
    let held = r.actual.min(policy.degraded_share);
    match r.failed_fraction {
        Some(f) if f >= threshold && threshold < 1.0 => {
            (Share::ZERO, Why::Escalating(r, f, policy))
        }
        Some(f)
            if f < threshold / 2.0
                && held < policy.degraded_share
                && now.since(r.verdict_since) >= policy.hold_down =>
        {
            (policy.degraded_share, Why::Easing(r, f, policy))
        }
        _ => (held, Why::Degraded(r)),
    }
}

/// Each region's goal, in input order; refusals for automated moves that are held go to `out`.
pub(crate) fn goals<'a>(
    input: &'a PlanInput,
    policy: &'a Policy,
    now: Timestamp,
    answering: bool,
    out: &mut TrafficPlan,
) -> Vec<Goal<'a>> {
    let freeze = input.intents.freeze(now);
    input
        .regions
        .iter()
        .map(|r| {
            // Drains and holds are ceilings: where the verdicts (a Down region, a broken ring)
            // take a region lower still, that goal holds, so people's intents never keep users
            // on a region failoverd would evacuate.
            // Worked out once: its share is both the floor under people's intents and, when no
            // intent applies, the region's goal.
            let (share, why) = automated(input, policy, now, r);
            let below = share;
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
                        why: Why::Drain(d),
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
                    why: Why::Held(n, &r.name),
                    manual: true,
                    forced_by: None,
                };
            }
            // A DR drill is people's decision, scheduled: like a drain, it is not held by a
            // freeze (a freeze aborts it, and its restore must not wait for the unfreeze) and
            // its moves do not count towards flap damping; headroom holds it like any drain.
            if let Some(d) = input.drills.iter().find(|d| d.region == r.name) {
                let share = if d.evacuate {
                    Share::ZERO
                } else {
                    Share::FULL
                };
                return Goal {
                    share,
                    why: Why::Drill(d, &r.name),
                    manual: true,
                    forced_by: None,
                };
            }
            // Held at its share by the rule `kind`, for `detail`, after the goal's own why
            // (`goal`) or by itself.
            let hold = |out: &mut TrafficPlan, kind: RefusalKind, goal: bool, detail: String| {
                let refusal = if goal {
                    Refusal::of_goal(&r.name, kind, why, detail)
                } else {
                    Refusal::new(&r.name, kind, detail)
                };
                out.refusals.push(Refusal {
                    wanted_points: share.get().abs_diff(r.actual.get()),
                    ..refusal
                });
                Goal {
                    share: r.actual,
                    why,
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
                    true,
                    format!(
                        "would move {} -> {share}, but automated changes are frozen by {} until {}",
                        r.actual, f.actor, f.expires_at
                    ),
                );
            }
            if r.all_or_nothing && share.is_serving() && share < r.actual {
                return hold(
                    out,
                    RefusalKind::AllOrNothing,
                    true,
                    format!(
                        "its traffic moves all or nothing, so it cannot go to {share}; holding at {}",
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
                    false,
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

#[cfg(test)]
mod tests;
