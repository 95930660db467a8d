//! The Route 53 API calls: listing a record group (following Route 53's paging), sending a
//! change batch, and polling `GetChange` until the change is INSYNC. Each call goes through the
//! backend's [`Discipline`] (rate limit, timeout, jittered retries) and each SDK error is
//! classified into an [`ErrorCode`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{ChangeBatch, ChangeStatus, ResourceRecordSet, RrType};
use tracing::{info, warn};

use super::records::{Bound, Group, fqdn};
use super::{NAME, error};
use crate::traffic::retry::{self, Discipline};
use crate::traffic::{Error, ErrorCode, Result};

/// The Route 53 error codes failoverd tells apart, for records and health checks alike.
/// Throttling, a zone busy with an earlier change and transient faults are retried; every code
/// not listed is permanent.
const CODES: &[(&str, ErrorCode)] = &[
    ("Throttling", ErrorCode::Throttled),
    ("ThrottlingException", ErrorCode::Throttled),
    ("PriorRequestNotComplete", ErrorCode::Busy),
    ("ServiceUnavailable", ErrorCode::Unavailable),
    ("InternalError", ErrorCode::Unavailable),
    ("InternalFailure", ErrorCode::Unavailable),
    ("NoSuchHostedZone", ErrorCode::NotFound),
    ("NoSuchChange", ErrorCode::NotFound),
    ("NoSuchHealthCheck", ErrorCode::NotFound),
    ("InvalidChangeBatch", ErrorCode::Invalid),
    ("InvalidInput", ErrorCode::Invalid),
    ("TooManyHealthChecks", ErrorCode::Invalid),
    ("AccessDenied", ErrorCode::AccessDenied),
    ("AccessDeniedException", ErrorCode::AccessDenied),
];

/// Records per `ListResourceRecordSets` page of one record group.
const PAGE: i32 = 100;
/// Records per page of a whole-zone scan: the API's maximum.
const SCAN_PAGE: usize = 300;
/// How long a zone's record count (`GetHostedZone`) is trusted for choosing how to read it.
const SIZE_TTL: Duration = Duration::from_secs(600);

/// `e` of the Route 53 call `operation` in failoverd's terms.
pub(super) fn classify<E>(operation: &'static str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
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
    /// Each zone's record count and when it was read.
    sizes: Mutex<BTreeMap<String, (usize, tokio::time::Instant)>>,
}

impl Zones {
    pub(super) fn new(client: Client, discipline: Discipline, polling: Polling) -> Self {
        Self {
            client,
            discipline,
            polling,
            sizes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The client the calls go through.
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// How the calls are paced and retried.
    pub(super) fn discipline(&self) -> &Discipline {
        &self.discipline
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
    ///
    /// A zone holding many bound groups (many services' records) is read by scanning it whole,
    /// 300 records a page, when that takes fewer calls than one listing per group: an estate's
    /// read costs a few calls per zone, not one per service. The zone's size comes from
    /// `GetHostedZone`, read again every ten minutes.
    pub(super) async fn list_groups(
        &self,
        bound: &[&Bound],
    ) -> Result<BTreeMap<Group, Vec<ResourceRecordSet>>> {
        let mut by_zone: BTreeMap<&str, Vec<Group>> = BTreeMap::new();
        for b in bound {
            let groups = by_zone.entry(b.zone.as_str()).or_default();
            if !groups.contains(&b.group()) {
                groups.push(b.group());
            }
        }
        let mut out = BTreeMap::new();
        for (zone, groups) in by_zone {
            let read = match self.cheaper_to_scan(zone, groups.len()).await {
                Ok(true) => self.scan(zone).await.map(|records| {
                    for g in &groups {
                        let mine = records
                            .iter()
                            .filter(|r| fqdn(r.name()) == g.1 && r.r#type() == &g.2)
                            .cloned()
                            .collect();
                        out.insert(g.clone(), mine);
                    }
                }),
                Ok(false) => self.each(&groups, &mut out).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::NotFound => {
                    warn!(%zone, error = %e.message, "Hosted zone not found.");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Lists each of `groups` on its own into `out`.
    async fn each(
        &self,
        groups: &[Group],
        out: &mut BTreeMap<Group, Vec<ResourceRecordSet>>,
    ) -> Result<()> {
        for g in groups {
            let records = self.list(&g.0, &g.1, &g.2).await?;
            out.insert(g.clone(), records);
        }
        Ok(())
    }

    /// Whether scanning `zone` whole takes fewer calls than listing its `groups` one by one.
    async fn cheaper_to_scan(&self, zone: &str, groups: usize) -> Result<bool> {
        if groups < 3 {
            return Ok(false);
        }
        let now = tokio::time::Instant::now();
        let known = self
            .sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(zone)
            .filter(|(_, at)| now.duration_since(*at) < SIZE_TTL)
            .map(|(n, _)| *n);
        let size = match known {
            Some(n) => n,
            None => match self.size(zone).await {
                Ok(n) => {
                    self.sizes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(zone.to_owned(), (n, now));
                    n
                }
                Err(e) if e.code == ErrorCode::NotFound => return Err(e),
                // Without its size (no GetHostedZone permission, throttled), list each name.
                Err(e) => {
                    warn!(%zone, error = %e, "Cannot read the hosted zone's size; listing each bound name instead.");
                    return Ok(false);
                }
            },
        };
        // The size call is paid once per ten minutes, the listings every read.
        Ok(size.div_ceil(SCAN_PAGE).max(1) < groups)
    }

    /// The number of record sets in `zone` (`GetHostedZone`).
    async fn size(&self, zone: &str) -> Result<usize> {
        let op = "GetHostedZone";
        let out = self
            .discipline
            .run(op, || async {
                self.client
                    .get_hosted_zone()
                    .id(zone)
                    .send()
                    .await
                    .map_err(|e| classify(op, e))
            })
            .await?;
        let count = out
            .hosted_zone()
            .and_then(|z| z.resource_record_set_count())
            .unwrap_or(i64::MAX);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Every record set of `zone`, 300 a page, following Route 53's paging.
    async fn scan(&self, zone: &str) -> Result<Vec<ResourceRecordSet>> {
        let mut records = Vec::new();
        let at = (&self.client, &self.discipline);
        scan_pages(at, zone, SCAN_PAGE, usize::MAX, |r| records.push(r.clone())).await?;
        Ok(records)
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

    /// Health check `id` as `GetHealthCheck` gives it, in failoverd's terms.
    pub(super) async fn health_check(&self, id: &str) -> Result<Option<super::checks::FoundCheck>> {
        let op = "GetHealthCheck";
        let out = self
            .discipline
            .run(op, || async {
                self.client
                    .get_health_check()
                    .health_check_id(id)
                    .send()
                    .await
                    .map_err(|e| classify(op, e))
            })
            .await?;
        Ok(out.health_check().and_then(super::checks::found_check))
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

/// Hands every record set of `zone` to `visit`, `page` a page, following Route 53's paging for
/// at most `pages` pages, through `client` as `discipline` paces it; returns whether the zone
/// was read to its end.
pub(super) async fn scan_pages(
    (client, discipline): (&Client, &Discipline),
    zone: &str,
    page: usize,
    pages: usize,
    mut visit: impl FnMut(&ResourceRecordSet),
) -> Result<bool> {
    let op = "ListResourceRecordSets";
    let mut next: Option<(String, RrType, Option<String>)> = None;
    for _ in 0..pages {
        let start = next.clone();
        let got = discipline
            .run(op, || async {
                let mut call = client
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .max_items(i32::try_from(page).unwrap_or(i32::MAX));
                if let Some((name, rtype, id)) = &start {
                    call = call
                        .start_record_name(name)
                        .start_record_type(rtype.clone())
                        .set_start_record_identifier(id.clone());
                }
                call.send().await.map_err(|e| classify(op, e))
            })
            .await?;
        got.resource_record_sets().iter().for_each(&mut visit);
        if !got.is_truncated() {
            return Ok(true);
        }
        next = got.next_record_name().map(|n| {
            (
                n.to_owned(),
                got.next_record_type().cloned().unwrap_or(RrType::A),
                got.next_record_identifier().map(str::to_owned),
            )
        });
        if next.is_none() || next == start {
            return Err(error(
                op,
                ErrorCode::Unavailable,
                format!("paging zone {zone} did not advance"),
            ));
        }
    }
    Ok(false)
}
