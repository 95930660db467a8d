//! Other tools' claims on the records this backend drives ([`crate::traffic::claims`]):
//!
//! - **external-dns** keeps its ownership in TXT records of the same zone, valued
//!   `"heritage=external-dns,external-dns/owner=<id>,external-dns/resource=<kind/ns/name>"`. Its
//!   TXT registry names them after the record: the record's own name (the format before
//!   v0.12), and `<type>-<first label>.<rest>` (`a-www.example.com`, `cname-` for an alias A
//!   record); `--txt-prefix` and `--txt-suffix` add affixes around the first label that
//!   failoverd cannot know, so every ownership TXT record whose name holds the record's first
//!   label under the same parent counts too, as a likely claim. An ownership record of a
//!   routing-policy record carries the record's set identifier, so one naming another set
//!   identifier claims another record of the name.
//! - **Terraform** and **CloudFormation** are seen in the hosted zone's tags (record sets have
//!   none).
//!
//! Reads only: one scan of each zone (TXT records, at most [`MAX_SCAN_PAGES`] pages) and one
//! `ListTagsForResource` per zone, paced by their own limiter. Matching is pure and tested here.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{ResourceRecordSet, RrType, TagResourceType};

use super::records::{Bound, Routing, fqdn};
use super::zone::{classify, scan_pages};
use crate::traffic::Result;
use crate::traffic::claims::{Claim, Finding, Managed, and_list, tag_findings};
use crate::traffic::retry::Discipline;

/// Most pages of 300 records read from one zone looking for ownership records: 15,000
/// records, 25 s at the claims' pace. A larger zone is checked as far as that and says so.
pub const MAX_SCAN_PAGES: usize = 50;
const SCAN_PAGE: usize = 300;
/// The record types external-dns's TXT registry names ownership records after, lower case.
const TYPES: [&str; 7] = ["a", "aaaa", "cname", "ns", "mx", "srv", "naptr"];

/// A record this backend drives, as far as claims on it go.
#[derive(Debug, Clone)]
struct Driven {
    zone: String,
    /// Lower case, fully qualified.
    name: String,
    rtype: String,
    set_id: String,
    writes: Writes,
}

/// What failoverd writes to a driven record, which another tool writing it would undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// A weighted record's weight.
    Weight,
    /// A failover record's answer.
    Answer,
    /// Only its health check (a record without a weight, withdrawn by its switch or
    /// re-pointed at the always-unhealthy check).
    HealthCheck,
    /// A geoproximity record's bias, stepped, and its health check.
    Bias,
}

impl Driven {
    fn describe(&self) -> String {
        format!(
            "{} {} (zone {}, set {})",
            self.name, self.rtype, self.zone, self.set_id
        )
    }
}

/// The labels of an external-dns ownership record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalDnsLabels {
    /// `external-dns/owner`: the `--txt-owner-id` of the external-dns that owns the record.
    pub owner: Option<String>,
    /// `external-dns/resource`: the Kubernetes object it comes from (`ingress/web/www`).
    pub resource: Option<String>,
}

/// The text of a TXT value as Route 53 holds it: one or more quoted strings (`"a" "b"`),
/// joined, escapes undone; an unquoted value as it is.
fn txt_text(value: &str) -> String {
    let v = value.trim();
    if !v.starts_with('"') {
        return v.to_owned();
    }
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (_, '"') => quoted = !quoted,
            (true, '\\') => out.extend(chars.next()),
            (true, c) => out.push(c),
            (false, _) => {}
        }
    }
    out
}

/// The external-dns labels a TXT `value` holds, read as external-dns reads them: comma-separated
/// `key=value` pairs, which must include `heritage=external-dns`; None for any other TXT value
/// (an encrypted ownership record included: `--txt-encrypt-enabled` hides them).
pub fn external_dns_labels(value: &str) -> Option<ExternalDnsLabels> {
    let text = txt_text(value);
    let mut heritage = false;
    let mut labels = ExternalDnsLabels::default();
    for token in text.split(',') {
        let mut parts = token.split('=');
        let (Some(key), Some(val), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        match key {
            "heritage" if val == "external-dns" => heritage = true,
            "heritage" => return None,
            "external-dns/owner" => labels.owner = Some(val.to_owned()),
            "external-dns/resource" => labels.resource = Some(val.to_owned()),
            _ => {}
        }
    }
    heritage.then_some(labels)
}

/// An external-dns ownership record found in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipRecord {
    /// Its name, lower case and fully qualified.
    pub name: String,
    /// Its set identifier, when it belongs to a routing-policy record.
    pub set_id: Option<String>,
    /// What it says.
    pub labels: ExternalDnsLabels,
}

impl OwnershipRecord {
    /// `record` read as an ownership record: a TXT record with an external-dns value.
    fn of(record: &ResourceRecordSet) -> Option<Self> {
        if record.r#type() != &RrType::Txt {
            return None;
        }
        let labels = record
            .resource_records()
            .iter()
            .find_map(|r| external_dns_labels(r.value()))?;
        Some(Self {
            name: fqdn(record.name()),
            set_id: record.set_identifier().map(str::to_owned),
            labels,
        })
    }
}

/// How sure a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// Named with custom affixes failoverd cannot know: the TXT name holds the record's first
    /// label under the same parent.
    Likely,
    /// At a name external-dns uses without affixes.
    Named,
}

/// How `txt` claims a record `name` (lower case, fully qualified) of `rtype` with set
/// identifier `set_id`, if it does. A record at the zone's `apex` is claimed only at the names
/// external-dns uses without affixes: every name of the zone holds the apex's first label.
fn claims(
    txt: &OwnershipRecord,
    name: &str,
    rtype: &str,
    set_id: &str,
    apex: bool,
) -> Option<Match> {
    if txt.set_id.as_deref().is_some_and(|s| s != set_id) {
        return None;
    }
    let (first, rest) = name.split_once('.')?;
    let mut types = vec![rtype.to_ascii_lowercase()];
    if rtype == "A" {
        // An alias A record's ownership record was named as a CNAME's before v0.18.
        types.push("cname".to_owned());
    }
    if txt.name == name || types.iter().any(|t| txt.name == format!("{t}-{name}")) {
        return Some(Match::Named);
    }
    if apex || TYPES.iter().any(|t| txt.name == format!("{t}-{name}")) {
        // At the apex, or the default name of another type's ownership record.
        return None;
    }
    let head = txt.name.strip_suffix(rest)?.strip_suffix('.')?;
    (!rest.is_empty() && head.contains(first)).then_some(Match::Likely)
}

/// What a scan of a zone found.
#[derive(Debug, Default)]
struct ZoneScan {
    /// Its ownership records.
    owners: Vec<OwnershipRecord>,
    /// The zone's own name (its SOA record's), lower case and fully qualified.
    apex: Option<String>,
    /// Whether the whole zone was read.
    complete: bool,
}

/// The claims the ownership records `scan` found make on `driven`, the zone's records: one per
/// record and owner, the surest first.
fn external_dns_claims(driven: &[&Driven], scan: &ZoneScan) -> Vec<Claim> {
    let mut out = Vec::new();
    for d in driven {
        let apex = scan.apex.as_deref() == Some(d.name.as_str());
        let mut best: BTreeMap<Option<&str>, (Match, &OwnershipRecord)> = BTreeMap::new();
        for txt in &scan.owners {
            let Some(m) = claims(txt, &d.name, &d.rtype, &d.set_id, apex) else {
                continue;
            };
            let owner = txt.labels.owner.as_deref();
            // The surest; of equals, the first name, so the line is the same every time.
            if best
                .get(&owner)
                .is_none_or(|(had, t)| m > *had || (m == *had && txt.name < t.name))
            {
                best.insert(owner, (m, txt));
            }
        }
        for (owner, (m, txt)) in best {
            let sure = match m {
                Match::Named => "owned",
                Match::Likely => "probably owned",
            };
            let mut sign = vec![format!("owner={}", owner.unwrap_or("unset"))];
            sign.extend(
                txt.labels
                    .resource
                    .as_ref()
                    .map(|r| format!("resource={r}")),
            );
            sign.push(format!("TXT record {}", txt.name));
            let knob = match d.writes {
                Writes::Weight => "weight",
                Writes::Answer => "answer",
                Writes::HealthCheck => "health check",
                Writes::Bias => "bias and health check",
            };
            out.push(Claim {
                what: d.describe(),
                claimed_by: format!("{sure} by external-dns ({})", sign.join(", ")),
                advice: format!(
                    "external-dns writes its own {knob} back on every sync, undoing failoverd's drains; exclude this name from it (--exclude-domains={}; dropping the name from its Kubernetes resource instead makes a --policy=sync external-dns delete the record), or run it with --policy=create-only (upsert-only still updates)",
                    d.name.trim_end_matches('.')
                ),
            });
        }
    }
    out
}

/// What failoverd changes in the records `driven` of one zone, in Terraform's and
/// CloudFormation's terms.
fn managed(driven: &[&Driven], switches: bool) -> Managed {
    let mut changes = Vec::new();
    let mut attributes = Vec::new();
    let mut properties = Vec::new();
    if driven.iter().any(|d| d.writes == Writes::Weight) {
        changes.push("weights");
        attributes.push("weighted_routing_policy");
        properties.push("Weight");
    }
    if driven.iter().any(|d| d.writes == Writes::Answer) {
        // A failover drain rewrites the record's answer; its role stays.
        changes.push("answers");
        attributes.extend(["records", "alias"]);
        properties.extend(["ResourceRecords", "AliasTarget"]);
    }
    if driven.iter().any(|d| d.writes == Writes::Bias) {
        // A stepped drain lowers the bias; its location stays.
        changes.push("biases");
        attributes.push("geoproximity_routing_policy");
        properties.push("GeoProximityLocation");
    }
    if switches
        || driven
            .iter()
            .any(|d| matches!(d.writes, Writes::HealthCheck | Writes::Bias))
    {
        changes.push("health checks");
        attributes.push("health_check_id");
        properties.push("HealthCheckId");
    }
    Managed {
        changes: and_list(&changes),
        terraform_resource: "aws_route53_record",
        terraform_attributes: attributes,
        cloudformation_type: "AWS::Route53::RecordSet",
        cloudformation_properties: properties,
    }
}

/// Reads other tools' claims on a Route 53 backend's records (one account's).
#[derive(Debug, Clone)]
pub struct ZoneClaims {
    client: Client,
    discipline: Discipline,
    driven: Vec<Driven>,
    switches: bool,
}

impl ZoneClaims {
    /// A reader calling through `client` as `discipline` paces it, for the records `bound`;
    /// `switches`: the records carry data-plane switches' health checks.
    pub(super) fn new(
        client: Client,
        discipline: Discipline,
        bound: &[Bound],
        switches: bool,
    ) -> Self {
        let driven = bound
            .iter()
            .map(|b| Driven {
                zone: b.zone.trim_start_matches("/hostedzone/").to_owned(),
                name: b.name.clone(),
                rtype: b.rtype.as_str().to_owned(),
                set_id: b.set_id.clone(),
                writes: match &b.routing {
                    Routing::Weighted { .. } => Writes::Weight,
                    Routing::Failover { .. } => Writes::Answer,
                    Routing::Unweighted(e) if e.bias.is_some() => Writes::Bias,
                    Routing::Unweighted(_) => Writes::HealthCheck,
                },
            })
            .collect();
        Self {
            client,
            discipline,
            driven,
            switches,
        }
    }

    /// Every claim on the records, zone by zone; a failed read is a finding of its own.
    pub async fn read(&self) -> Vec<Finding> {
        let mut zones: BTreeMap<&str, Vec<&Driven>> = BTreeMap::new();
        for d in &self.driven {
            zones.entry(d.zone.as_str()).or_default().push(d);
        }
        let mut out = Vec::new();
        for (zone, driven) in zones {
            let arn = format!("arn:aws:route53:::hostedzone/{zone}");
            match self.scan(zone).await {
                Ok(scan) => {
                    out.extend(
                        external_dns_claims(&driven, &scan)
                            .into_iter()
                            .map(Finding::Claim),
                    );
                    if !scan.complete {
                        out.push(Finding::Unchecked {
                            what: format!(
                                "all of hosted zone {zone} for external-dns ownership records"
                            ),
                            error: format!(
                                "it holds more than {} records and only that many were read",
                                MAX_SCAN_PAGES * SCAN_PAGE
                            ),
                            remedy: "look for TXT records holding heritage=external-dns by hand"
                                .to_owned(),
                        });
                    }
                }
                Err(e) => out.push(Finding::unchecked(
                    format!("hosted zone {zone} for external-dns ownership records"),
                    &e,
                    "route53:ListResourceRecordSets",
                    &arn,
                )),
            }
            let tags = self.tags(zone).await;
            out.extend(tag_findings(
                &format!("hosted zone {zone}"),
                tags,
                &managed(&driven, self.switches),
                "route53:ListTagsForResource",
                &arn,
            ));
        }
        out
    }

    /// The ownership records and the name of `zone`, read page by page up to
    /// [`MAX_SCAN_PAGES`].
    async fn scan(&self, zone: &str) -> Result<ZoneScan> {
        let mut found = ZoneScan::default();
        let at = (&self.client, &self.discipline);
        found.complete = scan_pages(at, zone, SCAN_PAGE, MAX_SCAN_PAGES, |r| {
            if r.r#type() == &RrType::Soa {
                found.apex = Some(fqdn(r.name()));
            }
            found.owners.extend(OwnershipRecord::of(r));
        })
        .await?;
        Ok(found)
    }

    /// The tags of hosted zone `zone`, as (key, value).
    async fn tags(&self, zone: &str) -> Result<Vec<(String, String)>> {
        let op = "ListTagsForResource";
        let out = self
            .discipline
            .run(op, || async {
                self.client
                    .list_tags_for_resource()
                    .resource_type(TagResourceType::Hostedzone)
                    .resource_id(zone)
                    .send()
                    .await
                    .map_err(|e| classify(op, e))
            })
            .await?;
        Ok(out
            .resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
