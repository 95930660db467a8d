//! The Route 53 API calls: listing a record group (following Route 53's paging), sending a
//! change batch, and polling `GetChange` until the change is INSYNC. Each call goes through the
//! backend's [`Discipline`] (rate limit, timeout, jittered retries) and each SDK error is
//! classified into an [`ErrorCode`].

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{ChangeBatch, ChangeStatus, ResourceRecordSet, RrType};
use tracing::{info, warn};

use super::records::{Bound, Group, fqdn};
use super::{NAME, error};
use crate::traffic::retry::{self, Discipline};
use crate::traffic::{Error, ErrorCode, Result};

/// The Route 53 error codes failoverd tells apart. Throttling, a zone busy with an earlier
/// change and transient faults are retried; every code not listed is permanent.
const CODES: &[(&str, ErrorCode)] = &[
    ("Throttling", ErrorCode::Throttled),
    ("ThrottlingException", ErrorCode::Throttled),
    ("PriorRequestNotComplete", ErrorCode::Busy),
    ("ServiceUnavailable", ErrorCode::Unavailable),
    ("InternalError", ErrorCode::Unavailable),
    ("InternalFailure", ErrorCode::Unavailable),
    ("NoSuchHostedZone", ErrorCode::NotFound),
    ("NoSuchChange", ErrorCode::NotFound),
    ("InvalidChangeBatch", ErrorCode::Invalid),
    ("InvalidInput", ErrorCode::Invalid),
    ("AccessDenied", ErrorCode::AccessDenied),
    ("AccessDeniedException", ErrorCode::AccessDenied),
];

/// Records per `ListResourceRecordSets` page.
const PAGE: i32 = 100;

fn classify<E, R>(operation: &'static str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    retry::classify(NAME, operation, e, CODES)
}

/// How `GetChange` is polled until a change is INSYNC.
#[derive(Debug, Clone, Copy)]
pub(super) struct Polling {
    /// First wait between polls; it doubles up to `max`.
    pub first: Duration,
    /// Longest wait between polls.
    pub max: Duration,
    /// How long a change may stay PENDING before it is reported.
    pub timeout: Duration,
}

/// The Route 53 API, as this backend calls it.
#[derive(Debug)]
pub(super) struct Zones {
    client: Client,
    discipline: Discipline,
    polling: Polling,
}

impl Zones {
    pub(super) fn new(client: Client, discipline: Discipline, polling: Polling) -> Self {
        Self {
            client,
            discipline,
            polling,
        }
    }

    /// Every record set of `name` and `type` in `zone`, following Route 53's paging.
    pub(super) async fn list(
        &self,
        zone: &str,
        name: &str,
        rtype: &RrType,
    ) -> Result<Vec<ResourceRecordSet>> {
        let op = "ListResourceRecordSets";
        let mut records = Vec::new();
        let mut next: Option<(String, RrType, Option<String>)> =
            Some((name.to_owned(), rtype.clone(), None));
        while let Some((start_name, start_type, start_id)) = next.take() {
            let page = self
                .discipline
                .run(op, || async {
                    self.client
                        .list_resource_record_sets()
                        .hosted_zone_id(zone)
                        .start_record_name(&start_name)
                        .start_record_type(start_type.clone())
                        .set_start_record_identifier(start_id.clone())
                        .max_items(PAGE)
                        .send()
                        .await
                        .map_err(|e| classify(op, e))
                })
                .await?;
            let mut past = false;
            for r in page.resource_record_sets() {
                if fqdn(r.name()) == name && r.r#type() == rtype {
                    records.push(r.clone());
                } else {
                    past = true;
                }
            }
            if page.is_truncated() && !past {
                next = page.next_record_name().map(|n| {
                    (
                        n.to_owned(),
                        page.next_record_type().cloned().unwrap_or(rtype.clone()),
                        page.next_record_identifier().map(str::to_owned),
                    )
                });
                if next.as_ref()
                    == Some(&(start_name.clone(), start_type.clone(), start_id.clone()))
                {
                    return Err(error(
                        op,
                        ErrorCode::Unavailable,
                        format!(
                            "paging {name} {} in zone {zone} did not advance",
                            rtype.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(records)
    }

    /// Lists the group of every record in `bound`; a zone Route 53 does not know is left out,
    /// so its regions go missing from reads (the controller alarms and changes nothing).
    pub(super) async fn list_groups(
        &self,
        bound: &[&Bound],
    ) -> Result<BTreeMap<Group, Vec<ResourceRecordSet>>> {
        let mut groups = BTreeMap::new();
        for b in bound {
            let key = b.group();
            if groups.contains_key(&key) {
                continue;
            }
            match self.list(&b.zone, &b.name, &b.rtype).await {
                Ok(records) => {
                    groups.insert(key, records);
                }
                Err(e) if e.code == ErrorCode::NotFound => {
                    warn!(zone = %b.zone, error = %e.message, "Hosted zone not found.");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(groups)
    }

    /// Sends `batch` to `zone`; returns the id of the accepted change.
    pub(super) async fn change(&self, zone: &str, batch: &ChangeBatch) -> Result<String> {
        let op = "ChangeResourceRecordSets";
        let out = self
            .discipline
            .run(op, || async {
                self.client
                    .change_resource_record_sets()
                    .hosted_zone_id(zone)
                    .change_batch(batch.clone())
                    .send()
                    .await
                    .map_err(|e| classify(op, e))
            })
            .await?;
        Ok(out
            .change_info()
            .map(|c| c.id().to_owned())
            .unwrap_or_default())
    }

    /// Polls `GetChange` until INSYNC, doubling the wait up to its cap, within the deadline.
    pub(super) async fn confirm(&self, id: &str) -> Result<()> {
        let op = "GetChange";
        let started = tokio::time::Instant::now();
        let deadline = started + self.polling.timeout;
        let mut wait = self.polling.first;
        loop {
            let status = self
                .discipline
                .run(op, || async {
                    let out = self
                        .client
                        .get_change()
                        .id(id)
                        .send()
                        .await
                        .map_err(|e| classify(op, e))?;
                    Ok(out.change_info().map(|c| c.status().clone()))
                })
                .await?;
            if status == Some(ChangeStatus::Insync) {
                let took = started.elapsed();
                info!(change = %id, propagation_ms = took.as_millis() as u64, "Route 53 change INSYNC.");
                return Ok(());
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Err(error(
                    op,
                    ErrorCode::Unconfirmed,
                    format!(
                        "change {id} still PENDING after {}",
                        humantime::format_duration(self.polling.timeout)
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.polling.max);
        }
    }
}
