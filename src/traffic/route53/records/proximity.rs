//! What a record without a weight must look like for failoverd to read it: the routing its
//! binding names, the location the binding gives (if it gives one), and a health check (the one
//! the binding names, if it names one). Such a record's share is whole while it is as expected;
//! its switch takes it away ([`crate::traffic::switches`]).

use aws_sdk_route53::types::ResourceRecordSet;

use super::super::settings::parse_coordinates;
use super::super::{Route53Binding, Route53GeoLocation, Route53GeoProximity, Route53Routing};

/// What a bound record without a weight must carry.
#[derive(Debug, Clone)]
pub(in crate::traffic::route53) struct Expected {
    pub routing: Route53Routing,
    pub latency_region: Option<String>,
    pub geolocation: Option<Route53GeoLocation>,
    pub geoproximity: Option<Route53GeoProximity>,
    pub health_check_id: Option<String>,
}

impl Expected {
    pub(in crate::traffic::route53) fn of(b: &Route53Binding) -> Expected {
        Expected {
            routing: b.routing,
            latency_region: b.latency_region.clone(),
            geolocation: b.geolocation.as_deref().cloned(),
            geoproximity: b.geoproximity.as_deref().cloned(),
            health_check_id: b.health_check_id.clone(),
        }
    }

    /// Why `record` is not what the binding says, if it is not: another routing, another
    /// location, no health check or another one.
    pub(in crate::traffic::route53) fn mismatch(
        &self,
        record: &ResourceRecordSet,
    ) -> Option<String> {
        self.routing_mismatch(record)
            .or_else(|| self.location_mismatch(record))
            .or_else(|| self.check_mismatch(record))
    }

    fn routing_mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        let has = if record.weight().is_some() {
            "weighted"
        } else if record.failover().is_some() {
            "failover"
        } else if record.region().is_some() {
            "latency"
        } else if record.geo_location().is_some() {
            "geolocation"
        } else if record.geo_proximity_location().is_some() {
            "geoproximity"
        } else if record.multi_value_answer() == Some(true) {
            "multivalue"
        } else {
            "no routing policy"
        };
        (has != self.routing.as_str()).then(|| {
            format!(
                "the binding says {} routing and the record has {has}",
                self.routing
            )
        })
    }

    fn location_mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        if let Some(want) = &self.latency_region {
            let has = record.region().map(|r| r.as_str()).unwrap_or_default();
            if !has.eq_ignore_ascii_case(want.trim()) {
                return Some(format!(
                    "the binding says latency_region {want} and the record's Region is {has}"
                ));
            }
        }
        if let Some(want) = &self.geolocation {
            let g = record.geo_location();
            let has = Route53GeoLocation {
                continent_code: g.and_then(|g| g.continent_code()).map(str::to_owned),
                country_code: g.and_then(|g| g.country_code()).map(str::to_owned),
                subdivision_code: g.and_then(|g| g.subdivision_code()).map(str::to_owned),
            };
            if !same_geolocation(want, &has) {
                return Some(format!(
                    "the binding says geolocation {} and the record's GeoLocation is {}",
                    describe_geolocation(want),
                    describe_geolocation(&has)
                ));
            }
        }
        if let Some(want) = &self.geoproximity {
            let p = record.geo_proximity_location();
            let has = Route53GeoProximity {
                aws_region: p.and_then(|p| p.aws_region()).map(str::to_owned),
                local_zone_group: p.and_then(|p| p.local_zone_group()).map(str::to_owned),
                coordinates: p
                    .and_then(|p| p.coordinates())
                    .map(|c| format!("{},{}", c.latitude(), c.longitude())),
            };
            if !same_geoproximity(want, &has) {
                return Some(format!(
                    "the binding says geoproximity {} and the record's GeoProximityLocation is {}",
                    describe_geoproximity(want),
                    describe_geoproximity(&has)
                ));
            }
        }
        None
    }

    fn check_mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        match (record.health_check_id(), &self.health_check_id) {
            (None, _) => Some(
                "the record carries no health check, so its switch cannot withdraw it (run `failoverd setup route53-switches`)"
                    .to_owned(),
            ),
            (Some(has), Some(want)) if has != want.trim() => Some(format!(
                "the binding says health_check_id {want} and the record carries {has}"
            )),
            _ => None,
        }
    }
}

fn same(a: Option<&String>, b: Option<&String>) -> bool {
    a.map(|s| s.trim().to_ascii_uppercase()) == b.map(|s| s.trim().to_ascii_uppercase())
}

fn same_geolocation(a: &Route53GeoLocation, b: &Route53GeoLocation) -> bool {
    same(a.continent_code.as_ref(), b.continent_code.as_ref())
        && same(a.country_code.as_ref(), b.country_code.as_ref())
        && same(a.subdivision_code.as_ref(), b.subdivision_code.as_ref())
}

fn same_geoproximity(a: &Route53GeoProximity, b: &Route53GeoProximity) -> bool {
    let coordinates = match (&a.coordinates, &b.coordinates) {
        (None, None) => true,
        (Some(x), Some(y)) => match (parse_coordinates(x), parse_coordinates(y)) {
            (Some((la, lo)), Some((lb, lob))) => {
                (la - lb).abs() < 0.005 && (lo - lob).abs() < 0.005
            }
            _ => false,
        },
        _ => false,
    };
    coordinates
        && same(a.aws_region.as_ref(), b.aws_region.as_ref())
        && same(a.local_zone_group.as_ref(), b.local_zone_group.as_ref())
}

fn describe_geolocation(g: &Route53GeoLocation) -> String {
    describe(&[
        ("continent", &g.continent_code),
        ("country", &g.country_code),
        ("subdivision", &g.subdivision_code),
    ])
}

fn describe_geoproximity(p: &Route53GeoProximity) -> String {
    describe(&[
        ("aws_region", &p.aws_region),
        ("local_zone_group", &p.local_zone_group),
        ("coordinates", &p.coordinates),
    ])
}

/// The fields that are set, named (`country US, subdivision CA`), or `none`.
fn describe(fields: &[(&str, &Option<String>)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::types::{
        Coordinates, GeoLocation, GeoProximityLocation, ResourceRecordSetRegion, RrType,
    };

    use super::*;

    fn expected(routing: Route53Routing) -> Expected {
        Expected {
            routing,
            latency_region: None,
            geolocation: None,
            geoproximity: None,
            health_check_id: None,
        }
    }

    fn record() -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
        ResourceRecordSet::builder()
            .name("api.example.com.")
            .r#type(RrType::A)
            .set_identifier("x")
            .health_check_id("hc")
    }

    #[test]
    fn a_record_is_held_to_its_routing_location_and_check_and_says_which_differs() {
        let latency = record()
            .region(ResourceRecordSetRegion::UsEast1)
            .build()
            .expect("record");
        assert_eq!(expected(Route53Routing::Latency).mismatch(&latency), None);
        assert_eq!(
            expected(Route53Routing::Geolocation)
                .mismatch(&latency)
                .as_deref(),
            Some("the binding says geolocation routing and the record has latency")
        );
        let mut want = expected(Route53Routing::Latency);
        want.latency_region = Some("eu-west-1".into());
        assert_eq!(
            want.mismatch(&latency).as_deref(),
            Some("the binding says latency_region eu-west-1 and the record's Region is us-east-1")
        );
        want.latency_region = Some("US-EAST-1".into());
        want.health_check_id = Some("other".into());
        assert_eq!(
            want.mismatch(&latency).as_deref(),
            Some("the binding says health_check_id other and the record carries hc")
        );
        let unchecked = ResourceRecordSet::builder()
            .name("api.example.com.")
            .r#type(RrType::A)
            .multi_value_answer(true)
            .build()
            .expect("record");
        assert!(
            expected(Route53Routing::Multivalue)
                .mismatch(&unchecked)
                .is_some_and(|m| m.starts_with("the record carries no health check"))
        );
    }

    #[test]
    fn locations_compare_in_any_case_and_coordinates_to_two_decimals() {
        let geo = record()
            .geo_location(GeoLocation::builder().country_code("*").build())
            .build()
            .expect("record");
        let mut want = expected(Route53Routing::Geolocation);
        want.geolocation = Some(Route53GeoLocation {
            country_code: Some("*".into()),
            ..Route53GeoLocation::default()
        });
        assert_eq!(want.mismatch(&geo), None);
        want.geolocation = Some(Route53GeoLocation {
            continent_code: Some("eu".into()),
            ..Route53GeoLocation::default()
        });
        assert_eq!(
            want.mismatch(&geo).as_deref(),
            Some(
                "the binding says geolocation continent eu and the record's GeoLocation is country *"
            )
        );
        let at = |lat: &str, lon: &str| {
            record()
                .geo_proximity_location(
                    GeoProximityLocation::builder()
                        .coordinates(
                            Coordinates::builder()
                                .latitude(lat)
                                .longitude(lon)
                                .build()
                                .expect("coordinates"),
                        )
                        .bias(-20)
                        .build(),
                )
                .build()
                .expect("record")
        };
        let mut want = expected(Route53Routing::Geoproximity);
        want.geoproximity = Some(Route53GeoProximity {
            coordinates: Some("49.22, -74.01".into()),
            ..Route53GeoProximity::default()
        });
        assert_eq!(
            want.mismatch(&at("49.22", "-74.010")),
            None,
            "the bias is not compared"
        );
        assert!(want.mismatch(&at("49.30", "-74.01")).is_some());
    }
}
