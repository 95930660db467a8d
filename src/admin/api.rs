//! API v1 handlers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use tracing::{error, info};

use super::auth::Identity;
use super::body::JsonObject;
use super::verbs::{DrainAnswer, ServiceEffect, StatusAnswer, UnfreezeAnswer};
use super::{Admin, ApiError, operator};
use crate::clock::Timestamp;
use crate::config::Service;
use crate::intent::{self, Drain, DrainRequest, Freeze, FreezeRequest, Intents, Scope};
use crate::plan::{self, Admission, WhatIf};
use crate::store::{Entry, Event};

/// An intent the request asks for but its rules refuse: 400, with the field named.
pub(super) fn refused(e: intent::Error) -> ApiError {
    ApiError::bad_request(e.to_string())
}

pub(super) fn known_region(admin: &Admin, region: &str) -> Result<(), ApiError> {
    if admin.inner.config.region(region).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_region",
            format!("region \"{region}\" is not configured"),
        ))
    }
}

/// Journals `event` about `service` (None: not about one service).
pub(super) fn record_about(
    admin: &Admin,
    now: Timestamp,
    actor: &str,
    service: Option<&str>,
    event: Event,
) -> Result<(), ApiError> {
    admin
        .inner
        .journal
        .record_for(now, actor, service, event)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "journal",
                format!("{e}; nothing was changed"),
            )
        })
}

/// Saves an intent change journaled just before (write-ahead). If the store refuses, the
/// journal gets an entry saying the action did not take effect, so it never shows a drain or
/// freeze that was not in force.
pub(super) async fn save<T>(
    admin: &Admin,
    now: Timestamp,
    actor: &str,
    intent: String,
    change: impl FnMut(&mut Intents) -> T,
) -> Result<T, ApiError> {
    match admin.inner.intents.update(now, change).await {
        Ok(out) => Ok(out),
        Err(e) => {
            let message = e.to_string();
            error!(%intent, %actor, %message, "Intent not saved; it is not in effect.");
            // Best effort: the API's answer already says what happened.
            let _ = admin.inner.journal.record(
                now,
                actor,
                Event::IntentNotSaved {
                    intent,
                    message: message.clone(),
                },
            );
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "intent_store",
                format!("{message}; nothing was changed"),
            ))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StatusQuery {
    newer_than: Option<String>,
}

/// `GET /v1/status[?newer_than=T]`: with `newer_than`, waits for a tick later than tick `T` (at
/// most half the request deadline, then answers with the status as it is), so a watcher sees
/// every new status without polling.
pub(super) async fn status(
    State(admin): State<Admin>,
    Query(query): Query<StatusQuery>,
) -> Result<Json<StatusAnswer>, ApiError> {
    if let Some(t) = &query.newer_than {
        let after: u64 = t.parse().map_err(|_| {
            ApiError::bad_request(format!("newer_than: must be a tick number, got \"{t}\""))
        })?;
        let mut rx = admin.inner.status.clone();
        let patience = admin.inner.config.admin.request_timeout / 2;
        // A closed channel (the controller stopped) or no new tick in time: answer with the
        // latest status.
        let _new_tick_or_not =
            tokio::time::timeout(patience, rx.wait_for(|s| s.ticks > after)).await;
    }
    let status = admin.current_status();
    let decisions = recent_decisions(&admin, 20);
    Ok(Json(StatusAnswer { status, decisions }))
}

/// The latest `n` share changes, refusals and operator actions.
pub(super) fn recent_decisions(admin: &Admin, n: usize) -> Vec<Entry> {
    let mut out: Vec<Entry> = admin
        .inner
        .journal
        .recent(1000)
        .into_iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::Shift { .. }
                    | Event::ShadowShift { .. }
                    | Event::Refusal(_)
                    | Event::RefusalEnded { .. }
                    | Event::DrainSet { .. }
                    | Event::DrainCleared { .. }
                    | Event::DampingLifted { .. }
                    | Event::FreezeSet { .. }
                    | Event::FreezeCleared
                    | Event::Rollout { .. }
                    | Event::ExternalChange { .. }
                    | Event::Acknowledged { .. }
                    | Event::IntentNotSaved { .. }
            )
        })
        .collect();
    let skip = out.len().saturating_sub(n);
    out.drain(..skip);
    out
}

#[derive(Deserialize)]
pub(super) struct JournalQuery {
    limit: Option<String>,
}

fn journal_entries(admin: &Admin, query: &JournalQuery) -> Result<Vec<Entry>, ApiError> {
    let limit = match &query.limit {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit: must be a number from 1 to 1000, got \"{l}\""
                ))
            })?,
    };
    Ok(admin.inner.journal.recent(limit))
}

pub(super) async fn journal(
    State(admin): State<Admin>,
    Query(query): Query<JournalQuery>,
) -> Result<Json<Vec<Entry>>, ApiError> {
    journal_entries(&admin, &query).map(Json)
}

pub(super) async fn metrics(State(admin): State<Admin>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.inner.metrics.encode(),
    )
        .into_response()
}

/// Asks the planner what `drain` of `region` would do, with the controller's latest input and
/// every drain accepted since (so drains sent within one tick are admitted against each other);
/// `None` before the controller's first tick.
fn what_if(admin: &Admin, region: &str, drain: &Drain, now: Timestamp) -> Option<WhatIf> {
    // The shared input taken and the status let go before copying it: a large estate's copy
    // does not hold up the controller publishing its next status.
    let input = admin.inner.status.borrow().input.clone()?;
    let mut input = Arc::unwrap_or_clone(input);
    input.intents = admin.inner.intents.current();
    plan::what_if(&input, &admin.inner.config.policy, region, drain, now)
}

/// The services that serve `region`, each with its view; `None` for a config without
/// `[[services]]`.
pub(super) fn serving<'a>(admin: &'a Admin, region: &str) -> Option<Vec<&'a Service>> {
    admin.inner.config.has_services().then(|| {
        admin
            .inner
            .services
            .iter()
            .filter(|s| s.config.region(region).is_some())
            .collect()
    })
}

/// Asks the planner what `drain` of `region` would do to `service`, with its latest input and
/// its own policy.
fn service_what_if(
    admin: &Admin,
    service: &Service,
    region: &str,
    drain: &Drain,
    now: Timestamp,
) -> Option<WhatIf> {
    let input = admin
        .inner
        .status
        .borrow()
        .service_inputs
        .get(&service.name)
        .cloned()?;
    let mut input = Arc::unwrap_or_clone(input);
    // As the service sees them: the region-wide drains and its own, accepted up to now.
    input.intents = admin
        .inner
        .intents
        .current()
        .for_service(&service.name, now);
    plan::what_if(&input, &service.config.policy, region, drain, now)
}

pub(super) async fn drain(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(region): Path<String>,
    JsonObject(req): JsonObject<DrainRequest>,
) -> Result<Json<DrainAnswer>, ApiError> {
    operator(&who)?;
    known_region(&admin, &region)?;
    // One drain is checked and recorded at a time, each against every one accepted before it.
    let _one_at_a_time = admin.inner.admitting.lock().await;
    let now = admin.inner.clock.now();
    let services = serving(&admin, &region);
    let names: Option<Vec<String>> = services
        .as_ref()
        .map(|v| v.iter().map(|s| s.name.clone()).collect());
    let scope = Scope::of(
        &region,
        req.service.as_deref(),
        req.all_services,
        names.as_deref(),
    )
    .map_err(refused)?;
    let drain = Drain::try_new(
        &req,
        &who.name,
        now,
        admin.inner.config.max_intent_ttl(scope.service()),
    )
    .map_err(refused)?;
    // One service (or a config without [[services]]): its what-if decides. Several: each
    // service's what-if is listed, and the floor or a service not yet planned holds it back.
    let named = |name: &str| services.iter().flatten().find(|s| s.name == name);
    let (effect, per_service) = match (&scope, services.as_deref()) {
        (Scope::Service(name), _) => (
            named(name).and_then(|s| service_what_if(&admin, s, &region, &drain, now)),
            Vec::new(),
        ),
        (Scope::Region, Some([only])) => (
            service_what_if(&admin, only, &region, &drain, now),
            Vec::new(),
        ),
        (Scope::Region, Some(several)) => (
            None,
            several
                .iter()
                .map(|s| ServiceEffect {
                    service: s.name.clone(),
                    effect: service_what_if(&admin, s, &region, &drain, now),
                })
                .collect(),
        ),
        (Scope::Region, None) => (what_if(&admin, &region, &drain, now), Vec::new()),
    };
    let pairs: Vec<(String, Option<WhatIf>)> = per_service
        .iter()
        .map(|e| (e.service.clone(), e.effect.clone()))
        .collect();
    let admission = if per_service.is_empty() {
        plan::admit(effect.as_ref(), drain.force)
    } else {
        plan::admit_all(&pairs, drain.force)
    };
    match admission {
        Admission::Accepted => {}
        Admission::NotReady => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the controller has not finished a tick yet, so headroom cannot be checked; retry shortly, or pass force",
            ));
        }
        Admission::NoRoom(refusal) => {
            let mut err = ApiError::new(
                StatusCode::CONFLICT,
                "headroom",
                format!(
                    "the survivors cannot take {region}'s traffic: {}; nothing was changed (force overrides)",
                    refusal.reason
                ),
            );
            err.effect = effect.clone().map(Box::new);
            return Err(err);
        }
        Admission::Floor(refusal) => {
            // Which service's floor, when the drain covers several.
            let whose = per_service
                .iter()
                .find(|e| e.effect.as_ref().and_then(|w| w.refusal.as_ref()) == Some(refusal))
                .map_or_else(String::new, |e| format!(" for service {}", e.service));
            let mut err = ApiError::new(
                StatusCode::CONFLICT,
                "floor",
                format!(
                    "{region} cannot be drained to {}{whose}: {}; force overrides headroom, never the floor (policy.min_serving_regions); nothing was changed",
                    drain.share, refusal.reason
                ),
            );
            err.effect = effect.clone().map(Box::new);
            return Err(err);
        }
    }
    if req.dry_run {
        return Ok(Json(DrainAnswer {
            region,
            drain,
            effect,
            service: scope.service().map(str::to_owned),
            services: per_service,
            dry_run: true,
        }));
    }
    record_about(
        &admin,
        now,
        &who.name,
        scope.service(),
        Event::DrainSet {
            region: region.clone(),
            share: drain.share,
            reason: drain.reason.clone(),
            expires_at: drain.expires_at,
            force: drain.force,
        },
    )?;
    let key = scope.key(&region);
    save(&admin, now, &who.name, format!("drain of {key}"), |i| {
        i.drains.insert(key.clone(), drain.clone())
    })
    .await?;
    info!(%region, service = ?scope.service(), actor = %who.name, share = %drain.share, force = drain.force, "Drain set.");
    Ok(Json(DrainAnswer {
        region,
        drain,
        effect,
        service: scope.service().map(str::to_owned),
        services: per_service,
        dry_run: false,
    }))
}

pub(super) async fn freeze(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    JsonObject(req): JsonObject<FreezeRequest>,
) -> Result<Json<Freeze>, ApiError> {
    operator(&who)?;
    let service = intent::freeze_service(req.service.as_deref(), service_names(&admin).as_deref())
        .map_err(refused)?;
    let now = admin.inner.clock.now();
    let freeze = Freeze::try_new(
        &req,
        &who.name,
        now,
        admin.inner.config.max_intent_ttl(service.as_deref()),
    )
    .map_err(refused)?;
    record_about(
        &admin,
        now,
        &who.name,
        service.as_deref(),
        Event::FreezeSet {
            reason: freeze.reason.clone(),
            expires_at: freeze.expires_at,
        },
    )?;
    let what = service
        .as_ref()
        .map_or_else(|| "freeze".to_owned(), |s| format!("freeze of {s}"));
    save(&admin, now, &who.name, what, |i| match &service {
        Some(s) => {
            i.service_freezes.insert(s.clone(), freeze.clone());
        }
        None => i.freeze = Some(freeze.clone()),
    })
    .await?;
    info!(actor = %who.name, service = ?service, "Freeze set.");
    Ok(Json(freeze))
}

/// `?service=NAME` on `DELETE /v1/freeze`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UnfreezeQuery {
    service: Option<String>,
}

/// The configured services' names; `None` for a config without `[[services]]`.
fn service_names(admin: &Admin) -> Option<Vec<String>> {
    let config = &admin.inner.config;
    config
        .has_services()
        .then(|| config.services.iter().map(|s| s.name.clone()).collect())
}

pub(super) async fn unfreeze(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Query(query): Query<UnfreezeQuery>,
) -> Result<Json<UnfreezeAnswer>, ApiError> {
    operator(&who)?;
    let service =
        intent::freeze_service(query.service.as_deref(), service_names(&admin).as_deref())
            .map_err(refused)?;
    let now = admin.inner.clock.now();
    let current = admin.inner.intents.current();
    let had = match &service {
        Some(s) => current
            .service_freezes
            .get(s)
            .is_some_and(|f| now < f.expires_at),
        None => current.freeze(now).is_some(),
    };
    if had {
        record_about(
            &admin,
            now,
            &who.name,
            service.as_deref(),
            Event::FreezeCleared,
        )?;
    }
    let what = service
        .as_ref()
        .map_or_else(|| "unfreeze".to_owned(), |s| format!("unfreeze of {s}"));
    save(&admin, now, &who.name, what, |i| match &service {
        Some(s) => {
            i.service_freezes.remove(s);
        }
        None => i.freeze = None,
    })
    .await?;
    Ok(Json(UnfreezeAnswer { unfrozen: had }))
}
