//! Reading a config: parse, then validate, reporting every error at once.
//!
//! Parse errors name the path of the value (`controller.tick_interval: ...`). A policy value
//! that its type rejects (`policy.fall = 0`) stops serde at that value, so the file is read a
//! second time without the rejected policy keys, and each of them is reported with the
//! validation errors of the rest, as if it were one: an operator still sees every mistake in
//! one pass.

use std::path::Path;

use serde::Deserialize;

use super::validate::{ValidationError, report};
use super::{Config, Error, Result};
use crate::plan::Policy;

impl Config {
    /// Parses TOML text without validating it; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string().trim_end().to_owned();
            Error::Parse {
                path: origin.to_path_buf(),
                // The TOML error shows the line; the path says which value it is.
                message: if path.is_empty() || path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                },
            }
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let (config, rejected) = match Self::parse(text, origin) {
            Ok(config) => (config, Vec::new()),
            Err(e) => Self::parse_without_rejected_policy(text).ok_or(e)?,
        };
        let errors = report(&config, rejected);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(Error::Invalid(errors))
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

    /// When parsing failed on `[policy]` values only: the config without them (their defaults
    /// in their place) and an error for each. None when anything else fails to parse, whose
    /// error is then reported as it is.
    fn parse_without_rejected_policy(text: &str) -> Option<(Config, Vec<ValidationError>)> {
        let mut doc: toml::Table = toml::from_str(text).ok()?;
        let Some(toml::Value::Table(policy)) = doc.get_mut("policy") else {
            return None;
        };
        let mut rejected = Vec::new();
        policy.retain(|key, value| {
            let alone = toml::Table::from_iter([(key.to_owned(), value.clone())]);
            match Policy::deserialize(toml::Value::Table(alone)) {
                Ok(_) => true,
                Err(e) => {
                    rejected.push(ValidationError {
                        path: format!("policy.{key}"),
                        message: e.message().to_owned(),
                    });
                    false
                }
            }
        });
        if rejected.is_empty() {
            return None;
        }
        let config = Config::deserialize(toml::Value::Table(doc)).ok()?;
        Some((config, rejected))
    }
}
