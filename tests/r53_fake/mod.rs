//! A wire-level fake of the Route 53 API (restXml under `/2013-04-01/`), served on loopback so
//! the real SDK talks to it.
//!
//! It covers what the moto server does not: a change batch is validated whole and applied
//! whole or not at all; a DELETE must match the current record exactly (TTL and values); a
//! CREATE of an existing record fails; errors come as Route 53 sends them today
//! (`<ErrorResponse>` with code `InvalidChangeBatch` and the bracketed messages); the request
//! limits (1,000 records, 32,000 value characters, UPSERT counting twice) are enforced;
//! `GetChange` answers PENDING a set number of times before INSYNC; listing pages by name, type
//! and set identifier. It records every batch and can answer the next calls of an operation
//! with an error code (`Throttling`, `PriorRequestNotComplete`). It lists and gets the health
//! checks a test gives it ([`health_checks`]). It stores what moto does not: a record's
//! `GeoProximityLocation` (AWS region, Local Zone group or coordinates, and bias), beside
//! `Region`, `GeoLocation` and `MultiValueAnswer`; and it can take the whole API down
//! ([`R53Fake::down`]).
#![allow(dead_code)]

pub mod health_checks;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Value {
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Values {
    #[serde(rename = "ResourceRecord", default)]
    pub items: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    #[serde(rename = "HostedZoneId")]
    pub hosted_zone_id: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    #[serde(rename = "EvaluateTargetHealth")]
    pub evaluate_target_health: bool,
}

/// A geolocation record's `GeoLocation`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GeoLocation {
    #[serde(
        rename = "ContinentCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub continent_code: Option<String>,
    #[serde(
        rename = "CountryCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub country_code: Option<String>,
    #[serde(
        rename = "SubdivisionCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subdivision_code: Option<String>,
}

/// A geoproximity record's `Coordinates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    #[serde(rename = "Latitude")]
    pub latitude: String,
    #[serde(rename = "Longitude")]
    pub longitude: String,
}

/// A geoproximity record's `GeoProximityLocation`, which moto does not store: an AWS region, a
/// Local Zone group or coordinates, and the bias.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GeoProximity {
    #[serde(rename = "AWSRegion", default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    #[serde(
        rename = "LocalZoneGroup",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_zone_group: Option<String>,
    #[serde(
        rename = "Coordinates",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub coordinates: Option<Coordinates>,
    #[serde(rename = "Bias", default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<i32>,
}

/// A record set as the wire carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rrset {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub rtype: String,
    #[serde(
        rename = "SetIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub set_identifier: Option<String>,
    #[serde(rename = "Weight", default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(rename = "Region", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(
        rename = "GeoLocation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub geo_location: Option<GeoLocation>,
    #[serde(rename = "Failover", default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    #[serde(
        rename = "MultiValueAnswer",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub multi_value_answer: Option<bool>,
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(
        rename = "ResourceRecords",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_records: Option<Values>,
    #[serde(
        rename = "AliasTarget",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub alias_target: Option<Alias>,
    #[serde(
        rename = "HealthCheckId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check_id: Option<String>,
    #[serde(
        rename = "GeoProximityLocation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub geo_proximity_location: Option<GeoProximity>,
}

impl Rrset {
    pub fn weighted(name: &str, set_id: &str, weight: i64, values: &[&str]) -> Rrset {
        Rrset {
            name: name.to_owned(),
            rtype: "A".to_owned(),
            set_identifier: Some(set_id.to_owned()),
            weight: Some(weight),
            region: None,
            geo_location: None,
            failover: None,
            multi_value_answer: None,
            ttl: Some(60),
            resource_records: Some(Values {
                items: values
                    .iter()
                    .map(|v| Value {
                        value: (*v).to_owned(),
                    })
                    .collect(),
            }),
            alias_target: None,
            health_check_id: Some("hc-1".to_owned()),
            geo_proximity_location: None,
        }
    }

    /// A latency record for `region` carrying `check`.
    pub fn latency(
        name: &str,
        set_id: &str,
        region: &str,
        check: Option<&str>,
        values: &[&str],
    ) -> Rrset {
        Rrset {
            weight: None,
            region: Some(region.to_owned()),
            health_check_id: check.map(str::to_owned),
            ..Rrset::weighted(name, set_id, 0, values)
        }
    }

    /// A geoproximity record at `location` carrying `check`.
    pub fn geoproximity(
        name: &str,
        set_id: &str,
        location: GeoProximity,
        check: Option<&str>,
        values: &[&str],
    ) -> Rrset {
        Rrset {
            weight: None,
            geo_proximity_location: Some(location),
            health_check_id: check.map(str::to_owned),
            ..Rrset::weighted(name, set_id, 0, values)
        }
    }

    pub fn values(&self) -> Vec<String> {
        self.resource_records
            .iter()
            .flat_map(|v| &v.items)
            .map(|v| v.value.clone())
            .collect()
    }

    fn key(&self) -> (String, String, String) {
        // Route 53 lists names with their labels reversed (com.example.api).
        let reversed: Vec<&str> = self.name.trim_end_matches('.').split('.').rev().collect();
        (
            reversed.join(".").to_ascii_lowercase(),
            self.rtype.clone(),
            self.set_identifier.clone().unwrap_or_default(),
        )
    }

    /// Equal as an exact-match DELETE requires.
    fn matches(&self, other: &Rrset) -> bool {
        let mut a = self.values();
        let mut b = other.values();
        a.sort();
        b.sort();
        self.key() == other.key()
            && self.ttl == other.ttl
            && a == b
            && self.alias_target == other.alias_target
            && self.weight == other.weight
            && self.failover == other.failover
            && self.region == other.region
            && self.geo_location == other.geo_location
            && self.geo_proximity_location == other.geo_proximity_location
            && self.multi_value_answer == other.multi_value_answer
            && self.health_check_id == other.health_check_id
    }

    fn describe(&self) -> String {
        format!("[name='{}', type='{}'", fqdn(&self.name), self.rtype)
            + &self
                .set_identifier
                .as_ref()
                .map(|s| format!(", set-identifier='{s}'"))
                .unwrap_or_default()
            + "]"
    }
}

fn fqdn(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

#[derive(Debug, Deserialize)]
struct ChangeX {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "ResourceRecordSet")]
    record: Rrset,
}

#[derive(Debug, Deserialize)]
struct Changes {
    #[serde(rename = "Change", default)]
    items: Vec<ChangeX>,
}

#[derive(Debug, Deserialize)]
struct Batch {
    #[serde(rename = "Changes")]
    changes: Changes,
}

#[derive(Debug, Deserialize)]
struct ChangeRequest {
    #[serde(rename = "ChangeBatch")]
    batch: Batch,
}

/// One change batch the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub zone: String,
    pub changes: Vec<(String, Rrset)>,
    /// `ResourceRecord` elements, UPSERTs counted twice.
    pub records: usize,
    /// Value characters, UPSERTs counted twice.
    pub chars: usize,
    pub accepted: bool,
}

#[derive(Default)]
struct Inner {
    zones: BTreeMap<String, Vec<Rrset>>,
    received: Vec<Received>,
    inject: VecDeque<(&'static str, &'static str)>,
    /// Answers that are not Route 53 errors at all (a proxy's HTML page), by operation.
    inject_raw: VecDeque<(&'static str, StatusCode, &'static str)>,
    /// Change id → GetChange polls left before INSYNC.
    changes: BTreeMap<String, u32>,
    pending_polls: u32,
    get_change_calls: u32,
    get_zone_calls: u32,
    list_calls: u32,
    next_change: u32,
    /// Each request's zone (or path) and the access key that signed it.
    signed: Vec<(String, String)>,
    health_checks: Vec<health_checks::FakeCheck>,
    /// Every call is answered 503 `ServiceUnavailable`, as on 2021-12-07.
    down: bool,
    /// Calls answered so while down.
    refused_while_down: u32,
}

#[derive(Clone, Default)]
pub struct R53Fake {
    inner: Arc<Mutex<Inner>>,
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            ("content-type", "text/xml"),
            ("x-amzn-requestid", "fake-request"),
        ],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn change_info(id: &str, pending: bool) -> String {
    format!(
        "<ChangeInfo><Id>/change/{id}</Id><Status>{}</Status><SubmittedAt>2026-11-22T00:00:00Z</SubmittedAt></ChangeInfo>",
        if pending { "PENDING" } else { "INSYNC" }
    )
}

impl R53Fake {
    pub fn zone(&self, id: &str, records: Vec<Rrset>) {
        self.inner
            .lock()
            .expect("lock")
            .zones
            .insert(id.to_owned(), records);
    }

    pub fn records(&self, zone: &str) -> Vec<Rrset> {
        self.inner
            .lock()
            .expect("lock")
            .zones
            .get(zone)
            .cloned()
            .unwrap_or_default()
    }

    pub fn record(&self, zone: &str, set_id: &str) -> Rrset {
        self.records(zone)
            .into_iter()
            .find(|r| r.set_identifier.as_deref() == Some(set_id))
            .unwrap_or_else(|| panic!("{set_id} is in {zone}"))
    }

    /// Replaces a record as another writer would.
    pub fn put(&self, zone: &str, record: Rrset) {
        let mut inner = self.inner.lock().expect("lock");
        let records = inner.zones.entry(zone.to_owned()).or_default();
        records.retain(|r| r.key() != record.key());
        records.push(record);
    }

    /// The access keys that signed requests about `zone`.
    pub fn signers(&self, zone: &str) -> std::collections::BTreeSet<String> {
        self.inner
            .lock()
            .expect("lock")
            .signed
            .iter()
            .filter(|(z, _)| z == zone)
            .map(|(_, k)| k.clone())
            .collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").received.clone()
    }

    /// Answers the next call of `operation` with the error `code`.
    pub fn inject(&self, operation: &'static str, code: &'static str) {
        self.inner
            .lock()
            .expect("lock")
            .inject
            .push_back((operation, code));
    }

    /// Answers the next call of `operation` with `status` and an HTML `body`, as a load
    /// balancer or proxy in front of the API would.
    pub fn inject_raw(&self, operation: &'static str, status: StatusCode, body: &'static str) {
        self.inner
            .lock()
            .expect("lock")
            .inject_raw
            .push_back((operation, status, body));
    }

    /// How many times `GetChange` answers PENDING for each new change.
    pub fn pending_polls(&self, n: u32) {
        self.inner.lock().expect("lock").pending_polls = n;
    }

    /// Takes the whole API down (every call answered 503 `ServiceUnavailable`) or back up.
    pub fn down(&self, down: bool) {
        self.inner.lock().expect("lock").down = down;
    }

    /// How many calls were refused while the API was down.
    pub fn refused_while_down(&self) -> u32 {
        self.inner.lock().expect("lock").refused_while_down
    }

    pub fn list_calls(&self) -> u32 {
        self.inner.lock().expect("lock").list_calls
    }

    pub fn get_zone_calls(&self) -> u32 {
        self.inner.lock().expect("lock").get_zone_calls
    }

    /// `GetHostedZone`: the zone with its record count.
    fn get_zone(&self, zone: &str) -> Response {
        let mut inner = self.inner.lock().expect("lock");
        inner.get_zone_calls += 1;
        let Some(records) = inner.zones.get(zone) else {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {zone}"),
            );
        };
        xml(
            StatusCode::OK,
            format!(
                "<GetHostedZoneResponse xmlns=\"{XMLNS}\"><HostedZone><Id>/hostedzone/{zone}</Id><Name>example.com.</Name><CallerReference>fake</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>{}</ResourceRecordSetCount></HostedZone><DelegationSet><NameServers><NameServer>ns-1.example.net</NameServer></NameServers></DelegationSet></GetHostedZoneResponse>",
                records.len()
            ),
        )
    }

    pub fn get_change_calls(&self) -> u32 {
        self.inner.lock().expect("lock").get_change_calls
    }

    /// Serves the fake and returns a Route 53 client for it, with the SDK's own retries off
    /// (failoverd's retries are what is tested).
    pub async fn client(&self) -> aws_sdk_route53::Client {
        let addr = self.serve().await;
        aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::Config::builder()
                .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
                .region(aws_sdk_route53::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{addr}"))
                .credentials_provider(aws_sdk_route53::config::Credentials::new(
                    "AKIDTEST", "secret", None, None, "fake",
                ))
                .retry_config(aws_sdk_route53::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn injected(&self, operation: &str) -> Option<Response> {
        let mut inner = self.inner.lock().expect("lock");
        if let Some(at) = inner
            .inject_raw
            .iter()
            .position(|(op, ..)| *op == operation)
        {
            let (_, status, body) = inner.inject_raw.remove(at)?;
            return Some((status, [("content-type", "text/html")], body).into_response());
        }
        let at = inner.inject.iter().position(|(op, _)| *op == operation)?;
        let (_, code) = inner.inject.remove(at)?;
        Some(error(StatusCode::BAD_REQUEST, code, "injected by the fake"))
    }

    fn list(&self, zone: &str, query: &BTreeMap<String, String>) -> Response {
        let mut inner = self.inner.lock().expect("lock");
        inner.list_calls += 1;
        let Some(records) = inner.zones.get(zone) else {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {zone}"),
            );
        };
        let mut sorted = records.clone();
        sorted.sort_by_key(Rrset::key);
        let start = Rrset {
            name: query.get("name").cloned().unwrap_or_default(),
            rtype: query.get("type").cloned().unwrap_or_default(),
            set_identifier: query.get("identifier").cloned(),
            ..Rrset::weighted("", "", 0, &[])
        }
        .key();
        let max: usize = query
            .get("maxitems")
            .and_then(|m| m.parse().ok())
            .unwrap_or(300);
        let from: Vec<&Rrset> = sorted.iter().filter(|r| r.key() >= start).collect();
        let page = &from[..from.len().min(max)];
        let mut body =
            format!("<ListResourceRecordSetsResponse xmlns=\"{XMLNS}\"><ResourceRecordSets>");
        for r in page {
            body.push_str(
                &quick_xml::se::to_string_with_root("ResourceRecordSet", r).expect("serialize"),
            );
        }
        body.push_str("</ResourceRecordSets>");
        match from.get(max) {
            Some(next) => {
                body.push_str(&format!(
                    "<IsTruncated>true</IsTruncated><NextRecordName>{}</NextRecordName><NextRecordType>{}</NextRecordType>",
                    next.name, next.rtype
                ));
                if let Some(id) = &next.set_identifier {
                    body.push_str(&format!(
                        "<NextRecordIdentifier>{id}</NextRecordIdentifier>"
                    ));
                }
            }
            None => body.push_str("<IsTruncated>false</IsTruncated>"),
        }
        body.push_str(&format!(
            "<MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"
        ));
        xml(StatusCode::OK, body)
    }

    fn change(&self, zone: &str, body: &[u8]) -> Response {
        let text = String::from_utf8_lossy(body);
        let request: ChangeRequest = match quick_xml::de::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "MalformedInput",
                    &format!("ChangeBatch is not valid: {e}"),
                );
            }
        };
        let mut inner = self.inner.lock().expect("lock");
        let Some(current) = inner.zones.get(zone).cloned() else {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {zone}"),
            );
        };
        let (mut records, mut chars) = (0, 0);
        for c in &request.batch.changes.items {
            let factor = if c.action == "UPSERT" { 2 } else { 1 };
            let values = c.record.values();
            records += values.len().max(1) * factor;
            chars += values.iter().map(String::len).sum::<usize>() * factor;
        }
        // Validate the whole batch against a working copy; commit only if every change holds.
        let mut working = current;
        let mut messages = Vec::new();
        if records > 1000 {
            messages.push(format!(
                "Number of records in the request ({records}) exceeds the limit of 1000"
            ));
        }
        if chars > 32_000 {
            messages.push(format!(
                "Number of characters in the request ({chars}) exceeds the limit of 32000"
            ));
        }
        for c in &request.batch.changes.items {
            let existing = working.iter().position(|r| r.key() == c.record.key());
            match (c.action.as_str(), existing) {
                ("CREATE", Some(_)) => messages.push(format!(
                    "Tried to create resource record set {} but it already exists",
                    c.record.describe()
                )),
                ("CREATE", None) | ("UPSERT", None) => working.push(c.record.clone()),
                ("UPSERT", Some(i)) => working[i] = c.record.clone(),
                ("DELETE", None) => messages.push(format!(
                    "Tried to delete resource record set {} but it was not found",
                    c.record.describe()
                )),
                ("DELETE", Some(i)) if working[i].matches(&c.record) => {
                    working.remove(i);
                }
                ("DELETE", Some(_)) => messages.push(format!(
                    "Tried to delete resource record set {} but the values provided do not match the current values",
                    c.record.describe()
                )),
                (other, _) => messages.push(format!("Unknown action {other}")),
            }
        }
        let accepted = messages.is_empty();
        inner.received.push(Received {
            zone: zone.to_owned(),
            changes: request
                .batch
                .changes
                .items
                .iter()
                .map(|c| (c.action.clone(), c.record.clone()))
                .collect(),
            records,
            chars,
            accepted,
        });
        if !accepted {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidChangeBatch",
                &format!("[{}]", messages.join(", ")),
            );
        }
        inner.zones.insert(zone.to_owned(), working);
        inner.next_change += 1;
        let id = format!("C{:04}", inner.next_change);
        let polls = inner.pending_polls;
        inner.changes.insert(id.clone(), polls);
        xml(
            StatusCode::OK,
            format!(
                "<ChangeResourceRecordSetsResponse xmlns=\"{XMLNS}\">{}</ChangeResourceRecordSetsResponse>",
                change_info(&id, true)
            ),
        )
    }

    fn get_change(&self, id: &str) -> Response {
        let mut inner = self.inner.lock().expect("lock");
        inner.get_change_calls += 1;
        let Some(left) = inner.changes.get_mut(id) else {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchChange",
                &format!("A change with the specified change ID does not exist: {id}"),
            );
        };
        let pending = *left > 0;
        *left = left.saturating_sub(1);
        xml(
            StatusCode::OK,
            format!(
                "<GetChangeResponse xmlns=\"{XMLNS}\">{}</GetChangeResponse>",
                change_info(id, pending)
            ),
        )
    }
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State(fake): State<R53Fake>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    // `AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/route53/aws4_request, ...`
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let about = match parts.as_slice() {
        ["", "2013-04-01", "hostedzone", zone, ..] => (*zone).to_owned(),
        _ => path.to_owned(),
    };
    {
        let mut inner = fake.inner.lock().expect("lock");
        inner.signed.push((about, key));
        if inner.down {
            inner.refused_while_down += 1;
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "Service is unavailable",
            );
        }
    }
    match (method, parts.as_slice()) {
        (Method::GET, ["", "2013-04-01", "hostedzone", zone, "rrset"]) => fake
            .injected("ListResourceRecordSets")
            .unwrap_or_else(|| fake.list(zone, &query(&uri))),
        (Method::POST, ["", "2013-04-01", "hostedzone", zone, "rrset"]) => fake
            .injected("ChangeResourceRecordSets")
            .unwrap_or_else(|| fake.change(zone, &body)),
        (Method::GET, ["", "2013-04-01", "hostedzone", zone]) => fake
            .injected("GetHostedZone")
            .unwrap_or_else(|| fake.get_zone(zone)),
        (Method::GET, ["", "2013-04-01", "healthcheck"]) => fake
            .injected("ListHealthChecks")
            .unwrap_or_else(|| fake.list_health_checks()),
        (Method::GET, ["", "2013-04-01", "healthcheck", id]) => fake
            .injected("GetHealthCheck")
            .unwrap_or_else(|| fake.get_health_check(id)),
        (Method::POST, ["", "2013-04-01", "healthcheck", id]) => fake
            .injected("UpdateHealthCheck")
            .unwrap_or_else(|| fake.update_health_check(id, &body)),
        (Method::GET, ["", "2013-04-01", "change", id]) => fake
            .injected("GetChange")
            .unwrap_or_else(|| fake.get_change(id)),
        _ => error(StatusCode::NOT_FOUND, "UnknownOperation", path),
    }
}
