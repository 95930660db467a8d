//! `[controller]`: who this controller is and how often it reconciles.

use super::{Config, Report};

/// The controller's identity and cadence.
pub(super) fn controller(config: &Config, r: &mut Report) {
    let c = &config.controller;
    if c.id.trim().is_empty() {
        r.error("controller.id", "must not be empty");
    }
    if c.control_region.trim().is_empty() {
        r.error("controller.control_region", "must not be empty");
    }
    if c.tick_interval.is_zero() {
        r.error("controller.tick_interval", "must be greater than 0s");
    }
}
