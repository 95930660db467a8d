//! Undoing a region's hold: `DELETE /v1/regions/{region}/drain` (which also ends the region's
//! drain by a broken or aborted rollout), `DELETE /v1/regions/{region}/damping`, and
//! `POST /v1/external/ack` (acknowledging changes made outside failoverd, which releases a
//! hold they put on a region).

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use tracing::info;

use super::api::{known_region, record_about, refused, save, serving};
use super::auth::Identity;
use super::verbs::{AckAnswer, AckArgs, UndampAnswer, UndrainAnswer};
use super::{Admin, ApiError, operator};
use crate::intent::Scope;
use crate::plan::RefusalKind;
use crate::store::Event;

/// What an undo (`undrain`, `undamp`) of `region` covers: the region as a whole without a
/// service, or the named service there (which must serve it).
fn named_scope(admin: &Admin, region: &str, service: Option<&str>) -> Result<Scope, ApiError> {
    known_region(admin, region)?;
    let Some(service) = service else {
        return Ok(Scope::Region);
    };
    let names: Option<Vec<String>> =
        serving(admin, region).map(|v| v.into_iter().map(|s| s.name.clone()).collect());
    Scope::of(region, Some(service), false, names.as_deref()).map_err(refused)
}

/// `?service=NAME` on `DELETE /v1/regions/{region}/drain` and `.../damping`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UndrainQuery {
    service: Option<String>,
}

pub(super) async fn undrain(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(region): Path<String>,
    Query(query): Query<UndrainQuery>,
) -> Result<Json<UndrainAnswer>, ApiError> {
    operator(&who)?;
    // Without a service, the region-wide drain is lifted (never a service's own).
    let scope = named_scope(&admin, &region, query.service.as_deref())?;
    let key = scope.key(&region);
    let now = admin.inner.clock.now();
    let current = admin.inner.intents.current();
    let had = current.drain(&key, now).is_some();
    if had {
        record_about(
            &admin,
            now,
            &who.name,
            scope.service(),
            Event::DrainCleared {
                region: region.clone(),
            },
        )?;
    }
    // An undrain also ends the region's drain by a broken or aborted rollout.
    let ring = admin.inner.config.region(&region).map_or(0, |r| r.ring);
    let released = crate::rollout::rules::release(
        &current.rollouts,
        &region,
        ring,
        scope.service(),
        &who.name,
    );
    for c in &released {
        record_about(
            &admin,
            now,
            &who.name,
            scope.service(),
            Event::Rollout {
                rollout: c.rollout.clone(),
                ring: c.ring,
                change: c.kind().to_owned(),
                reason: c.reason.clone(),
            },
        )?;
    }
    save(&admin, now, &who.name, format!("undrain of {key}"), |i| {
        crate::rollout::Change::apply_all(&released, &mut i.rollouts, &who.name, now);
        i.drains.remove(&key)
    })
    .await?;
    let rollouts: Vec<String> = released.into_iter().map(|c| c.rollout).collect();
    let had = had || !rollouts.is_empty();
    info!(%region, actor = %who.name, "Drain cleared.");
    let held = (!had)
        .then(|| damping_hold(&admin, &region, scope.service()))
        .flatten();
    Ok(Json(UndrainAnswer {
        region,
        undrained: had,
        held,
        rollouts,
    }))
}

/// The flap-damping hold on `region` (of `service`, or of any service) at the latest tick, as
/// its reason.
fn damping_hold(admin: &Admin, region: &str, service: Option<&str>) -> Option<String> {
    admin
        .inner
        .status
        .borrow()
        .refusals
        .iter()
        .find(|r| {
            r.kind == RefusalKind::FlapDamping
                && r.region == region
                && service.is_none_or(|s| r.service.as_deref() == Some(s))
        })
        .map(|r| r.reason.clone())
}

/// `DELETE /v1/regions/{region}/damping[?service=NAME]`: lifts a flap-damping hold. The moves
/// made until now stop counting towards damping for the region (for one service, or for every
/// service there); the lift is stored and journaled. Nothing changes when no hold is on.
pub(super) async fn undamp(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(region): Path<String>,
    Query(query): Query<UndrainQuery>,
) -> Result<Json<UndampAnswer>, ApiError> {
    operator(&who)?;
    let scope = named_scope(&admin, &region, query.service.as_deref())?;
    let now = admin.inner.clock.now();
    let lifted = damping_hold(&admin, &region, scope.service()).is_some();
    if lifted {
        let key = scope.key(&region);
        record_about(
            &admin,
            now,
            &who.name,
            scope.service(),
            Event::DampingLifted {
                region: region.clone(),
            },
        )?;
        save(
            &admin,
            now,
            &who.name,
            format!("flap-damping lift of {key}"),
            |i| i.damping_lifted.insert(key.clone(), now),
        )
        .await?;
        info!(%region, service = ?scope.service(), actor = %who.name, "Flap damping lifted.");
    }
    Ok(Json(UndampAnswer { region, lifted }))
}

pub(super) async fn ack(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    super::body::JsonObject(args): super::body::JsonObject<AckArgs>,
) -> Result<Json<AckAnswer>, ApiError> {
    operator(&who)?;
    let region = match (&args.region, args.all, &args.service) {
        (Some(region), false, service) => {
            named_scope(&admin, region, service.as_deref())?;
            Some(region.as_str())
        }
        (None, true, None) => None,
        _ => return Err(refused(crate::intent::Error::AckScope)),
    };
    let now = admin.inner.clock.now();
    let service = args.service.as_deref();
    let mut listed = admin.inner.intents.current();
    let seen = crate::intent::external::acknowledge(&mut listed, region, service);
    if seen.is_empty() {
        return Ok(Json(AckAnswer {
            acknowledged: Vec::new(),
            released: Vec::new(),
        }));
    }
    let changes: Vec<String> = seen
        .iter()
        .map(crate::intent::external::Notice::describe)
        .collect();
    record_about(
        &admin,
        now,
        &who.name,
        service,
        Event::Acknowledged {
            changes: changes.clone(),
        },
    )?;
    // Exactly the changes journaled above: one noticed since is not acknowledged unseen.
    let keys: Vec<String> = seen
        .iter()
        .map(crate::intent::external::Notice::key)
        .collect();
    save(
        &admin,
        now,
        &who.name,
        "acknowledgement of external changes".to_owned(),
        |i| i.external.retain(|k, _| !keys.contains(k)),
    )
    .await?;
    let released: std::collections::BTreeSet<String> = seen
        .iter()
        .filter(|n| n.action == crate::intent::external::Action::Held)
        .map(|n| n.region.clone())
        .collect();
    info!(region = ?region, actor = %who.name, acknowledged = changes.len(), "External changes acknowledged.");
    Ok(Json(AckAnswer {
        acknowledged: changes,
        released: released.into_iter().collect(),
    }))
}
