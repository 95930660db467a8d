//! `/v1/drills`: list DR drills and their reports (JSON, and an HTML page for an audit), run
//! one now, abort one, skip a configured drill's next run. The rules are
//! [`crate::drill::rules`]'; this file turns requests into calls and refusals into answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::Html;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::api::{record_about, save};
use super::auth::Identity;
use super::body::JsonObject;
use super::page::esc;
use super::{Admin, ApiError, operator};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::drill::report::Report;
use crate::drill::{Brief, Drill, NextDrill, rules};
use crate::intent::drill::{DrillRequest, DrillStop};
use crate::store::Event;

/// `GET /v1/drills`: every drill kept (newest first) and every configured drill's next run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillList {
    /// The drills, without their samples.
    pub drills: Vec<Brief>,
    /// The configured drills' next runs, as the controller last worked them out.
    pub next: Vec<NextDrill>,
}

fn refused(e: &rules::Error) -> ApiError {
    let (status, code) = match e.status() {
        404 => (StatusCode::NOT_FOUND, "unknown_drill"),
        409 => (StatusCode::CONFLICT, "conflict"),
        _ => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    ApiError::new(status, code, e.to_string())
}

/// Reads the shared intents again before answering (in a cluster, the leader records the
/// drills); on failure, answers from the last ones read.
async fn fresh(admin: &Admin) {
    if let Err(e) = admin.inner.intents.refresh().await {
        warn!(error = %e, "Cannot read the shared drills; answering from the last ones read.");
    }
}

fn report(admin: &Admin, id: &str) -> Result<Report, ApiError> {
    let d = admin
        .inner
        .intents
        .current()
        .drills
        .get(id)
        .cloned()
        .ok_or_else(|| refused(&rules::Error::NotFound(id.to_owned())))?;
    Ok(Report::new(d))
}

/// `GET /v1/drills`.
pub(super) async fn list(State(admin): State<Admin>) -> Json<DrillList> {
    fresh(&admin).await;
    let mut drills: Vec<Drill> = admin.inner.intents.current().drills.into_values().collect();
    drills.sort_by(|a, b| b.due.cmp(&a.due).then_with(|| b.id.cmp(&a.id)));
    Json(DrillList {
        drills: drills.iter().map(Brief::new).collect(),
        next: admin.inner.status.borrow().next_drills.clone(),
    })
}

/// `GET /v1/drills/{id}`: the report with every step and sample.
pub(super) async fn show(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    fresh(&admin).await;
    report(&admin, &id).map(Json)
}

/// `GET /v1/drills/{id}/report.html`: the report as a page with its chart.
pub(super) async fn page(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    fresh(&admin).await;
    report(&admin, &id).map(|r| Html(super::drill_page::page(&r)))
}

/// Journals (write-ahead) and saves the drill `d` an operator's `what` made.
async fn record(
    admin: &Admin,
    who: &Identity,
    what: &str,
    d: Drill,
    now: Timestamp,
) -> Result<Json<Drill>, ApiError> {
    let said = d
        .abort
        .as_ref()
        .map_or(d.reason.as_str(), |a| a.reason.as_str());
    let note = format!("{what} by {}: {said}", who.name);
    record_about(
        admin,
        now,
        &who.name,
        d.service.as_deref(),
        Event::Drill {
            drill: d.id.clone(),
            phase: d.phase.as_str().to_owned(),
            note,
        },
    )?;
    let id = d.id.clone();
    let saved = d.clone();
    save(
        admin,
        now,
        &who.name,
        format!("{what} of drill {id}"),
        move |i| rules::record(&mut i.drills, &saved),
    )
    .await?;
    info!(drill = %id, actor = %who.name, "Drill {what}.");
    Ok(Json(d))
}

/// Checks an operator's `rule` against the config and the drills as they are, one request at
/// a time, then journals and saves the drill it makes.
async fn act(
    admin: &Admin,
    who: &Identity,
    what: &str,
    rule: impl FnOnce(&Config, &BTreeMap<String, Drill>, Timestamp) -> Result<Drill, rules::Error>,
) -> Result<Json<Drill>, ApiError> {
    operator(who)?;
    let _one_at_a_time = admin.inner.admitting.lock().await;
    fresh(admin).await;
    let now = admin.inner.clock.now();
    let current = admin.inner.intents.current();
    let d = rule(&admin.inner.config, &current.drills, now).map_err(|e| refused(&e))?;
    record(admin, who, what, d, now).await
}

/// `POST /v1/drills` (operator): run a drill now. Answers 202: the controller's preflight
/// starts it, or skips it with the reason, on its next tick.
pub(super) async fn run(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    JsonObject(req): JsonObject<DrillRequest>,
) -> Result<(StatusCode, Json<Drill>), ApiError> {
    let answer = act(&admin, &who, "asked for", |config, drills, now| {
        rules::run_now(config, drills, &req, &who.name, now)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, answer))
}

/// `POST /v1/drills/{id}/abort` (operator): stop a drill; its regions are restored at once.
pub(super) async fn abort(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonObject(stop): JsonObject<DrillStop>,
) -> Result<Json<Drill>, ApiError> {
    act(&admin, &who, "aborted", |_, drills, now| {
        rules::abort(drills, &id, &stop, &who.name, now)
    })
    .await
}

/// `POST /v1/drills/skip` (operator): skip a configured drill's next run.
pub(super) async fn skip(
    State(admin): State<Admin>,
    Extension(who): Extension<Identity>,
    JsonObject(stop): JsonObject<DrillStop>,
) -> Result<Json<Drill>, ApiError> {
    act(&admin, &who, "skipped", |config, drills, now| {
        rules::skip(config, drills, &stop, &who.name, now)
    })
    .await
}

/// The status page's drills: each kept in status with its result and a link to its report,
/// then every configured drill's next run.
pub(super) fn section(status: &crate::status::Status) -> String {
    if status.drills.is_empty() && status.next_drills.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        "<h2>DR drills</h2><table id=\"drills\"><tr><th>drill</th><th>regions</th><th>phase</th>\
         <th>result</th><th>evacuated in</th><th>restored in</th><th>why</th></tr>\n",
    );
    let secs = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{s:.0}s"));
    for d in &status.drills {
        let id = esc(&d.id);
        html.push_str(&format!(
            "<tr id=\"drill-{id}\"><td><a href=\"/v1/drills/{id}/report.html\">{id}</a></td><td>{regions}</td>\
             <td>{phase}</td><td class=\"{class}\">{result}</td><td>{evac} (objective {obj:.0}s)</td>\
             <td>{restore}</td><td>{why}</td></tr>\n",
            regions = esc(&d.regions.join(", ")),
            phase = d.phase.as_str(),
            class = if matches!(d.figures.result.as_str(), "failed" | "aborted" | "skipped") {
                "alarm"
            } else {
                ""
            },
            result = esc(&d.figures.result),
            evac = secs(d.figures.evacuation_seconds),
            obj = d.figures.objective_seconds,
            restore = secs(d.figures.restore_seconds),
            why = esc(d.reason.as_deref().unwrap_or("")),
        ));
    }
    for n in &status.next_drills {
        html.push_str(&format!(
            "<tr class=\"next\" id=\"next-{name}\"><td>next: {name}</td><td>{regions}</td><td colspan=\"2\">{local}</td>\
             <td colspan=\"2\">{schedule}</td><td class=\"{class}\">{skipped}</td></tr>\n",
            name = esc(&n.name),
            regions = esc(&n.regions.join(", ")),
            local = esc(&n.local),
            schedule = esc(&n.schedule),
            class = if n.skipped.is_some() { "alarm" } else { "" },
            skipped = n
                .skipped
                .as_deref()
                .map_or_else(String::new, |s| format!("will not run: {}", esc(s))),
        ));
    }
    html.push_str("</table>\n");
    html
}
