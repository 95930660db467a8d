//! `[store]`: where durable state lives.

use super::{Config, Report};

/// The journal's rotation.
pub(super) fn store(config: &Config, r: &mut Report) {
    if config.store.journal_max_bytes < 4096 {
        r.error("store.journal_max_bytes", "must be at least 4096");
    }
    if config.store.journal_keep < 1 {
        r.error("store.journal_keep", "must be at least 1");
    }
}
