//! Cross-field validation. Every rule is checked and every violation is reported with its path.
//!
//! One file per section of the config file, checked in the file's order. Each backend's own
//! rules live with the backend (`crate::traffic::<backend>`) and are reported through
//! [`traffic`]. The planner policy's single values are checked by their types while the file is
//! read; what is left in [`policy`] are the rules between values and the durations.

mod admin;
mod controller;
mod policy;
mod probe;
mod regions;
mod store;
mod traffic;

use std::fmt;

use super::Config;
use crate::bounds::{Bounded, Bounds};
use crate::traffic::Violation;

/// One rule a config breaks, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Dotted path of the value, e.g. `regions[2].spill_to[0]`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct Report(Vec<ValidationError>);

impl Report {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reports `value`, found at `path`, if it is outside `bounds`, naming the range.
    fn bounded<T: Bounded>(&mut self, path: impl Into<String>, bounds: &Bounds<T>, value: T) {
        if let Err(e) = bounds.check(value) {
            self.error(path, e.to_string());
        }
    }

    /// Reports what a backend's own checks found.
    fn violations(&mut self, found: Vec<Violation>) {
        for v in found {
            self.error(v.path, v.message);
        }
    }
}

/// Checks every cross-field rule of `config`; an empty result means it is valid.
pub fn validate(config: &Config) -> Vec<ValidationError> {
    report(config, Vec::new())
}

/// Checks `config` like [`validate`], reporting `rejected`, the policy values rejected while
/// the file was read, where the policy's errors go.
pub(super) fn report(config: &Config, rejected: Vec<ValidationError>) -> Vec<ValidationError> {
    let mut report = Report(Vec::new());
    controller::controller(config, &mut report);
    traffic::traffic(config, &mut report);
    report.0.extend(rejected);
    policy::policy(config, &mut report);
    probe::probe(config, &mut report);
    regions::regions(config, &mut report);
    admin::admin(config, &mut report);
    store::store(config, &mut report);
    report.0
}
