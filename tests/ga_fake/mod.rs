//! A wire-level fake of the Global Accelerator API (awsJson1.1, `X-Amz-Target:
//! GlobalAccelerator_V20180706.<Operation>`), served on loopback so the real SDK talks to it.
//!
//! No emulator implements Global Accelerator, so this fake enforces the documented rules the
//! backend must respect: dial 0-100, weights 0-255, at most 10 endpoint configurations, an
//! endpoint sent without a weight becoming 128, `UpdateEndpointGroup` replacing the whole endpoint
//! list, and `EndpointGroupNotFoundException` for unknown groups. It keeps tags per accelerator
//! (`TagResource`, `ListTagsForResource`; `AcceleratorNotFoundException` for an accelerator none of
//! its groups belongs to). It records every call and can answer the next calls with throttling or
//! `TransactionInProgressException`.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

const PREFIX: &str = "GlobalAccelerator_V20180706.";

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub body: Value,
}

#[derive(Default)]
struct State_ {
    groups: BTreeMap<String, Value>,
    /// Tags by accelerator ARN, in the order they were set.
    tags: BTreeMap<String, Vec<(String, String)>>,
    calls: Vec<Call>,
    inject: VecDeque<(&'static str, &'static str)>,
}

#[derive(Clone, Default)]
pub struct GaFake {
    state: Arc<Mutex<State_>>,
    written: Arc<tokio::sync::Notify>,
}

fn error(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-errortype", code),
        ],
        json!({"__type": format!("com.amazonaws.globalaccelerator#{code}"), "message": message})
            .to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-requestid", "fake-request"),
        ],
        body.to_string(),
    )
        .into_response()
}

impl GaFake {
    /// A group as `DescribeEndpointGroup` returns it, with typical settings.
    pub fn group(arn: &str, endpoints: &[(&str, u64)]) -> Value {
        json!({
            "EndpointGroupArn": arn,
            "EndpointGroupRegion": "eu-west-1",
            "TrafficDialPercentage": 100.0,
            "HealthCheckPort": 8443,
            "HealthCheckProtocol": "HTTPS",
            "HealthCheckPath": "/healthz/deep",
            "HealthCheckIntervalSeconds": 10,
            "ThresholdCount": 3,
            "PortOverrides": [{"ListenerPort": 443, "EndpointPort": 8443}],
            "EndpointDescriptions": endpoints.iter().map(|(id, w)| json!({
                "EndpointId": id,
                "Weight": w,
                "HealthState": "HEALTHY",
                "ClientIPPreservationEnabled": true,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn insert(&self, group: Value) {
        let arn = group["EndpointGroupArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.state.lock().expect("lock").groups.insert(arn, group);
    }

    pub fn remove(&self, arn: &str) {
        self.state.lock().expect("lock").groups.remove(arn);
    }

    pub fn get(&self, arn: &str) -> Value {
        self.state
            .lock()
            .expect("lock")
            .groups
            .get(arn)
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// Resolves after the next successful `UpdateEndpointGroup`; registered when called, so a
    /// write that happens before it is first awaited is not missed.
    pub fn next_write(&self) -> tokio::sync::futures::Notified<'_> {
        self.written.notified()
    }

    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == "UpdateEndpointGroup")
            .collect()
    }

    /// Answers the next calls of `operation`, in order, with these error codes.
    pub fn inject(&self, operation: &'static str, codes: &[&'static str]) {
        let mut state = self.state.lock().expect("lock");
        state.inject.extend(codes.iter().map(|c| (operation, *c)));
    }

    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/", post(handle))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _done = axum::serve(listener, app).await;
        });
        addr
    }

    /// Whether `arn` is an accelerator one of the groups belongs to.
    fn knows_accelerator(groups: &BTreeMap<String, Value>, arn: &str) -> bool {
        groups.keys().any(|g| {
            g.strip_prefix(arn)
                .is_some_and(|rest| rest.starts_with("/listener/"))
        })
    }

    /// `TagResource`: adds the tags, a key given again taking its new value.
    fn tag(state: &mut State_, req: &Value) -> Response {
        let arn = req["ResourceArn"].as_str().unwrap_or_default();
        if !GaFake::knows_accelerator(&state.groups, arn) {
            return error(
                "AcceleratorNotFoundException",
                &format!("Accelerator {arn} not found"),
            );
        }
        let tags = state.tags.entry(arn.to_owned()).or_default();
        for t in req["Tags"].as_array().into_iter().flatten() {
            let key = t["Key"].as_str().unwrap_or_default().to_owned();
            let value = t["Value"].as_str().unwrap_or_default().to_owned();
            tags.retain(|(k, _)| *k != key);
            tags.push((key, value));
        }
        ok(json!({}))
    }

    fn update(groups: &mut BTreeMap<String, Value>, req: &Value) -> Result<Value, Box<Response>> {
        let arn = req["EndpointGroupArn"].as_str().unwrap_or_default();
        let Some(group) = groups.get_mut(arn) else {
            return Err(Box::new(error(
                "EndpointGroupNotFoundException",
                &format!("Endpoint group {arn} not found"),
            )));
        };
        if let Some(dial) = req.get("TrafficDialPercentage") {
            let d = dial.as_f64().unwrap_or(-1.0);
            if !(0.0..=100.0).contains(&d) {
                return Err(Box::new(error(
                    "InvalidArgumentException",
                    "TrafficDialPercentage must be between 0 and 100",
                )));
            }
            group["TrafficDialPercentage"] = json!(d);
        }
        if let Some(configs) = req.get("EndpointConfigurations").and_then(Value::as_array) {
            if configs.len() > 10 {
                return Err(Box::new(error(
                    "LimitExceededException",
                    "At most 10 endpoint configurations",
                )));
            }
            let mut descriptions = Vec::new();
            for c in configs {
                // Documented: a weight left out is 128.
                let w = c.get("Weight").and_then(Value::as_i64).unwrap_or(128);
                if !(0..=255).contains(&w) {
                    return Err(Box::new(error(
                        "InvalidArgumentException",
                        "Weight must be between 0 and 255",
                    )));
                }
                descriptions.push(json!({
                    "EndpointId": c["EndpointId"],
                    "Weight": w,
                    "HealthState": "HEALTHY",
                    "ClientIPPreservationEnabled": c.get("ClientIPPreservationEnabled").cloned().unwrap_or(json!(false)),
                }));
            }
            group["EndpointDescriptions"] = json!(descriptions);
        }
        for field in [
            "HealthCheckPort",
            "HealthCheckProtocol",
            "HealthCheckPath",
            "HealthCheckIntervalSeconds",
            "ThresholdCount",
            "PortOverrides",
        ] {
            if let Some(v) = req.get(field) {
                group[field] = v.clone();
            }
        }
        Ok(json!({"EndpointGroup": group.clone()}))
    }
}

async fn handle(State(fake): State<GaFake>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix(PREFIX) else {
        return error(
            "UnknownOperationException",
            &format!("bad X-Amz-Target {target}"),
        );
    };
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-amz-json-1.1")
    {
        return error(
            "SerializationException",
            "expected application/x-amz-json-1.1",
        );
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = fake.state.lock().expect("lock");
    state.calls.push(Call {
        operation: operation.to_owned(),
        body: req.clone(),
    });
    if let Some(i) = state.inject.iter().position(|(op, _)| *op == operation) {
        let (_, code) = state
            .inject
            .remove(i)
            .unwrap_or(("", "InternalServiceErrorException"));
        return error(code, "injected");
    }
    match operation {
        "DescribeEndpointGroup" => {
            let arn = req["EndpointGroupArn"].as_str().unwrap_or_default();
            match state.groups.get(arn) {
                Some(g) => ok(json!({"EndpointGroup": g})),
                None => error(
                    "EndpointGroupNotFoundException",
                    &format!("Endpoint group {arn} not found"),
                ),
            }
        }
        "ListTagsForResource" => {
            let arn = req["ResourceArn"].as_str().unwrap_or_default();
            if !GaFake::knows_accelerator(&state.groups, arn) {
                return error(
                    "AcceleratorNotFoundException",
                    &format!("Accelerator {arn} not found"),
                );
            }
            let tags: Vec<Value> = state
                .tags
                .get(arn)
                .into_iter()
                .flatten()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            ok(json!({ "Tags": tags }))
        }
        "TagResource" => GaFake::tag(&mut state, &req),
        "UpdateEndpointGroup" => match GaFake::update(&mut state.groups, &req) {
            Ok(v) => {
                fake.written.notify_waiters();
                ok(v)
            }
            Err(r) => *r,
        },
        other => error(
            "UnknownOperationException",
            &format!("{other} is not faked"),
        ),
    }
}

/// A Global Accelerator client of the real SDK calling the fake at `addr`, with the SDK's own
/// retries off: failoverd's are what is tested.
pub fn client(addr: SocketAddr) -> aws_sdk_globalaccelerator::Client {
    use aws_sdk_globalaccelerator::config::retry::RetryConfig;
    use aws_sdk_globalaccelerator::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_globalaccelerator::Client::from_conf(
        aws_sdk_globalaccelerator::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .endpoint_url(format!("http://{addr}"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// failoverd's Global Accelerator backend for `setup` (of `config`), calling the fake at `addr`
/// through [`client`].
pub fn backend(
    addr: SocketAddr,
    config: &failoverd::config::Config,
    setup: failoverd::traffic::Setup<'_>,
) -> failoverd::traffic::global_accelerator::GlobalAcceleratorBackend {
    let failoverd::traffic::Setup::GlobalAccelerator { settings, bindings } = setup else {
        panic!("a Global Accelerator setup");
    };
    failoverd::traffic::global_accelerator::GlobalAcceleratorBackend::new(
        client(addr),
        settings,
        &failoverd::traffic::borrowed(&bindings),
        &config.traffic.calls(),
    )
}
