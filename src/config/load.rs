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
use super::{Config, Error, Result};

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
        let read = read::<Config>(text, origin)?;
        let errors = match &read.value {
            Some(config) => report(config, read.errors.clone(), |path| read.is_set_aside(path)),
            None => read.errors.clone(),
        };
        match read.value {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(Error::Invalid(errors)),
        }
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }
}
