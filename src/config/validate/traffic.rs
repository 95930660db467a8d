//! `[traffic]` and each region's `traffic` bindings: the shared call settings here, every
//! backend's own rules in its module.

use super::{Config, Report};
use crate::config::{CALL_TIMEOUT_BOUNDS, PROPAGATION_TIMEOUT_BOUNDS, UNREACHABLE_AFTER_BOUNDS};
use crate::traffic::arc::ArcBinding;
use crate::traffic::global_accelerator::GlobalAcceleratorBinding;
use crate::traffic::route53::Route53Binding;
use crate::traffic::{BackendKind, Binding, KnobRef, SimKnob, Violation};

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
    let arc_bound = config
        .knobs()
        .iter()
        .any(|k| matches!(k.knob, KnobRef::Arc(_)));
    t.arc.check("traffic.arc", arc_bound, &mut found);
    r.violations(found);
}

/// Every region has a knob; a region that names none in `knobs` has a binding to
/// `traffic.backend`; every knob passes its backend's checks, including those against the knobs
/// before it (two knobs may not be one record).
pub(super) fn knobs(config: &Config, r: &mut Report) {
    let kind = config.traffic.backend;
    for (i, region) in config.regions.iter().enumerate() {
        let legacy = match kind {
            BackendKind::Sim => true,
            BackendKind::Route53 => region.traffic.route53.is_some(),
            BackendKind::GlobalAccelerator => region.traffic.global_accelerator.is_some(),
            BackendKind::Arc => region.traffic.arc.is_some(),
        };
        if !legacy && region.knobs.is_empty() {
            r.error(
                format!("regions[{i}].traffic.{kind}"),
                format!(
                    "is required because traffic.backend = \"{kind}\" (or list the region's knobs under regions[{i}].knobs)"
                ),
            );
        }
    }
    let mut found = Vec::new();
    check_knobs(
        config.knobs().into_iter().map(|k| (k.path, k.knob)),
        &mut found,
    );
    r.violations(found);
}

/// Every knob, found at its path, checked by its backend's rules against the knobs of that
/// backend before it.
pub(super) fn check_knobs<'a>(
    knobs: impl IntoIterator<Item = (String, KnobRef<'a>)>,
    out: &mut Vec<Violation>,
) {
    let mut route53: Vec<(String, &Route53Binding)> = Vec::new();
    let mut ga: Vec<(String, &GlobalAcceleratorBinding)> = Vec::new();
    let mut arc: Vec<(String, &ArcBinding)> = Vec::new();
    let mut sim: Vec<(String, &SimKnob)> = Vec::new();
    for (path, knob) in knobs {
        match knob {
            KnobRef::Route53(b) => route53.push((path, b)),
            KnobRef::GlobalAccelerator(b) => ga.push((path, b)),
            KnobRef::Arc(b) => arc.push((path, b)),
            KnobRef::Sim(b) => sim.push((path, b)),
        }
    }
    checked(&route53, out);
    checked(&ga, out);
    checked(&arc, out);
    checked(&sim, out);
}

/// Each binding, found at its path, checked against the ones before it.
fn checked<B: Binding>(all: &[(String, &B)], out: &mut Vec<Violation>) {
    for (n, (at, b)) in all.iter().enumerate() {
        let earlier: Vec<(String, &B)> = all[..n].iter().map(|(p, b)| (region_of(p), *b)).collect();
        b.check(at, &earlier, out);
    }
}

/// The region part of a knob's path (`regions[2]` of `regions[2].knobs[0].route53`, or
/// `services[1].regions[0]`), which the backends' checks name when two knobs clash.
fn region_of(path: &str) -> String {
    match path.find(".knobs[").or_else(|| path.find(".traffic.")) {
        Some(end) => path[..end].to_owned(),
        None => path.to_owned(),
    }
}
