//! `UpdateHealthCheck` for the switch setup: a controller check's failure threshold set to the
//! config's, naming the `HealthCheckVersion` discovery read so that a change made meanwhile (by
//! hand, or by another run) is not overwritten.

use aws_sdk_route53::Client;
use aws_sdk_route53::error::SdkError;
use tracing::info;

use super::super::zone::classify;
use crate::traffic::Error;
use crate::traffic::retry::Discipline;

/// What [`set_failure_threshold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Updated {
    /// The check has the new threshold.
    Done,
    /// Route 53 refused: the check's version is no longer the one read (it changed since).
    Changed,
}

/// Sets check `id`'s `FailureThreshold` to `to`, and nothing else. With `version`, Route 53
/// refuses the update if the check changed since that version was read.
pub(super) async fn set_failure_threshold(
    client: &Client,
    discipline: &Discipline,
    id: &str,
    version: Option<i64>,
    to: u8,
) -> Result<Updated, Error> {
    let op = "UpdateHealthCheck";
    let updated = discipline
        .run(op, || async {
            match client
                .update_health_check()
                .health_check_id(id)
                .set_health_check_version(version)
                .failure_threshold(i32::from(to))
                .send()
                .await
            {
                Ok(_) => Ok(Updated::Done),
                Err(SdkError::ServiceError(s)) if s.err().is_health_check_version_mismatch() => {
                    Ok(Updated::Changed)
                }
                Err(e) => Err(classify(op, e)),
            }
        })
        .await?;
    if updated == Updated::Done {
        info!(%id, failure_threshold = to, "Health check's failure threshold set.");
    }
    Ok(updated)
}
