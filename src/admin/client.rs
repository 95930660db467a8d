//! The operator's side of the admin API: `failoverd status | drain | undrain | freeze |
//! unfreeze`, one HTTPS request each, printed for a person.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::render;
use super::rollout_verbs::{self, RolloutAction};
use super::verbs::Action;
use crate::probe::tls::{TlsConfigs, server_name};
use crate::rollout::Gate;
use crate::terminal;
use serde::Deserialize;

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--admin` URL is not usable.
    #[error("--admin {url}: {message}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The token file could not be read.
    #[error("--token-file {path}: {message}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Connecting, TLS or HTTP failed.
    #[error("{url}: {message}")]
    Transport {
        /// Where.
        url: String,
        /// What failed.
        message: String,
    },
}

/// A client for one admin endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    base: Uri,
    host: String,
    port: u16,
    token: String,
    tls: Option<Arc<ClientConfig>>,
}

/// Reads a token from a file (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Token {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return Err(Error::Token {
            path: path.display().to_string(),
            message: "the file is empty".to_owned(),
        });
    }
    Ok(token)
}

impl Client {
    /// A client for `url` (`https://host:port`, or `http://` for a loopback demo), sending
    /// `token`, trusting the system roots and `ca_file`.
    pub fn new(url: &str, token: String, ca_file: Option<&Path>) -> Result<Self, Error> {
        Self::with_identity(url, token, ca_file, None)
    }

    /// As [`Client::new`], also presenting the client certificate and key in `identity` (PEM
    /// files) for mutual TLS.
    pub fn with_identity(
        url: &str,
        token: String,
        ca_file: Option<&Path>,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, Error> {
        let bad = |message: &str| Error::Url {
            url: url.to_owned(),
            message: message.to_owned(),
        };
        let base: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match base.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(bad(
                    "must start with https:// (or http:// for a loopback demo)",
                ));
            }
        };
        let host = base.host().ok_or_else(|| bad("has no host"))?.to_owned();
        let port = base.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match (https, identity) {
            (false, _) => None,
            (true, None) => Some(
                TlsConfigs::default()
                    .get(ca_file)
                    .map_err(|e| bad(&e.to_string()))?,
            ),
            (true, Some((cert, key))) => {
                let roots = TlsConfigs::default()
                    .roots(ca_file)
                    .map_err(|e| bad(&e.to_string()))?;
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<_, _>>())
                    .map_err(|e| bad(&format!("--client-cert {}: {e}", cert.display())))?;
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| bad(&format!("--client-key {}: {e}", key.display())))?;
                let config = ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| bad(&e.to_string()))?
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| bad(&format!("--client-cert: {e}")))?;
                Some(Arc::new(config))
            }
        };
        Ok(Self {
            base,
            host,
            port,
            token,
            tls,
        })
    }

    /// Sends one request and returns the status and the JSON (or text) body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), Error> {
        let url = format!(
            "{}://{}:{}{path}",
            self.base.scheme_str().unwrap_or("https"),
            self.host,
            self.port
        );
        let fail = |message: String| Error::Transport {
            url: url.clone(),
            message,
        };
        let work = async {
            let tcp = TcpStream::connect((self.host.trim_matches(['[', ']']), self.port))
                .await
                .map_err(|e| fail(format!("cannot connect: {e}")))?;
            let io = match &self.tls {
                Some(config) => {
                    let name = server_name(&self.host).map_err(&fail)?;
                    let tls = TlsConnector::from(Arc::clone(config))
                        .connect(name, tcp)
                        .await
                        .map_err(|e| fail(tls_failure(&e)))?;
                    tokio_util::either::Either::Left(tls)
                }
                None => tokio_util::either::Either::Right(tcp),
            };
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|e| fail(e.to_string()))?;
            tokio::spawn(conn);
            let payload = body.as_ref().map(|b| b.to_string()).unwrap_or_default();
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, format!("{}:{}", self.host, self.port))
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", self.token),
                )
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(bytes::Bytes::from(payload)))
                .map_err(|e| fail(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            let value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Ok((status, value))
        };
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .map_err(|_| fail("no answer within 30s".to_owned()))?
    }
}

/// `failoverd rollout gate`: asks the gate, again every `every` while `wait` and it is not yet
/// decided (a request without an answer, or answered with a server error, is asked again too),
/// and exits 0 when the ring may be promoted, 1 when the rollout broke or was aborted (or the
/// request is refused), 3 when not yet.
async fn gate(
    client: &Client,
    action: &Action,
    wait: bool,
    every: Duration,
    timeout: Option<Duration>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let (method, path, _) = action.request();
    loop {
        let code = match client.request(method.clone(), &path, None).await {
            Ok((status, v)) if status.is_success() => match Gate::deserialize(&v) {
                Ok(g) => {
                    crate::stdout::print(&rollout_verbs::gate(&g));
                    rollout_verbs::gate_exit(&g)
                }
                Err(e) => {
                    eprintln!("failoverd: the answer does not read as a gate ({e})");
                    return ExitCode::FAILURE;
                }
            },
            // A server error (a restart, a proxy in between) is asked again while waiting.
            Ok((status, v)) if wait && status.is_server_error() => {
                eprint!("{}", render::error(status, &v));
                rollout_verbs::EXIT_NOT_YET
            }
            Ok((status, v)) => {
                eprint!("{}", render::error(status, &v));
                return ExitCode::FAILURE;
            }
            Err(e) if wait => {
                eprintln!(
                    "failoverd: {e}; asking again in {}",
                    humantime::format_duration(every)
                );
                rollout_verbs::EXIT_NOT_YET
            }
            Err(e) => {
                eprintln!("failoverd: {e}");
                return ExitCode::FAILURE;
            }
        };
        if code != rollout_verbs::EXIT_NOT_YET || !wait {
            return ExitCode::from(code);
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() + every > d) {
            eprintln!("failoverd: gave up waiting (--timeout); the gate is still shut");
            return ExitCode::from(rollout_verbs::EXIT_NOT_YET);
        }
        tokio::time::sleep(every).await;
    }
}

/// A failed TLS handshake as the person running the CLI needs to read it. rustls refuses a server
/// certificate that is itself a CA certificate (what `openssl req -x509` makes unless told
/// otherwise) with `CaUsedAsEndEntity`, which does not say what to change.
fn tls_failure(e: &std::io::Error) -> String {
    let ca_as_server = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))
                    if matches!(
                        other.0.downcast_ref::<webpki::Error>(),
                        Some(webpki::Error::CaUsedAsEndEntity)
                    )
            )
        });
    if ca_as_server {
        format!(
            "TLS: the endpoint's certificate is a CA certificate (basicConstraints CA:TRUE, what \
             `openssl req -x509` makes by default), which a TLS client must refuse as a server's \
             own. Give admin.tls_cert a leaf certificate (basicConstraints CA:FALSE, \
             subjectAltName naming this host) signed by a CA, and pass that CA's certificate with \
             --ca-file; runbooks/manual-drain.md shows the openssl commands ({e})"
        )
    } else {
        format!("TLS: {e}")
    }
}

/// Where the admin endpoint is and how to prove who you are.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Admin endpoint URL.
    #[arg(
        long,
        env = "FAILOVERD_ADMIN",
        default_value = "https://127.0.0.1:9443"
    )]
    pub admin: String,
    /// File holding your API token (first line); or set FAILOVERD_TOKEN.
    #[arg(long, env = "FAILOVERD_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// PEM CA certificate(s) to trust besides the system roots.
    #[arg(long, env = "FAILOVERD_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate, when the endpoint requires mutual TLS (admin.client_ca).
    #[arg(long, env = "FAILOVERD_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "FAILOVERD_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
}

/// Runs `action` against the endpoint and prints the answer: 0 when it was done, 1 when it was
/// refused or failed, 2 when the command line itself is unusable.
pub async fn run(conn: &Connection, action: Action) -> std::process::ExitCode {
    use std::process::ExitCode;
    let token = match (&conn.token_file, std::env::var("FAILOVERD_TOKEN")) {
        (Some(path), _) => read_token(path),
        (None, Ok(t)) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => {
            eprintln!("failoverd: a token is needed: --token-file FILE or FAILOVERD_TOKEN");
            return ExitCode::from(2);
        }
    };
    let identity = conn.client_cert.as_deref().zip(conn.client_key.as_deref());
    let client = match token
        .and_then(|t| Client::with_identity(&conn.admin, t, conn.ca_file.as_deref(), identity))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("failoverd: {e}");
            return ExitCode::from(2);
        }
    };
    if let Action::Rollout(RolloutAction::Gate {
        wait,
        every,
        timeout,
        ..
    }) = &action
    {
        return gate(&client, &action, *wait, *every, *timeout).await;
    }
    let (method, path, body) = action.request();
    match client.request(method, &path, body).await {
        Err(e) => {
            eprintln!("failoverd: {e}");
            ExitCode::FAILURE
        }
        Ok((status, v)) if !status.is_success() => {
            eprint!("{}", render::error(status, &v));
            ExitCode::FAILURE
        }
        Ok((_, v)) => {
            match action.render(&v) {
                Ok(out) => crate::stdout::print(&out),
                // Done all the same: show what the endpoint said rather than hide it.
                Err(e) => {
                    eprintln!("failoverd: the answer does not read as expected ({e}); as sent:");
                    crate::stdout::line(format_args!("{}", terminal::json(&v)));
                }
            }
            ExitCode::SUCCESS
        }
    }
}
