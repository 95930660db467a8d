//! The HTTP prober on hyper: a fresh connection per probe, a whole-request timeout, and at most
//! [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) of body read.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use super::{MAX_BODY_BYTES, ProbeOutcome, Prober, Target, evaluate, no_answer};

/// Probes `http://` deep-health endpoints.
#[derive(Debug, Clone)]
pub struct HttpProber {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl HttpProber {
    /// A prober that opens a new connection for every probe, so every probe tests connecting.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Self { client }
    }

    async fn exchange(&self, target: &Target) -> Result<(u16, Bytes), String> {
        let uri: http::Uri = target
            .url
            .parse()
            .map_err(|e| format!("bad URL {}: {e}", target.url))?;
        let request = http::Request::get(uri)
            .header(
                http::header::USER_AGENT,
                concat!("failoverd/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| format!("cannot build request for {}: {e}", target.url))?;
        let response = self.client.request(request).await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            format!("{} from {}", text, target.url)
        })?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading body from {}: {e}", target.url))?
            .to_bytes();
        Ok((status, body))
    }
}

impl Default for HttpProber {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober for HttpProber {
    async fn probe(&self, target: &Target) -> ProbeOutcome {
        let start = Instant::now();
        match tokio::time::timeout(target.timeout, self.exchange(target)).await {
            Ok(Ok((status, body))) => evaluate(target, status, &body, start.elapsed()),
            Ok(Err(reason)) => no_answer(reason, start.elapsed()),
            Err(_) => no_answer(
                format!(
                    "no answer within {} from {}",
                    humantime::format_duration(target.timeout),
                    target.url
                ),
                start.elapsed(),
            ),
        }
    }
}
