//! The admin endpoint: HTTPS API (v1), status page, metrics, and the CLI client that calls it.
//!
//! The API holds no business rules: it parses, authenticates, calls and renders. Drains and
//! freezes are [`crate::intent`]s, checked by their validated constructors and stored in the
//! durable [`IntentStore`]; "what would this drain do" is the planner's question
//! ([`crate::plan::what_if`]), asked with the controller's latest input.
//!
//! TLS is rustls; plain HTTP only on a loopback address when the config says so (the demo).
//! Requests carry a bearer token (or HTTP Basic, token as password, for a browser reading the
//! status page, and nowhere else); each token has a role and its own rate limit. Writes take
//! `application/json` bodies only, so no other site's page can make a browser send one. Bodies
//! are capped, every request has a deadline, and the server drains in-flight requests on
//! shutdown.

mod api;
pub mod auth;
mod body;
pub mod client;
pub mod drill_page;
pub mod drill_verbs;
pub mod drills;
mod error;
mod page;
pub mod render;
pub mod rollout_verbs;
pub mod rollouts;
pub mod switches;
pub mod tls;
mod undo;
pub mod verbs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::auth::{Auth, Identity};
pub use self::error::ApiError;
pub use self::tls::tls_config;
use crate::clock::Clock;
use crate::config::{AdminRole, Config};
use crate::metrics::Metrics;
use crate::status::Status;
use crate::store::intents::IntentStore;
use crate::store::{Event, Journal};
use crate::telemetry::LogLimiter;

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate, its key or the client CA could not be used.
    #[error("admin.{field}: {message}")]
    Tls {
        /// `tls_cert`, `tls_key` or `client_ca`.
        field: &'static str,
        /// What is wrong, naming the file.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("admin.listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Everything the handlers share.
#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    /// The config's services with their views, made once (a view per request would copy the
    /// config per service).
    services: Vec<crate::config::Service>,
    /// Held while a drain is checked and recorded, so drains sent at once are admitted one at
    /// a time against each other.
    admitting: tokio::sync::Mutex<()>,
    intents: Arc<IntentStore>,
    journal: Journal,
    status: watch::Receiver<Status>,
    clock: Clock,
    metrics: Metrics,
    auth: Auth,
    /// The data-plane switches this controller serves, shown in the status.
    switches: std::sync::OnceLock<crate::traffic::switches::SwitchBoard>,
}

/// The admin endpoint's state; clones share it.
#[derive(Debug, Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

impl Admin {
    /// The endpoint's state for `config`, reading the controller's `status`.
    pub fn new(
        config: Arc<Config>,
        intents: Arc<IntentStore>,
        journal: Journal,
        status: watch::Receiver<Status>,
        clock: Clock,
        metrics: Metrics,
    ) -> Self {
        let auth = Auth::new(&config.admin);
        Self {
            inner: Arc::new(Inner {
                services: config.services(),
                admitting: tokio::sync::Mutex::new(()),
                config,
                intents,
                journal,
                status,
                clock,
                metrics,
                auth,
                switches: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Serves the switch states of `board` in the status as well (the first board given).
    #[must_use]
    pub fn with_switches(self, board: crate::traffic::switches::SwitchBoard) -> Self {
        let _first_only = self.inner.switches.set(board);
        self
    }

    /// The status after the latest tick, with the switches as served now.
    pub(crate) fn current_status(&self) -> Status {
        let mut status = self.inner.status.borrow().clone();
        status.switches = self.inner.switches.get().map(|board| {
            let snapshot = board.snapshot();
            crate::status::SwitchesStatus {
                served: board.known().map(str::to_owned).collect(),
                off: snapshot.states.off.iter().cloned().collect(),
                set_by: snapshot.states.by.clone(),
                epoch: snapshot.states.epoch,
                read_secs_ago: snapshot.confirmed.map(|t| t.elapsed().as_secs()),
            }
        });
        status
    }

    /// Every route, with authentication, the body cap and the request deadline.
    pub fn router(&self) -> Router {
        let authed = Router::new()
            .route("/", get(page::index))
            .route("/metrics", get(api::metrics))
            .route("/v1/status", get(api::status))
            .route("/v1/journal", get(api::journal))
            .route(
                "/v1/regions/{region}/drain",
                post(api::drain).delete(undo::undrain),
            )
            .route("/v1/regions/{region}/damping", delete(undo::undamp))
            .route("/v1/external/ack", post(undo::ack))
            .route("/v1/freeze", post(api::freeze))
            .route("/v1/freeze", delete(api::unfreeze))
            .route("/v1/rollouts", get(rollouts::list).post(rollouts::start))
            .route("/v1/rollouts/{id}", get(rollouts::show))
            .route("/v1/rollouts/{id}/gate", get(rollouts::gate_of))
            .route("/v1/rollouts/{id}/promote", post(rollouts::promote))
            .route("/v1/rollouts/{id}/approve", post(rollouts::approve))
            .route("/v1/rollouts/{id}/abort", post(rollouts::abort))
            .route("/v1/drills", get(drills::list).post(drills::run))
            .route("/v1/drills/skip", post(drills::skip))
            .route("/v1/drills/{id}", get(drills::show))
            .route("/v1/drills/{id}/report.html", get(drills::page))
            .route("/v1/drills/{id}/abort", post(drills::abort))
            .route_layer(middleware::from_fn_with_state(self.clone(), authenticate));
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .merge(authed)
            .fallback(|| async {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
            })
            .layer(DefaultBodyLimit::max(
                self.inner.config.admin.max_body_bytes,
            ))
            .layer(middleware::from_fn_with_state(self.clone(), deadline))
            .layer(middleware::from_fn(error::json_errors))
            .with_state(self.clone())
    }
}

impl Admin {
    /// Puts `reloaded`'s `admin.tokens` in force (the rest of the file waits for a restart) and
    /// journals which token names are now accepted, which were removed and which were rotated
    /// (a new hash under the same name). `reloaded` must be validated.
    pub fn reload_tokens(&self, reloaded: &Config) {
        let auth = &self.inner.auth;
        let before = auth.names();
        let rotated = auth.replace_tokens(&reloaded.admin);
        let names = auth.names();
        let others_changed = {
            let strip = |c: &Config| {
                let mut c = c.clone();
                c.admin.tokens.clear();
                serde_json::to_value(c).ok()
            };
            strip(reloaded) != strip(&self.inner.config)
        };
        let now = self.inner.clock.now();
        let actor = self.inner.config.controller.id.clone();
        let removed = before
            .iter()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        // Journaled before the log line, so whoever reads that line finds the entry.
        if let Err(e) = self.inner.journal.record(
            now,
            &actor,
            Event::TokensReloaded {
                names: names.clone(),
                removed,
                rotated: rotated.clone(),
                restart_needed: others_changed,
            },
        ) {
            warn!(error = %e, "Could not journal the token reload.");
        }
        info!(tokens = ?names, rotated = ?rotated, "Admin tokens reloaded.");
        if others_changed {
            warn!("The config file has other changes; they take effect at the next restart.");
        }
    }

    /// Serves this endpoint on `listener` (TLS per `tls`) until `shutdown`, with the config's
    /// request deadline and the controller's shutdown grace.
    pub fn serve(
        &self,
        listener: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let config = &self.inner.config;
        serve(
            Limits {
                what: "Admin",
                timeout: config.admin.request_timeout,
                grace: config.controller.shutdown_grace,
                max_connections: MAX_CONNECTIONS,
            },
            self.router(),
            listener,
            tls,
            Some(self.inner.metrics.clone()),
            shutdown,
        )
    }
}

/// Puts the caller's [`Identity`] on the request, or answers 401 (no or unknown token, or HTTP
/// Basic anywhere but the status page) or 429.
async fn authenticate(State(admin): State<Admin>, mut req: Request, next: Next) -> Response {
    let auth = &admin.inner.auth;
    let page = auth::is_page(req.method(), req.uri().path());
    let presented = Auth::presented(req.headers());
    let basic_refused = presented
        .as_ref()
        .is_some_and(|(scheme, _)| !scheme.accepted_for(req.method(), req.uri().path()));
    let identity = presented
        .filter(|_| !basic_refused)
        .and_then(|(_, token)| auth.verify(&token));
    let Some(identity) = identity else {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if !auth.allow_failure(peer.ip()) {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "{} is over {} requests without a valid token per minute",
                        peer.ip(),
                        admin.inner.config.admin.failed_auth_per_minute
                    ),
                )
                .into_response();
            }
            info!(%peer, path = %req.uri().path(), "Admin request without a valid token.");
        }
        let detail = if basic_refused {
            "HTTP Basic is accepted only for the status page (GET /); the API needs Authorization: Bearer <token>"
        } else if page {
            "a valid token is required (HTTP Basic: any user name, the token as the password)"
        } else {
            "a valid token is required (Authorization: Bearer <token>)"
        };
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
        // A Basic challenge makes a browser ask for a password: only the page may do that.
        let challenge = if page {
            "Basic realm=\"failoverd\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"failoverd\""
        };
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(challenge),
        );
        return response;
    };
    if !auth.allow(&identity) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "token {} is over {} requests per second",
                identity.name, admin.inner.config.admin.requests_per_second
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// 403 unless `identity` may change things.
fn operator(identity: &Identity) -> Result<(), ApiError> {
    if identity.role == AdminRole::Operator {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {} is a viewer; this needs an operator token",
                identity.name
            ),
        ))
    }
}

async fn deadline(State(admin): State<Admin>, req: Request, next: Next) -> Response {
    let limit = admin.inner.config.admin.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request did not finish within {}",
                humantime::format_duration(limit)
            ),
        )
        .into_response(),
    }
}

/// Binds the configured address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// How often at most a line says that TLS handshakes failed on the admin endpoint.
const HANDSHAKE_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Connections an endpoint serves at once by default; past that a new one is closed at once,
/// so a flood of idle or slow clients (the switch endpoint is open to anyone) cannot exhaust
/// the process.
pub const MAX_CONNECTIONS: usize = 1024;

/// Failed TLS handshakes: anyone who can reach the port can cause them, as often as they like,
/// so each is counted (`failoverd_admin_tls_handshake_failures_total`) and logged at DEBUG, and
/// a WARN line says how many failed at most once a minute.
#[derive(Debug)]
struct HandshakeFailures {
    /// Where they are counted: the admin endpoint's only (the switch endpoint's scanners are
    /// no sign of trouble with the admin endpoint).
    metrics: Option<Metrics>,
    what: &'static str,
    log: LogLimiter,
}

impl HandshakeFailures {
    fn record(&self, peer: SocketAddr, error: &dyn std::fmt::Display) {
        if let Some(m) = &self.metrics {
            m.admin_tls_handshake_failed();
        }
        let what = self.what;
        debug!(%peer, %error, "{what} TLS handshake failed.");
        if let Some(failed) = self.log.count(tokio::time::Instant::now()) {
            warn!(
                failed,
                latest_peer = %peer,
                latest_error = %error,
                "{what} TLS handshakes failed; this line comes at most once a minute (the admin endpoint's are counted in failoverd_admin_tls_handshake_failures_total)."
            );
        }
    }
}

/// An endpoint's name in logs and its time limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `Admin`, `Switch`: logged as "`{what}` endpoint listening."
    pub what: &'static str,
    /// Longest a request may take, TLS handshake and headers included.
    pub timeout: Duration,
    /// How long requests in flight may finish after shutdown.
    pub grace: Duration,
    /// Connections served at once ([`MAX_CONNECTIONS`]).
    pub max_connections: usize,
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown`, then lets
/// requests in flight finish within `limits.grace`. Failed TLS handshakes are logged, and
/// counted in `handshakes` when given (the admin endpoint's).
pub async fn serve(
    limits: Limits,
    router: Router,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    handshakes: Option<Metrics>,
    shutdown: CancellationToken,
) {
    let Limits {
        what,
        timeout,
        grace,
        max_connections,
    } = limits;
    let acceptor = tls.map(TlsAcceptor::from);
    let failures = Arc::new(HandshakeFailures {
        metrics: handshakes,
        what,
        log: LogLimiter::new(HANDSHAKE_FAILURE_LOG_INTERVAL),
    });
    let graceful = GracefulShutdown::new();
    let local = listener
        .local_addr()
        .map_or_else(|e| e.to_string(), |a| a.to_string());
    info!(listen = %local, tls = acceptor.is_some(), "{what} endpoint listening.");
    let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let full = LogLimiter::new(HANDSHAKE_FAILURE_LOG_INTERVAL);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "{what} accept failed.");
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            if let Some(refused) = full.count(tokio::time::Instant::now()) {
                warn!(
                    refused,
                    latest_peer = %peer,
                    "{what} endpoint at {max_connections} open connections: new ones are closed at once; this line comes at most once a minute."
                );
            }
            drop(stream);
            continue;
        };
        // The router sees the client's address (axum's `ConnectInfo`), for per-address limits.
        let tower = TowerToHyperService::new(router.clone());
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                tower.call(req)
            });
        let acceptor = acceptor.clone();
        let failures = Arc::clone(&failures);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let io = match acceptor {
                Some(acceptor) => {
                    // Fallible: the connection is closed only once the failure is counted.
                    let handshake = acceptor.accept(stream).into_fallible();
                    match tokio::time::timeout(timeout, handshake).await {
                        Ok(Ok(tls)) => tokio_util::either::Either::Left(tls),
                        Ok(Err((e, _stream))) => {
                            failures.record(peer, &e);
                            return;
                        }
                        Err(_) => {
                            let e = format!(
                                "no handshake within {}",
                                humantime::format_duration(timeout)
                            );
                            failures.record(peer, &e);
                            return;
                        }
                    }
                }
                None => tokio_util::either::Either::Right(stream),
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "{what} connection ended with an error.");
            }
        });
    }
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("{what} requests still in flight at the end of the grace period were cut off.");
    }
}
