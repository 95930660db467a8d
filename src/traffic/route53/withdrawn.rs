//! The always-unhealthy check of `mode = "records"` (`withdrawn_health_check_id`), read while
//! failoverd runs: a drain that re-points a record at a check that could turn healthy, or at
//! none, would leave the record answering with no sign of it. The check is read with the first
//! read of the records and again every [`RECHECK`]; while it is missing, or could turn healthy
//! (disabled, inverted, or needing no more children than it has), every record re-pointed at it
//! is left unread, naming why, so the region's `backend_missing_region` alarm says what to fix.
//! A read that fails keeps what was known, and is tried again at the next read of the records.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::switch_setup::not_always_unhealthy;
use super::zone::Zones;
use crate::traffic::ErrorCode;

/// How long a reading of the check stands before it is read again.
pub(super) const RECHECK: Duration = Duration::from_secs(300);

/// The check, and what its last reading found.
#[derive(Debug)]
pub(super) struct Withdrawn {
    id: String,
    /// When it was last read, and what was wrong with it then.
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl Withdrawn {
    pub(super) fn new(id: &str) -> Self {
        Self {
            id: id.trim().to_owned(),
            last: Mutex::new(None),
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Option<String>)>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the check would not keep a drained record out of answers, reading it through
    /// `zones` when its last reading is older than [`RECHECK`]; None while it would.
    pub(super) async fn problem(&self, zones: &Zones) -> Option<String> {
        let due = self
            .last()
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= RECHECK);
        if due {
            let found = match zones.health_check(&self.id).await {
                Ok(Some(check)) => Some(not_always_unhealthy(&check)),
                Ok(None) => Some(Some(
                    "Route 53 returned it without a configuration".to_owned(),
                )),
                Err(e) if e.code == ErrorCode::NotFound => {
                    Some(Some("it is not a health check of this account".to_owned()))
                }
                Err(e) => {
                    warn!(id = %self.id, error = %e, "Cannot read the always-unhealthy health check; keeping what was known.");
                    None
                }
            };
            if let Some(why) = found {
                *self.last() = Some((Instant::now(), why));
            }
        }
        self.last().as_ref().and_then(|(_, why)| {
            why.as_ref().map(|why| {
                format!(
                    "traffic.route53.withdrawn_health_check_id {} would not keep a drained record out of answers: {why} (`failoverd setup route53-withdrawn --apply` makes one that does)",
                    self.id
                )
            })
        })
    }
}
