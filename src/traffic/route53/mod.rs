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
//! - **Records without a weight** (latency, geolocation, geoproximity, multivalue) are withdrawn
//!   by their health check: Route 53 leaves a record out of its answers while its check is
//!   unhealthy. With switches (`mode = "switches"` or `"mixed"`) the region's data-plane switch
//!   withdraws it ([`super::switches`]) and the record is not written; in `mode = "records"`
//!   (the control-plane fallback) a drain re-points its `HealthCheckId` at the always-unhealthy
//!   check and a restore points it back (`withdrawn`, which also reads that check while failoverd
//!   runs). They move all or nothing, except a geoproximity record's bias, which steps while the
//!   API writes ([`records::bias_for`]). A record reads as its binding expects or leaves its
//!   region unread, and the backend says why ([`TrafficBackend::unread`]), naming the record.
//! - Every change batch of a zone holds only records that differ, is split at the API's limits
//!   without splitting a region's changes ([`batch`]), and, with fencing on, DELETEs the fence
//!   TXT record carrying the epoch last written and CREATEs it with this controller's epoch: a
//!   compare-and-swap, so a stale controller's batch fails whole. A lost fence stops this
//!   controller's writes for good ([`ErrorCode::Fenced`]).
//! - Each accepted batch is polled with `GetChange` until INSYNC, with backoff and a deadline;
//!   the propagation time (first batch sent → last batch INSYNC) is logged and returned in
//!   [`Applied`], which the controller journals and exports as a metric.
//! - Calls go through a rate limiter, jittered backoff on `Throttling` and
//!   `PriorRequestNotComplete`, and a timeout each ([`Discipline`]).
//!
//! The module's parts: `settings` (its settings and bindings, with their rules), [`records`]
//! (record sets and shares, no I/O), `fence` (the compare-and-swap), `zone` (the API calls),
//! [`batch`] (splitting at the API's limits), `claims` (other tools' claims on the records,
//! [`ZoneClaims`]) and, here, the backend that puts them together.
//! [`answer`] models how Route 53 answers a name from its records and health checks (no I/O).
//! SDK types never leave this module.

pub mod answer;
pub mod batch;
pub(crate) mod checks;
mod claims;
mod fence;
pub mod records;
mod settings;
pub mod switch_setup;
mod withdrawn;
mod zone;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{Change, ChangeAction, RrType};
use tracing::{info, warn};

use self::batch::{Size, Unit};
pub use self::claims::{
    ExternalDnsLabels, MAX_SCAN_PAGES, OwnershipRecord, ZoneClaims, external_dns_labels,
};
use self::fence::Fences;
use self::records::{Bound, change, fqdn};
pub use self::settings::{
    DEFAULT_REQUESTS_PER_SECOND, RecordTypes, Route53Alias, Route53Binding, Route53GeoLocation,
    Route53GeoProximity, Route53Routing, Route53Settings,
};
use self::zone::{Polling, Zones};
use super::claims::CALLS_PER_SECOND;
use super::retry::{CallSettings, Discipline};
use super::switches::Mode;
use super::{Applied, Error, ErrorCode, Result, ShareChange, Shares, TrafficBackend, Writer};
use crate::share::Share;

const NAME: &str = "route53";

/// The region Route 53's control plane is signed for.
pub const API_REGION: &str = "us-east-1";

fn error(operation: &'static str, code: ErrorCode, message: String) -> Error {
    Error::new(NAME, operation, code, message)
}

/// An error for a request failoverd could not even build (an SDK builder refused it).
fn unbuildable(
    operation: &'static str,
    e: aws_smithy_types::error::operation::BuildError,
) -> Error {
    Error::new(NAME, operation, ErrorCode::Invalid, e.to_string()).with_source(e)
}

/// Traffic backend driving Route 53 weighted and failover records.
#[derive(Debug)]
pub struct Route53Backend {
    zones: Zones,
    fences: Fences,
    bindings: Vec<Bound>,
    confirm_timeout: Duration,
    /// How shares reach the records: with switches, the records carry their health checks.
    mode: Mode,
    /// Why the last read of each region left it out, naming the record.
    unread: std::sync::Mutex<BTreeMap<String, String>>,
    /// The always-unhealthy check records are re-pointed at (`mode = "records"`), when any is.
    withdrawn: Option<Box<withdrawn::Withdrawn>>,
}

impl Route53Backend {
    /// A backend for the regions `bindings` binds to records (region name, binding), calling
    /// the API as `settings` and `calls` say, with a client from the standard AWS configuration
    /// chain (credentials, `AWS_ENDPOINT_URL_ROUTE_53`). Its fences name `writer`, whose epoch
    /// must grow with every controller that takes over.
    pub async fn from_env(
        settings: &Route53Settings,
        bindings: &[(&str, &Route53Binding)],
        calls: &CallSettings,
        writer: &Writer,
    ) -> Self {
        // Grouped by account: every binding here names the same role, or none.
        let role = bindings.first().and_then(|(_, b)| b.role_arn.as_deref());
        let sdk = crate::traffic::aws::sdk_config(API_REGION, role, &writer.controller).await;
        if settings.fencing {
            info!(
                epoch = writer.epoch.get(),
                "Route 53 writes are fenced with this epoch."
            );
        }
        Self::new(Client::new(&sdk), settings, bindings, calls, writer)
    }

    /// A backend using `client` (tests point it at an emulator or a fake).
    pub fn new(
        client: Client,
        settings: &Route53Settings,
        bindings: &[(&str, &Route53Binding)],
        calls: &CallSettings,
        writer: &Writer,
    ) -> Self {
        let bindings = Bound::all(bindings, settings);
        let withdrawn = settings
            .withdrawn_health_check_id
            .as_deref()
            .filter(|_| bindings.iter().any(Bound::withdrawn_by_api))
            .map(|id| Box::new(withdrawn::Withdrawn::new(id)));
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
        let discipline = Discipline::new(NAME, per_second, calls.retry.clone(), calls.timeout);
        let polling = Polling {
            first: settings.confirm_poll,
            max: settings.confirm_poll_max,
            timeout: settings.confirm_timeout,
        };
        Self {
            zones: Zones::new(client, discipline, polling),
            fences: Fences::new(fence_names, writer.controller.clone(), writer.epoch.clone()),
            bindings,
            confirm_timeout: settings.confirm_timeout,
            mode: settings.mode,
            unread: std::sync::Mutex::default(),
            withdrawn,
        }
    }

    /// A reader of other tools' claims on this backend's records, through its client (its
    /// account and role) at its own pace ([`CALLS_PER_SECOND`]), so reading them never holds up
    /// this backend's calls.
    pub fn claims(&self) -> ZoneClaims {
        ZoneClaims::new(
            self.zones.client().clone(),
            self.zones.discipline().paced(CALLS_PER_SECOND),
            &self.bindings,
            self.mode.uses_switches(),
        )
    }

    /// The shares of the regions `wanted` picks, from one listing per record group. A region
    /// is left out (so the controller alarms and changes nothing) when one of its records is
    /// missing, or when its records (A and AAAA) disagree: only a change made by hand can do
    /// that, since failoverd changes a region's records in one batch.
    async fn shares(&self, wanted: impl Fn(&Bound) -> bool) -> Result<Shares> {
        let wanted: Vec<&Bound> = self.bindings.iter().filter(|b| wanted(b)).collect();
        let groups = self.zones.list_groups(&wanted).await?;
        // A broken always-unhealthy check: the records that carry it are not drained at all.
        let broken = match &self.withdrawn {
            Some(w) if wanted.iter().any(|b| b.withdrawn_by_api()) => {
                w.problem(&self.zones).await.map(|why| (w, why))
            }
            _ => None,
        };
        let mut seen: BTreeMap<&str, Vec<Option<(&RrType, Share)>>> = BTreeMap::new();
        // Why each region is unread: the first of its records found wrong.
        let mut unread: BTreeMap<String, String> = BTreeMap::new();
        for b in &wanted {
            let mut found = groups.get(&b.group()).and_then(|records| b.find(records));
            if found.is_none() && groups.contains_key(&b.group()) {
                warn!(region = %b.region, zone = %b.zone, name = %b.name, r#type = b.rtype.as_str(), set_identifier = %b.set_id, "Record not found.");
                unread
                    .entry(b.region.clone())
                    .or_insert_with(|| format!("{}: not found", b.describe()));
            }
            if let Some(why) = found.and_then(|r| b.mismatch(r)) {
                warn!(region = %b.region, zone = %b.zone, name = %b.name, r#type = b.rtype.as_str(), set_identifier = %b.set_id, %why, "The record is not as its binding says; the region is left unread until it is.");
                unread
                    .entry(b.region.clone())
                    .or_insert_with(|| format!("{}: {why}", b.describe()));
                found = None;
            }
            if let (Some((w, why)), Some(record)) = (&broken, found)
                && b.withdrawn_by_api()
                && w.carried_by(record)
            {
                unread
                    .entry(b.region.clone())
                    .or_insert_with(|| format!("{}: {why}", b.describe()));
                found = None;
            }
            seen.entry(&b.region)
                .or_default()
                .push(found.map(|r| (&b.rtype, b.share_of(r))));
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
                    unread.insert(
                        region.to_owned(),
                        format!("its records disagree ({}): set them alike", each.join(", ")),
                    );
                }
            }
        }
        let mut kept = self.unread.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|region, _| !wanted.iter().any(|b| &b.region == region));
        kept.extend(unread);
        Ok(shares)
    }

    /// Whether every record of `region` reads share `to` once written (see
    /// [`Bound::carries`]): else a switch moves what the records do not show.
    fn carried(&self, region: &str, to: Share) -> bool {
        self.bindings
            .iter()
            .filter(|b| b.region == region)
            .all(|b| b.carries(to))
    }

    async fn apply_changes(&self, changes: &[ShareChange]) -> Result<Applied> {
        let op = "ChangeResourceRecordSets";
        if !self.mode.uses_switches()
            && let Some(b) = self
                .bindings
                .iter()
                .find(|b| b.needs_switch() && changes.iter().any(|c| c.region == b.region))
        {
            return Err(error(
                op,
                ErrorCode::Invalid,
                format!(
                    "{}'s records carry no weight and are withdrawn only by their health check: set traffic.route53.mode = \"switches\" or \"mixed\" so its switch moves them, or traffic.route53.withdrawn_health_check_id to re-point them through the API",
                    b.region
                ),
            ));
        }
        // A drain onto a broken always-unhealthy check would leave the record answering.
        if let Some(w) = &self.withdrawn
            && let Some(c) = changes.iter().find(|c| {
                c.to == Share::ZERO
                    && self
                        .bindings
                        .iter()
                        .any(|b| b.region == c.region && b.withdrawn_by_api())
            })
            && let Some(why) = w.problem(&self.zones).await
        {
            return Err(error(
                op,
                ErrorCode::Invalid,
                format!("not withdrawing {}: {why}", c.region),
            ));
        }
        let targets: BTreeMap<&str, Share> =
            changes.iter().map(|c| (c.region.as_str(), c.to)).collect();
        let bound: Vec<&Bound> = self
            .bindings
            .iter()
            .filter(|b| targets.contains_key(b.region.as_str()))
            .collect();
        let groups = self.zones.list_groups(&bound).await?;
        let mut by_zone: BTreeMap<&str, Vec<Unit<Change>>> = BTreeMap::new();
        for c in changes {
            // Every record of the region (A and AAAA of a dual-stack name) in one unit, which
            // batching never splits.
            let mut unit: Option<(&str, Unit<Change>)> = None;
            for b in self.bindings.iter().filter(|b| b.region == c.region) {
                let records = groups.get(&b.group()).ok_or_else(|| {
                    error(
                        op,
                        ErrorCode::NotFound,
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
                if let Some((record, size)) = b.desired(records, c.to)? {
                    u.changes.push(change(ChangeAction::Upsert, record)?);
                    u.size = u.size.plus(size);
                }
            }
            let Some((zone, u)) = unit else {
                return Err(error(
                    op,
                    ErrorCode::Unbound,
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
            let batches =
                batch::pack(units, self.fences.reserve(zone), Size::LIMIT).map_err(|e| {
                    Error::new(NAME, op, ErrorCode::Invalid, e.to_string()).with_source(e)
                })?;
            let n = batches.len();
            for (i, records) in batches.into_iter().enumerate() {
                info!(%zone, batch = i + 1, of = n, records = records.len(), "Sending Route 53 change batch.");
                self.fences.submit(&self.zones, zone, records).await?;
                sent = true;
            }
        }
        let propagation = sent.then(|| started.elapsed());
        // Read back what changed: the change is not done until Route 53 reports it.
        let after = self
            .shares(|b| targets.contains_key(b.region.as_str()))
            .await?;
        // What the records do not carry (a withdrawal by a switch), the switch makes after this.
        for c in changes.iter().filter(|c| self.carried(&c.region, c.to)) {
            let now = after.get(&c.region).copied();
            if now != Some(c.to) {
                return Err(error(
                    op,
                    ErrorCode::Unconfirmed,
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

impl TrafficBackend for Route53Backend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn all_or_nothing(&self, region: &str) -> bool {
        self.bindings
            .iter()
            .any(|b| b.region == region && !b.stepped())
    }

    async fn read(&self) -> Result<Shares> {
        self.shares(|_| true).await
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        self.apply_changes(changes).await
    }

    fn confirm_deadline(&self) -> Duration {
        self.confirm_timeout
    }

    fn unread(&self, key: &str) -> Option<String> {
        self.unread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn unverified(&self) -> Option<String> {
        self.withdrawn
            .as_deref()
            .and_then(withdrawn::Withdrawn::unverified)
    }
}
