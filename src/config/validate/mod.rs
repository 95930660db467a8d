//! Cross-field validation. Every rule is checked and every violation is reported with its path.
//!
//! One file per section of the config file, checked in the file's order. Each backend's own
//! rules live with the backend (`crate::traffic::<backend>`) and are reported through
//! [`traffic`]. The planner policy's single values are checked by their types while the file is
//! read; what is left in [`policy`] are the rules between values and the durations. Errors found
//! while reading are reported with these, each before the validation errors of its section.

mod admin;
mod cluster;
mod controller;
mod drill;
mod policy;
mod probe;
mod regions;
mod rollout;
mod services;
mod store;
mod switches;
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

/// The checks of one section of the file.
type Check = fn(&Config, &mut Report);

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
    report(config, Vec::new(), |_| false, Vec::new())
}

/// Checks `config` like [`validate`], with `found_reading`, the errors found while the file
/// was read (in the file's order), each placed before the validation errors of its section,
/// and `found_after`, errors found by checks beyond validation (the files the config names),
/// each placed after them. Validation errors for which `set_aside` holds (values left out of
/// `config` because they could not be read) are not reported again.
pub(super) fn report(
    config: &Config,
    found_reading: Vec<ValidationError>,
    set_aside: impl Fn(&str) -> bool,
    found_after: Vec<ValidationError>,
) -> Vec<ValidationError> {
    let sections: [(&str, Check); 12] = [
        ("controller", controller::controller),
        ("traffic", traffic::traffic),
        ("policy", policy::policy),
        ("probe", probe::probe),
        ("regions", regions::regions),
        ("services", services::services),
        ("admin", admin::admin),
        ("store", store::store),
        ("cluster", cluster::cluster),
        ("switches", switches::switches),
        ("rollout", rollout::rollout),
        ("drills", drill::drills),
    ];
    let section_of =
        |path: &str| -> String { path.split(['.', '[']).next().unwrap_or_default().to_owned() };
    // Errors outside every section (an unknown table, a missing one) come first.
    let (mut out, mut reading): (Vec<_>, Vec<_>) = found_reading.into_iter().partition(|e| {
        !sections
            .iter()
            .any(|(name, _)| *name == section_of(&e.path))
    });
    let mut after = found_after;
    for (name, check) in sections {
        let (here, rest): (Vec<_>, Vec<_>) = reading
            .into_iter()
            .partition(|e| section_of(&e.path) == name);
        reading = rest;
        out.extend(here);
        let mut found = Report(Vec::new());
        check(config, &mut found);
        out.extend(found.0.into_iter().filter(|e| !set_aside(&e.path)));
        let (here, rest): (Vec<_>, Vec<_>) =
            after.into_iter().partition(|e| section_of(&e.path) == name);
        after = rest;
        out.extend(here);
    }
    out.extend(reading);
    out.extend(after);
    out
}
