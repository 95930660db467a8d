//! `[policy]`: what the planner policy's types leave open. Each single value (a step, a ceiling,
//! a count of at least one) is already checked by its type while the file is read; what is left
//! is the floor against the regions configured, and each duration within the range the planner
//! names for it.

use super::{Config, Report};

/// The planner policy.
pub(super) fn policy(config: &Config, r: &mut Report) {
    let p = &config.policy;
    if !config.regions.is_empty() && p.min_serving_regions.get() > config.regions.len() {
        r.error(
            "policy.min_serving_regions",
            format!(
                "is {} but only {} region(s) are configured",
                p.min_serving_regions,
                config.regions.len()
            ),
        );
    }
    for (name, value, bounds) in p.durations() {
        r.bounded(format!("policy.{name}"), &bounds, value);
    }
    // A region's load comes with its probe rounds: one older than load_max_age is stale, the
    // worst case. Rounds further apart than that leave every reading stale before the next.
    let age_valid = crate::plan::policy::LOAD_MAX_AGE_BOUNDS.contains(p.load_max_age);
    if age_valid && p.load_max_age < config.probe.interval {
        r.error(
            "policy.load_max_age",
            format!(
                "is {} but probe rounds come every {} (probe.interval): every load reading would go stale before the next, and headroom checks would refuse every move for want of load",
                humantime::format_duration(p.load_max_age),
                humantime::format_duration(config.probe.interval)
            ),
        );
    }
    if p.external_drain_ttl > p.max_intent_ttl {
        r.error(
            "policy.external_drain_ttl",
            format!(
                "is {} but policy.max_intent_ttl caps every drain at {}",
                humantime::format_duration(p.external_drain_ttl),
                humantime::format_duration(p.max_intent_ttl)
            ),
        );
    }
}
