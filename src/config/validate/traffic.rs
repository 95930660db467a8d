//! `[traffic]` and each region's `traffic` bindings: the shared call settings here, every
//! backend's own rules in its module.

use super::{Config, Report};
use crate::config::TrafficBinding;
use crate::traffic::{BackendKind, Binding};

/// The backend-wide settings: every backend's own settings are checked, selected or not.
pub(super) fn traffic(config: &Config, r: &mut Report) {
    let t = &config.traffic;
    if t.call_timeout.is_zero() {
        r.error("traffic.call_timeout", "must be greater than 0s");
    }
    if t.unreachable_after.is_zero() {
        r.error("traffic.unreachable_after", "must be greater than 0s");
    }
    if t.propagation_timeout.is_zero() {
        r.error("traffic.propagation_timeout", "must be greater than 0s");
    }
    let mut found = Vec::new();
    t.retry.check("traffic.retry", &mut found);
    t.global_accelerator
        .check("traffic.global_accelerator", &mut found);
    t.route53.check("traffic.route53", &mut found);
    r.violations(found);
}

/// Checks region `i`'s binding to the selected backend, which it must have.
pub(super) fn binding(config: &Config, i: usize, r: &mut Report) {
    match config.traffic.backend {
        BackendKind::Sim => {}
        BackendKind::Route53 => bound(config, i, |b| b.route53.as_ref(), r),
        BackendKind::GlobalAccelerator => bound(config, i, |b| b.global_accelerator.as_ref(), r),
    }
}

/// Region `i` must have the binding `pick` takes, and it must pass the backend's checks.
fn bound<B: Binding>(
    config: &Config,
    i: usize,
    pick: impl Fn(&TrafficBinding) -> Option<&B>,
    r: &mut Report,
) {
    let kind = config.traffic.backend;
    let at = format!("regions[{i}].traffic.{kind}");
    let Some(b) = pick(&config.regions[i].traffic) else {
        r.error(
            at,
            format!("is required because traffic.backend = \"{kind}\""),
        );
        return;
    };
    let earlier: Vec<(String, &B)> = config.regions[..i]
        .iter()
        .enumerate()
        .filter_map(|(j, o)| Some((format!("regions[{j}]"), pick(&o.traffic)?)))
        .collect();
    let mut found = Vec::new();
    b.check(&at, &earlier, &mut found);
    r.violations(found);
}
