//! `[controller]`: who this controller is and how often it reconciles.

use super::{Config, Report};
use crate::config::{SHUTDOWN_GRACE_BOUNDS, TICK_INTERVAL_BOUNDS};

/// The controller's identity and cadence.
pub(super) fn controller(config: &Config, r: &mut Report) {
    let c = &config.controller;
    if c.id.trim().is_empty() {
        r.error("controller.id", "must not be empty");
    }
    if c.control_region.trim().is_empty() {
        r.error("controller.control_region", "must not be empty");
    }
    r.bounded(
        "controller.tick_interval",
        &TICK_INTERVAL_BOUNDS,
        c.tick_interval,
    );
    r.bounded(
        "controller.shutdown_grace",
        &SHUTDOWN_GRACE_BOUNDS,
        c.shutdown_grace,
    );
}
