//! The simulated regions' HTTP endpoints: `GET /healthz/deep` answers as the region's fault says,
//! and `POST /fault?mode=...` lets a person break or mend the region while the demo runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::{Answer, Error, Fault, World};

#[derive(Clone)]
struct RegionEndpoint {
    world: World,
    region: String,
    shutdown: CancellationToken,
}

/// Binds one endpoint per simulated region on 127.0.0.1 (port 0) and serves until `shutdown`.
/// Returns each region's address.
pub async fn serve(
    world: &World,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<BTreeMap<String, SocketAddr>, Error> {
    let mut addrs = BTreeMap::new();
    for region in world.regions() {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| Error::Bind {
                region: region.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            region: region.clone(),
            source,
        })?;
        let endpoint = RegionEndpoint {
            world: world.clone(),
            region: region.clone(),
            shutdown: shutdown.clone(),
        };
        let app = Router::new()
            .route("/healthz/deep", get(deep_health))
            .route("/fault", post(set_fault))
            .with_state(endpoint);
        let stop = shutdown.clone();
        tracker.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                warn!(error = %e, "Simulated region endpoint stopped with an error.");
            }
        });
        addrs.insert(region, addr);
    }
    Ok(addrs)
}

async fn deep_health(State(ep): State<RegionEndpoint>) -> Response {
    match ep.world.answer(&ep.region) {
        Ok(Answer::Respond {
            delay,
            status,
            body,
        }) => {
            tokio::select! {
                () = ep.shutdown.cancelled() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
                () = tokio::time::sleep(delay) => {}
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(body)).into_response()
        }
        Ok(Answer::Hang) => {
            ep.shutdown.cancelled().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct FaultQuery {
    mode: String,
    ms: Option<u64>,
    fraction: Option<f64>,
}

async fn set_fault(State(ep): State<RegionEndpoint>, Query(q): Query<FaultQuery>) -> Response {
    let millis = |default| Duration::from_millis(q.ms.unwrap_or(default));
    let fault = match q.mode.as_str() {
        "healthy" => Fault::Healthy,
        "down" => Fault::Down,
        "hang" => Fault::Hang,
        "slow" => Fault::Slow(millis(1500)),
        "flapping" => Fault::Flapping(millis(2000)),
        "brownout" => match q.fraction {
            Some(f) if (0.0..=1.0).contains(&f) => Fault::Brownout(f),
            Some(f) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("fraction: {f} is not between 0 and 1\n"),
                )
                    .into_response();
            }
            None => Fault::Brownout(0.5),
        },
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("mode: unknown \"{other}\"; use healthy, down, hang, slow&ms=N, brownout&fraction=F or flapping&ms=N\n"),
            )
                .into_response();
        }
    };
    match ep.world.set_fault(&ep.region, fault) {
        Ok(()) => format!("{}: {fault}\n", ep.region).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}
