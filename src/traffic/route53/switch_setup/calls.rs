//! The Route 53 calls of the switch setup: reading every health check and the bound records
//! (discovery), and creating checks, tagging them and setting records' `HealthCheckId` (apply).
//! Every call goes through the backend's rate limit, timeout and retries ([`Discipline`]).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::SdkError;
use aws_sdk_route53::types::{
    HealthCheckConfig, HealthCheckType, ResourceRecordSet, RrType, Tag, TagResourceType,
};
use tracing::{info, warn};

use super::super::Route53Settings;
use super::super::batch::Size;
use super::super::checks::found_check;
use super::super::zone::{Polling, Zones, classify};
use super::super::{API_REGION, NAME, unbuildable};
use super::update::{Updated, set_failure_threshold};
use super::writes::{RecordWrite, batches};
use super::{
    COMBINED_THRESHOLD, CheckRef, Found, FoundCheck, FoundRecord, Plan, RecordKey, SetupError,
    Step, Target, Wanted, calculated_canonical, caller_reference, combined_canonical,
    plan as plan_steps,
};
use crate::traffic::retry::{CallSettings, Discipline};
use crate::traffic::{Error, ErrorCode};

/// Health checks per `ListHealthChecks` page: the API's most.
const CHECKS_PAGE: i32 = 1000;
/// Times the records are read, planned and written when some changed since they were read.
pub const ATTEMPTS: u32 = 3;
/// Caller references tried for one check when deleted checks hold the earlier ones.
const GENERATIONS: u32 = 5;

/// The Route 53 API as the switch setup calls it.
#[derive(Debug)]
pub struct Route53Api {
    client: Client,
    discipline: Discipline,
    zones: Zones,
}

/// What discovery read: the account's checks and the bound records, in failoverd's terms, and
/// the records as read, which apply's compare-and-swap must match.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// What the plan compares with the config.
    pub found: Found,
    records: BTreeMap<RecordKey, ResourceRecordSet>,
}

impl Discovered {
    /// The ids of every health check read: the checks that exist before a run changes anything.
    pub fn check_ids(&self) -> BTreeSet<String> {
        self.found.checks.iter().map(|c| c.id.clone()).collect()
    }
}

/// A line [`Route53Api::apply`] reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A change made: a check created, a record moved onto its check.
    Done(String),
    /// A batch refused because its records changed since they were read: reading and planning
    /// again.
    ReadAgain(String),
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Done(line) => write!(f, "done: {line}"),
            Progress::ReadAgain(line) => write!(f, "read again: {line}"),
        }
    }
}

/// What `create_checks` leaves for the records.
enum Made {
    /// The record writes that can be made now.
    Writes(Vec<RecordWrite>),
    /// This check changed since it was read, so its update was refused: read and plan again.
    CheckChanged(String),
}

/// What [`Route53Api::apply`] did and left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// How many checks it created and records it moved.
    pub changes: usize,
    /// The record moves left for a later run, because their check was created in this run and
    /// Route 53 has no data for it yet.
    pub deferred: Vec<String>,
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
    pub(super) async fn health_checks(&self) -> Result<Vec<FoundCheck>, Error> {
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

    /// Takes the steps of `plan`, made from `discovered`, and tells `say` each change as it is
    /// made. `settled` holds the ids of the checks that existed before this run began.
    ///
    /// - Missing checks are created first.
    /// - A record is moved only onto a check in `settled`. Route 53 counts a new check healthy
    ///   until it has enough data, so a record moved onto a check created in this run would
    ///   answer again for a while even if its switch is off. Those moves are returned in
    ///   [`Outcome::deferred`] for a later run.
    /// - Records are written as compare-and-swaps (see `writes`). If Route 53 refuses a batch
    ///   and a record in it changed since it was read (the running leader drained it, say),
    ///   this reads the account again, plans again and applies the rest. It tries at most
    ///   [`ATTEMPTS`] times.
    ///
    /// It stops at the first failure. What was made is found again by the next run.
    pub async fn apply(
        &self,
        wanted: &Wanted,
        settled: &BTreeSet<String>,
        mut discovered: Discovered,
        mut plan: Plan,
        mut say: impl FnMut(Progress),
    ) -> Result<Outcome, SetupError> {
        let mut outcome = Outcome::default();
        let mut attempt = 1;
        loop {
            let (again, why) = match self
                .create_checks(&discovered, &plan, settled, &mut say, &mut outcome)
                .await?
            {
                Made::Writes(writes) => {
                    let Some((refused, error)) =
                        self.write_records(writes, &mut say, &mut outcome).await?
                    else {
                        return Ok(outcome);
                    };
                    let again = self.discover(wanted).await?;
                    let changed: Vec<String> = refused
                        .iter()
                        .filter(|k| discovered.records.get(*k) != again.records.get(*k))
                        .map(ToString::to_string)
                        .collect();
                    if changed.is_empty() {
                        // Nothing it names changed: the batch was refused for another reason.
                        return Err(error.into());
                    }
                    if attempt >= ATTEMPTS {
                        return Err(SetupError::KeptChanging {
                            attempts: ATTEMPTS,
                            records: changed.join("; "),
                        });
                    }
                    let changed = changed.join("; ");
                    info!(records = %changed, attempt, "Records changed since read; planning again.");
                    (
                        again,
                        format!(
                            "changed since they were read (the running controller may have moved them), so Route 53 refused their batch and wrote none of it: {changed}"
                        ),
                    )
                }
                Made::CheckChanged(id) => {
                    if attempt >= ATTEMPTS {
                        return Err(SetupError::CheckKeptChanging {
                            attempts: ATTEMPTS,
                            id,
                        });
                    }
                    info!(%id, attempt, "Health check changed since read; planning again.");
                    (
                        self.discover(wanted).await?,
                        format!(
                            "health check {id} changed since it was read (its HealthCheckVersion moved on), so Route 53 refused to set its failure threshold"
                        ),
                    )
                }
            };
            attempt += 1;
            say(Progress::ReadAgain(format!(
                "{why}; reading the account and planning again (attempt {attempt} of {ATTEMPTS})"
            )));
            plan = plan_steps(wanted, &again.found);
            discovered = again;
        }
    }

    /// Creates the checks `plan` needs and sets the failure thresholds it changes, and returns
    /// the record writes that can be made now: onto checks in `settled`. The others go to
    /// `outcome.deferred`. It stops at a check that changed since `discovered` was read.
    async fn create_checks(
        &self,
        discovered: &Discovered,
        plan: &Plan,
        settled: &BTreeSet<String>,
        say: &mut impl FnMut(Progress),
        outcome: &mut Outcome,
    ) -> Result<Made, SetupError> {
        let mut created: Vec<Option<String>> = vec![None; plan.steps.len()];
        let resolve = |created: &[Option<String>], c: &CheckRef| match c {
            CheckRef::Existing(id) => Some(id.clone()),
            CheckRef::New(i) => created.get(*i).cloned().flatten(),
        };
        let mut writes = Vec::new();
        outcome.deferred.clear();
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
                    say(Progress::Done(format!(
                        "created health check {id}: {what}: {check}"
                    )));
                    outcome.changes += 1;
                    created[i] = Some(id);
                }
                Step::SetFailureThreshold {
                    id, version, to, ..
                } => {
                    let updated =
                        set_failure_threshold(&self.client, &self.discipline, id, *version, *to)
                            .await?;
                    if updated == Updated::Changed {
                        return Ok(Made::CheckChanged(id.clone()));
                    }
                    say(Progress::Done(
                        step.to_string().replacen("set", "set the", 1),
                    ));
                    outcome.changes += 1;
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
                    say(Progress::Done(format!(
                        "created calculated health check {id}: {what}: healthy while {threshold} of {} controllers' checks are",
                        set.len()
                    )));
                    outcome.changes += 1;
                    created[i] = Some(id);
                }
                Step::CreateCombined {
                    switch,
                    team,
                    switch_check,
                } => {
                    let Some(of) = resolve(&created, switch_check) else {
                        continue;
                    };
                    let config = HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Calculated)
                        .health_threshold(i32::try_from(COMBINED_THRESHOLD).unwrap_or(2))
                        .set_child_health_checks(Some(vec![team.clone(), of.clone()]))
                        .build()
                        .map_err(|e| unbuildable("CreateHealthCheck", e))?;
                    let what = format!("switch {switch} with the team's check {team}");
                    let id = self
                        .create(
                            &combined_canonical(switch, team, &of),
                            &what,
                            config,
                            &discovered.found,
                        )
                        .await?;
                    self.tag(&id, &format!("failoverd {switch} + {team}"), switch)
                        .await?;
                    say(Progress::Done(format!(
                        "created calculated health check {id}: {what}: healthy while both {team} and {of} are"
                    )));
                    outcome.changes += 1;
                    created[i] = Some(id);
                }
                Step::SetRecordCheck { record, check, .. }
                | Step::SetRecordCombined { record, check, .. } => {
                    let id = match check {
                        CheckRef::Existing(id) if settled.contains(id) => id.clone(),
                        _ => {
                            outcome.deferred.push(step.to_string());
                            continue;
                        }
                    };
                    let Some(read) = discovered.records.get(&record.key) else {
                        continue;
                    };
                    writes.push(RecordWrite {
                        key: record.key.clone(),
                        read: read.clone(),
                        check: id,
                        line: step.to_string().replacen(
                            "set health check",
                            "set the health check of",
                            1,
                        ),
                    });
                }
            }
        }
        Ok(Made::Writes(writes))
    }

    /// Writes `writes`, a batch per zone and limit, each confirmed INSYNC before the next. A
    /// batch Route 53 refuses as invalid ends the writes: its records and the error are
    /// returned, for the caller to see whether they changed since they were read.
    async fn write_records(
        &self,
        writes: Vec<RecordWrite>,
        say: &mut impl FnMut(Progress),
        outcome: &mut Outcome,
    ) -> Result<Option<(Vec<RecordKey>, Error)>, SetupError> {
        for batch in batches(writes, Size::LIMIT)? {
            let change = batch.change_batch()?;
            let id = match self.zones.change(&batch.zone, &change).await {
                Ok(id) => id,
                Err(e) if e.code == ErrorCode::Invalid => {
                    warn!(zone = %batch.zone, error = %e, "Record batch refused.");
                    return Ok(Some((batch.writes.into_iter().map(|w| w.key).collect(), e)));
                }
                Err(e) => return Err(e.into()),
            };
            self.zones.confirm(&id).await?;
            for w in &batch.writes {
                say(Progress::Done(w.line.clone()));
                outcome.changes += 1;
            }
        }
        Ok(None)
    }

    /// Creates a check with `config`, its caller reference from `canonical`; `what` names it.
    pub(super) async fn create(
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
    pub(super) async fn tag(&self, id: &str, name: &str, switch: &str) -> Result<(), Error> {
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
