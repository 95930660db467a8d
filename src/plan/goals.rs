//! Where each region is heading, and why: intents first, then rollouts and drills, then
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

/// Direction changes among `r`'s moves inside the window, and whether the latest went down.
fn reversals(r: &RegionState, policy: &Policy, now: Timestamp) -> (u32, bool) {
    let recent: Vec<bool> = r
        .recent_moves
        .iter()
        .filter(|m| now.since(m.at) <= policy.flap_window)
        .map(|m| m.up)
        .collect();
    let changes = recent.windows(2).filter(|w| w[0] != w[1]).count();
    (
        u32::try_from(changes).unwrap_or(u32::MAX),
        recent.last() == Some(&false),
    )
}

fn automated(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    r: &RegionState,
) -> (Share, String) {
    if let Some(rollout) = input.rollouts.iter().find(|ro| ro.ring == r.ring) {
        if let RolloutPhase::Broken { reason } = &rollout.phase {
            return (
                Share::ZERO,
                format!(
                    "rollout {} broke ring {} ({reason})",
                    rollout.id, rollout.ring
                ),
            );
        }
    }
    if let Some(drill) = input
        .drills
        .iter()
        .find(|d| d.region == r.name && d.evacuate)
    {
        return (
            Share::ZERO,
            format!("drill {} evacuates {}", drill.id, r.name),
        );
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
            if let Some(d) = input.intents.drain(&r.name, now) {
                return Goal {
                    // A drain is a ceiling: it never raises a region's share. A knob that moves
                    // all or nothing drains fully.
                    share: if r.all_or_nothing && d.share < r.actual {
                        Share::ZERO
                    } else {
                        r.actual.min(d.share)
                    },
                    why: format!("manual drain by {} until {} ({})", d.actor, d.expires_at, d.reason),
                    manual: true,
                    forced_by: d.force.then(|| d.actor.clone()),
                };
            }
            let (share, why) = automated(input, policy, now, r);
            let hold = |out: &mut TrafficPlan, kind: RefusalKind, reason: String| {
                out.refusals.push(Refusal {
                    service: None,
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
            let (changes, last_down) = reversals(r, policy, now);
            if share > r.actual && last_down && changes >= policy.max_reversals.get() {
                return hold(
                    out,
                    RefusalKind::FlapDamping,
                    format!(
                        "flap damping: {} changed direction {changes} times in the last {}; holding at {} instead of raising it",
                        r.name,
                        humantime::format_duration(policy.flap_window),
                        r.actual
                    ),
                );
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
