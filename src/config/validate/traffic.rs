//! `[traffic]` and each region's `traffic` bindings: the shared call settings here, every
//! backend's own rules in its module.

use super::{Config, Report};
use crate::config::{
    CALL_TIMEOUT_BOUNDS, PROPAGATION_TIMEOUT_BOUNDS, TrafficBinding, UNREACHABLE_AFTER_BOUNDS,
};
use crate::traffic::{BackendKind, Binding};

/// The backend-wide settings: every backend's own settings are checked, selected or not.
pub(super) fn traffic(config: &Config, r: &mut Report) {
    let t = &config.traffic;
    r.bounded("traffic.call_timeout", &CALL_TIMEOUT_BOUNDS, t.call_timeout);
    r.bounded(
        "traffic.unreachable_after",
        &UNREACHABLE_AFTER_BOUNDS,
        t.unreachable_after,
    );
    r.bounded(
        "traffic.propagation_timeout",
        &PROPAGATION_TIMEOUT_BOUNDS,
        t.propagation_timeout,
    );
    let mut found = Vec::new();
    t.sim.check("traffic.sim", &mut found);
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
