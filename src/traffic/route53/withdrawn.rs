//! The always-unhealthy check of `mode = "records"` (`withdrawn_health_check_id`), read while
//! failoverd runs: a drain that re-points a record at a check that could turn healthy, or at
//! none, would leave the record answering with no sign of it. The check is read with the first
//! read of the records and again every [`RECHECK`]; while it is missing, or could turn healthy
//! (disabled, inverted, or needing no more children than it has), a record that carries it is
//! left unread, naming why, so its region's `backend_missing_region` alarm says what to fix, and
//! a drain onto it is refused with the same reason; every other region reads and moves as
//! before (a restore needs the check not at all). A read of the check that fails (or does not
//! finish) keeps what was known: drains stay refused if the last good reading found the check
//! broken, and go ahead otherwise (before any good reading, unverified); it is logged, raises
//! `backend_unverified` ([`Withdrawn::unverified`]) until a read succeeds, and is tried again
//! after [`RETRY`].

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::checks::not_always_unhealthy;
use super::zone::Zones;
use crate::traffic::{Error, ErrorCode};

/// How long a good reading of the check stands before it is read again.
pub(super) const RECHECK: Duration = Duration::from_secs(300);

/// How long after a read that failed the check is read again.
pub(super) const RETRY: Duration = Duration::from_secs(60);

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
    read_error: Option<(ErrorCode, String)>,
    /// Whether a read has ever succeeded.
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
    pub(super) fn unverified(&self) -> Option<String> {
        let last = self.last();
        let (code, error) = last.read_error.as_ref()?;
        let meanwhile = match (&last.problem, last.read) {
            (Some(_), _) => {
                "its last good reading found it broken, so drains onto it stay refused and the records carrying it unread"
            }
            (None, true) => {
                "drains re-point records at it, as its last good reading found it sound"
            }
            (None, false) => {
                "this controller has never read it, so drains re-point records at it unverified (`failoverd check-config --live` checks it)"
            }
        };
        let fix = if *code == ErrorCode::AccessDenied {
            "the controller's role needs route53:GetHealthCheck; "
        } else {
            ""
        };
        Some(format!(
            "traffic.route53.withdrawn_health_check_id {}: cannot read it ({}); {meanwhile}; {fix}it is read again every {} until a read succeeds (runbooks/route53.md)",
            self.id,
            crate::traffic::brief(error),
            humantime::format_duration(RETRY)
        ))
    }

    /// Whether `record` carries this check.
    pub(super) fn carried_by(&self, record: &aws_sdk_route53::types::ResourceRecordSet) -> bool {
        record.health_check_id().map(str::trim) == Some(self.id.as_str())
    }

    /// Why the check would not keep a drained record out of answers, reading it through
    /// `zones` when its last reading is older than [`RECHECK`] (or [`RETRY`], after a read
    /// that failed); None while it would.
    pub(super) async fn problem(&self, zones: &Zones) -> Option<String> {
        let due = {
            let mut last = self.last();
            let every = if last.read_error.is_some() {
                RETRY
            } else {
                RECHECK
            };
            let due = last.at.is_none_or(|at| at.elapsed() >= every);
            if due {
                last.at = Some(Instant::now());
                // Stands if the read is dropped unfinished (a tick's deadline, a shutdown).
                last.read_error = Some((
                    ErrorCode::Unavailable,
                    "the last read did not finish".to_owned(),
                ));
            }
            due
        };
        if due {
            let read = match zones.health_check(&self.id).await {
                Ok(Some(check)) => Ok(not_always_unhealthy(&check)),
                Ok(None) => Ok(Some(
                    "Route 53 returned it without a configuration".to_owned(),
                )),
                Err(e) if e.code == ErrorCode::NotFound => {
                    Ok(Some("it is not a health check of this account".to_owned()))
                }
                Err(e) => Err(e),
            };
            self.took(read);
        }
        self.last().problem.as_ref().map(|why| {
            format!(
                "traffic.route53.withdrawn_health_check_id {} would not keep a drained record out of answers: {why} (`failoverd setup route53-withdrawn --apply` makes one that does)",
                self.id
            )
        })
    }

    /// Takes a reading: what is wrong with the check (None: nothing), or why it could not be
    /// read, which keeps what the last good reading found.
    fn took(&self, read: Result<Option<String>, Error>) {
        let mut last = self.last();
        match read {
            Ok(problem) => {
                last.problem = problem;
                last.read_error = None;
                last.read = true;
            }
            Err(e) => {
                warn!(id = %self.id, error = %e, "Cannot read the always-unhealthy health check; keeping what was known.");
                last.read_error = Some((e.code, e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: ErrorCode) -> Error {
        Error::new("route53", "GetHealthCheck", code, "refused".to_owned())
    }

    #[test]
    fn each_state_of_an_unreadable_check_says_what_drains_do_meanwhile() {
        let w = Withdrawn::new("hc-1");
        assert_eq!(w.unverified(), None, "not tried yet");

        w.took(Err(error(ErrorCode::AccessDenied)));
        let never = w.unverified().expect("unverified");
        assert!(
            never.starts_with("traffic.route53.withdrawn_health_check_id hc-1: cannot read it (")
                && never.contains(
                    "this controller has never read it, so drains re-point records at it unverified"
                )
                && never.contains("needs route53:GetHealthCheck")
                && never.contains("read again every 1m"),
            "{never}"
        );

        w.took(Ok(None));
        assert_eq!(w.unverified(), None, "a good read clears it");

        // A failure that is not a permission gives no permission hint.
        w.took(Err(error(ErrorCode::Throttled)));
        let sound = w.unverified().expect("unverified");
        assert!(
            sound
                .contains("drains re-point records at it, as its last good reading found it sound")
                && !sound.contains("needs route53:GetHealthCheck"),
            "{sound}"
        );

        w.took(Ok(Some("it is inverted".to_owned())));
        assert_eq!(w.unverified(), None);
        w.took(Err(error(ErrorCode::AccessDenied)));
        let broken = w.unverified().expect("unverified");
        assert!(
            broken
                .contains("its last good reading found it broken, so drains onto it stay refused"),
            "{broken}"
        );
        assert_eq!(
            w.last().problem.as_deref(),
            Some("it is inverted"),
            "a failed read keeps what the good one found"
        );
    }
}
