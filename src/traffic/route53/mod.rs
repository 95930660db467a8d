//! The Route 53 backend: a region's share is its weighted record's weight, or whether its
//! failover record answers with its own values.
//!
//! - **Weighted** records carry `weight = round(base_weight × share / 100)`; a drained region has
//!   weight 0, which Route 53 still answers with when every non-zero record is unhealthy (the
//!   data plane's fail-open). `base_weight` is at least 100, so every whole-percent share has a
//!   weight of its own and reads back unchanged.
//! - **Failover** records are all or nothing. Draining a region rewrites the answer of its record
//!   to its partner's (the other record of the PRIMARY/SECONDARY pair: the partner region's
//!   configured values when the partner is bound, else the values the zone holds); restoring
//!   writes the region's configured values back, so a restarted controller needs no memory of
//!   what it changed. The record keeps its failover role and its health check, so Route 53's
//!   own failover and its fail-open (an all-unhealthy pair still answers) work as before; the
//!   name only ever answers with values of a record of the pair.
//! - Every change batch of a zone holds only records that differ, is split at the API's limits
//!   without splitting a region's changes ([`batch`]), and, with fencing on, DELETEs the fence
//!   TXT record carrying the epoch last written and CREATEs it with this controller's epoch: a
//!   compare-and-swap, so a stale controller's batch fails whole. A lost fence stops this
//!   controller's writes for good ([`Retry::Fenced`]).
//! - Each accepted batch is polled with `GetChange` until INSYNC, with backoff and a deadline;
//!   the propagation time (first batch sent → last batch INSYNC) is logged and returned in
//!   [`Applied`], which the controller journals and exports as a metric.
//! - Calls go through a rate limiter, jittered backoff on `Throttling` and
//!   `PriorRequestNotComplete`, and a timeout each ([`Discipline`]).
//!
//! SDK types never leave this module.

pub mod batch;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use tracing::{info, warn};

use self::batch::{Size, Unit};
use super::retry::{self, Discipline};
use super::{Applied, Error, Result, Retry, ShareChange, Shares, TrafficBackend};
use crate::config::{Config, Route53Alias, Route53Routing, Route53Settings};
use crate::share::Share;

const NAME: &str = "route53";

/// The region Route 53's control plane is signed for.
pub const API_REGION: &str = "us-east-1";

/// Error codes worth retrying: throttling, a zone busy with an earlier change, transient faults.
const RETRYABLE: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

/// Records per `ListResourceRecordSets` page.
const PAGE: i32 = 100;

/// TTL given to a record that switches from an alias to values and had none.
const DEFAULT_TTL: i64 = 60;

fn classify<E, R>(operation: &'static str, e: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    retry::classify(NAME, operation, e, RETRYABLE)
}

fn error(operation: &'static str, retry: Retry, message: String) -> Error {
    Error {
        backend: NAME,
        operation,
        retry,
        message,
    }
}

/// A name as Route 53 returns it: lower case, fully qualified.
fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// What a record answers with.
#[derive(Debug, Clone)]
enum Answer {
    Values(Vec<String>),
    Alias(Route53Alias),
}

impl Answer {
    fn of(record: &ResourceRecordSet) -> Answer {
        match record.alias_target() {
            Some(a) => Answer::Alias(Route53Alias {
                dns_name: a.dns_name().to_owned(),
                hosted_zone_id: a.hosted_zone_id().to_owned(),
                evaluate_target_health: a.evaluate_target_health(),
            }),
            None => Answer::Values(
                record
                    .resource_records()
                    .iter()
                    .map(|r| r.value().to_owned())
                    .collect(),
            ),
        }
    }

    /// Equal as Route 53 sees it: values in any order, names in any case, with or without the
    /// final dot.
    fn same_as(&self, other: &Answer) -> bool {
        fn norm(v: &str) -> String {
            v.trim().trim_end_matches('.').to_ascii_lowercase()
        }
        match (self, other) {
            (Answer::Values(a), Answer::Values(b)) => {
                let mut a: Vec<String> = a.iter().map(|v| norm(v)).collect();
                let mut b: Vec<String> = b.iter().map(|v| norm(v)).collect();
                a.sort();
                b.sort();
                a == b
            }
            (Answer::Alias(a), Answer::Alias(b)) => {
                norm(&a.dns_name) == norm(&b.dns_name)
                    && a.hosted_zone_id.trim_start_matches("/hostedzone/")
                        == b.hosted_zone_id.trim_start_matches("/hostedzone/")
                    && a.evaluate_target_health == b.evaluate_target_health
            }
            _ => false,
        }
    }

    fn size(&self, upsert: bool) -> Size {
        match self {
            Answer::Values(v) => Size::of(v.iter().map(String::as_str), upsert),
            Answer::Alias(a) => Size::of([a.dns_name.as_str()], upsert),
        }
    }
}

#[derive(Debug, Clone)]
enum Routing {
    Weighted {
        base: u8,
    },
    Failover {
        /// The configured values a restore writes back.
        normal: Answer,
        /// The partner record's configured values, when another region binds it.
        partner: Option<Answer>,
    },
}

/// One region's record.
#[derive(Debug, Clone)]
struct Bound {
    region: String,
    zone: String,
    name: String,
    rtype: RrType,
    set_id: String,
    routing: Routing,
}

impl Bound {
    fn group(&self) -> Group {
        (self.zone.clone(), self.name.clone(), self.rtype.clone())
    }
}

/// Records sharing a zone, a name and a type: what one listing reads.
type Group = (String, String, RrType);

/// Weight for `share` of `base`, rounded half up.
pub fn weight_for(base: u8, share: Share) -> i64 {
    (i64::from(base) * i64::from(share.get()) + 50) / 100
}

/// Share that `weight` is of `base`, rounded half up and at most 100%.
pub fn share_for(base: u8, weight: i64) -> Share {
    let base = i64::from(base.max(1));
    let share = ((weight.max(0) * 100 + base / 2) / base).min(100);
    Share::try_new(u8::try_from(share).unwrap_or(100)).unwrap_or(Share::FULL)
}

/// This controller's standing with a zone's fence.
#[derive(Debug, Clone)]
enum Fence {
    /// Not read since start.
    Unknown,
    /// The fence holds exactly this record (ours after a write, or an older controller's).
    Seen { ttl: i64, value: String },
    /// Absent from the zone.
    Absent,
    /// A newer controller holds it; this one writes no more.
    Lost(String),
}

/// Traffic backend driving Route 53 weighted and failover records.
#[derive(Debug)]
pub struct Route53Backend {
    client: Client,
    bindings: Vec<Bound>,
    /// Fence record name by zone; empty when fencing is off.
    fence_names: BTreeMap<String, String>,
    /// Names this controller in the fences it writes.
    controller: String,
    epoch: u64,
    /// Counts this controller's fence writes, so every batch changes the fence's value.
    fence_writes: std::sync::atomic::AtomicU64,
    fences: tokio::sync::Mutex<BTreeMap<String, Fence>>,
    settings: Route53Settings,
    discipline: Discipline,
}

const FENCE_TTL: i64 = 300;

/// The epoch a fence value carries, if it is a failoverd fence.
fn fence_epoch(value: &str) -> Option<u64> {
    value
        .trim_matches('"')
        .split_whitespace()
        .find_map(|w| w.strip_prefix("epoch="))
        .and_then(|e| e.parse().ok())
}

impl Route53Backend {
    /// A backend for `config`'s Route 53 bindings with a client from the standard AWS
    /// configuration chain (credentials, `AWS_ENDPOINT_URL_ROUTE_53`), writing fences with
    /// `epoch`, which must grow with every controller that takes over.
    pub async fn from_env(config: &Config, epoch: u64) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(API_REGION))
            .load()
            .await;
        Self::new(Client::new(&sdk), config, epoch)
    }

    /// A backend using `client` (tests point it at an emulator or a fake).
    pub fn new(client: Client, config: &Config, epoch: u64) -> Self {
        let raw: Vec<(String, &crate::config::Route53Binding)> = config
            .regions
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.traffic.route53.as_ref()?)))
            .collect();
        let answer = |b: &crate::config::Route53Binding| match &b.alias {
            Some(a) => Answer::Alias(a.clone()),
            None => Answer::Values(b.values.clone()),
        };
        let bindings: Vec<Bound> = raw
            .iter()
            .flat_map(|(region, b)| b.record_type.iter().map(move |t| (region, b, t)))
            .map(|(region, b, rtype)| {
                let routing = match b.routing {
                    Route53Routing::Weighted => Routing::Weighted {
                        base: b.base_weight,
                    },
                    Route53Routing::Failover => Routing::Failover {
                        normal: answer(b),
                        partner: raw
                            .iter()
                            .find(|(other, p)| {
                                other != region
                                    && p.routing == Route53Routing::Failover
                                    && p.hosted_zone_id == b.hosted_zone_id
                                    && fqdn(&p.record_name) == fqdn(&b.record_name)
                                    && p.record_type.iter().any(|t| t == rtype)
                            })
                            .map(|(_, p)| answer(p)),
                    },
                };
                Bound {
                    region: region.clone(),
                    zone: b.hosted_zone_id.clone(),
                    name: fqdn(&b.record_name),
                    rtype: RrType::from(rtype),
                    set_id: b.set_identifier.clone(),
                    routing,
                }
            })
            .collect();
        let settings = config.traffic.route53.clone();
        let mut fence_names = BTreeMap::new();
        if settings.fencing {
            for b in &bindings {
                fence_names.entry(b.zone.clone()).or_insert_with(|| {
                    settings
                        .fence_records
                        .get(&b.zone)
                        .map_or_else(|| format!("_failoverd-fence.{}", b.name), |n| fqdn(n))
                });
            }
        }
        let per_second = NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            client,
            bindings,
            fence_names,
            controller: config.controller.id.clone(),
            epoch,
            fence_writes: std::sync::atomic::AtomicU64::new(0),
            fences: tokio::sync::Mutex::new(BTreeMap::new()),
            discipline: Discipline::new(
                NAME,
                per_second,
                config.traffic.retry.clone(),
                config.traffic.call_timeout,
            ),
            settings,
        }
    }

    /// Every record set of `name` and `type` in `zone`, following Route 53's paging.
    async fn list(&self, zone: &str, name: &str, rtype: &RrType) -> Result<Vec<ResourceRecordSet>> {
        let mut records = Vec::new();
        let mut next: Option<(String, RrType, Option<String>)> =
            Some((name.to_owned(), rtype.clone(), None));
        while let Some((start_name, start_type, start_id)) = next.take() {
            let page = self
                .discipline
                .run("ListResourceRecordSets", || async {
                    self.client
                        .list_resource_record_sets()
                        .hosted_zone_id(zone)
                        .start_record_name(&start_name)
                        .start_record_type(start_type.clone())
                        .set_start_record_identifier(start_id.clone())
                        .max_items(PAGE)
                        .send()
                        .await
                        .map_err(|e| classify("ListResourceRecordSets", &e))
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
                        "ListResourceRecordSets",
                        Retry::Retryable,
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

    /// Lists every group of bound records; a zone Route 53 does not know is left out, so its
    /// regions go missing from reads (the controller alarms and changes nothing).
    async fn list_groups(
        &self,
        wanted: impl Fn(&Bound) -> bool,
    ) -> Result<BTreeMap<Group, Vec<ResourceRecordSet>>> {
        let mut groups = BTreeMap::new();
        for b in self.bindings.iter().filter(|b| wanted(b)) {
            let key = b.group();
            if groups.contains_key(&key) {
                continue;
            }
            match self.list(&b.zone, &b.name, &b.rtype).await {
                Ok(records) => {
                    groups.insert(key, records);
                }
                Err(e) if e.message.starts_with("NoSuchHostedZone") => {
                    warn!(zone = %b.zone, error = %e.message, "Hosted zone not found.");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(groups)
    }

    fn share_of(b: &Bound, record: &ResourceRecordSet) -> Share {
        match &b.routing {
            Routing::Weighted { base } => share_for(*base, record.weight().unwrap_or(0)),
            Routing::Failover { normal, .. } => {
                if Answer::of(record).same_as(normal) {
                    Share::FULL
                } else {
                    Share::ZERO
                }
            }
        }
    }

    /// The record `b` should hold at share `to`, or None when it already does.
    fn desired(
        b: &Bound,
        records: &[ResourceRecordSet],
        to: Share,
    ) -> Result<Option<(ResourceRecordSet, Size)>> {
        let op = "ChangeResourceRecordSets";
        let record = records
            .iter()
            .find(|r| r.set_identifier() == Some(b.set_id.as_str()))
            .ok_or_else(|| {
                error(
                    op,
                    Retry::Permanent,
                    format!(
                        "{} {} with set identifier {} is not in zone {}",
                        b.name,
                        b.rtype.as_str(),
                        b.set_id,
                        b.zone
                    ),
                )
            })?;
        if Self::share_of(b, record) == to {
            return Ok(None);
        }
        let (weight, answer) = match &b.routing {
            Routing::Weighted { base } => (Some(weight_for(*base, to)), None),
            Routing::Failover { normal, partner } => {
                let answer = if to == Share::FULL {
                    normal.clone()
                } else {
                    match partner {
                        Some(p) => p.clone(),
                        None => records
                            .iter()
                            .find(|r| {
                                r.set_identifier() != Some(b.set_id.as_str())
                                    && r.failover().is_some()
                                    && r.failover() != record.failover()
                            })
                            .map(Answer::of)
                            .ok_or_else(|| {
                                error(
                                    op,
                                    Retry::Permanent,
                                    format!(
                                        "{} {} has no partner record to drain {} to (a failover pair needs a PRIMARY and a SECONDARY)",
                                        b.name,
                                        b.rtype.as_str(),
                                        b.region
                                    ),
                                )
                            })?,
                    }
                };
                (None, Some(answer))
            }
        };
        let size = answer.as_ref().unwrap_or(&Answer::of(record)).size(true);
        let rebuilt = rebuild(record, weight, answer.as_ref())
            .map_err(|e| error(op, Retry::Permanent, e.to_string()))?;
        Ok(Some((rebuilt, size)))
    }

    /// Reads the zone's fence, or answers from what this controller last saw.
    async fn fence(&self, zone: &str, name: &str) -> Result<Fence> {
        let mut fences = self.fences.lock().await;
        let known = fences.get(zone).cloned().unwrap_or(Fence::Unknown);
        let fence = match known {
            Fence::Unknown => {
                let records = self.list(zone, name, &RrType::Txt).await?;
                let fence = match records.first() {
                    None => Fence::Absent,
                    Some(r) => {
                        let value = r
                            .resource_records()
                            .first()
                            .map(|v| v.value().to_owned())
                            .unwrap_or_default();
                        match fence_epoch(&value) {
                            // Newer, or not a failoverd fence at all: never overwrite either.
                            Some(e) if e > self.epoch => Fence::Lost(value),
                            None => Fence::Lost(value),
                            Some(_) => Fence::Seen {
                                ttl: r.ttl().unwrap_or(FENCE_TTL),
                                value,
                            },
                        }
                    }
                };
                fences.insert(zone.to_owned(), fence.clone());
                fence
            }
            other => other,
        };
        Ok(fence)
    }

    fn fenced(&self, zone: &str, name: &str, found: &str) -> Error {
        error(
            "ChangeResourceRecordSets",
            Retry::Fenced,
            format!(
                "fenced out of zone {zone}: {name} holds {found}, not this controller's epoch {}",
                self.epoch
            ),
        )
    }

    fn fence_record(name: &str, ttl: i64, value: &str) -> Result<ResourceRecordSet> {
        let built = ResourceRecord::builder()
            .value(value)
            .build()
            .and_then(|rr| {
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::Txt)
                    .ttl(ttl)
                    .resource_records(rr)
                    .build()
            });
        built.map_err(|e| error("ChangeResourceRecordSets", Retry::Permanent, e.to_string()))
    }

    /// The next value this controller writes into a fence: its epoch, a write counter (so no
    /// two batches write the same value) and its id.
    fn next_fence_value(&self) -> String {
        let seq = self
            .fence_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.fence_value(seq)
    }

    fn fence_value(&self, seq: u64) -> String {
        format!(
            "\"failoverd epoch={} seq={seq} controller={}\"",
            self.epoch, self.controller
        )
    }

    /// The fence changes that open a batch: DELETE what the fence holds (exactly), CREATE ours.
    fn fence_changes(&self, name: &str, fence: &Fence, ours: &str) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        if let Fence::Seen { ttl, value } = fence {
            changes.push(change(
                ChangeAction::Delete,
                Self::fence_record(name, *ttl, value)?,
            )?);
        }
        changes.push(change(
            ChangeAction::Create,
            Self::fence_record(name, FENCE_TTL, ours)?,
        )?);
        Ok(changes)
    }

    /// Sends one batch of `zone` (with the fence first when fencing is on) and waits for it to
    /// be INSYNC.
    async fn submit(&self, zone: &str, records: Vec<Change>) -> Result<()> {
        let op = "ChangeResourceRecordSets";
        let fence_name = self.fence_names.get(zone);
        // At most twice: a second pass only after finding that an earlier attempt of ours (one
        // that timed out on the way back) already moved the fence.
        for _ in 0..2 {
            let mut changes = Vec::new();
            let ours = self.next_fence_value();
            if let Some(name) = fence_name {
                let fence = self.fence(zone, name).await?;
                if let Fence::Lost(found) = &fence {
                    return Err(self.fenced(zone, name, found));
                }
                changes = self.fence_changes(name, &fence, &ours)?;
            }
            changes.extend(records.iter().cloned());
            let count = changes.len();
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .comment(format!("failoverd epoch {}", self.epoch))
                .build()
                .map_err(|e| error(op, Retry::Permanent, e.to_string()))?;
            let sent = self
                .discipline
                .run(op, || async {
                    self.client
                        .change_resource_record_sets()
                        .hosted_zone_id(zone)
                        .change_batch(batch.clone())
                        .send()
                        .await
                        .map_err(|e| classify(op, &e))
                })
                .await;
            match sent {
                Ok(out) => {
                    if fence_name.is_some() {
                        self.fences.lock().await.insert(
                            zone.to_owned(),
                            Fence::Seen {
                                ttl: FENCE_TTL,
                                value: ours.clone(),
                            },
                        );
                    }
                    let id = out
                        .change_info()
                        .map(|c| c.id().to_owned())
                        .unwrap_or_default();
                    info!(%zone, changes = count, change = %id, "Route 53 change batch accepted.");
                    return self.confirm(&id).await;
                }
                Err(e) => {
                    let Some(name) = fence_name else {
                        return Err(e);
                    };
                    if !(e.message.starts_with("InvalidChangeBatch")
                        && e.message.contains(&format!("name='{name}'")))
                    {
                        return Err(e);
                    }
                    // The fence did not hold what this controller expected: read it again.
                    self.fences.lock().await.remove(zone);
                    match self.fence(zone, name).await? {
                        Fence::Seen { value, .. } if value == ours => {
                            warn!(%zone, "The fence already carries this controller's epoch; an earlier attempt landed. Sending again.");
                        }
                        Fence::Seen { value: found, .. } | Fence::Lost(found) => {
                            let lost = Fence::Lost(found.clone());
                            self.fences.lock().await.insert(zone.to_owned(), lost);
                            return Err(self.fenced(zone, name, &found));
                        }
                        Fence::Absent | Fence::Unknown => {
                            let lost = Fence::Lost("no fence record".to_owned());
                            self.fences.lock().await.insert(zone.to_owned(), lost);
                            return Err(self.fenced(zone, name, "no fence record"));
                        }
                    }
                }
            }
        }
        Err(error(
            op,
            Retry::Retryable,
            format!("the fence of zone {zone} kept changing under this controller's batch"),
        ))
    }

    /// Polls `GetChange` until INSYNC, doubling the wait up to its cap, within the deadline.
    async fn confirm(&self, id: &str) -> Result<()> {
        let op = "GetChange";
        let started = tokio::time::Instant::now();
        let deadline = started + self.settings.confirm_timeout;
        let mut wait = self.settings.confirm_poll;
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
                        .map_err(|e| classify(op, &e))?;
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
                    Retry::Retryable,
                    format!(
                        "change {id} still PENDING after {}",
                        humantime::format_duration(self.settings.confirm_timeout)
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.settings.confirm_poll_max);
        }
    }
}

fn change(action: ChangeAction, record: ResourceRecordSet) -> Result<Change> {
    Change::builder()
        .action(action)
        .resource_record_set(record)
        .build()
        .map_err(|e| error("ChangeResourceRecordSets", Retry::Permanent, e.to_string()))
}

/// `record` as read, with its weight or its answer replaced; everything else (health check,
/// failover role, TTL, set identifier) is kept.
fn rebuild(
    record: &ResourceRecordSet,
    weight: Option<i64>,
    answer: Option<&Answer>,
) -> std::result::Result<ResourceRecordSet, aws_smithy_types::error::operation::BuildError> {
    let builder = ResourceRecordSet::builder()
        .name(record.name())
        .r#type(record.r#type().clone())
        .set_set_identifier(record.set_identifier().map(str::to_owned))
        .set_weight(weight.or(record.weight()))
        .set_region(record.region().cloned())
        .set_geo_location(record.geo_location().cloned())
        .set_failover(record.failover().cloned())
        .set_multi_value_answer(record.multi_value_answer())
        .set_health_check_id(record.health_check_id().map(str::to_owned))
        .set_traffic_policy_instance_id(record.traffic_policy_instance_id().map(str::to_owned))
        .set_cidr_routing_config(record.cidr_routing_config().cloned())
        .set_geo_proximity_location(record.geo_proximity_location().cloned());
    let builder = match answer {
        None => builder
            .set_ttl(record.ttl())
            .set_resource_records(
                (!record.resource_records().is_empty()).then(|| record.resource_records().to_vec()),
            )
            .set_alias_target(record.alias_target().cloned()),
        Some(Answer::Values(values)) => builder
            .ttl(record.ttl().unwrap_or(DEFAULT_TTL))
            .set_resource_records(Some(
                values
                    .iter()
                    .map(|v| ResourceRecord::builder().value(v).build())
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            )),
        Some(Answer::Alias(a)) => builder.alias_target(
            AliasTarget::builder()
                // In the form Route 53 returns it, so the record reads back as written.
                .dns_name(fqdn(&a.dns_name))
                .hosted_zone_id(a.hosted_zone_id.trim_start_matches("/hostedzone/"))
                .evaluate_target_health(a.evaluate_target_health)
                .build()?,
        ),
    };
    builder.build()
}

impl TrafficBackend for Route53Backend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn all_or_nothing(&self, region: &str) -> bool {
        self.bindings
            .iter()
            .any(|b| b.region == region && matches!(b.routing, Routing::Failover { .. }))
    }

    async fn read(&self) -> Result<Shares> {
        self.shares(|_| true).await
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        self.apply_changes(changes).await
    }

    fn confirm_deadline(&self) -> Duration {
        self.settings.confirm_timeout
    }
}

impl Route53Backend {
    /// The shares of the regions `wanted` picks, from one listing per record group. A region
    /// is left out (so the controller alarms and changes nothing) when one of its records is
    /// missing, or when its records (A and AAAA) disagree: only a change made by hand can do
    /// that, since failoverd changes a region's records in one batch.
    async fn shares(&self, wanted: impl Fn(&Bound) -> bool) -> Result<Shares> {
        let groups = self.list_groups(&wanted).await?;
        let mut seen: BTreeMap<&str, Vec<Option<(&RrType, Share)>>> = BTreeMap::new();
        for b in self.bindings.iter().filter(|b| wanted(b)) {
            let found = groups.get(&b.group()).and_then(|records| {
                records
                    .iter()
                    .find(|r| r.set_identifier() == Some(b.set_id.as_str()))
            });
            if found.is_none() && groups.contains_key(&b.group()) {
                warn!(region = %b.region, zone = %b.zone, name = %b.name, r#type = b.rtype.as_str(), set_identifier = %b.set_id, "Record not found.");
            }
            seen.entry(&b.region)
                .or_default()
                .push(found.map(|r| (&b.rtype, Self::share_of(b, r))));
        }
        let mut shares = Shares::new();
        for (region, records) in seen {
            let Some(read) = records.into_iter().collect::<Option<Vec<_>>>() else {
                continue;
            };
            match read.as_slice() {
                [(_, first), rest @ ..] if rest.iter().all(|(_, s)| s == first) => {
                    shares.insert(region.to_owned(), *first);
                }
                [] => {}
                differing => {
                    let each: Vec<String> = differing
                        .iter()
                        .map(|(t, s)| format!("{} {s}", t.as_str()))
                        .collect();
                    warn!(%region, records = %each.join(", "), "The region's records disagree (changed by hand?); set them alike to let failoverd act again.");
                }
            }
        }
        Ok(shares)
    }

    async fn apply_changes(&self, changes: &[ShareChange]) -> Result<Applied> {
        let op = "ChangeResourceRecordSets";
        let targets: BTreeMap<&str, Share> =
            changes.iter().map(|c| (c.region.as_str(), c.to)).collect();
        let groups = self
            .list_groups(|b| targets.contains_key(b.region.as_str()))
            .await?;
        let mut by_zone: BTreeMap<&str, Vec<Unit<Change>>> = BTreeMap::new();
        for c in changes {
            // Every record of the region (A and AAAA of a dual-stack name) in one unit, which
            // batching never splits.
            let mut unit: Option<(&str, Unit<Change>)> = None;
            for b in self.bindings.iter().filter(|b| b.region == c.region) {
                let records = groups.get(&b.group()).ok_or_else(|| {
                    error(
                        op,
                        Retry::Permanent,
                        format!("hosted zone {} was not found", b.zone),
                    )
                })?;
                let (zone, u) = unit.get_or_insert_with(|| {
                    (
                        b.zone.as_str(),
                        Unit {
                            region: b.region.clone(),
                            changes: Vec::new(),
                            size: Size::default(),
                        },
                    )
                });
                debug_assert_eq!(*zone, b.zone, "one binding, one zone");
                if let Some((record, size)) = Self::desired(b, records, c.to)? {
                    u.changes.push(change(ChangeAction::Upsert, record)?);
                    u.size = u.size.plus(size);
                }
            }
            let Some((zone, u)) = unit else {
                return Err(error(
                    op,
                    Retry::Permanent,
                    format!("region {} has no Route 53 binding", c.region),
                ));
            };
            if !u.changes.is_empty() {
                by_zone.entry(zone).or_default().push(u);
            }
        }
        let started = tokio::time::Instant::now();
        let mut sent = false;
        for (zone, units) in by_zone {
            let reserve = match self.fence_names.get(zone) {
                // The DELETE of an older controller's value may be a little longer than ours.
                Some(_) => Size::of([self.fence_value(u64::MAX).as_str(); 2], false).plus(Size {
                    records: 0,
                    chars: 64,
                }),
                None => Size::default(),
            };
            let batches = batch::pack(units, reserve, Size::LIMIT)
                .map_err(|e| error(op, Retry::Permanent, e.to_string()))?;
            let n = batches.len();
            for (i, records) in batches.into_iter().enumerate() {
                info!(%zone, batch = i + 1, of = n, records = records.len(), "Sending Route 53 change batch.");
                self.submit(zone, records).await?;
                sent = true;
            }
        }
        let propagation = sent.then(|| started.elapsed());
        // Read back what changed: the change is not done until Route 53 reports it.
        let after = self
            .shares(|b| targets.contains_key(b.region.as_str()))
            .await?;
        for c in changes {
            let now = after.get(&c.region).copied();
            if now != Some(c.to) {
                return Err(error(
                    op,
                    Retry::Retryable,
                    format!(
                        "{} reads {} after setting {}",
                        c.region,
                        now.map_or_else(|| "nothing".to_owned(), |s| s.to_string()),
                        c.to
                    ),
                ));
            }
            info!(region = %c.region, from = %c.from, to = %c.to, "Route 53 share set.");
        }
        Ok(Applied { propagation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whole_percent_share_reads_back_unchanged_for_every_allowed_base_weight() {
        for base in 100..=255u8 {
            for s in 0..=100u8 {
                let share = Share::try_new(s).expect("valid share");
                let weight = weight_for(base, share);
                assert!((0..=255).contains(&weight), "base {base} share {s}");
                assert_eq!(share_for(base, weight), share, "base {base} share {s}");
            }
        }
    }

    #[test]
    fn a_fence_value_names_its_epoch() {
        assert_eq!(
            fence_epoch("\"failoverd epoch=1700000000000 controller=use1\""),
            Some(1_700_000_000_000)
        );
        assert_eq!(fence_epoch("\"v=spf1 -all\""), None);
    }

    #[test]
    fn answers_compare_as_route53_does() {
        let a = Answer::Values(vec!["192.0.2.2".into(), "192.0.2.1".into()]);
        let b = Answer::Values(vec!["192.0.2.1".into(), "192.0.2.2".into()]);
        assert!(a.same_as(&b));
        let alias = |name: &str, zone: &str| {
            Answer::Alias(Route53Alias {
                dns_name: name.into(),
                hosted_zone_id: zone.into(),
                evaluate_target_health: true,
            })
        };
        assert!(
            alias("My-ALB.elb.amazonaws.com", "Z35SXDOTRQ7X7K").same_as(&alias(
                "my-alb.elb.amazonaws.com.",
                "/hostedzone/Z35SXDOTRQ7X7K"
            ))
        );
        assert!(!alias("a.example.com", "Z1").same_as(&a));
    }
}
