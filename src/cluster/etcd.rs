//! A small etcd v3 client over etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/grant`, ...), the same API as etcd's gRPC service, served on the same client port.
//!
//! It speaks plain HTTP/1.1 through hyper and rustls, already in the tree: the gRPC client crate
//! needs `protoc` at build time, which `cargo build` on a fresh machine (and the image's build
//! stage) would then need too. Only the calls failoverd makes are here. Each call goes to the
//! endpoint that answered last, and on to the next on a connection failure, a timeout or an
//! unavailable member, so one lost etcd member (or control region) is not an outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::config::cluster::ClusterConfig;

/// Why an etcd call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No endpoint answered (each one's failure is listed).
    #[error("no etcd endpoint answered: {0}")]
    Unavailable(String),
    /// etcd answered with an error.
    #[error("etcd refused {call}: {message}")]
    Refused {
        /// The gateway path.
        call: String,
        /// etcd's message.
        message: String,
    },
    /// The client could not be set up (a TLS file, a password variable).
    #[error("etcd client: {0}")]
    Setup(String),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: Vec<u8>,
    /// The revision that created it (new after every delete and re-create).
    pub create_revision: i64,
    /// The revision that last changed it.
    pub mod_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: i64,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's create revision equals this (0: the key does not exist).
    Created(String, i64),
    /// The key's mod revision equals this (0: the key does not exist).
    Modified(String, i64),
    /// The key's value equals this.
    Value(String, Vec<u8>),
}

/// An operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Put the key, attached to a lease (0: none).
    Put(String, Vec<u8>, i64),
    /// Read the key.
    Get(String),
    /// Delete the key.
    Delete(String),
}

/// What a transaction did.
#[derive(Debug, Clone)]
pub struct TxnResult {
    /// Whether every comparison held (the success branch ran).
    pub succeeded: bool,
    /// The keys each `Get` of the branch that ran found, in order.
    pub got: Vec<Vec<Kv>>,
    /// The store's revision after it.
    pub revision: i64,
}

#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    https: bool,
    host: String,
    authority: String,
}

/// An etcd client over the JSON gateway.
#[derive(Debug)]
pub struct Etcd {
    endpoints: Vec<Endpoint>,
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
    credentials: Option<(String, String)>,
    token: Mutex<Option<String>>,
    preferred: AtomicUsize,
}

fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

fn kvs(v: &Value) -> Vec<Kv> {
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|kv| Kv {
                    key: kv
                        .get("key")
                        .and_then(Value::as_str)
                        .and_then(|k| B64.decode(k).ok())
                        .map(|k| String::from_utf8_lossy(&k).into_owned())
                        .unwrap_or_default(),
                    value: kv
                        .get("value")
                        .and_then(Value::as_str)
                        .and_then(|v| B64.decode(v).ok())
                        .unwrap_or_default(),
                    create_revision: kv.get("create_revision").map_or(0, int),
                    mod_revision: kv.get("mod_revision").map_or(0, int),
                    lease: kv.get("lease").map_or(0, int),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The key just past every key starting with `prefix`: a range end.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Etcd {
    /// A client for `config`'s endpoints, with its TLS and credentials.
    pub fn new(config: &ClusterConfig) -> Result<Self> {
        let mut endpoints = Vec::new();
        for url in &config.endpoints {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| Error::Setup(format!("endpoint {url:?}: {e}")))?;
            let https = uri.scheme_str() == Some("https");
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(2379);
            endpoints.push(Endpoint {
                url: url.trim_end_matches('/').to_owned(),
                https,
                authority: format!("{host}:{port}"),
                host,
            });
        }
        let tls = if endpoints.iter().any(|e| e.https) {
            Some(Arc::new(tls_config(config)?))
        } else {
            None
        };
        let credentials = match (&config.username, &config.password_env) {
            (Some(user), Some(var)) => {
                let password = std::env::var(var).map_err(|_| {
                    Error::Setup(format!(
                        "cluster.password_env names {var}, which is not set"
                    ))
                })?;
                Some((user.clone(), password))
            }
            _ => None,
        };
        Ok(Self {
            endpoints,
            tls,
            timeout: config.call_timeout,
            credentials,
            token: Mutex::new(None),
            preferred: AtomicUsize::new(0),
        })
    }

    /// Reads `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Kv>> {
        let v = self
            .call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) }))
            .await?;
        Ok(kvs(&v).into_iter().next())
    }

    /// Reads every key under `prefix`, with the store's revision.
    pub async fn get_prefix(&self, prefix: &str) -> Result<(Vec<Kv>, i64)> {
        let v = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)) }),
            )
            .await?;
        let revision = v.pointer("/header/revision").map_or(0, int);
        Ok((kvs(&v), revision))
    }

    /// Writes `key` (attached to `lease`, 0 for none); returns the new revision.
    pub async fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<i64> {
        let v = self
            .call(
                "/v3/kv/put",
                json!({ "key": b64(key.as_bytes()), "value": b64(value), "lease": lease.to_string() }),
            )
            .await?;
        Ok(v.pointer("/header/revision").map_or(0, int))
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.call("/v3/kv/deleterange", json!({ "key": b64(key.as_bytes()) }))
            .await
            .map(drop)
    }

    /// Runs `success` if every comparison holds, else `failure`, atomically.
    pub async fn txn(
        &self,
        compare: &[Compare],
        success: &[Op],
        failure: &[Op],
    ) -> Result<TxnResult> {
        let compare: Vec<Value> = compare
            .iter()
            .map(|c| match c {
                Compare::Created(k, r) => json!({"key": b64(k.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": r.to_string()}),
                Compare::Modified(k, r) => json!({"key": b64(k.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": r.to_string()}),
                Compare::Value(k, v) => json!({"key": b64(k.as_bytes()), "target": "VALUE", "result": "EQUAL", "value": b64(v)}),
            })
            .collect();
        let ops = |ops: &[Op]| -> Vec<Value> {
            ops.iter()
                .map(|o| match o {
                    Op::Put(k, v, lease) => json!({"requestPut": {"key": b64(k.as_bytes()), "value": b64(v), "lease": lease.to_string()}}),
                    Op::Get(k) => json!({"requestRange": {"key": b64(k.as_bytes())}}),
                    Op::Delete(k) => json!({"requestDeleteRange": {"key": b64(k.as_bytes())}}),
                })
                .collect()
        };
        let v = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": ops(success), "failure": ops(failure) }),
            )
            .await?;
        let got = v
            .get("responses")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("response_range"))
                    .map(kvs)
                    .collect()
            })
            .unwrap_or_default();
        Ok(TxnResult {
            succeeded: v.get("succeeded").and_then(Value::as_bool).unwrap_or(false),
            got,
            revision: v.pointer("/header/revision").map_or(0, int),
        })
    }

    /// Grants a lease of `ttl`; returns its id.
    pub async fn grant(&self, ttl: Duration) -> Result<i64> {
        let v = self
            .call(
                "/v3/lease/grant",
                json!({ "TTL": ttl.as_secs().max(1).to_string() }),
            )
            .await?;
        match v.get("ID").map(int) {
            Some(id) if id != 0 => Ok(id),
            _ => Err(Error::Refused {
                call: "/v3/lease/grant".into(),
                message: format!("no lease id in {v}"),
            }),
        }
    }

    /// Renews lease `id`; None when etcd no longer has it (it expired or was revoked).
    pub async fn keep_alive(&self, id: i64) -> Result<Option<Duration>> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        let ttl = v.pointer("/result/TTL").map_or(0, int);
        Ok((ttl > 0).then(|| Duration::from_secs(ttl.unsigned_abs())))
    }

    /// Revokes lease `id`, deleting every key attached to it.
    pub async fn revoke(&self, id: i64) -> Result<()> {
        self.call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
            .map(drop)
    }

    /// Each endpoint's health: Ok with its version and whether it sees a leader, or why not.
    pub async fn members_health(&self) -> Vec<(String, std::result::Result<String, String>)> {
        let mut out = Vec::new();
        for e in &self.endpoints {
            let r = self
                .once(e, "/v3/maintenance/status", &json!({}), None)
                .await
                .map(|v| {
                    let version = v.get("version").and_then(Value::as_str).unwrap_or("?");
                    let leader = v.get("leader").map_or(0, int) != 0;
                    format!(
                        "etcd {version}{}",
                        if leader { "" } else { ", no raft leader" }
                    )
                })
                .map_err(|f| match f {
                    Failure::Unreachable(m) | Failure::Refused(m) => m,
                });
            out.push((e.url.clone(), r));
        }
        out
    }

    /// Sends one call to the endpoint that answered last, then the others in turn. With
    /// credentials, a token etcd no longer takes (simple tokens expire when idle) is replaced
    /// and the call sent again to the same endpoint.
    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let e = &self.endpoints[i];
            for attempt in 0..2 {
                let token = match self.token(e).await {
                    Ok(t) => t,
                    Err(Failure::Refused(message)) if !unavailable(&message) => {
                        return Err(Error::Refused {
                            call: "/v3/auth/authenticate".to_owned(),
                            message: format!(
                                "authentication as {} failed: {message}",
                                self.credentials.as_ref().map_or("?", |(u, _)| u.as_str())
                            ),
                        });
                    }
                    Err(Failure::Refused(message) | Failure::Unreachable(message)) => {
                        failures.push(format!("{}: {message}", e.url));
                        break;
                    }
                };
                match self.once(e, path, &body, token.as_deref()).await {
                    Ok(v) => {
                        self.preferred.store(i, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Err(Failure::Refused(message)) if message.contains("invalid auth token") => {
                        *self.token.lock().await = None;
                        if attempt == 1 {
                            failures.push(format!("{}: {message}", e.url));
                        }
                    }
                    Err(Failure::Refused(message)) if !unavailable(&message) => {
                        return Err(Error::Refused {
                            call: path.to_owned(),
                            message,
                        });
                    }
                    Err(Failure::Refused(message) | Failure::Unreachable(message)) => {
                        failures.push(format!("{}: {message}", e.url));
                        break;
                    }
                }
            }
        }
        Err(Error::Unavailable(failures.join("; ")))
    }

    /// The auth token for calls, fetched once and kept until etcd stops taking it (None
    /// without credentials).
    async fn token(&self, e: &Endpoint) -> std::result::Result<Option<String>, Failure> {
        let Some((user, password)) = self.credentials.as_ref() else {
            return Ok(None);
        };
        let mut token = self.token.lock().await;
        if token.is_none() {
            let v = self
                .once(
                    e,
                    "/v3/auth/authenticate",
                    &json!({ "name": user, "password": password }),
                    None,
                )
                .await?;
            *token = v.get("token").and_then(Value::as_str).map(str::to_owned);
        }
        Ok(token.clone())
    }

    async fn once(
        &self,
        e: &Endpoint,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> std::result::Result<Value, Failure> {
        match tokio::time::timeout(self.timeout, self.exchange(e, path, body, token)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Unreachable(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    async fn exchange(
        &self,
        e: &Endpoint,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> std::result::Result<Value, Failure> {
        let unreachable = |what: &str, err: &dyn std::fmt::Display| {
            Failure::Unreachable(format!("{what}: {err}"))
        };
        let tcp = TcpStream::connect(&e.authority)
            .await
            .map_err(|err| unreachable("cannot connect", &err))?;
        let _nodelay = tcp.set_nodelay(true);
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header(http::header::HOST, e.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::CONNECTION, "close");
        if let Some(t) = token {
            request = request.header(http::header::AUTHORIZATION, t);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|err| unreachable("cannot build the request", &err))?;
        let (status, bytes) = if e.https {
            let tls = self
                .tls
                .as_ref()
                .ok_or_else(|| Failure::Unreachable("no TLS configuration".into()))?;
            let name = rustls::pki_types::ServerName::try_from(e.host.clone())
                .map_err(|err| unreachable("bad host name", &err))?;
            let stream = TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .map_err(|err| unreachable("TLS handshake failed", &err))?;
            send(stream, request).await?
        } else {
            send(tcp, request).await?
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            let message = v
                .get("error")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no error message");
            // The status says the class (503: this member cannot serve now, try another).
            Err(Failure::Refused(format!(
                "{message} (HTTP {})",
                status.as_u16()
            )))
        }
    }
}

/// How one call to one endpoint failed.
enum Failure {
    /// It did not answer: try another.
    Unreachable(String),
    /// It answered with an error.
    Refused(String),
}

/// Errors a member answers while it cannot serve (no quorum, no leader, stopping): another
/// member may.
fn unavailable(message: &str) -> bool {
    [
        "no leader",
        "leader changed",
        "timed out",
        "stopped",
        "not capable",
        "unhealthy cluster",
        "too many requests",
        "HTTP 429",
        "HTTP 502",
        "HTTP 503",
        "HTTP 504",
    ]
    .iter()
    .any(|m| message.contains(m))
}

async fn send<S>(
    io: S,
    request: http::Request<Full<Bytes>>,
) -> std::result::Result<(http::StatusCode, Bytes), Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::Unreachable(format!("HTTP handshake: {e}")))?;
    let conn = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Unreachable(format!("no HTTP response: {e}")))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::Unreachable(format!("reading the body: {e}")))?
        .to_bytes();
    conn.abort();
    Ok((status, body))
}

fn tls_config(config: &ClusterConfig) -> Result<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.tls.ca_file {
        Some(path) => {
            for cert in crate::pem::certificates(path).map_err(|e| Error::Setup(e.to_string()))? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Setup(e.to_string()))?
            .with_root_certificates(roots);
    match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = crate::pem::certificates(cert).map_err(|e| Error::Setup(e.to_string()))?;
            let key = crate::pem::private_key(key).map_err(|e| Error::Setup(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Setup(format!("client certificate: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
