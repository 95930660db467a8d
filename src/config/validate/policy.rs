//! `[policy]`: what the planner policy's types leave open. Each single value (a step, a ceiling,
//! a count of at least one) is already checked by its type while the file is read; what is left
//! is the floor against the regions configured, and durations that must not be zero.

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
    if p.flap_window.is_zero() {
        r.error("policy.flap_window", "must be greater than 0s");
    }
    if p.max_intent_ttl.is_zero() {
        r.error("policy.max_intent_ttl", "must be greater than 0s");
    }
    if p.load_max_age.is_zero() {
        r.error("policy.load_max_age", "must be greater than 0s");
    }
}
