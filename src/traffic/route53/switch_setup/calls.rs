//! The Route 53 calls of the switch setup: reading every health check and the bound records
//! (discovery), and creating checks, tagging them and setting records' `HealthCheckId` (apply).
//! Every call goes through the backend's rate limit, timeout and retries ([`Discipline`]).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    ChangeAction, ChangeBatch, HealthCheck, HealthCheckConfig, HealthCheckType, ResourceRecordSet,
    RrType, Tag, TagResourceType,
};
use tracing::{info, warn};

use super::super::Route53Settings;
use super::super::records::change;
use super::super::zone::{Polling, Zones};
use super::super::{API_REGION, NAME, unbuildable};
use super::{
    CheckRef, Found, FoundCheck, FoundConfig, FoundRecord, Plan, RecordKey, SetupError, Step,
    Target, Wanted, calculated_canonical, caller_reference,
};
use crate::traffic::retry::{self, CallSettings, Discipline};
use crate::traffic::{Error, ErrorCode};

/// The Route 53 error codes these calls tell apart; throttling and a busy zone are retried.
const CODES: &[(&str, ErrorCode)] = &[
    ("Throttling", ErrorCode::Throttled),
    ("ThrottlingException", ErrorCode::Throttled),
    ("PriorRequestNotComplete", ErrorCode::Busy),
    ("ServiceUnavailable", ErrorCode::Unavailable),
    ("InternalError", ErrorCode::Unavailable),
    ("NoSuchHostedZone", ErrorCode::NotFound),
    ("NoSuchHealthCheck", ErrorCode::NotFound),
    ("InvalidInput", ErrorCode::Invalid),
    ("InvalidChangeBatch", ErrorCode::Invalid),
    ("TooManyHealthChecks", ErrorCode::Invalid),
    ("AccessDenied", ErrorCode::AccessDenied),
    ("AccessDeniedException", ErrorCode::AccessDenied),
];

/// Health checks per `ListHealthChecks` page: the API's most.
const CHECKS_PAGE: i32 = 1000;
/// Record changes per `ChangeResourceRecordSets` batch (an UPSERT counts twice against the
/// API's 1,000).
const RECORDS_PER_BATCH: usize = 400;
/// Caller references tried for one check when deleted checks hold the earlier ones.
const GENERATIONS: u32 = 5;

fn classify<E>(operation: &'static str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    retry::classify(NAME, operation, e, CODES)
}

/// The Route 53 API as the switch setup calls it.
#[derive(Debug)]
pub struct Route53Api {
    client: Client,
    discipline: Discipline,
    zones: Zones,
}

/// What discovery read: the account's checks and the bound records, in failoverd's terms, and
/// the records as read, which apply writes back with only their health check changed.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// What the plan compares with the config.
    pub found: Found,
    records: BTreeMap<RecordKey, ResourceRecordSet>,
}

impl Route53Api {
    /// The API through `client`, paced and retried as the Route 53 backend is (`r53`, the
    /// `[traffic.route53]` settings, and `calls`, the bound and retries of every backend call).
    pub fn new(client: Client, r53: &Route53Settings, calls: &CallSettings) -> Self {
        let calls = calls.clone();
        let per_second = NonZeroU32::new(r53.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let discipline = Discipline::new(NAME, per_second, calls.retry, calls.timeout);
        let polling = Polling {
            first: r53.confirm_poll,
            max: r53.confirm_poll_max,
            timeout: r53.confirm_timeout,
        };
        Self {
            zones: Zones::new(client.clone(), discipline.clone(), polling),
            client,
            discipline,
        }
    }

    /// The API with a client from the standard AWS chain (credentials,
    /// `AWS_ENDPOINT_URL_ROUTE_53` or `AWS_ENDPOINT_URL`), as the Route 53 backend builds it;
    /// `controller` names the caller.
    pub async fn from_env(r53: &Route53Settings, calls: &CallSettings, controller: &str) -> Self {
        let sdk = crate::traffic::aws::sdk_config(API_REGION, None, controller).await;
        Self::new(Client::new(&sdk), r53, calls)
    }

    /// Reads every health check of the account and every record `wanted` binds.
    pub async fn discover(&self, wanted: &Wanted) -> Result<Discovered, SetupError> {
        let mut out = Discovered {
            found: Found {
                checks: self.health_checks().await?,
                records: BTreeMap::new(),
            },
            records: BTreeMap::new(),
        };
        let keys: BTreeSet<&RecordKey> = wanted
            .switches
            .iter()
            .flat_map(|s| s.records.iter().map(|r| &r.key))
            .collect();
        let mut groups: BTreeMap<(&str, &str, &str), Vec<&RecordKey>> = BTreeMap::new();
        for k in keys {
            groups
                .entry((&k.zone, &k.name, &k.rtype))
                .or_default()
                .push(k);
        }
        for ((zone, name, rtype), keys) in groups {
            let listed = match self.zones.list(zone, name, &RrType::from(rtype)).await {
                Ok(records) => records,
                Err(e) if e.code == ErrorCode::NotFound => {
                    for k in keys {
                        out.found.records.insert(
                            k.clone(),
                            FoundRecord::Missing(format!("hosted zone {zone} was not found")),
                        );
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for k in keys {
                match listed
                    .iter()
                    .find(|r| r.set_identifier() == Some(k.set_id.as_str()))
                {
                    Some(r) => {
                        out.found.records.insert(
                            k.clone(),
                            FoundRecord::Present(r.health_check_id().map(str::to_owned)),
                        );
                        out.records.insert(k.clone(), r.clone());
                    }
                    None => {
                        out.found.records.insert(
                            k.clone(),
                            FoundRecord::Missing(
                                "the zone has no record set of this name, type and set identifier"
                                    .to_owned(),
                            ),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every health check of the account, following `ListHealthChecks`' paging.
    async fn health_checks(&self) -> Result<Vec<FoundCheck>, Error> {
        let op = "ListHealthChecks";
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .discipline
                .run(op, || async {
                    self.client
                        .list_health_checks()
                        .set_marker(marker.clone())
                        .max_items(CHECKS_PAGE)
                        .send()
                        .await
                        .map_err(|e| classify(op, e))
                })
                .await?;
            out.extend(page.health_checks().iter().filter_map(found_check));
            let next = page.next_marker().filter(|_| page.is_truncated());
            match next {
                Some(m) if Some(m) != marker.as_deref() => marker = Some(m.to_owned()),
                Some(_) => {
                    return Err(Error::new(
                        NAME,
                        op,
                        ErrorCode::Unavailable,
                        "paging the health checks did not advance".to_owned(),
                    ));
                }
                None => return Ok(out),
            }
        }
    }

    /// Takes the steps of `plan` (made from `discovered`) in order; returns a line for each
    /// change made. Stops at the first failure: what was made is found again by the next run.
    pub async fn apply(
        &self,
        discovered: &Discovered,
        plan: &Plan,
    ) -> Result<Vec<String>, SetupError> {
        let mut created: Vec<Option<String>> = vec![None; plan.steps.len()];
        let mut done = Vec::new();
        let resolve = |created: &[Option<String>], c: &CheckRef| match c {
            CheckRef::Existing(id) => Some(id.clone()),
            CheckRef::New(i) => created.get(*i).cloned().flatten(),
        };
        let mut by_zone: BTreeMap<&str, Vec<(ResourceRecordSet, String)>> = BTreeMap::new();
        for (i, step) in plan.steps.iter().enumerate() {
            match step {
                Step::CreateEndpoint { switch, check } => {
                    let mut config = HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Https)
                        .port(i32::from(check.port))
                        .resource_path(&check.path)
                        .request_interval(i32::try_from(check.interval).unwrap_or(30))
                        .failure_threshold(i32::from(check.failure_threshold));
                    config = match &check.target {
                        Target::Ip(ip) => config.ip_address(ip.to_string()),
                        Target::Name(n) => config.fully_qualified_domain_name(n),
                    };
                    let config = config
                        .build()
                        .map_err(|e| unbuildable("CreateHealthCheck", e))?;
                    let what = format!("switch {switch}, controller {}", check.controller);
                    let id = self
                        .create(&check.canonical(switch), &what, config, &discovered.found)
                        .await?;
                    self.tag(
                        &id,
                        &format!("failoverd {switch} {}", check.controller),
                        switch,
                    )
                    .await?;
                    done.push(format!("created health check {id}: {what}: {check}"));
                    created[i] = Some(id);
                }
                Step::CreateCalculated {
                    switch,
                    children,
                    threshold,
                } => {
                    let ids: Vec<String> = children
                        .iter()
                        .filter_map(|(_, c)| resolve(&created, c))
                        .collect();
                    let set: BTreeSet<String> = ids.iter().cloned().collect();
                    let config = HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Calculated)
                        .health_threshold(i32::try_from(*threshold).unwrap_or(i32::MAX))
                        .set_child_health_checks(Some(ids))
                        .build()
                        .map_err(|e| unbuildable("CreateHealthCheck", e))?;
                    let what = format!("switch {switch}");
                    let canonical = calculated_canonical(switch, *threshold, &set);
                    let id = self
                        .create(&canonical, &what, config, &discovered.found)
                        .await?;
                    self.tag(&id, &format!("failoverd {switch}"), switch)
                        .await?;
                    done.push(format!(
                        "created calculated health check {id}: {what}: healthy while {threshold} of {} controllers' checks are",
                        set.len()
                    ));
                    created[i] = Some(id);
                }
                Step::SetRecordCheck { record, check, .. } => {
                    let (Some(read), Some(id)) = (
                        discovered.records.get(&record.key),
                        resolve(&created, check),
                    ) else {
                        continue;
                    };
                    // The record exactly as read, with only its health check changed.
                    let mut upsert = read.clone();
                    upsert.health_check_id = Some(id.clone());
                    by_zone
                        .entry(record.key.zone.as_str())
                        .or_default()
                        .push((upsert, format!("{step}")));
                }
            }
        }
        for (zone, records) in by_zone {
            for chunk in records.chunks(RECORDS_PER_BATCH) {
                let changes = chunk
                    .iter()
                    .map(|(r, _)| change(ChangeAction::Upsert, r.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                let batch = ChangeBatch::builder()
                    .comment("failoverd setup route53-switches: records carry their switch's health check")
                    .set_changes(Some(changes))
                    .build()
                    .map_err(|e| unbuildable("ChangeResourceRecordSets", e))?;
                let id = self.zones.change(zone, &batch).await?;
                self.zones.confirm(&id).await?;
                done.extend(chunk.iter().map(|(_, line)| {
                    line.replacen("set health check", "set the health check of", 1)
                }));
            }
        }
        Ok(done)
    }

    /// Creates a check with `config`, its caller reference from `canonical`; `what` names it.
    async fn create(
        &self,
        canonical: &str,
        what: &str,
        config: HealthCheckConfig,
        found: &Found,
    ) -> Result<String, SetupError> {
        let op = "CreateHealthCheck";
        for generation in 1..=GENERATIONS {
            let reference = caller_reference(canonical, generation);
            let made = self
                .discipline
                .run(op, || async {
                    match self
                        .client
                        .create_health_check()
                        .caller_reference(&reference)
                        .health_check_config(config.clone())
                        .send()
                        .await
                    {
                        Ok(out) => Ok(Some(
                            out.health_check()
                                .map(|c| c.id().to_owned())
                                .unwrap_or_default(),
                        )),
                        Err(SdkError::ServiceError(s))
                            if s.err().is_health_check_already_exists() =>
                        {
                            Ok(None)
                        }
                        Err(e) => Err(classify(op, e)),
                    }
                })
                .await?;
            match made {
                Some(id) if !id.is_empty() => {
                    info!(%id, %reference, what, "Health check created.");
                    return Ok(id);
                }
                Some(_) => {
                    return Err(Error::new(
                        NAME,
                        op,
                        ErrorCode::Unavailable,
                        format!("the answer for {what} named no health check"),
                    )
                    .into());
                }
                None => {
                    if let Some(c) = found
                        .checks
                        .iter()
                        .find(|c| c.caller_reference == reference)
                    {
                        return Err(SetupError::ChangedByHand {
                            id: c.id.clone(),
                            what: what.to_owned(),
                            reference,
                        });
                    }
                    // A deleted check still holds this reference (Route 53 keeps it for some
                    // days): the next generation's is free.
                    warn!(%reference, what, "A deleted health check holds this CallerReference; trying the next.");
                }
            }
        }
        Err(Error::new(
            NAME,
            op,
            ErrorCode::Invalid,
            format!(
                "every CallerReference tried for {what} ({}, and {} more) is held by a deleted health check; try again in a few days, or create the check by hand",
                caller_reference(canonical, 1),
                GENERATIONS - 1
            ),
        )
        .into())
    }

    /// Tags check `id` with its `Name` and its switch, so it reads as failoverd's in the console.
    async fn tag(&self, id: &str, name: &str, switch: &str) -> Result<(), Error> {
        let op = "ChangeTagsForResource";
        let tags = [("Name", name), ("failoverd:switch", switch)]
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Vec<_>>();
        self.discipline
            .run(op, || async {
                self.client
                    .change_tags_for_resource()
                    .resource_type(TagResourceType::Healthcheck)
                    .resource_id(id)
                    .set_add_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| classify(op, e))
            })
            .await
    }
}

/// A listed check in failoverd's terms (None: it has no configuration to compare).
fn found_check(c: &HealthCheck) -> Option<FoundCheck> {
    let cfg = c.health_check_config()?;
    let config = if cfg.r#type() == &HealthCheckType::Calculated {
        FoundConfig::Calculated {
            children: cfg.child_health_checks().iter().cloned().collect(),
            threshold: cfg.health_threshold(),
        }
    } else {
        FoundConfig::Endpoint {
            kind: cfg.r#type().as_str().to_owned(),
            ip: cfg.ip_address().map(str::to_owned),
            fqdn: cfg.fully_qualified_domain_name().map(str::to_owned),
            port: cfg.port(),
            path: cfg.resource_path().map(str::to_owned),
            interval: cfg.request_interval(),
            failure_threshold: cfg.failure_threshold(),
        }
    };
    Some(FoundCheck {
        id: c.id().to_owned(),
        caller_reference: c.caller_reference().to_owned(),
        config,
        disabled: cfg.disabled().unwrap_or(false),
        inverted: cfg.inverted().unwrap_or(false),
    })
}
