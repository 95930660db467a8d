//! Record sets and shares, without I/O: which record a region's binding names, the share a
//! record carries (its weight, or whether it answers with the region's own values), and the
//! record to write for a new share, everything else about it kept as read.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, GeoProximityLocation, ResourceRecord, ResourceRecordSet,
    RrType,
};

mod proximity;

use self::proximity::Expected;
pub use self::proximity::{bias_for, share_for_bias};
use super::batch::Size;
use super::{
    ErrorCode, Result, Route53Alias, Route53Binding, Route53Routing, Route53Settings, error,
    unbuildable,
};
use crate::share::Share;

/// TTL given to a record that switches from an alias to values and had none.
const DEFAULT_TTL: i64 = 60;

/// A name as Route 53 returns it: lower case, fully qualified.
pub(super) fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// Weight for `share` of `base`, rounded half up.
pub fn weight_for(base: u8, share: Share) -> i64 {
    (i64::from(base) * i64::from(share.get()) + 50) / 100
}

/// Share that `weight` is of `base`, rounded half up and at most 100%.
pub fn share_for(base: u8, weight: i64) -> Share {
    let base = i64::from(base.max(1));
    let share = ((weight.max(0) * 100 + base / 2) / base).min(100);
    Share::try_new(u8::try_from(share).unwrap_or(100)).unwrap_or(Share::FULL)
}

/// What a record answers with.
#[derive(Debug, Clone)]
pub(super) enum Answer {
    Values(Vec<String>),
    Alias(Route53Alias),
}

impl Answer {
    /// What `record` answers with now.
    pub(super) fn of(record: &ResourceRecordSet) -> Answer {
        match record.alias_target() {
            Some(a) => Answer::Alias(Route53Alias {
                dns_name: a.dns_name().to_owned(),
                hosted_zone_id: a.hosted_zone_id().to_owned(),
                evaluate_target_health: a.evaluate_target_health(),
            }),
            None => Answer::Values(
                record
                    .resource_records()
                    .iter()
                    .map(|r| r.value().to_owned())
                    .collect(),
            ),
        }
    }

    /// What `binding` says its record normally answers with.
    fn configured(binding: &Route53Binding) -> Answer {
        match &binding.alias {
            Some(a) => Answer::Alias(a.clone()),
            None => Answer::Values(binding.values.clone()),
        }
    }

    /// Equal as Route 53 sees it: values in any order, names in any case, with or without the
    /// final dot.
    pub(super) fn same_as(&self, other: &Answer) -> bool {
        fn norm(v: &str) -> String {
            v.trim().trim_end_matches('.').to_ascii_lowercase()
        }
        match (self, other) {
            (Answer::Values(a), Answer::Values(b)) => {
                let mut a: Vec<String> = a.iter().map(|v| norm(v)).collect();
                let mut b: Vec<String> = b.iter().map(|v| norm(v)).collect();
                a.sort();
                b.sort();
                a == b
            }
            (Answer::Alias(a), Answer::Alias(b)) => {
                norm(&a.dns_name) == norm(&b.dns_name)
                    && a.hosted_zone_id.trim_start_matches("/hostedzone/")
                        == b.hosted_zone_id.trim_start_matches("/hostedzone/")
                    && a.evaluate_target_health == b.evaluate_target_health
            }
            _ => false,
        }
    }

    fn size(&self, upsert: bool) -> Size {
        match self {
            Answer::Values(v) => Size::of(v.iter().map(String::as_str), upsert),
            Answer::Alias(a) => Size::of([a.dns_name.as_str()], upsert),
        }
    }
}

/// How a bound record carries its region's share.
#[derive(Debug, Clone)]
pub(super) enum Routing {
    Weighted {
        base: u8,
    },
    Failover {
        /// The configured values a restore writes back.
        normal: Answer,
        /// The partner record's configured values, when another region binds it.
        partner: Option<Answer>,
    },
    /// A record without a weight (latency, geolocation, geoproximity, multivalue): whole while
    /// it is as its binding expects and carries its serving health check. With switches, only
    /// its switch withdraws it; in `records` mode its `HealthCheckId` is re-pointed. A
    /// geoproximity record's bias steps while the API writes.
    Unweighted(Expected),
}

/// One region's record (one of them, for a dual-stack name).
#[derive(Debug, Clone)]
pub(super) struct Bound {
    pub region: String,
    pub zone: String,
    pub name: String,
    pub rtype: RrType,
    pub set_id: String,
    pub routing: Routing,
}

/// Records sharing a zone, a name and a type: what one listing reads.
pub(super) type Group = (String, String, RrType);

impl Bound {
    /// The record as an alarm names it: `api.example.com. A (zone Z1, set us-east-1)`.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} {} (zone {}, set {})",
            self.name,
            self.rtype.as_str(),
            self.zone,
            self.set_id
        )
    }

    /// The group this record is listed with.
    pub(super) fn group(&self) -> Group {
        (self.zone.clone(), self.name.clone(), self.rtype.clone())
    }

    /// One record per region and record type, as `settings` say they are acted on; a failover
    /// record learns its partner's configured answer when another region binds the partner.
    pub(super) fn all<'a>(
        bindings: &[(&'a str, &'a Route53Binding)],
        settings: &Route53Settings,
    ) -> Vec<Bound> {
        bindings
            .iter()
            .flat_map(|&(region, b)| b.record_type.iter().map(move |t| (region, b, t)))
            .map(|(region, b, rtype)| {
                let routing = match b.routing {
                    Route53Routing::Latency
                    | Route53Routing::Geolocation
                    | Route53Routing::Geoproximity
                    | Route53Routing::Multivalue => Routing::Unweighted(Expected::of(b, settings)),
                    Route53Routing::Weighted => Routing::Weighted {
                        base: b.base_weight,
                    },
                    Route53Routing::Failover => Routing::Failover {
                        normal: Answer::configured(b),
                        partner: bindings
                            .iter()
                            .find(|&&(other, p)| {
                                other != region
                                    && p.routing == Route53Routing::Failover
                                    && p.hosted_zone_id == b.hosted_zone_id
                                    && fqdn(&p.record_name) == fqdn(&b.record_name)
                                    && p.record_type.iter().any(|t| t == rtype)
                            })
                            .map(|&(_, p)| Answer::configured(p)),
                    },
                };
                Bound {
                    region: region.to_owned(),
                    zone: b.hosted_zone_id.clone(),
                    name: fqdn(&b.record_name),
                    rtype: RrType::from(rtype),
                    set_id: b.set_identifier.clone(),
                    routing,
                }
            })
            .collect()
    }

    /// This record among the listed `records` of its group.
    pub(super) fn find<'r>(
        &self,
        records: &'r [ResourceRecordSet],
    ) -> Option<&'r ResourceRecordSet> {
        records
            .iter()
            .find(|r| r.set_identifier() == Some(self.set_id.as_str()))
    }

    /// Why `record` is not what this binding says (a record without a weight with another
    /// routing or location, or without its health check), if it is not: its region is then
    /// left unread.
    pub(super) fn mismatch(&self, record: &ResourceRecordSet) -> Option<String> {
        match &self.routing {
            Routing::Unweighted(expected) => expected.mismatch(record),
            Routing::Weighted { .. } | Routing::Failover { .. } => None,
        }
    }

    /// Whether only a data-plane switch withdraws this record: a record without a weight with
    /// no always-unhealthy check to re-point it at.
    pub(super) fn needs_switch(&self) -> bool {
        matches!(&self.routing, Routing::Unweighted(e) if e.withdrawn.is_none())
    }

    /// Whether a drain re-points this record at the always-unhealthy check through the API.
    pub(super) fn withdrawn_by_api(&self) -> bool {
        matches!(&self.routing, Routing::Unweighted(e) if e.withdrawn.is_some())
    }

    /// Whether the record itself reads share `to` once written: not a record withdrawn by its
    /// switch (which reads as it was), nor one moved between shares it cannot step.
    pub(super) fn carries(&self, to: Share) -> bool {
        match &self.routing {
            Routing::Weighted { .. } | Routing::Failover { .. } => true,
            Routing::Unweighted(e) => {
                to == Share::FULL
                    || (to > Share::ZERO && e.bias.is_some())
                    || (to == Share::ZERO && e.withdrawn.is_some())
            }
        }
    }

    /// Whether the record moves in steps (a weight, a stepped bias), not all or nothing.
    pub(super) fn stepped(&self) -> bool {
        match &self.routing {
            Routing::Weighted { .. } => true,
            Routing::Failover { .. } => false,
            Routing::Unweighted(e) => e.bias.is_some(),
        }
    }

    /// The share `record` gives this binding's region.
    pub(super) fn share_of(&self, record: &ResourceRecordSet) -> Share {
        match &self.routing {
            Routing::Unweighted(e) => e.share_of(record),
            Routing::Weighted { base } => share_for(*base, record.weight().unwrap_or(0)),
            Routing::Failover { normal, .. } => {
                if Answer::of(record).same_as(normal) {
                    Share::FULL
                } else {
                    Share::ZERO
                }
            }
        }
    }

    /// The record this binding should hold at share `to`, with what it counts against a
    /// batch's limits, or None when it already does.
    pub(super) fn desired(
        &self,
        records: &[ResourceRecordSet],
        to: Share,
    ) -> Result<Option<(ResourceRecordSet, Size)>> {
        let op = "ChangeResourceRecordSets";
        let record = self.find(records).ok_or_else(|| {
            error(
                op,
                ErrorCode::NotFound,
                format!(
                    "{} {} with set identifier {} is not in zone {}",
                    self.name,
                    self.rtype.as_str(),
                    self.set_id,
                    self.zone
                ),
            )
        })?;
        if self.share_of(record) == to {
            return Ok(None);
        }
        let edit = match &self.routing {
            // Nothing to write when its switch withdraws it.
            Routing::Unweighted(e) => match e.edit(record, to) {
                Some(edit) => edit,
                None => return Ok(None),
            },
            Routing::Weighted { base } => Edit {
                weight: Some(weight_for(*base, to)),
                ..Edit::default()
            },
            Routing::Failover { normal, partner } => {
                let answer = if to == Share::FULL {
                    normal.clone()
                } else {
                    match partner {
                        Some(p) => p.clone(),
                        None => self.partner_in_zone(records, record)?,
                    }
                };
                Edit {
                    answer: Some(answer),
                    ..Edit::default()
                }
            }
        };
        let size = edit
            .answer
            .as_ref()
            .unwrap_or(&Answer::of(record))
            .size(true);
        let rebuilt = rebuild(record, &edit).map_err(|e| unbuildable(op, e))?;
        Ok(Some((rebuilt, size)))
    }

    /// The answer of the other record of `record`'s failover pair, as the zone holds it.
    fn partner_in_zone(
        &self,
        records: &[ResourceRecordSet],
        record: &ResourceRecordSet,
    ) -> Result<Answer> {
        records
            .iter()
            .find(|r| {
                r.set_identifier() != Some(self.set_id.as_str())
                    && r.failover().is_some()
                    && r.failover() != record.failover()
            })
            .map(Answer::of)
            .ok_or_else(|| {
                error(
                    "ChangeResourceRecordSets",
                    ErrorCode::NotFound,
                    format!(
                        "{} {} has no partner record to drain {} to (a failover pair needs a PRIMARY and a SECONDARY)",
                        self.name,
                        self.rtype.as_str(),
                        self.region
                    ),
                )
            })
    }
}

/// One change of a batch.
pub(super) fn change(action: ChangeAction, record: ResourceRecordSet) -> Result<Change> {
    Change::builder()
        .action(action)
        .resource_record_set(record)
        .build()
        .map_err(|e| unbuildable("ChangeResourceRecordSets", e))
}

/// What a write changes in a record; everything it leaves `None` is kept as read.
#[derive(Debug, Clone, Default)]
pub(super) struct Edit {
    /// A new weight.
    pub weight: Option<i64>,
    /// A new answer (values or alias).
    pub answer: Option<Answer>,
    /// A new `HealthCheckId`, or none (`Some(None)`).
    pub health_check: Option<Option<String>>,
    /// A new geoproximity `Bias`.
    pub bias: Option<i32>,
}

/// `record` as read, with what `edit` says replaced; everything else (failover role, location,
/// TTL, set identifier) is kept.
fn rebuild(
    record: &ResourceRecordSet,
    edit: &Edit,
) -> std::result::Result<ResourceRecordSet, aws_smithy_types::error::operation::BuildError> {
    let health_check = match &edit.health_check {
        Some(id) => id.clone(),
        None => record.health_check_id().map(str::to_owned),
    };
    let proximity = record.geo_proximity_location().map(|p| match edit.bias {
        Some(bias) => GeoProximityLocation::builder()
            .set_aws_region(p.aws_region().map(str::to_owned))
            .set_local_zone_group(p.local_zone_group().map(str::to_owned))
            .set_coordinates(p.coordinates().cloned())
            .bias(bias)
            .build(),
        None => p.clone(),
    });
    let builder = ResourceRecordSet::builder()
        .name(record.name())
        .r#type(record.r#type().clone())
        .set_set_identifier(record.set_identifier().map(str::to_owned))
        .set_weight(edit.weight.or(record.weight()))
        .set_region(record.region().cloned())
        .set_geo_location(record.geo_location().cloned())
        .set_failover(record.failover().cloned())
        .set_multi_value_answer(record.multi_value_answer())
        .set_health_check_id(health_check)
        .set_traffic_policy_instance_id(record.traffic_policy_instance_id().map(str::to_owned))
        .set_cidr_routing_config(record.cidr_routing_config().cloned())
        .set_geo_proximity_location(proximity);
    let builder = match &edit.answer {
        None => builder
            .set_ttl(record.ttl())
            .set_resource_records(
                (!record.resource_records().is_empty()).then(|| record.resource_records().to_vec()),
            )
            .set_alias_target(record.alias_target().cloned()),
        Some(Answer::Values(values)) => builder
            .ttl(record.ttl().unwrap_or(DEFAULT_TTL))
            .set_resource_records(Some(
                values
                    .iter()
                    .map(|v| ResourceRecord::builder().value(v).build())
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            )),
        Some(Answer::Alias(a)) => builder.alias_target(
            AliasTarget::builder()
                // In the form Route 53 returns it, so the record reads back as written.
                .dns_name(fqdn(&a.dns_name))
                .hosted_zone_id(a.hosted_zone_id.trim_start_matches("/hostedzone/"))
                .evaluate_target_health(a.evaluate_target_health)
                .build()?,
        ),
    };
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whole_percent_share_reads_back_unchanged_for_every_allowed_base_weight() {
        for base in 100..=255u8 {
            for s in 0..=100u8 {
                let share = Share::try_new(s).expect("valid share");
                let weight = weight_for(base, share);
                assert!((0..=255).contains(&weight), "base {base} share {s}");
                assert_eq!(share_for(base, weight), share, "base {base} share {s}");
            }
        }
    }

    #[test]
    fn answers_compare_as_route53_does() {
        let a = Answer::Values(vec!["192.0.2.2".into(), "192.0.2.1".into()]);
        let b = Answer::Values(vec!["192.0.2.1".into(), "192.0.2.2".into()]);
        assert!(a.same_as(&b));
        let alias = |name: &str, zone: &str| {
            Answer::Alias(Route53Alias {
                dns_name: name.into(),
                hosted_zone_id: zone.into(),
                evaluate_target_health: true,
            })
        };
        assert!(
            alias("My-ALB.elb.amazonaws.com", "Z35SXDOTRQ7X7K").same_as(&alias(
                "my-alb.elb.amazonaws.com.",
                "/hostedzone/Z35SXDOTRQ7X7K"
            ))
        );
        assert!(!alias("a.example.com", "Z1").same_as(&a));
    }
}
