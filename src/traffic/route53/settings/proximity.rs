//! Records without a weight: latency (`Region`), geolocation, geoproximity and multivalue-answer
//! records, and what a binding may say of them.
//!
//! Such a record carries no share of its own. Route 53 leaves it out of its answers while its
//! health check is unhealthy, so failoverd withdraws it by its health check:
//! - with switches (`traffic.route53.mode = "switches"` or `"mixed"`), through its region's
//!   data-plane switch (the switch's calculated check, or a calculated check combining the team's
//!   own check with it), with no API call;
//! - in `mode = "records"`, the control-plane fallback, by re-pointing the record's
//!   `HealthCheckId` at an always-unhealthy check (`traffic.route53.withdrawn_health_check_id`)
//!   through the API, and back at the binding's `health_check_id` (or at none) to restore.
//!
//! These knobs move all or nothing, except a geoproximity record with a bias of 0 or more while
//! the API writes (`records` or `mixed`): a drain lowers its `Bias` step by step, an
//! approximation of share, before its health check withdraws it. A binding may say where the
//! record routes (`latency_region`, `geolocation`, `geoproximity`) and which check it carries
//! (`health_check_id`): a record that says otherwise, or carries no check where a switch must
//! withdraw it, leaves its region unread.

use serde::{Deserialize, Serialize};

use super::{Route53Binding, Route53Routing};
use crate::traffic::Violation;

/// A geolocation record's location (`GeoLocation`): a continent, or a country, or a subdivision
/// of a country; `*` as `country_code` is Route 53's default location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53GeoLocation {
    /// `ContinentCode` (`AF`, `AN`, `AS`, `EU`, `OC`, `NA`, `SA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continent_code: Option<String>,
    /// `CountryCode` (ISO 3166 alpha-2, or `*` for the default location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// `SubdivisionCode` (a US state, a Ukrainian oblast), with its `country_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision_code: Option<String>,
}

/// A geoproximity record's location (`GeoProximityLocation`): an AWS region, a Local Zone group,
/// or coordinates, and the bias the record carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53GeoProximity {
    /// `AWSRegion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// `LocalZoneGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_zone_group: Option<String>,
    /// `Coordinates` as `"latitude,longitude"` in Route 53's decimal form (`"49.22,-74.01"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<String>,
    /// The record's `Bias` while it serves fully (-99 to 99). Given (0 or more), a drain through
    /// the API lowers the bias step by step
    /// ([`crate::traffic::route53::records::bias_for`]) and a record whose bias is above it
    /// leaves the region unread. Absent, or negative, the bias is neither compared nor written:
    /// the record moves whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<i32>,
}

/// Route 53's bounds on a geoproximity record's `Bias`.
pub const BIAS_BOUNDS: (i32, i32) = (-99, 99);

impl Route53Routing {
    /// Whether records of this routing send a withdrawn region's users to the next-closest
    /// healthy region (latency, geolocation, geoproximity), all of them to one survivor rather
    /// than spread over all. The spill model defaults to "nearest survivor" for such regions.
    /// Multivalue-answer records are withdrawn the same way but are not proximity routing:
    /// clients pick among the remaining healthy records, an even spread.
    pub fn routes_by_proximity(self) -> bool {
        matches!(
            self,
            Route53Routing::Latency | Route53Routing::Geolocation | Route53Routing::Geoproximity
        )
    }

    /// Whether records of this routing carry no weight and are withdrawn only by their health
    /// check (every routing but weighted and failover): all or nothing, through the switches.
    pub fn withdrawn_by_health_check(self) -> bool {
        self.routes_by_proximity() || self == Route53Routing::Multivalue
    }

    /// As the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Route53Routing::Weighted => "weighted",
            Route53Routing::Failover => "failover",
            Route53Routing::Latency => "latency",
            Route53Routing::Geolocation => "geolocation",
            Route53Routing::Geoproximity => "geoproximity",
            Route53Routing::Multivalue => "multivalue",
        }
    }
}

impl std::fmt::Display for Route53Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn blank(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.trim().is_empty())
}

impl Route53Binding {
    /// Whether this region's record routes by proximity (see
    /// [`Route53Routing::routes_by_proximity`]): the planning side's "nearest survivor" default.
    pub fn routes_by_proximity(&self) -> bool {
        self.routing.routes_by_proximity()
    }

    /// The rules of a record without a weight, and of the fields only such records take.
    pub(super) fn check_proximity(&self, at: &str, out: &mut Vec<Violation>) {
        let routing = self.routing;
        let only = |field: &str, wanted: Route53Routing, out: &mut Vec<Violation>| {
            out.push(Violation::new(
                format!("{at}.{field}"),
                format!("only {wanted} records take {field}; routing is \"{routing}\""),
            ));
        };
        if self.latency_region.is_some() && routing != Route53Routing::Latency {
            only("latency_region", Route53Routing::Latency, out);
        }
        if self.geolocation.is_some() && routing != Route53Routing::Geolocation {
            only("geolocation", Route53Routing::Geolocation, out);
        }
        if self.geoproximity.is_some() && routing != Route53Routing::Geoproximity {
            only("geoproximity", Route53Routing::Geoproximity, out);
        }
        if self.health_check_id.is_some() && !routing.withdrawn_by_health_check() {
            out.push(Violation::new(
                format!("{at}.health_check_id"),
                format!(
                    "only records without a weight (latency, geolocation, geoproximity, multivalue) are held to a health check; routing is \"{routing}\""
                ),
            ));
        }
        if !routing.withdrawn_by_health_check() {
            return;
        }
        if !self.values.is_empty() || self.alias.is_some() {
            out.push(Violation::new(
                format!("{at}.values"),
                format!(
                    "{routing} records keep their values as they are in the zone (failoverd withdraws them by their health check and never writes them); only failover bindings name values or an alias"
                ),
            ));
        }
        if blank(self.latency_region.as_ref()) {
            out.push(Violation::new(
                format!("{at}.latency_region"),
                "must not be empty",
            ));
        }
        if blank(self.health_check_id.as_ref()) {
            out.push(Violation::new(
                format!("{at}.health_check_id"),
                "must not be empty",
            ));
        }
        if let Some(g) = &self.geolocation {
            match (&g.continent_code, &g.country_code, &g.subdivision_code) {
                (None, None, _) => out.push(Violation::new(
                    format!("{at}.geolocation"),
                    "names no location: give continent_code, or country_code (with subdivision_code for a state)",
                )),
                (Some(_), Some(_), _) => out.push(Violation::new(
                    format!("{at}.geolocation.continent_code"),
                    "a Route 53 location is a continent or a country, not both",
                )),
                (Some(_), None, Some(_)) => out.push(Violation::new(
                    format!("{at}.geolocation.subdivision_code"),
                    "a subdivision belongs to a country: give country_code with it",
                )),
                _ => {}
            }
        }
        if let Some(p) = &self.geoproximity {
            let given = [
                p.aws_region.is_some(),
                p.local_zone_group.is_some(),
                p.coordinates.is_some(),
            ]
            .into_iter()
            .filter(|g| *g)
            .count();
            if given != 1 {
                out.push(Violation::new(
                    format!("{at}.geoproximity"),
                    "give exactly one of aws_region, local_zone_group or coordinates, as the record's GeoProximityLocation has",
                ));
            }
            if let Some(b) = p.bias
                && !(BIAS_BOUNDS.0..=BIAS_BOUNDS.1).contains(&b)
            {
                out.push(Violation::new(
                    format!("{at}.geoproximity.bias"),
                    format!(
                        "must be {} to {} (Route 53's bounds), got {b}",
                        BIAS_BOUNDS.0, BIAS_BOUNDS.1
                    ),
                ));
            }
            if let Some(c) = &p.coordinates
                && parse_coordinates(c).is_none()
            {
                out.push(Violation::new(
                    format!("{at}.geoproximity.coordinates"),
                    format!(
                        "must be \"latitude,longitude\" in degrees (-90 to 90, -180 to 180), got \"{c}\""
                    ),
                ));
            }
        }
    }
}

/// `"latitude,longitude"` as two numbers in range.
pub fn parse_coordinates(text: &str) -> Option<(f64, f64)> {
    let (lat, lon) = text.split_once(',')?;
    let lat: f64 = lat.trim().parse().ok()?;
    let lon: f64 = lon.trim().parse().ok()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}
