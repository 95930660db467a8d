//! DR drill and evacuation-readiness series: each region's evacuable fraction, each drill in
//! status with its phase and measured times (a drill's series go when it leaves status).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::RegionLabel;
use crate::status::Status;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DrillLabel {
    drill: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    drill: String,
    phase: String,
}

const PHASES: [&str; 5] = ["requested", "evacuating", "holding", "restoring", "ended"];

/// The drill and readiness families.
pub(super) struct Drills {
    /// Set with the other region series ([`super::regions`]), registered here.
    pub(super) evacuable: Family<RegionLabel, Gauge<f64, AtomicU64>>,
    phase: Family<PhaseLabel, Gauge>,
    evacuation: Family<DrillLabel, Gauge<f64, AtomicU64>>,
    restore: Family<DrillLabel, Gauge<f64, AtomicU64>>,
}

impl Drills {
    /// Registers the families in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let d = Self {
            evacuable: Family::default(),
            phase: Family::default(),
            evacuation: Family::default(),
            restore: Family::default(),
        };
        registry.register(
            "region_evacuable_ratio",
            "Fraction of the region's load the survivors could take under max_utilization if it failed now (1: N+1 holds)",
            d.evacuable.clone(),
        );
        registry.register(
            "drill_phase",
            "1 for the phase of the drill (requested, evacuating, holding, restoring, ended), 0 for the others",
            d.phase.clone(),
        );
        registry.register(
            "drill_evacuation_seconds",
            "Seconds the drill took to move every drilled region to 0%",
            d.evacuation.clone(),
        );
        registry.register(
            "drill_restore_seconds",
            "Seconds the drill took to bring every drilled region back to its share",
            d.restore.clone(),
        );
        d
    }

    /// Sets the series of `status`'s drills, and only theirs.
    pub(super) fn set(&self, status: &Status) {
        self.phase.clear();
        self.evacuation.clear();
        self.restore.clear();
        for d in &status.drills {
            for p in PHASES {
                let label = PhaseLabel {
                    drill: d.id.clone(),
                    phase: p.to_owned(),
                };
                self.phase
                    .get_or_create(&label)
                    .set(i64::from(d.phase.as_str() == p));
            }
            let label = DrillLabel {
                drill: d.id.clone(),
            };
            if let Some(s) = d.figures.evacuation_seconds {
                self.evacuation.get_or_create(&label).set(s);
            }
            if let Some(s) = d.figures.restore_seconds {
                self.restore.get_or_create(&label).set(s);
            }
        }
    }
}
