//! Reading a config: parse, then validate, reporting every error at once.
//!
//! Every value the file gets wrong is reported with its path and line
//! (`controller.tick_interval: invalid value: string "soon", expected a duration (line 4,
//! column 17)`), not just the first: unknown keys, values of the wrong type, and the planner
//! policy's values its types reject (`policy.fall = 0`). A value at fault that has a default is
//! left out and the rest of the file is validated as if it were not written, so those errors
//! come with every validation error, in one list: an operator sees every mistake in one pass.
//! A syntax error is one error, where the parser stopped.

use std::path::Path;

use super::read::read;
use super::validate::report;
use super::{Config, Error, Result, ValidationError};

impl Config {
    /// Parses TOML text without validating it; `origin` names the source in errors. Every
    /// value the file gets wrong is reported ([`Error::Invalid`]).
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let read = read::<Config>(text, origin)?;
        match read.value {
            Some(config) if read.errors.is_empty() => Ok(config),
            _ => Err(Error::Invalid(read.errors)),
        }
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        Self::from_toml_with_checks(text, origin, |_| Vec::new())
    }

    /// Parses and validates TOML text, and runs `check` on the config read (one that breaks
    /// validation rules too), its errors reported with the others, each after its section's.
    fn from_toml_with_checks(
        text: &str,
        origin: &Path,
        check: impl FnOnce(&Config) -> Vec<ValidationError>,
    ) -> Result<Self> {
        let read = read::<Config>(text, origin)?;
        let errors = match &read.value {
            Some(config) => report(
                config,
                read.errors.clone(),
                |path| read.is_set_aside(path),
                check(config),
            ),
            None => read.errors.clone(),
        };
        match read.value {
            Some(mut config) if errors.is_empty() => {
                let settle = settle_default(&config);
                config.policy.settle.get_or_insert(settle);
                Ok(config)
            }
            _ => Err(Error::Invalid(errors)),
        }
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_checks(path, |_| Vec::new())
    }

    /// Reads, parses and validates a config file like [`Config::load`], and runs `check` on the
    /// config read, reporting what it finds with every other error. Validation stays pure: this
    /// is how `check-config` and `run` add the daemon's reading of the files the config names
    /// (`daemon::check_files`), so a config the check accepts also starts.
    pub fn load_with_checks(
        path: &Path,
        check: impl FnOnce(&Config) -> Vec<ValidationError>,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_with_checks(&text, path, check)
    }
}

/// `policy.settle` when the config does not say: a minute (the usual TTL of a record failed
/// over, the usual life of a connection) when any knob is a cloud one, none when every knob is
/// the in-memory backend's, whose users follow at once. Judged by the knobs, not by
/// `traffic.backend`: a file of `[[services]]` names each knob's backend and may leave
/// `traffic.backend` at its default.
fn settle_default(config: &Config) -> std::time::Duration {
    let cloud = config
        .knobs()
        .iter()
        .any(|k| k.knob.kind() != crate::traffic::BackendKind::Sim);
    if cloud {
        std::time::Duration::from_secs(60)
    } else {
        std::time::Duration::ZERO
    }
}
