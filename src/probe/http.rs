//! The network prober: a fresh TCP connection per probe, TLS with the peer certificate checked,
//! one HTTP/1.1 request with `Connection: close`, at most [`MAX_BODY_BYTES`] of body read.
//!
//! The connection is driven inside the probe's own future (no spawned task), so a probe that
//! times out leaves nothing running behind it.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::tls::{peer_certificate, server_name};
use super::{
    Fetched, HttpAnswer, MAX_BODY_BYTES, PeerCertificate, Prober, Reply, Target, TargetKind,
};

/// Probes `http://`, `https://` and `tcp://` targets over the network.
#[derive(Debug, Clone, Default)]
pub struct HttpProber;

impl HttpProber {
    /// A prober; it keeps no connections between probes.
    pub fn new() -> Self {
        Self
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

fn ms(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    ))
    .to_string()
}

enum Reached {
    Connected,
    Answered(HttpAnswer),
}

async fn reach(target: &Target) -> Result<Reached, String> {
    let tcp = match tokio::time::timeout(
        target.connect_timeout,
        TcpStream::connect(&target.authority),
    )
    .await
    {
        Err(_) => {
            return Err(format!(
                "no TCP connection within {} to {} ({})",
                ms(target.connect_timeout),
                target.authority,
                target.url
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "cannot connect to {}: {e} ({})",
                target.authority, target.url
            ));
        }
        Ok(Ok(s)) => s,
    };
    // Small requests; do not wait to coalesce.
    let _nodelay = tcp.set_nodelay(true);
    match (target.kind, &target.tls) {
        (TargetKind::Tcp, _) => Ok(Reached::Connected),
        (TargetKind::Http, _) => exchange(tcp, target, None).await.map(Reached::Answered),
        (TargetKind::Https, Some(config)) => {
            let name = server_name(&target.host)?;
            let tls = TlsConnector::from(std::sync::Arc::clone(config))
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    format!(
                        "TLS handshake with {} failed: {} ({})",
                        target.host,
                        chain(&e),
                        target.url
                    )
                })?;
            let certificate = peer_certificate(&target.host, tls.get_ref().1.peer_certificates());
            exchange(tls, target, certificate)
                .await
                .map(Reached::Answered)
        }
        (TargetKind::Https, None) => Err(format!("no TLS configuration for {}", target.url)),
    }
}

async fn exchange<S>(
    io: S,
    target: &Target,
    certificate: Option<PeerCertificate>,
) -> Result<HttpAnswer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed =
        |what: &str, e: &dyn std::error::Error| format!("{what} {}: {}", target.url, chain(e));
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| failed("HTTP handshake with", &e))?;
    let mut request = http::Request::builder()
        .method(target.method.clone())
        .uri(target.path.as_str())
        .header(http::header::HOST, target.host.as_str())
        .header(
            http::header::USER_AGENT,
            concat!("failoverd/", env!("CARGO_PKG_VERSION")),
        )
        .header(http::header::CONNECTION, "close");
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Empty::new())
        .map_err(|e| failed("cannot build the request for", &e))?;
    let response = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| failed("no HTTP response from", &e))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| failed("reading the body from", &e))?;
            if let Ok(data) = frame.into_data() {
                let room = MAX_BODY_BYTES - bytes.len();
                if data.len() > room {
                    bytes.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(HttpAnswer {
            status,
            body: bytes,
            truncated,
            certificate,
        })
    };
    drive(conn, response).await
}

/// Polls the connection alongside the response until the response is complete; the response
/// future has the final word (it fails on its own if the connection dies before it is done).
async fn drive<C, R, T>(conn: C, response: R) -> Result<T, String>
where
    C: Future<Output = hyper::Result<()>>,
    R: Future<Output = Result<T, String>>,
{
    tokio::pin!(conn, response);
    let mut conn_done = false;
    loop {
        tokio::select! {
            biased;
            r = &mut response => return r,
            _ = &mut conn, if !conn_done => conn_done = true,
        }
    }
}

impl Prober for HttpProber {
    async fn fetch(&self, target: &Target) -> Fetched {
        let start = Instant::now();
        let reply = match tokio::time::timeout(target.timeout, reach(target)).await {
            Ok(Ok(Reached::Connected)) => Reply::Connected,
            Ok(Ok(Reached::Answered(answer))) => Reply::Answered(answer),
            Ok(Err(reason)) => Reply::Failed(reason),
            Err(_) => Reply::Failed(format!(
                "no answer within {} from {}",
                ms(target.timeout),
                target.url
            )),
        };
        Fetched {
            reply,
            latency: start.elapsed(),
        }
    }
}
