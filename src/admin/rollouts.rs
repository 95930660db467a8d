//! `/v1/rollouts`: start, promote, approve and abort ring rollouts, list them, and answer a
//! pipeline's gate. The rules are [`crate::rollout::rules`]'; this file turns requests into
//! calls and refusals into answers.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::api::{record_about, save};
use super::auth::Identity;
use super::body::JsonObject;
use super::{Admin, ApiError, operator};
use crate::clock::Timestamp;
use crate::intent::rollout::{AbortRequest, RingRequest, RolloutStartRequest};
use crate::rollout::rules::{self, Kind};
use crate::rollout::{Change, Gate, Rollout, RolloutStatus, gate};
use crate::store::Event;

/// `GET /v1/rollouts`: every rollout kept, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutList {
    /// The rollouts, each with its gates and latest checks.
    pub rollouts: Vec<RolloutStatus>,
}

fn refused(e: rules::Error) -> ApiError {
    let (status, code) = match e.kind() {
        Kind::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
        Kind::NotFound => (StatusCode::NOT_FOUND, "unknown_rollout"),
        Kind::Conflict => (StatusCode::CONFLICT, "conflict"),
    };
    ApiError::new(status, code, e.to_string())
}

/// The rings of `rollout`'s service.
fn rings(admin: &Admin, rollout: &Rollout) -> BTreeSet<u32> {
    rules::rings(&admin.inner.config, rollout.service.as_deref())
}

/// Rollout `id` as status shows it: its gates, and the controller's latest checks of it.
fn shown(admin: &Admin, id: &str, now: Timestamp) -> Option<RolloutStatus> {
    let rollout = admin.inner.intents.current().rollouts.get(id)?.clone();
    let cfg = &admin.inner.config.rollout;
    let rings = rings(admin, &rollout);
    let checks = admin
        .inner
        .status
        .borrow()
        .rollouts
        .iter()
        .find(|s| s.rollout.id == id)
        .map(|s| s.checks.clone())
        .unwrap_or_default();
    Some(RolloutStatus::new(rollout, cfg, &rings, now, checks))
}

/// Reads the shared intents again before answering (in a cluster, another controller may have
/// started or moved the rollout since this one last read them); on failure, answers from the
/// last ones read.
async fn fresh(admin: &Admin) {
    if let Err(e) = admin.inner.intents.refresh().await {
        warn!(error = %e, "Cannot read the shared rollouts; answering from the last ones read.");
    }
}

fn unknown(id: &str) -> ApiError {
    refused(rules::Error::NotFound(id.to_owned()))
}

/// Journals `changes` (write-ahead) and saves them; answers with the rollout after them.
async fn record(
    admin: &Admin,
    who: &Identity,
    id: &str,
    what: &str,
    changes: Vec<Change>,
    now: Timestamp,
) -> Result<Json<RolloutStatus>, ApiError> {
    let service = admin
        .inner
        .intents
        .current()
        .rollouts
        .get(id)
        .and_then(|r| r.service.clone())
        .or_else(|| match changes.first().map(|c| &c.what) {
            Some(crate::rollout::What::Started(r)) => r.service.clone(),
            _ => None,
        });
    for c in &changes {
        record_about(
            admin,
            now,
            &who.name,
            service.as_deref(),
            Event::Rollout {
                rollout: c.rollout.clone(),
                ring: c.ring,
                change: c.kind().to_owned(),
                reason: c.reason.clone(),
            },
        )?;
    }
    save(
        admin,
        now,
        &who.name,
        format!("{what} of rollout {id}"),
        |i| {
            for c in &changes {
                c.apply(&mut i.rollouts, &who.name, now);
            }
            rules::trim(&mut i.rollouts);
        },
    )
    .await?;
    info!(rollout = %id, actor = %who.name, "Rollout {what}.");
    shown(admin, id, now).map(Json).ok_or_else(|| unknown(id))
}

/// `GET /v1/rollouts`.
pub(super) async fn list(State(admin): State<Admin>) -> Json<RolloutList> {
    fresh(&admin).await;
    let now = admin.inner.clock.now();
    let mut ids: Vec<(Timestamp, String)> = admin
        .inner
        .intents
        .current()
        .rollouts
        .values()
        .map(|r| (r.started_at, r.id.clone()))
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    Json(RolloutList {
        rollouts: ids
            .iter()
            .filter_map(|(_, id)| shown(&admin, id, now))
            .collect(),
    })
}

/// `GET /v1/rollouts/{id}`.
pub(super) async fn show(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RolloutStatus>, ApiError> {
    fresh(&admin).await;
    let now = admin.inner.clock.now();
    shown(&admin, &id, now)
        .map(Json)
        .ok_or_else(|| unknown(&id))
}

/// `POST /v1/rollouts` (operator).
pub(super) async fn start(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    JsonObject(req): JsonObject<RolloutStartRequest>,
) -> Result<(StatusCode, Json<RolloutStatus>), ApiError> {
    operator(&who)?;
    let _one_at_a_time = admin.inner.admitting.lock().await;
    fresh(&admin).await;
    let now = admin.inner.clock.now();
    let current = admin.inner.intents.current();
    let changes = rules::start(&current.rollouts, &req, &admin.inner.config, &who.name, now)
        .map_err(refused)?;
    let id = rules::already(&current.rollouts, &req, &admin.inner.config)
        .unwrap_or_else(|| req.id.trim().to_owned());
    if changes.is_empty() {
        // Already in progress, as asked: answered as it stands.
        let answer = shown(&admin, &id, now).ok_or_else(|| unknown(&id))?;
        return Ok((StatusCode::OK, Json(answer)));
    }
    let answer = record(&admin, &who, &id, "start", changes, now).await?;
    Ok((StatusCode::CREATED, answer))
}

/// Checks an operator's `rule` against the rollouts as they are, one request at a time, then
/// journals and saves the changes it makes.
async fn act(
    admin: &Admin,
    who: &Identity,
    id: &str,
    what: &str,
    rule: impl FnOnce(&BTreeMap<String, Rollout>, Timestamp) -> Result<Vec<Change>, rules::Error>,
) -> Result<Json<RolloutStatus>, ApiError> {
    operator(who)?;
    let _one_at_a_time = admin.inner.admitting.lock().await;
    fresh(admin).await;
    let now = admin.inner.clock.now();
    let changes = rule(&admin.inner.intents.current().rollouts, now).map_err(refused)?;
    record(admin, who, id, what, changes, now).await
}

/// `POST /v1/rollouts/{id}/promote` (operator).
pub(super) async fn promote(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<RingRequest>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let config = &admin.inner.config;
    act(&admin, &who, &id, "promotion", |r, now| {
        rules::promote(r, &id, &req, config, &who.name, now)
    })
    .await
}

/// `POST /v1/rollouts/{id}/approve` (operator).
pub(super) async fn approve(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<RingRequest>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let config = &admin.inner.config;
    act(&admin, &who, &id, "approval", |r, _| {
        rules::approve(r, &id, &req, config)
    })
    .await
}

/// `POST /v1/rollouts/{id}/abort` (operator): the kill switch.
pub(super) async fn abort(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<AbortRequest>,
) -> Result<Json<RolloutStatus>, ApiError> {
    act(&admin, &who, &id, "abort", |r, _| {
        rules::abort(r, &id, &req)
    })
    .await
}

/// `?ring=N` on the gate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GateQuery {
    ring: Option<String>,
}

/// `GET /v1/rollouts/{id}/gate?ring=N` (viewer): may ring N be promoted?
pub(super) async fn gate_of(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(query): Query<GateQuery>,
) -> Result<Json<Gate>, ApiError> {
    fresh(&admin).await;
    let now = admin.inner.clock.now();
    let current = admin.inner.intents.current();
    let rollout = current.rollouts.get(&id).ok_or_else(|| unknown(&id))?;
    let rings = rings(&admin, rollout);
    let listed = || {
        rings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ring: u32 = match query.ring.as_deref().map(str::parse) {
        Some(Ok(n)) => n,
        Some(Err(_)) | None => {
            return Err(ApiError::bad_request(format!(
                "ring: give the ring as ?ring=N (rings: {})",
                listed()
            )));
        }
    };
    gate(rollout, ring, &admin.inner.config.rollout, &rings, now)
        .map(Json)
        .ok_or_else(|| {
            refused(rules::Error::UnknownRing {
                ring,
                rings: rings.iter().copied().collect(),
            })
        })
}
