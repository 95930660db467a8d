//! `[policy]`: the rules between the planner policy's values, and the values its types leave
//! open (durations).

use super::{Config, Report};

/// The planner policy.
pub(super) fn policy(config: &Config, r: &mut Report) {
    let p = &config.policy;
    if p.fall < 1 {
        r.error("policy.fall", format!("must be at least 1, got {}", p.fall));
    }
    if p.rise < 1 {
        r.error("policy.rise", format!("must be at least 1, got {}", p.rise));
    }
    if p.max_step < 1 || p.max_step > 100 {
        r.error(
            "policy.max_step",
            format!(
                "must be between 1 and 100 percentage points, got {}",
                p.max_step
            ),
        );
    }
    if !(p.max_utilization > 0.0 && p.max_utilization <= 1.0) {
        r.error(
            "policy.max_utilization",
            format!(
                "must be greater than 0 and at most 1, got {}",
                p.max_utilization
            ),
        );
    }
    if p.min_serving_regions < 1 {
        r.error("policy.min_serving_regions", "must be at least 1");
    } else if !config.regions.is_empty() && p.min_serving_regions > config.regions.len() {
        r.error(
            "policy.min_serving_regions",
            format!(
                "is {} but only {} region(s) are configured",
                p.min_serving_regions,
                config.regions.len()
            ),
        );
    }
    if p.degraded_share > 100 {
        r.error(
            "policy.degraded_share",
            format!(
                "must be between 0 and 100 percent, got {}",
                p.degraded_share
            ),
        );
    }
    if p.flap_window.is_zero() {
        r.error("policy.flap_window", "must be greater than 0s");
    }
    if p.max_reversals < 1 {
        r.error("policy.max_reversals", "must be at least 1");
    }
    if p.max_intent_ttl.is_zero() {
        r.error("policy.max_intent_ttl", "must be greater than 0s");
    }
    if p.load_max_age.is_zero() {
        r.error("policy.load_max_age", "must be greater than 0s");
    }
}
