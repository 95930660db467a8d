//! What a record without a weight must look like for failoverd to read it, and what it reads
//! as: the routing its binding names, the location the binding gives (if it gives one), and a
//! health check.
//!
//! - With switches, the record must carry a check (the one the binding names, if it names one)
//!   and reads whole; its switch takes it away ([`crate::traffic::switches`]).
//! - In `mode = "records"` (the control-plane fallback), it reads 0 while it carries the
//!   always-unhealthy check (`withdrawn_health_check_id`), and is served while it carries the
//!   binding's `health_check_id` (none when the binding names none); any other check leaves its
//!   region unread, since a restore would not know what to put back.
//! - A geoproximity record whose binding states its normal bias (`geoproximity.bias`, 0 or
//!   more) steps its `Bias` while the API writes
//!   (`records` or `mixed`): [`bias_for`] maps each share onto a bias between the normal bias (at
//!   100%) and -99 (at 1%), at least one bias point per share point, so every whole-percent
//!   share reads back unchanged ([`share_for_bias`]). Bias is an approximation of share: Route 53
//!   scales the distance to the record's location by `1 - bias/100`, so how many users a step
//!   moves depends on where they are; the headroom check is held to the planned share, and
//!   settle measures what really moved.

use aws_sdk_route53::types::ResourceRecordSet;

use super::super::settings::parse_coordinates;
use super::super::{
    Route53Binding, Route53GeoLocation, Route53GeoProximity, Route53Routing, Route53Settings,
};
use super::Edit;
use crate::share::Share;
use crate::traffic::switches::Mode;

/// What a bound record without a weight must carry.
#[derive(Debug, Clone)]
pub(in crate::traffic::route53) struct Expected {
    pub routing: Route53Routing,
    pub latency_region: Option<String>,
    pub geolocation: Option<Route53GeoLocation>,
    pub geoproximity: Option<Route53GeoProximity>,
    pub health_check_id: Option<String>,
    /// The always-unhealthy check a drained record carries (`mode = "records"` only).
    pub withdrawn: Option<String>,
    /// The normal bias a stepped geoproximity record carries at 100%.
    pub bias: Option<i32>,
}

/// The bias of a geoproximity record serving `share` of its users, for a normal bias `base`
/// (0 to 99): `base` at 100%, falling linearly to -99 at 1% (and at 0%, which a health check
/// withdraws). Rounded half up; at least one bias point per share point, so
/// [`share_for_bias`] reads every whole-percent share back.
pub fn bias_for(base: i32, share: Share) -> i32 {
    let base = base.clamp(0, 99);
    let span = base + 99;
    let down = 100 - i32::from(share.get());
    (base - (2 * down * span + 99) / 198).max(-99)
}

/// The share a geoproximity record with `bias` serves, for a normal bias `base` (0 to 99): the
/// inverse of [`bias_for`], from 1% to 100% (a bias above `base` reads 100%).
pub fn share_for_bias(base: i32, bias: i32) -> Share {
    let base = base.clamp(0, 99);
    let span = base + 99;
    let below = (base - bias).max(0);
    let down = (2 * below * 99 + span) / (2 * span);
    let share = (100 - down).clamp(1, 100);
    Share::try_new(u8::try_from(share).unwrap_or(100)).unwrap_or(Share::FULL)
}

/// A geoproximity record's bias (0 when it has none).
fn bias_of(record: &ResourceRecordSet) -> i32 {
    record
        .geo_proximity_location()
        .and_then(|p| p.bias())
        .unwrap_or(0)
}

impl Expected {
    pub(in crate::traffic::route53) fn of(b: &Route53Binding, s: &Route53Settings) -> Expected {
        let records = s.mode == Mode::Records;
        // Stepped only where the binding states the normal bias: a record whose bias failoverd
        // was never told of keeps it, and moves whole.
        let normal_bias = b.geoproximity.as_ref().and_then(|p| p.bias);
        Expected {
            routing: b.routing,
            latency_region: b.latency_region.clone(),
            geolocation: b.geolocation.as_deref().cloned(),
            geoproximity: b.geoproximity.as_deref().cloned(),
            health_check_id: b.health_check_id.clone(),
            withdrawn: s
                .withdrawn_health_check_id
                .clone()
                .filter(|id| records && !id.trim().is_empty())
                .map(|id| id.trim().to_owned()),
            // Only the API moves a bias: never in mode = "switches".
            bias: normal_bias.filter(|&bias| {
                b.routing == Route53Routing::Geoproximity && s.mode != Mode::Switches && bias >= 0
            }),
        }
    }

    /// Why `record` is not what the binding says, if it is not: another routing, another
    /// location, a bias above the normal one, no health check or another one.
    pub(in crate::traffic::route53) fn mismatch(
        &self,
        record: &ResourceRecordSet,
    ) -> Option<String> {
        self.routing_mismatch(record)
            .or_else(|| self.location_mismatch(record))
            .or_else(|| self.bias_mismatch(record))
            .or_else(|| self.check_mismatch(record))
    }

    /// Whether `record` carries the always-unhealthy check: drained through the API.
    fn withdrawn_by_check(&self, record: &ResourceRecordSet) -> bool {
        self.withdrawn
            .as_deref()
            .is_some_and(|w| record.health_check_id().map(str::trim) == Some(w))
    }

    /// The share `record` serves: 0 while it carries the always-unhealthy check; its bias's
    /// share when its bias steps; else whole.
    pub(in crate::traffic::route53) fn share_of(&self, record: &ResourceRecordSet) -> Share {
        if self.withdrawn_by_check(record) {
            return Share::ZERO;
        }
        match self.bias {
            Some(base) => share_for_bias(base, bias_of(record)),
            None => Share::FULL,
        }
    }

    /// What to write so `record` serves `to`, or None when nothing is written: a record its
    /// switch withdraws, or one already right.
    pub(in crate::traffic::route53) fn edit(
        &self,
        record: &ResourceRecordSet,
        to: Share,
    ) -> Option<Edit> {
        let mut edit = Edit::default();
        if to == Share::ZERO {
            // Withdrawn by its health check: the bias stays at its last step.
            let withdrawn = self.withdrawn.as_ref()?;
            if !self.withdrawn_by_check(record) {
                edit.health_check = Some(Some(withdrawn.clone()));
            }
        } else {
            if self.withdrawn_by_check(record) {
                edit.health_check = Some(
                    self.health_check_id
                        .as_deref()
                        .map(|id| id.trim().to_owned()),
                );
            }
            if let Some(base) = self.bias {
                let bias = bias_for(base, to);
                if bias != bias_of(record) {
                    edit.bias = Some(bias);
                }
            }
        }
        (edit.health_check.is_some() || edit.bias.is_some()).then_some(edit)
    }

    fn bias_mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        let base = self.bias?;
        let has = bias_of(record);
        (has > base).then(|| {
            format!(
                "the record's Bias is {has}, above the binding's geoproximity.bias {base}, which a drain steps down from and a restore writes back: set geoproximity.bias = {has} if that is its normal bias"
            )
        })
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
                // The bias is held to the binding only where it steps (bias_mismatch).
                bias: None,
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
        if self.withdrawn.is_some() {
            return self.records_check_mismatch(record);
        }
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

impl Expected {
    /// In `mode = "records"`: a record carries the always-unhealthy check or the binding's own
    /// (none when it names none), since a restore points it back at the binding's.
    fn records_check_mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        if self.withdrawn_by_check(record) {
            return None;
        }
        let want = self.health_check_id.as_deref().map(str::trim);
        match (record.health_check_id().map(str::trim), want) {
            (has, want) if has == want => None,
            (Some(has), None) => Some(format!(
                "the record carries health check {has}, which the binding does not name: set health_check_id = \"{has}\" so a restore points the record back at it"
            )),
            (None, Some(want)) => Some(format!(
                "the binding says health_check_id {want} and the record carries none"
            )),
            (Some(has), Some(want)) => Some(format!(
                "the binding says health_check_id {want} and the record carries {has}"
            )),
            (None, None) => None,
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
mod tests;
