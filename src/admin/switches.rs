//! The switch endpoint: `GET /switch/{switch}` answers 200 while the switch is on and 503 while
//! it is off, for Route 53's health checkers. No authentication (the checkers send none) and
//! nothing else is served: it tells only whether each region should take traffic.
//!
//! What it serves is this controller's copy of the switch states ([`SwitchBoard`]): in a
//! cluster, the key the leader writes, read again every tick; a controller that cannot read it
//! serves what it read last (and says how old it is), and the calculated health check's
//! majority outvotes it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics::Metrics;
use crate::traffic::switches::{Answer, SwitchBoard};

#[derive(Clone)]
struct Served {
    board: SwitchBoard,
    controller: Arc<str>,
}

/// The router of the switch endpoint.
pub fn router(board: SwitchBoard, controller: &str) -> Router {
    Router::new()
        .route("/switch/{*switch}", get(answer))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such switch\n") })
        .with_state(Served {
            board,
            controller: Arc::from(controller),
        })
}

async fn answer(State(s): State<Served>, Path(switch): Path<String>) -> Response {
    let path = crate::traffic::switches::path_of(&switch);
    let Some(switch) = s.board.switch_at(&path) else {
        return (StatusCode::NOT_FOUND, "no such switch\n").into_response();
    };
    let snapshot = s.board.snapshot();
    let by = snapshot.states.by.as_deref().unwrap_or("nobody yet");
    let epoch = snapshot.states.epoch;
    let (status, body) = match s.board.answer(switch) {
        Answer::On => (
            StatusCode::OK,
            format!("{switch} on (set by {by}, epoch {epoch})\n"),
        ),
        Answer::Off => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{switch} off (set by {by}, epoch {epoch})\n"),
        ),
        Answer::Unknown => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{switch} unknown: this controller has not read the switch states yet\n"),
        ),
        Answer::NotInUse => (
            StatusCode::OK,
            format!("{switch} on: traffic.route53.mode = \"records\" does not use the switches\n"),
        ),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&s.controller) {
        headers.insert("x-failoverd-controller", v);
    }
    let age = snapshot
        .confirmed
        .map_or_else(|| "never".to_owned(), |t| t.elapsed().as_secs().to_string());
    if let Ok(v) = HeaderValue::from_str(&age) {
        headers.insert("x-failoverd-switch-age", v);
    }
    response
}

/// Serves the switch endpoint on `listener` until `shutdown`.
pub async fn serve(
    board: SwitchBoard,
    controller: String,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    super::serve(
        super::Limits {
            what: "Switch",
            timeout: Duration::from_secs(5),
            grace: Duration::from_secs(1),
        },
        router(board, &controller),
        listener,
        tls,
        metrics,
        shutdown,
    )
    .await;
}

/// Keeps `board` as its store holds it, every `every`, until `shutdown`: how a controller that
/// does not write the switches (a follower) serves what the leader wrote.
pub async fn refresh(board: SwitchBoard, every: Duration, shutdown: CancellationToken) {
    let mut failing = false;
    let mut warned = false;
    loop {
        match board.refresh().await {
            Ok(states) => {
                if failing {
                    failing = false;
                    tracing::info!("Switch states read again; serving them.");
                }
                if !board.is_in_use() && !states.off.is_empty() && !warned {
                    warned = true;
                    warn!(
                        off = ?states.off,
                        "Switches are off in the store, but traffic.route53.mode = \"records\" does not use them: every switch is served on."
                    );
                }
            }
            Err(e) if !failing => {
                failing = true;
                warn!(error = %e, "Cannot read the switch states; serving the last read until they can be.");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
