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
use super::zone::classify;
use crate::traffic::claims::{Claim, Finding, Managed, and_list, tag_claim, tag_owners};
use crate::traffic::retry::Discipline;
use crate::traffic::{Error, ErrorCode, Result};

/// Most pages of 300 records read from one zone looking for ownership records: 15,000
/// records, 25 s at the claims' pace. A larger zone is checked as far as that and says so.
pub const MAX_SCAN_PAGES: usize = 50;
const SCAN_PAGE: i32 = 300;
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
    weighted: bool,
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
/// identifier `set_id`, if it does.
fn claims(txt: &OwnershipRecord, name: &str, rtype: &str, set_id: &str) -> Option<Match> {
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
    if TYPES.iter().any(|t| txt.name == format!("{t}-{name}")) {
        // The default name of another type's ownership record.
        return None;
    }
    let head = txt.name.strip_suffix(rest)?.strip_suffix('.')?;
    (!rest.is_empty() && head.contains(first)).then_some(Match::Likely)
}

/// The claims `found`, the ownership records of a zone, make on `driven`, its records: one per
/// record and owner, the surest first.
fn external_dns_claims(driven: &[&Driven], found: &[OwnershipRecord]) -> Vec<Claim> {
    let mut out = Vec::new();
    for d in driven {
        let mut best: BTreeMap<Option<&str>, (Match, &OwnershipRecord)> = BTreeMap::new();
        for txt in found {
            let Some(m) = claims(txt, &d.name, &d.rtype, &d.set_id) else {
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
            let knob = if d.weighted { "weight" } else { "answer" };
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
    if driven.iter().any(|d| d.weighted) {
        changes.push("weights");
        attributes.push("weighted_routing_policy");
        properties.push("Weight");
    }
    if driven.iter().any(|d| !d.weighted) {
        // A failover drain rewrites the record's answer; its role stays.
        changes.push("answers");
        attributes.extend(["records", "alias"]);
        properties.extend(["ResourceRecords", "AliasTarget"]);
    }
    if switches {
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
                weighted: matches!(b.routing, Routing::Weighted { .. }),
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
            match self.ownership_records(zone).await {
                Ok((found, complete)) => {
                    out.extend(
                        external_dns_claims(&driven, &found)
                            .into_iter()
                            .map(Finding::Claim),
                    );
                    if !complete {
                        out.push(Finding::Unchecked {
                            what: format!(
                                "all of hosted zone {zone} for external-dns ownership records"
                            ),
                            error: format!(
                                "it holds more than {} records and only that many were read",
                                MAX_SCAN_PAGES * SCAN_PAGE as usize
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
            match self.tags(zone).await {
                Ok(tags) => {
                    let what = format!("hosted zone {zone}");
                    let managed = managed(&driven, self.switches);
                    out.extend(
                        tag_owners(&tags)
                            .iter()
                            .map(|o| Finding::Claim(tag_claim(&what, o, &managed))),
                    );
                }
                Err(e) => out.push(Finding::unchecked(
                    format!("hosted zone {zone}'s tags"),
                    &e,
                    "route53:ListTagsForResource",
                    &arn,
                )),
            }
        }
        out
    }

    /// The ownership records of `zone`, and whether the whole zone was read.
    async fn ownership_records(&self, zone: &str) -> Result<(Vec<OwnershipRecord>, bool)> {
        let op = "ListResourceRecordSets";
        let mut found = Vec::new();
        let mut next: Option<(String, RrType, Option<String>)> = None;
        for _ in 0..MAX_SCAN_PAGES {
            let start = next.clone();
            let page = self
                .discipline
                .run(op, || async {
                    let mut call = self
                        .client
                        .list_resource_record_sets()
                        .hosted_zone_id(zone)
                        .max_items(SCAN_PAGE);
                    if let Some((name, rtype, id)) = &start {
                        call = call
                            .start_record_name(name)
                            .start_record_type(rtype.clone())
                            .set_start_record_identifier(id.clone());
                    }
                    call.send().await.map_err(|e| classify(op, e))
                })
                .await?;
            found.extend(
                page.resource_record_sets()
                    .iter()
                    .filter_map(OwnershipRecord::of),
            );
            if !page.is_truncated() {
                return Ok((found, true));
            }
            next = page.next_record_name().map(|n| {
                (
                    n.to_owned(),
                    page.next_record_type().cloned().unwrap_or(RrType::A),
                    page.next_record_identifier().map(str::to_owned),
                )
            });
            if next.is_none() || next == start {
                return Err(Error::new(
                    super::NAME,
                    op,
                    ErrorCode::Unavailable,
                    format!("paging zone {zone} did not advance"),
                ));
            }
        }
        Ok((found, false))
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
mod tests {
    use super::*;

    const OWNED: &str = "\"heritage=external-dns,external-dns/owner=prod-cluster,external-dns/resource=ingress/web/www\"";

    #[test]
    fn an_external_dns_value_is_read_as_external_dns_reads_it() {
        assert_eq!(
            external_dns_labels(OWNED),
            Some(ExternalDnsLabels {
                owner: Some("prod-cluster".into()),
                resource: Some("ingress/web/www".into()),
            })
        );
        // Split into several strings, unquoted, or without an owner: still external-dns's.
        assert_eq!(
            external_dns_labels("\"heritage=external-dns,external-dns/ow\" \"ner=a\"")
                .and_then(|l| l.owner),
            Some("a".into())
        );
        assert!(external_dns_labels("heritage=external-dns").is_some());
        for other in [
            "\"v=spf1 include:_spf.example.com ~all\"",
            "\"heritage=someone-else,external-dns/owner=a\"",
            "\"external-dns/owner=a\"",
            "\"failoverd epoch=1 seq=2 controller=c1\"",
            // Encrypted with --txt-encrypt-enabled: unreadable, not a claim.
            "\"IgmCWUpJkTAVuO3ODbV/Rp+3lnmwsiA2Ttn4Nt1zFU6UyjH4=\"",
        ] {
            assert_eq!(external_dns_labels(other), None, "{other}");
        }
    }

    fn txt(name: &str, set_id: Option<&str>, owner: &str) -> OwnershipRecord {
        OwnershipRecord {
            name: name.into(),
            set_id: set_id.map(Into::into),
            labels: ExternalDnsLabels {
                owner: Some(owner.into()),
                resource: None,
            },
        }
    }

    #[test]
    fn ownership_records_claim_their_record_by_name_and_set_identifier() {
        let www = "www.example.com.";
        for (name, m) in [
            ("www.example.com.", Some(Match::Named)),
            ("a-www.example.com.", Some(Match::Named)),
            ("cname-www.example.com.", Some(Match::Named)),
            ("aaaa-www.example.com.", None),
            // --txt-prefix=extdns. and --txt-suffix=-owner: affixes failoverd cannot know.
            ("extdns.a-www.example.com.", Some(Match::Likely)),
            ("a-www-owner.example.com.", Some(Match::Likely)),
            ("www-.cname.example.com.", Some(Match::Likely)),
            ("a-api.example.com.", None),
            ("a-www.example.org.", None),
            ("www.other-example.com.", None),
        ] {
            assert_eq!(
                claims(&txt(name, None, "o"), www, "A", "us-east-1"),
                m,
                "{name}"
            );
        }
        assert_eq!(
            claims(
                &txt("aaaa-www.example.com.", None, "o"),
                www,
                "AAAA",
                "us-east-1"
            ),
            Some(Match::Named)
        );
        // An ownership record of a weighted record carries its set identifier.
        assert_eq!(
            claims(
                &txt("a-www.example.com.", Some("us-east-1"), "o"),
                www,
                "A",
                "us-east-1"
            ),
            Some(Match::Named)
        );
        assert_eq!(
            claims(
                &txt("a-www.example.com.", Some("eu-west-1"), "o"),
                www,
                "A",
                "us-east-1"
            ),
            None,
            "it owns another record of the name"
        );
    }

    fn driven(weighted: bool) -> Driven {
        Driven {
            zone: "Z123".into(),
            name: "www.example.com.".into(),
            rtype: "A".into(),
            set_id: "us-east-1".into(),
            weighted,
        }
    }

    #[test]
    fn one_claim_per_record_and_owner_at_its_surest() {
        let d = driven(true);
        let found = [
            txt("extdns.a-www.example.com.", None, "prod-cluster"),
            txt("www.example.com.", Some("us-east-1"), "prod-cluster"),
            txt("a-www.example.com.", Some("us-east-1"), "prod-cluster"),
            txt("a-www.example.com.", Some("eu-west-1"), "other"),
            txt("a-api.example.com.", None, "other"),
        ];
        let claims = external_dns_claims(&[&d], &found);
        assert_eq!(claims.len(), 1, "{claims:?}");
        let line = claims[0].to_string();
        assert!(
            line.starts_with("www.example.com. A (zone Z123, set us-east-1) is owned by external-dns (owner=prod-cluster, TXT record a-www.example.com.): external-dns writes its own weight back on every sync"),
            "{line}"
        );
        assert!(
            line.contains("--exclude-domains=www.example.com;")
                && line.contains("--policy=create-only")
                && line.ends_with("(runbooks/coexistence.md)"),
            "{line}"
        );
        let likely = external_dns_claims(&[&d], &[txt("extdns.a-www.example.com.", None, "dev")]);
        assert!(
            likely[0]
                .claimed_by
                .starts_with("probably owned by external-dns (owner=dev"),
            "{likely:?}"
        );
        assert_eq!(external_dns_claims(&[&d], &[]), []);
    }

    #[test]
    fn the_attributes_to_ignore_follow_what_failoverd_changes() {
        let (w, f) = (driven(true), driven(false));
        let m = managed(&[&w], false);
        assert_eq!(m.terraform_attributes, ["weighted_routing_policy"]);
        assert_eq!(m.changes, "weights");
        let m = managed(&[&w, &f], true);
        assert_eq!(
            m.terraform_attributes,
            [
                "weighted_routing_policy",
                "records",
                "alias",
                "health_check_id"
            ]
        );
        assert_eq!(m.changes, "weights, answers and health checks");
        assert_eq!(
            m.cloudformation_properties,
            ["Weight", "ResourceRecords", "AliasTarget", "HealthCheckId"]
        );
    }
}
