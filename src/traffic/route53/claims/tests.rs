//! What the Route 53 claims make of ownership records and zones, without I/O.

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
            claims(&txt(name, None, "o"), www, "A", "us-east-1", false),
            m,
            "{name}"
        );
    }
    assert_eq!(
        claims(
            &txt("aaaa-www.example.com.", None, "o"),
            www,
            "AAAA",
            "us-east-1",
            false
        ),
        Some(Match::Named)
    );
    // An ownership record of a weighted record carries its set identifier.
    assert_eq!(
        claims(
            &txt("a-www.example.com.", Some("us-east-1"), "o"),
            www,
            "A",
            "us-east-1",
            false
        ),
        Some(Match::Named)
    );
    assert_eq!(
        claims(
            &txt("a-www.example.com.", Some("eu-west-1"), "o"),
            www,
            "A",
            "us-east-1",
            false
        ),
        None,
        "it owns another record of the name"
    );
    // Every name of the zone holds an apex record's first label: only its own names count.
    let apex = "example.com.";
    for (name, m) in [
        ("a-example.com.", Some(Match::Named)),
        ("example.com.", Some(Match::Named)),
        ("a-api.example.com.", None),
        ("api.example.com.", None),
        ("extdns.a-api.example.com.", None),
    ] {
        assert_eq!(
            claims(&txt(name, None, "o"), apex, "A", "us-east-1", true),
            m,
            "{name}"
        );
    }
}

fn driven(weighted: bool) -> Driven {
    driven_writing(if weighted {
        Writes::Weight
    } else {
        Writes::Answer
    })
}

fn driven_writing(writes: Writes) -> Driven {
    Driven {
        zone: "Z123".into(),
        name: "www.example.com.".into(),
        rtype: "A".into(),
        set_id: "us-east-1".into(),
        writes,
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
    let scan = |owners: &[OwnershipRecord]| ZoneScan {
        owners: owners.to_vec(),
        apex: Some("example.com.".into()),
        complete: true,
    };
    let claims = external_dns_claims(&[&d], &scan(&found));
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
    let likely = external_dns_claims(
        &[&d],
        &scan(&[txt("extdns.a-www.example.com.", None, "dev")]),
    );
    assert!(
        likely[0]
            .claimed_by
            .starts_with("probably owned by external-dns (owner=dev"),
        "{likely:?}"
    );
    assert_eq!(external_dns_claims(&[&d], &scan(&[])), []);
    // The same records bound at the apex: only the apex's own ownership records count.
    let at_apex = Driven {
        name: "example.com.".into(),
        ..driven(true)
    };
    assert_eq!(
        external_dns_claims(
            &[&at_apex],
            &scan(&[
                txt("a-www.example.com.", None, "prod-cluster"),
                txt("www.example.com.", None, "prod-cluster"),
            ])
        ),
        []
    );
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

#[test]
fn a_record_without_a_weight_is_claimed_only_for_its_health_check() {
    let l = driven_writing(Writes::HealthCheck);
    let m = managed(&[&l], false);
    assert_eq!(m.terraform_attributes, ["health_check_id"]);
    assert_eq!(m.changes, "health checks");
    assert_eq!(m.cloudformation_properties, ["HealthCheckId"]);
}

#[test]
fn a_stepped_geoproximity_record_is_claimed_for_its_bias_and_health_check() {
    let g = driven_writing(Writes::Bias);
    let m = managed(&[&g], false);
    assert_eq!(m.changes, "biases and health checks");
    assert_eq!(
        m.terraform_attributes,
        ["geoproximity_routing_policy", "health_check_id"]
    );
    assert_eq!(
        m.cloudformation_properties,
        ["GeoProximityLocation", "HealthCheckId"]
    );
}
