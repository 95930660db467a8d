//! A wire-level fake of an ARC cluster's routing-control data plane (awsJson1.0,
//! `X-Amz-Target: ToggleCustomerAPI.<Operation>`), served on loopback so the real SDK talks to
//! it: one HTTP server per regional endpoint, all sharing one cluster state.
//!
//! No emulator implements ARC, so this fake enforces what the API reference and the developer
//! guide document: routing controls are `On` or `Off`; `UpdateRoutingControlStates` applies its
//! entries together or not at all, after evaluating the safety rules over the state they would
//! leave; a blocked update is a `ConflictException` whose message includes the blocking rule's
//! ARN ("When a safety rule blocks a routing control state update, the error message includes
//! the ARN of the rule"), unless the request lists the rule in `SafetyRulesToOverride`; an
//! unknown routing control is `ResourceNotFoundException`. The rest of the conflict's fields
//! (`resourceId`, `resourceType`) are not documented for this case; the fake puts the rule there
//! too. Every request must be signed for its endpoint's own region, as a real cluster's are.
//!
//! Each endpoint can be switched down (its listener and connections dropped: connections are
//! refused), to answer with an error (`EndpointTemporarilyUnavailableException`, a bare 503, ...),
//! or to hang (accept and never answer). A test can also act the moment a call arrives
//! ([`ArcFake::on_call`]), before the endpoint answers it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

const PREFIX: &str = "ToggleCustomerAPI.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serves the cluster.
    Up,
    /// Listener and connections dropped: every connection is refused.
    Down,
    /// Answers every request with this HTTP status and ARC error code (an empty code: a bare
    /// text body, like a load balancer's 503).
    Error(u16, &'static str),
    /// Accepts requests and never answers.
    Hang,
}

/// One call the fake answered (or refused), at one endpoint.
#[derive(Debug, Clone)]
pub struct Call {
    /// The region of the endpoint that received it.
    pub endpoint: String,
    /// The region the request was signed for.
    pub signed_for: String,
    pub operation: String,
    pub body: Value,
}

/// An assertion rule: at least `min_on` of `controls` must stay On.
#[derive(Debug, Clone)]
pub struct AssertionRule {
    pub arn: String,
    pub controls: Vec<String>,
    pub min_on: usize,
}

#[derive(Default)]
struct Cluster {
    controls: BTreeMap<String, bool>,
    rules: Vec<AssertionRule>,
    calls: Vec<Call>,
    modes: BTreeMap<String, Mode>,
}

struct Server {
    region: String,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

/// What a test does when a call arrives.
type Hook = Arc<dyn Fn(&Call) + Send + Sync>;

/// The fake cluster and its endpoints.
#[derive(Clone)]
pub struct ArcFake {
    cluster: Arc<Mutex<Cluster>>,
    servers: Arc<Mutex<Vec<Server>>>,
    written: Arc<tokio::sync::Notify>,
    hook: Arc<Mutex<Option<Hook>>>,
}

impl ArcFake {
    /// A cluster with one endpoint in each of `regions`, every one up.
    pub async fn start(regions: &[&str]) -> ArcFake {
        let fake = ArcFake {
            cluster: Arc::default(),
            servers: Arc::default(),
            written: Arc::default(),
            hook: Arc::default(),
        };
        for region in regions {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let task = fake.serve(region, listener);
            fake.servers.lock().expect("lock").push(Server {
                region: (*region).to_owned(),
                addr,
                task: Some(task),
            });
            fake.cluster
                .lock()
                .expect("lock")
                .modes
                .insert((*region).to_owned(), Mode::Up);
        }
        fake
    }

    /// The endpoints as `traffic.arc.cluster_endpoints` lists them, in TOML.
    pub fn endpoints_toml(&self) -> String {
        let each: Vec<String> = self
            .servers
            .lock()
            .expect("lock")
            .iter()
            .map(|s| format!("{{ region = \"{}\", url = \"{}\" }}", s.region, url(s.addr)))
            .collect();
        format!("[{}]", each.join(", "))
    }

    /// The URL of `region`'s endpoint.
    pub fn url(&self, region: &str) -> String {
        let servers = self.servers.lock().expect("lock");
        let s = servers
            .iter()
            .find(|s| s.region == region)
            .expect("an endpoint in that region");
        url(s.addr)
    }

    /// Switches `region`'s endpoint to `mode`; a down endpoint comes back up on its own port.
    pub async fn set(&self, region: &str, mode: Mode) {
        let (addr, was_down, stopping) = {
            let mut servers = self.servers.lock().expect("lock");
            let s = servers
                .iter_mut()
                .find(|s| s.region == region)
                .expect("an endpoint in that region");
            let was_down = s.task.is_none();
            let stopping = if mode == Mode::Down {
                s.task.take()
            } else {
                None
            };
            (s.addr, was_down, stopping)
        };
        if let Some(task) = stopping {
            // Ending the task drops the listener and every connection it serves; awaited, so
            // the port refuses connections once this returns.
            task.abort();
            let _ended = task.await;
        }
        self.cluster
            .lock()
            .expect("lock")
            .modes
            .insert(region.to_owned(), mode);
        if mode != Mode::Down && was_down {
            let listener = TcpListener::bind(addr).await.expect("bind again");
            let task = self.serve(region, listener);
            let mut servers = self.servers.lock().expect("lock");
            if let Some(s) = servers.iter_mut().find(|s| s.region == region) {
                s.task = Some(task);
            }
        }
    }

    /// Sets routing control `arn` On or Off (creating it).
    pub fn put(&self, arn: &str, on: bool) {
        self.cluster
            .lock()
            .expect("lock")
            .controls
            .insert(arn.to_owned(), on);
    }

    /// Whether routing control `arn` is On (None: no such control).
    pub fn is_on(&self, arn: &str) -> Option<bool> {
        self.cluster
            .lock()
            .expect("lock")
            .controls
            .get(arn)
            .copied()
    }

    /// Adds an assertion rule.
    pub fn assert_at_least(&self, arn: &str, min_on: usize, controls: &[&str]) {
        self.cluster
            .lock()
            .expect("lock")
            .rules
            .push(AssertionRule {
                arn: arn.to_owned(),
                controls: controls.iter().map(|c| (*c).to_owned()).collect(),
                min_on,
            });
    }

    /// Runs `hook` on every call as it arrives, at any endpoint and in any mode, before the
    /// endpoint answers (or applies) it.
    pub fn on_call(&self, hook: impl Fn(&Call) + Send + Sync + 'static) {
        *self.hook.lock().expect("lock") = Some(Arc::new(hook));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.cluster.lock().expect("lock").calls.clone()
    }

    pub fn clear_calls(&self) {
        self.cluster.lock().expect("lock").calls.clear();
    }

    /// The calls of `operation`, in order.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    /// Resolves after the next update that changed the cluster; registered when called, so an
    /// update made before it is first awaited is not missed.
    pub fn next_write(&self) -> tokio::sync::futures::Notified<'_> {
        self.written.notified()
    }

    fn serve(&self, region: &str, listener: TcpListener) -> JoinHandle<()> {
        let fake = self.clone();
        let region = region.to_owned();
        tokio::spawn(async move {
            // Held here so that aborting this task drops every connection with the listener.
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (fake, region) = (fake.clone(), region.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (fake, region) = (fake.clone(), region.clone());
                        async move { Ok::<_, Infallible>(fake.handle(&region, req).await) }
                    });
                    let _done = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
                // Reap the connections that ended.
                while connections.try_join_next().is_some() {}
            }
        })
    }

    async fn handle(&self, region: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let target = header("x-amz-target");
        let operation = target.strip_prefix(PREFIX).unwrap_or(&target).to_owned();
        let signed_for = signing_region(&header("authorization"));
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let req: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let call = Call {
            endpoint: region.to_owned(),
            signed_for: signed_for.clone(),
            operation: operation.clone(),
            body: req.clone(),
        };
        let mode = {
            let mut cluster = self.cluster.lock().expect("lock");
            cluster.calls.push(call.clone());
            cluster.modes.get(region).copied().unwrap_or(Mode::Up)
        };
        let hook = self.hook.lock().expect("lock").clone();
        if let Some(hook) = hook {
            hook(&call);
        }
        match mode {
            Mode::Up => {}
            Mode::Down => return error(503, "", "down"),
            Mode::Error(status, code) => {
                return error(
                    status,
                    code,
                    "The cluster endpoint isn't available. Try another cluster endpoint.",
                );
            }
            Mode::Hang => std::future::pending::<()>().await,
        }
        if signed_for != region {
            return error(
                403,
                "InvalidSignatureException",
                &format!("Credential should be scoped to a valid region, not '{signed_for}'"),
            );
        }
        if !target.starts_with(PREFIX) || header("content-type") != CONTENT_TYPE {
            return error(
                400,
                "UnknownOperationException",
                &format!("bad X-Amz-Target {target} or content type"),
            );
        }
        match operation.as_str() {
            "GetRoutingControlState" => self.get(&req),
            "UpdateRoutingControlStates" => self.update(&req),
            other => error(
                400,
                "UnknownOperationException",
                &format!("{other} is not faked"),
            ),
        }
    }

    fn get(&self, req: &Value) -> Response<Full<Bytes>> {
        let arn = req["RoutingControlArn"].as_str().unwrap_or_default();
        match self.is_on(arn) {
            Some(on) => ok(json!({
                "RoutingControlArn": arn,
                "RoutingControlState": if on { "On" } else { "Off" },
                "RoutingControlName": arn.rsplit('/').next().unwrap_or_default(),
            })),
            None => not_found(arn),
        }
    }

    fn update(&self, req: &Value) -> Response<Full<Bytes>> {
        let overrides: Vec<&str> = req["SafetyRulesToOverride"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut cluster = self.cluster.lock().expect("lock");
        let mut next = cluster.controls.clone();
        for entry in req["UpdateRoutingControlStateEntries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let arn = entry["RoutingControlArn"].as_str().unwrap_or_default();
            let on = match entry["RoutingControlState"].as_str() {
                Some("On") => true,
                Some("Off") => false,
                other => {
                    return error(
                        400,
                        "ValidationException",
                        &format!("RoutingControlState {other:?} is not On or Off"),
                    );
                }
            };
            match next.get_mut(arn) {
                Some(state) => *state = on,
                None => return not_found(arn),
            }
        }
        // Evaluated over the state the whole batch leaves.
        for rule in &cluster.rules {
            let on = rule
                .controls
                .iter()
                .filter(|c| next.get(*c).copied().unwrap_or(false))
                .count();
            if on < rule.min_on && !overrides.contains(&rule.arn.as_str()) {
                return respond(
                    400,
                    "ConflictException",
                    json!({
                        "message": format!(
                            "Cannot update routing control state(s) because the request does not satisfy safety rule {}",
                            rule.arn
                        ),
                        "resourceId": rule.arn,
                        "resourceType": "SafetyRule",
                    }),
                );
            }
        }
        let changed = next != cluster.controls;
        cluster.controls = next;
        drop(cluster);
        if changed {
            self.written.notify_waiters();
        }
        ok(json!({}))
    }
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1")
}

/// The region of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20250101/us-east-1/route53-recovery-cluster/aws4_request`).
fn signing_region(authorization: &str) -> String {
    authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("unsigned")
        .to_owned()
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", CONTENT_TYPE)
        .header("x-amzn-requestid", "fake-request")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn not_found(arn: &str) -> Response<Full<Bytes>> {
    respond(
        400,
        "ResourceNotFoundException",
        json!({
            "message": format!("Routing control {arn} not found"),
            "resourceId": arn,
            "resourceType": "RoutingControl",
        }),
    )
}

fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    if code.is_empty() {
        return Response::builder()
            .status(status)
            .header("content-type", "text/html")
            .body(Full::new(Bytes::from(
                "<html>503 Service Unavailable</html>",
            )))
            .expect("response");
    }
    respond(status, code, json!({ "message": message }))
}

fn respond(status: u16, code: &str, mut body: Value) -> Response<Full<Bytes>> {
    body["__type"] = json!(format!("com.amazonaws.route53recoverycluster#{code}"));
    Response::builder()
        .status(status)
        .header("content-type", CONTENT_TYPE)
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", "fake-request")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}
