//! `[rollout]`: the version pointer, bakes and validations.

use std::collections::BTreeSet;

use super::{Config, Report};
use crate::config::rollout::{BAKE_BOUNDS, FAILURES_BOUNDS, SILENCE_BOUNDS};

/// Every rule of `[rollout]`.
pub(super) fn rollout(config: &Config, r: &mut Report) {
    let c = &config.rollout;
    if let Some(p) = &c.version_pointer
        && !p.starts_with('/')
    {
        r.error(
            "rollout.version_pointer",
            format!(
                "{p:?} is not a JSON pointer; write it like \"/version\" or \"/build/version\""
            ),
        );
    }
    r.bounded("rollout.bake", &BAKE_BOUNDS, c.bake);
    r.bounded("rollout.failures", &FAILURES_BOUNDS, c.failures);
    r.bounded("rollout.max_silence", &SILENCE_BOUNDS, c.max_silence);
    let rings: BTreeSet<u32> = config.regions.iter().map(|region| region.ring).collect();
    let unknown_ring = |ring: u32| {
        format!(
            "no region is in ring {ring} (rings: {})",
            rings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut seen = BTreeSet::new();
    for (i, ring) in c.rings.iter().enumerate() {
        let at = format!("rollout.rings[{i}]");
        if !rings.contains(&ring.ring) {
            r.error(format!("{at}.ring"), unknown_ring(ring.ring));
        }
        if !seen.insert(ring.ring) {
            r.error(
                format!("{at}.ring"),
                format!("ring {} is listed twice", ring.ring),
            );
        }
        if let Some(bake) = ring.bake {
            r.bounded(format!("{at}.bake"), &BAKE_BOUNDS, bake);
        }
    }
    let mut names = BTreeSet::new();
    for (i, v) in c.validations.iter().enumerate() {
        let at = format!("rollout.validations[{i}]");
        if v.name.trim().is_empty() {
            r.error(
                format!("{at}.name"),
                "must not be empty; status and the gate name it",
            );
        } else if !names.insert(v.name.as_str()) {
            r.error(
                format!("{at}.name"),
                format!("\"{}\" is used by another validation", v.name),
            );
        }
        if v.query.trim().is_empty() {
            r.error(format!("{at}.query"), "must not be empty");
        }
        if config.probe.prometheus_url.is_none() {
            r.error(
                format!("{at}.query"),
                "needs probe.prometheus_url, the Prometheus the query is asked of",
            );
        }
        if v.max.is_none() && v.min.is_none() && v.max_baseline_ratio.is_none() {
            r.error(
                at.clone(),
                "checks nothing: give max, min or max_baseline_ratio",
            );
        }
        for (field, value) in [("max", v.max), ("min", v.min)] {
            if value.is_some_and(|x| !x.is_finite()) {
                r.error(format!("{at}.{field}"), "must be a finite number");
            }
        }
        if let (Some(min), Some(max)) = (v.min, v.max)
            && min > max
        {
            r.error(
                format!("{at}.min"),
                format!("{min} is over max {max}: no value could pass"),
            );
        }
        if let Some(k) = v.max_baseline_ratio
            && !(k.is_finite() && k >= 1.0)
        {
            r.error(
                format!("{at}.max_baseline_ratio"),
                format!(
                    "must be at least 1 (the new version no worse than the old times it), got {k}"
                ),
            );
        }
        if !(v.ignore_below.is_finite() && v.ignore_below >= 0.0) {
            r.error(
                format!("{at}.ignore_below"),
                "must be a number of at least 0",
            );
        }
        for (j, ring) in v.rings.iter().enumerate() {
            if !rings.contains(ring) {
                r.error(format!("{at}.rings[{j}]"), unknown_ring(*ring));
            }
        }
        // The baseline is the old version's figure: in the last ring no region runs it any more.
        if let Some(&last) = rings.last()
            && v.max.is_none()
            && v.min.is_none()
            && v.max_baseline_ratio.is_some()
            && v.checks(last)
        {
            r.error(
                at.clone(),
                format!(
                    "checks ring {last}, the last, by max_baseline_ratio alone: while it bakes no region runs the old version, so nothing would be checked; give max or min too, or list the rings it checks without {last}"
                ),
            );
        }
    }
}
