//! A baking ring's checks: its regions' verdicts, then each validation's figures against its
//! thresholds and the old version's baseline, with a streak of failing figures before a ring
//! breaks.

use serde::{Deserialize, Serialize};

use super::watch::{Seen, Streak, Tick, Watch};
use super::{Change, DEEP_HEALTH, RegionView, Rollout, What, figure};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::rollout::{RolloutConfig, ValidationConfig};
use crate::health::Verdict;

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

impl Watch {
    /// Checks ring `ring_no` of `r`, baking since `since`: verdicts first, then every
    /// validation. Returns the failure that breaks it, if one does; adds every check to `seen`.
    pub(super) fn check(
        &mut self,
        t: Tick<'_>,
        r: &Rollout,
        ring_no: u32,
        since: Timestamp,
        members: &[&RegionView],
        seen: &mut Seen,
    ) -> Option<(String, String)> {
        let Tick {
            cfg, regions, now, ..
        } = t;
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
