//! The always-unhealthy check of `mode = "records"` (`withdrawn_health_check_id`), read while
//! failoverd runs: a drain that re-points a record at a check that could turn healthy, or at
//! none, would leave the record answering with no sign of it. The check is read with the first
//! read of the records and again every [`RECHECK`]; while it is missing, or could turn healthy
//! (disabled, inverted, or needing no more children than it has), a record that carries it is
//! left unread, naming why, so its region's `backend_missing_region` alarm says what to fix, and
//! a drain onto it is refused with the same reason; every other region reads and moves as
//! before (a restore needs the check not at all). A read of the check that fails keeps what was
//! known (nothing, before the first: the drains go ahead, as `check-config --live` passed them),
//! is logged, raises `backend_unverified` ([`Withdrawn::unread`]) until a read succeeds, and is
//! tried again after [`RECHECK`].

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::checks::not_always_unhealthy;
use super::zone::Zones;
use crate::traffic::ErrorCode;

/// How long a reading of the check stands before it is read again.
pub(super) const RECHECK: Duration = Duration::from_secs(300);

/// The check, and what its last reading found.
#[derive(Debug)]
pub(super) struct Withdrawn {
    id: String,
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
struct Last {
    /// When the check was last tried.
    at: Option<Instant>,
    /// What was wrong with it at the last good read.
    problem: Option<String>,
    /// Why the last try could not read it, while it could not.
    unread: Option<String>,
    /// Whether any read has succeeded.
    read: bool,
}

impl Withdrawn {
    pub(super) fn new(id: &str) -> Self {
        Self {
            id: id.trim().to_owned(),
            last: Mutex::new(Last::default()),
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the check could not be read at the last try and what drains do meanwhile, for the
    /// `backend_unverified` alarm; None once a read succeeds (or before the first try).
    pub(super) fn unread(&self) -> Option<String> {
        let last = self.last();
        let error = last.unread.as_ref()?;
        let meanwhile = match (&last.problem, last.read) {
            (Some(_), _) => "drains onto it stay refused, as at its last good reading",
            (None, true) => "drains re-point records at it as its last good reading allowed",
            (None, false) => {
                "it was never read, so drains re-point records at it unverified (as `check-config --live` passed it)"
            }
        };
        Some(format!(
            "traffic.route53.withdrawn_health_check_id {}: cannot read it ({}); {meanwhile}; the controller's role needs route53:GetHealthCheck, and a read is tried again every {} (runbooks/route53.md)",
            self.id,
            crate::traffic::brief(error),
            humantime::format_duration(RECHECK)
        ))
    }

    /// Whether `record` carries this check.
    pub(super) fn carried_by(&self, record: &aws_sdk_route53::types::ResourceRecordSet) -> bool {
        record.health_check_id().map(str::trim) == Some(self.id.as_str())
    }

    /// Why the check would not keep a drained record out of answers, reading it through
    /// `zones` when its last reading is older than [`RECHECK`]; None while it would.
    pub(super) async fn problem(&self, zones: &Zones) -> Option<String> {
        let due = self.last().at.is_none_or(|at| at.elapsed() >= RECHECK);
        if due {
            self.last().at = Some(Instant::now());
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
                    self.last().unread = Some(e.to_string());
                    None
                }
            };
            if let Some(why) = found {
                let mut last = self.last();
                last.problem = why;
                last.unread = None;
                last.read = true;
            }
        }
        self.last().problem.as_ref().map(|why| {
            format!(
                "traffic.route53.withdrawn_health_check_id {} would not keep a drained record out of answers: {why} (`failoverd setup route53-withdrawn --apply` makes one that does)",
                self.id
            )
        })
    }
}
