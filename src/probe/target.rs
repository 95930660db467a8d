//! Probe targets as the prober uses them: config defaults applied, secrets read, TLS ready.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use super::Error;
use super::rounds::RegionProbes;
use super::tls::{TlsConfigs, ca_certificates};
use crate::config::{
    BodyAssertion, CertExpiryAction, Config, ProbeTarget, RegionConfig, SecretHeader,
    ValidationError,
};

/// What kind of probe a target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// HTTP request over plain TCP.
    Http,
    /// HTTP request over TLS, with the certificate's expiry checked.
    Https,
    /// TCP connect only.
    Tcp,
}

/// A probe target, ready to probe.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as configured (shown in reasons).
    pub url: String,
    /// HTTP, HTTPS or TCP.
    pub kind: TargetKind,
    /// `host:port` to connect to.
    pub authority: String,
    /// Host header and TLS server name.
    pub host: String,
    /// Path and query of the request.
    pub path: String,
    /// Request method.
    pub method: Method,
    /// Extra headers, secrets marked sensitive so they never print.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Status codes that pass.
    pub expect_status: Vec<u16>,
    /// Whole-probe timeout.
    pub timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Slower passing answers are Degraded.
    pub latency_budget: Option<Duration>,
    /// Probed every this many rounds (1 = every round).
    pub every_rounds: u32,
    /// A probe that got no answer is asked again at once up to this many times
    /// (`probe.retries`); it fails only when no try got one.
    pub retries: u32,
    /// TLS client config, for HTTPS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Certificates expiring within this trigger `cert_expiry_action`.
    pub cert_expiry_window: Duration,
    /// Fail or warn on an expiring certificate.
    pub cert_expiry_action: CertExpiryAction,
    /// Body assertions that must hold.
    pub assert: Vec<BodyAssertion>,
    /// Body assertions that mark the answer Degraded when they hold.
    pub degraded_when: Vec<BodyAssertion>,
    /// JSON pointer to the load figure.
    pub load_pointer: Option<String>,
    /// JSON pointer to the capacity figure.
    pub capacity_pointer: Option<String>,
    /// JSON pointer to the version the target runs (`rollout.version_pointer`).
    pub version_pointer: Option<String>,
}

/// What makes two targets the same request: everything that goes on the wire or bounds the
/// wait, and nothing that only judges the answer. Targets with equal keys are asked once a round.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RequestKey<'a> {
    kind: TargetKind,
    authority: &'a str,
    host: &'a str,
    path: &'a str,
    method: &'a Method,
    headers: &'a [(HeaderName, HeaderValue)],
    timeout: Duration,
    connect_timeout: Duration,
    /// The TLS client config, by identity (configs are shared per CA file).
    tls: Option<usize>,
}

impl Target {
    /// What this target sends, for asking several targets that send the same thing once.
    pub fn request_key(&self) -> RequestKey<'_> {
        RequestKey {
            kind: self.kind,
            authority: &self.authority,
            host: &self.host,
            path: &self.path,
            method: &self.method,
            headers: &self.headers,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            tls: self.tls.as_ref().map(|c| Arc::as_ptr(c).addr()),
        }
    }

    /// A plain `GET` target with default settings, as a config with only `url` would give.
    pub fn from_url(url: &str) -> Result<Target, Error> {
        let config = ProbeTarget {
            url: url.to_owned(),
            ..ProbeTarget::default()
        };
        let defaults = crate::config::ProbeDefaults::default();
        Target::new(
            &config,
            &defaults,
            None,
            "target",
            &mut TlsConfigs::default(),
        )
    }

    fn new(
        t: &ProbeTarget,
        defaults: &crate::config::ProbeDefaults,
        region: Option<&RegionConfig>,
        path: &str,
        tls: &mut TlsConfigs,
    ) -> Result<Target, Error> {
        let invalid = |field: &str, message: String| Error::Invalid {
            path: format!("{path}.{field}"),
            message,
        };
        let uri: http::Uri = t.url.parse().map_err(|e| invalid("url", format!("{e}")))?;
        let kind = kind(&uri).ok_or_else(|| {
            invalid(
                "url",
                format!("\"{}\" has no http, https or tcp scheme", t.url),
            )
        })?;
        let host = uri
            .host()
            .ok_or_else(|| invalid("url", "has no host".to_owned()))?;
        let port = uri
            .port_u16()
            .unwrap_or(if kind == TargetKind::Https { 443 } else { 80 });
        let authority = format!("{host}:{port}");
        let mut headers = Vec::new();
        for (name, value) in &t.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid("headers", e.to_string()))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| invalid("headers", e.to_string()))?;
            headers.push((name, value));
        }
        for (k, secret) in t.secret_headers.iter().enumerate() {
            headers.push(secret_header(
                secret,
                &format!("{path}.secret_headers[{k}]"),
            )?);
        }
        let tls = match kind {
            TargetKind::Https => {
                Some(tls.get(t.ca_file.as_deref().or(defaults.ca_file.as_deref()))?)
            }
            _ => None,
        };
        let round = defaults.interval.as_millis().max(1);
        let every_rounds = t.interval.map_or(1, |i| {
            u32::try_from(i.as_millis() / round)
                .unwrap_or(u32::MAX)
                .max(1)
        });
        let pointers = region.map(|r| &r.load_from);
        Ok(Target {
            url: t.url.clone(),
            kind,
            authority,
            host: t.host.clone().unwrap_or_else(|| host.to_owned()),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            method: Method::from_bytes(t.method.as_bytes())
                .map_err(|e| invalid("method", e.to_string()))?,
            headers,
            expect_status: t.expect_status.clone(),
            timeout: t.timeout.unwrap_or(defaults.timeout),
            connect_timeout: t.connect_timeout.unwrap_or(defaults.connect_timeout),
            latency_budget: t.latency_budget.or(defaults.latency_budget),
            every_rounds,
            retries: defaults.retries,
            tls,
            cert_expiry_window: defaults.cert_expiry_window,
            cert_expiry_action: defaults.cert_expiry_action,
            assert: t.assert.clone(),
            degraded_when: t.degraded_when.clone(),
            load_pointer: pointers
                .and_then(|p| p.load.clone())
                .filter(|s| !s.is_empty()),
            capacity_pointer: pointers
                .and_then(|p| p.capacity.clone())
                .filter(|s| !s.is_empty()),
            version_pointer: None,
        })
    }
}

/// The kind of probe a URL's scheme asks for.
fn kind(uri: &http::Uri) -> Option<TargetKind> {
    match uri.scheme_str() {
        Some("http") => Some(TargetKind::Http),
        Some("https") => Some(TargetKind::Https),
        Some("tcp") => Some(TargetKind::Tcp),
        _ => None,
    }
}

/// The header `secret` names, its value read from its environment variable or file and marked
/// sensitive so it never prints; `at` is the secret's config path.
fn secret_header(secret: &SecretHeader, at: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let raw = match (&secret.env, &secret.file) {
        (Some(var), None) => std::env::var(var).map_err(|e| Error::Secret {
            path: at.to_owned(),
            message: format!("environment variable {var}: {e}"),
        })?,
        (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| Error::Secret {
            path: at.to_owned(),
            message: format!("cannot read {}: {e}", file.display()),
        })?,
        _ => {
            return Err(Error::Secret {
                path: at.to_owned(),
                message: "needs exactly one of env or file".to_owned(),
            });
        }
    };
    let name = HeaderName::from_bytes(secret.name.as_bytes()).map_err(|e| Error::Secret {
        path: at.to_owned(),
        message: e.to_string(),
    })?;
    let mut value =
        HeaderValue::from_str(raw.trim_end_matches(['\r', '\n'])).map_err(|_| Error::Secret {
            path: at.to_owned(),
            message: "the value is not a valid header value".to_owned(),
        })?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn region_probes(config: &Config, i: usize, tls: &mut TlsConfigs) -> Result<RegionProbes, Error> {
    let region = &config.regions[i];
    let targets = region
        .probes
        .iter()
        .enumerate()
        .map(|(j, t)| {
            let mut target = Target::new(
                t,
                &config.probe,
                Some(region),
                &format!("regions[{i}].probes[{j}]"),
                tls,
            )?;
            target
                .version_pointer
                .clone_from(&config.rollout.version_pointer);
            Ok(Arc::new(target))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut query_target = |query: &str, at: &str| -> Result<Option<Arc<Target>>, Error> {
        let Some(base) = &config.probe.prometheus_url else {
            return Ok(None);
        };
        let url = format!(
            "{}/api/v1/query?query={}",
            base.trim_end_matches('/'),
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let target = ProbeTarget {
            url,
            ..ProbeTarget::default()
        };
        Ok(Some(Arc::new(Target::new(
            &target,
            &config.probe,
            None,
            at,
            tls,
        )?)))
    };
    let load_query = match &region.load_from.query {
        Some(query) => query_target(query, &format!("regions[{i}].load_from.query"))?,
        None => None,
    };
    // Every validation is asked of every region each round, so a baking ring's figures can
    // be set beside the old version's.
    let mut validations = Vec::new();
    for (j, v) in config.rollout.validations.iter().enumerate() {
        let at = format!("rollout.validations[{j}].query");
        if let Some(t) = query_target(&v.query_for(&region.name), &at)? {
            validations.push((v.name.clone(), t));
        }
    }
    // A drill's abort queries too: the drill reads them for its survivors.
    for (k, d) in config.drills.iter().enumerate() {
        for (j, a) in d.aborts.iter().enumerate() {
            let at = format!("drills[{k}].aborts[{j}].query");
            if let Some(t) = query_target(&a.query_for(&region.name), &at)? {
                validations.push((a.key(&d.name), t));
            }
        }
    }
    Ok(RegionProbes {
        service: config.service.clone(),
        region: region.name.clone(),
        targets,
        quorum: region.quorum,
        load_query,
        validations,
    })
}

/// Every region's targets, ready to probe: of every service, in a file with `[[services]]`.
pub fn resolve(config: &Config) -> Result<Vec<RegionProbes>, Error> {
    let mut tls = TlsConfigs::default();
    let mut out = Vec::new();
    for service in config.services() {
        let view = &service.config;
        for i in 0..view.regions.len() {
            out.push(region_probes(view, i, &mut tls)?);
        }
    }
    Ok(out)
}

/// One region's targets, ready to probe.
pub fn resolve_region(config: &Config, region: &str) -> Result<RegionProbes, Error> {
    let i = config
        .regions
        .iter()
        .position(|r| r.name == region)
        .ok_or_else(|| Error::UnknownRegion(region.to_owned()))?;
    region_probes(config, i, &mut TlsConfigs::default())
}

/// Every file the targets name that [`resolve`] could not use, read as it reads them, each with
/// the config path naming it: each secret header's file, and the CA file of each HTTPS target
/// (its own `ca_file`, else `probe.ca_file`; each file reported once). Secrets in environment
/// variables are not looked up: the shell that checks a config is seldom the daemon's.
pub fn check_files(config: &Config) -> Vec<ValidationError> {
    let mut found = Vec::new();
    let mut ca_files = BTreeSet::new();
    // Every service's targets, at their paths in the file.
    let services = config.services();
    let regions = services.iter().enumerate().flat_map(|(s, service)| {
        let base = if config.has_services() {
            format!("services[{s}].regions")
        } else {
            "regions".to_owned()
        };
        service
            .config
            .regions
            .iter()
            .enumerate()
            .map(move |(i, r)| (format!("{base}[{i}]"), r.clone()))
    });
    for (region_at, region) in regions {
        for (j, t) in region.probes.iter().enumerate() {
            let at = format!("{region_at}.probes[{j}]");
            for (k, secret) in t.secret_headers.iter().enumerate() {
                if secret.env.is_some() || secret.file.is_none() {
                    continue;
                }
                let at = format!("{at}.secret_headers[{k}]");
                if let Err(Error::Secret { path, message }) = secret_header(secret, &at) {
                    found.push(ValidationError { path, message });
                }
            }
            let https = t.url.parse().ok().and_then(|uri| kind(&uri)) == Some(TargetKind::Https);
            let (ca_file, path) = match (&t.ca_file, &config.probe.ca_file) {
                (Some(file), _) => (file, format!("{at}.ca_file")),
                (None, Some(file)) => (file, "probe.ca_file".to_owned()),
                (None, None) => continue,
            };
            if !https || !ca_files.insert(ca_file.clone()) {
                continue;
            }
            if let Err(e) = ca_certificates(ca_file) {
                found.push(ValidationError {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }
    found
}
