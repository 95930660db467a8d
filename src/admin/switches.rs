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
    shutdown: CancellationToken,
) {
    super::serve(
        super::Limits {
            what: "Switch",
            timeout: Duration::from_secs(5),
            grace: Duration::from_secs(1),
            max_connections: super::MAX_CONNECTIONS,
        },
        router(board, &controller),
        listener,
        tls,
        None,
        shutdown,
    )
    .await;
}

/// Keeps `board` as its store holds it, every `every`, until `shutdown`: how a controller that
/// does not write the switches (a follower) serves what the leader wrote.
pub async fn refresh(
    board: SwitchBoard,
    every: Duration,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let mut warned = false;
    loop {
        match board.refresh().await {
            Ok(states) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                let off = if board.is_in_use() {
                    states.off.clone()
                } else {
                    Default::default()
                };
                metrics.switches(board.known(), &off, now);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::traffic::switches::MemoryStore;

    async fn get(stream: &mut tokio::net::TcpStream, path: &str) -> String {
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn the_endpoint_answers_each_switch_and_closes_connections_past_its_cap() {
        let board = SwitchBoard::new(
            Arc::new(MemoryStore::default()),
            ["us-east-1".to_owned(), "eu-west-1".to_owned()],
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let server = tokio::spawn(super::super::serve(
            super::super::Limits {
                what: "Switch",
                timeout: Duration::from_secs(5),
                grace: Duration::from_secs(1),
                max_connections: 1,
            },
            router(board.clone(), "ctl-a"),
            listener,
            None,
            None,
            stop.clone(),
        ));
        let mut first = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let unknown = get(&mut first, "/switch/us-east-1").await;
        assert!(
            unknown.starts_with("HTTP/1.1 503") && unknown.contains("unknown"),
            "{unknown}"
        );
        board
            .set(
                &std::collections::BTreeMap::from([("eu-west-1".to_owned(), false)]),
                "ctl-a",
                3,
            )
            .await
            .expect("set");
        let on = get(&mut first, "/switch/us-east-1").await;
        assert!(
            on.starts_with("HTTP/1.1 200") && on.contains("no-store"),
            "{on}"
        );
        let off = get(&mut first, "/switch/eu-west-1").await;
        assert!(
            off.starts_with("HTTP/1.1 503") && off.contains("set by ctl-a, epoch 3"),
            "{off}"
        );
        let none = get(&mut first, "/admin").await;
        assert!(none.starts_with("HTTP/1.1 404"), "{none}");
        // A second connection while the first is open: closed at once, nothing served.
        let mut second = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 64];
        let n = second.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
        // Once the first is gone, a new one is served again.
        drop(first);
        loop {
            let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = b"GET /switch/us-east-1 HTTP/1.1\r\nhost: x\r\n\r\n";
            if c.write_all(req).await.is_ok() {
                let mut buf = vec![0u8; 256];
                if let Ok(n) = c.read(&mut buf).await
                    && n > 0
                {
                    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        stop.cancel();
        server.await.expect("server stops");
    }
}
