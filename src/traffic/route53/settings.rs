//! What the Route 53 backend is configured with: its settings (`[traffic.route53]`), each
//! region's record binding (`regions[].traffic.route53`), and their rules, which report every
//! violation with its path.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bounds::{Bounds, millis, mins};
use crate::traffic::switches::Mode;
use crate::traffic::{Binding, Violation};

mod proximity;

pub use self::proximity::{Route53GeoLocation, Route53GeoProximity, parse_coordinates};

/// Default Route 53 API calls per second: half of Route 53's refill rate, a tenth of its burst.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

/// Allowed `requests_per_second`: at least one, and no more than Route 53 refills for the whole
/// account (10/s), which every other caller shares.
pub const REQUESTS_PER_SECOND_BOUNDS: Bounds<u32> = Bounds::new(1, 10);
/// Allowed `confirm_poll` (from a millisecond, for a local fake, to a minute).
pub const CONFIRM_POLL_BOUNDS: Bounds<Duration> = Bounds::new(millis(1), mins(1));
/// Allowed `confirm_poll_max`.
pub const CONFIRM_POLL_MAX_BOUNDS: Bounds<Duration> = Bounds::new(millis(1), mins(5));
/// Allowed `confirm_timeout`: the tick waits this long for INSYNC, which Route 53 usually
/// reaches within a minute; past fifteen minutes the controller has stopped reconciling.
pub const CONFIRM_TIMEOUT_BOUNDS: Bounds<Duration> = Bounds::new(millis(10), mins(15));

/// Settings of the Route 53 backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Route53Settings {
    /// Most Route 53 API calls per second from this controller. Route 53's own bucket is shared
    /// by every caller in the account (burst 50, refill 10/s, 5/s on older accounts), so stay
    /// well under it.
    pub requests_per_second: u32,
    /// Guard every change batch with a fence TXT record carrying this controller's epoch, so a
    /// stale controller's batch fails atomically instead of overwriting a newer decision.
    pub fencing: bool,
    /// Fence record name per hosted zone id; a zone not listed uses
    /// `_failoverd-fence.<the first bound record name in that zone>`.
    pub fence_records: BTreeMap<String, String>,
    /// First wait between `GetChange` polls; it doubles up to `confirm_poll_max`.
    #[serde(with = "humantime_serde")]
    pub confirm_poll: Duration,
    /// Longest wait between `GetChange` polls.
    #[serde(with = "humantime_serde")]
    pub confirm_poll_max: Duration,
    /// How long a change may stay PENDING before the tick reports it and moves on.
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// How a region's share reaches its records: `records` (API writes), `switches` (only the
    /// data-plane switches `[switches]` serves, whole regions), or `mixed` (API writes, a
    /// withdrawal by the switch, and the switches alone while the API fails).
    pub mode: Mode,
    /// An always-unhealthy health check (a CALCULATED check needing more children than it has;
    /// `failoverd setup route53-withdrawn` finds or creates one): in `mode = "records"`, a
    /// record without a weight (latency, geolocation, geoproximity, multivalue) is drained by
    /// re-pointing its `HealthCheckId` at it through the API, and restored by pointing it back
    /// at the binding's `health_check_id` (or at none). This is the control-plane fallback for
    /// teams without switches: it needs the Route 53 API, which the switches do not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_health_check_id: Option<String>,
}

impl Default for Route53Settings {
    fn default() -> Self {
        Self {
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            fencing: true,
            fence_records: BTreeMap::new(),
            confirm_poll: Duration::from_secs(1),
            confirm_poll_max: Duration::from_secs(15),
            confirm_timeout: Duration::from_secs(180),
            mode: Mode::Records,
            withdrawn_health_check_id: None,
        }
    }
}

impl Route53Settings {
    /// Checks the settings found at `at` (`traffic.route53`); every violation goes to `out`.
    pub fn check(&self, at: &str, out: &mut Vec<Violation>) {
        if let Err(e) = REQUESTS_PER_SECOND_BOUNDS.check(self.requests_per_second) {
            out.push(Violation::new(
                format!("{at}.requests_per_second"),
                e.to_string(),
            ));
        }
        for (field, value, bounds) in [
            ("confirm_poll", self.confirm_poll, CONFIRM_POLL_BOUNDS),
            (
                "confirm_poll_max",
                self.confirm_poll_max,
                CONFIRM_POLL_MAX_BOUNDS,
            ),
            (
                "confirm_timeout",
                self.confirm_timeout,
                CONFIRM_TIMEOUT_BOUNDS,
            ),
        ] {
            if let Err(e) = bounds.check(value) {
                out.push(Violation::new(format!("{at}.{field}"), e.to_string()));
            }
        }
        if self.confirm_poll_max < self.confirm_poll {
            out.push(Violation::new(
                format!("{at}.confirm_poll_max"),
                format!("must be at least {at}.confirm_poll"),
            ));
        }
        if let Some(id) = &self.withdrawn_health_check_id {
            if id.trim().is_empty() {
                out.push(Violation::new(
                    format!("{at}.withdrawn_health_check_id"),
                    "must not be empty",
                ));
            } else if self.mode.uses_switches() {
                out.push(Violation::new(
                    format!("{at}.withdrawn_health_check_id"),
                    format!(
                        "is for mode = \"records\", which drains records without a weight through the API; in mode = \"{}\" their switch withdraws them, with no API call",
                        self.mode
                    ),
                ));
            }
        }
        for (zone, name) in &self.fence_records {
            if name.trim().is_empty() {
                out.push(Violation::new(
                    format!("{at}.fence_records.{zone}"),
                    "must not be empty",
                ));
            }
        }
    }
}

/// Route 53 routing policy of a region's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route53Routing {
    /// Weighted record: weight = base weight × share.
    Weighted,
    /// Failover PRIMARY/SECONDARY pair.
    Failover,
    /// Latency record (`Region`): users go to the lowest-latency healthy region. Withdrawn by
    /// its health check (the region's switch), all or nothing.
    Latency,
    /// Geolocation record (`GeoLocation`): users go by where they are. Withdrawn by its health
    /// check; its users then get the next broader location's record (the default record).
    Geolocation,
    /// Geoproximity record (`GeoProximityLocation`, with a bias): users go to the nearest
    /// location, bias enlarging or shrinking its area. A drain lowers the bias step by step
    /// through the API (an approximation of share), then withdraws it by its health check.
    Geoproximity,
    /// Multivalue-answer record: up to eight healthy records answer at random. Withdrawn by its
    /// health check.
    Multivalue,
}

/// Where a region's Route 53 record lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Binding {
    /// Hosted zone id (e.g. `Z0123456789ABC`).
    pub hosted_zone_id: String,
    /// Fully qualified record name.
    pub record_name: String,
    /// Record type (`A`, `AAAA`, `CNAME`), or several (`["A", "AAAA"]` for a dual-stack name):
    /// the records of every type share the set identifier, and change together in one batch.
    #[serde(default)]
    pub record_type: RecordTypes,
    /// The record set's `SetIdentifier`.
    pub set_identifier: String,
    /// `weighted`, `failover`, or a routing without weights (`latency`, `geolocation`,
    /// `geoproximity`, `multivalue`), which acts through the region's switch only.
    pub routing: Route53Routing,
    /// Weight at share 100 (weighted routing), 100-255 so every whole-percent share has a
    /// weight of its own and reads back as the same share.
    #[serde(default = "default_base_weight")]
    pub base_weight: u8,
    /// The record's normal values (failover routing): what a restore writes back, whatever the
    /// zone holds when the controller starts. Give these or `alias`.
    #[serde(default)]
    pub values: Vec<String>,
    /// The record's normal alias target (failover routing), instead of `values`.
    #[serde(default)]
    pub alias: Option<Route53Alias>,
    /// An IAM role to assume for this record's zone, when the zone is in another account than
    /// the controller's own credentials; every knob on one zone names the same role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The record's `Region` (latency routing); given, the record must carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_region: Option<String>,
    /// The record's `GeoLocation` (geolocation routing); given, the record must carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geolocation: Option<Box<Route53GeoLocation>>,
    /// The record's `GeoProximityLocation` (geoproximity routing); given, the record must carry
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geoproximity: Option<Box<Route53GeoProximity>>,
    /// The health check a record without a weight carries while it serves. With switches: its
    /// switch's calculated check, or the check combining the team's own with it that `setup
    /// route53-switches` made; absent, any check will do, and a record with none is never
    /// withdrawn, so it leaves the region unread. In `mode = "records"`: the team's own check
    /// that a restore points the record back at; absent, the record serves with none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

/// A Route 53 alias target (a load balancer, a CloudFront distribution, another record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route53Alias {
    /// The target's DNS name.
    pub dns_name: String,
    /// The target's hosted zone id (the load balancer's canonical zone, for example).
    pub hosted_zone_id: String,
    /// Whether Route 53 follows the target's health.
    #[serde(default = "default_true")]
    pub evaluate_target_health: bool,
}

const fn default_true() -> bool {
    true
}

const fn default_base_weight() -> u8 {
    100
}

/// One record type or several, written in config as `"A"` or `["A", "AAAA"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTypes(pub Vec<String>);

impl Default for RecordTypes {
    fn default() -> Self {
        Self(vec!["A".to_owned()])
    }
}

impl RecordTypes {
    /// The types, in config order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    fn check(&self, at: &str, out: &mut Vec<Violation>) {
        if self.0.is_empty() {
            out.push(Violation::new(
                at,
                "must name at least one type (A, AAAA or CNAME)",
            ));
        }
        for (k, t) in self.iter().enumerate() {
            let here = if self.0.len() == 1 {
                at.to_owned()
            } else {
                format!("{at}[{k}]")
            };
            if !["A", "AAAA", "CNAME"].contains(&t) {
                out.push(Violation::new(
                    here,
                    format!("must be A, AAAA or CNAME, got \"{t}\""),
                ));
            } else if self.iter().take(k).any(|u| u == t) {
                out.push(Violation::new(here, format!("\"{t}\" is listed twice")));
            }
        }
        if self.0.len() > 1 && self.iter().any(|t| t == "CNAME") {
            out.push(Violation::new(
                at,
                "a CNAME cannot share its name with other record types",
            ));
        }
    }
}

impl std::fmt::Display for RecordTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("+"))
    }
}

impl Serialize for RecordTypes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RecordTypes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a record type like \"A\", or a list like [\"A\", \"AAAA\"]"
        )]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(t) => Self(vec![t]),
            OneOrMany::Many(ts) => Self(ts),
        })
    }
}

impl Route53Binding {
    /// Whether `other` names the same record (zone, name in any case, a type in common, set
    /// identifier), which two regions may not share.
    pub fn same_record(&self, other: &Route53Binding) -> bool {
        other.hosted_zone_id == self.hosted_zone_id
            && other
                .record_name
                .trim_end_matches('.')
                .eq_ignore_ascii_case(self.record_name.trim_end_matches('.'))
            && other
                .record_type
                .iter()
                .any(|t| self.record_type.iter().any(|u| t == u))
            && other.set_identifier == self.set_identifier
    }

    fn check_routing(&self, at: &str, out: &mut Vec<Violation>) {
        self.check_proximity(at, out);
        match self.routing {
            // Their rules are in check_proximity.
            Route53Routing::Latency
            | Route53Routing::Geolocation
            | Route53Routing::Geoproximity
            | Route53Routing::Multivalue => {}
            Route53Routing::Weighted => {
                if self.base_weight < 100 {
                    out.push(Violation::new(
                        format!("{at}.base_weight"),
                        format!(
                            "must be 100-255 so each whole-percent share has its own weight, got {}",
                            self.base_weight
                        ),
                    ));
                }
                if !self.values.is_empty() || self.alias.is_some() {
                    out.push(Violation::new(
                        format!("{at}.values"),
                        "weighted records keep their values as they are in the zone; only failover bindings name values or an alias",
                    ));
                }
            }
            Route53Routing::Failover => match (self.values.is_empty(), &self.alias) {
                (true, None) => out.push(Violation::new(
                    format!("{at}.values"),
                    "a failover binding needs the record's normal values or alias, which a restore writes back",
                )),
                (false, Some(_)) => out.push(Violation::new(
                    format!("{at}.alias"),
                    "give values or alias, not both",
                )),
                (_, Some(a)) => {
                    for (field, value) in
                        [("dns_name", &a.dns_name), ("hosted_zone_id", &a.hosted_zone_id)]
                    {
                        if value.trim().is_empty() {
                            out.push(Violation::new(
                                format!("{at}.alias.{field}"),
                                "must not be empty",
                            ));
                        }
                    }
                }
                (false, None) => {
                    if let Some(k) = self.values.iter().position(|v| v.trim().is_empty()) {
                        out.push(Violation::new(
                            format!("{at}.values[{k}]"),
                            "must not be empty",
                        ));
                    }
                    if self.record_type.0.len() > 1 {
                        out.push(Violation::new(
                            format!("{at}.values"),
                            format!(
                                "values belong to one record type, but record_type lists {}; bind one type per region, or use an alias (a dual-stack load balancer serves A and AAAA)",
                                self.record_type.0.join(" and ")
                            ),
                        ));
                    }
                }
            },
        }
    }
}

impl Binding for Route53Binding {
    fn check(&self, at: &str, earlier: &[(String, &Self)], out: &mut Vec<Violation>) {
        for (field, value) in [
            ("hosted_zone_id", &self.hosted_zone_id),
            ("record_name", &self.record_name),
            ("set_identifier", &self.set_identifier),
        ] {
            if value.trim().is_empty() {
                out.push(Violation::new(format!("{at}.{field}"), "must not be empty"));
            }
        }
        self.record_type.check(&format!("{at}.record_type"), out);
        self.check_routing(at, out);
        if let Some((region, _)) = earlier.iter().find(|(_, o)| o.same_record(self)) {
            out.push(Violation::new(
                format!("{at}.set_identifier"),
                format!("{region} binds the same record; each region needs its own"),
            ));
        }
        crate::traffic::aws::check_role_arn(at, self.role_arn.as_deref(), out);
        // The zone's first knob says how it is reached; each later one is held to it.
        if let Some((region, other)) = earlier
            .iter()
            .find(|(_, o)| o.hosted_zone_id == self.hosted_zone_id)
            .filter(|(_, o)| o.role_arn != self.role_arn)
        {
            let how = |r: &Option<String>| {
                r.as_deref().map_or_else(
                    || "the controller's own credentials".to_owned(),
                    |r| format!("role {r}"),
                )
            };
            out.push(Violation::new(
                format!("{at}.role_arn"),
                format!(
                    "{region} reaches zone {} through {}; a zone is in one account, so every knob on it needs the same role_arn (here {})",
                    self.hosted_zone_id,
                    how(&other.role_arn),
                    how(&self.role_arn)
                ),
            ));
        }
    }
}
