//! What the ARC backend is configured with: its settings (`[traffic.arc]`: the cluster's
//! endpoints, the safety rules failoverd may override, its rate), each region's routing-control
//! binding (`regions[].traffic.arc` or a `{ arc = { ... } }` knob), and their rules, which report
//! every violation with its path.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::bounds::Bounds;
use crate::traffic::{Binding, Violation};

/// Default ARC data-plane calls per second from this controller.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

/// Allowed `requests_per_second`: at least one; a controller that needs more than twenty calls a
/// second to read its routing controls has too many of them for one tick.
pub const REQUESTS_PER_SECOND_BOUNDS: Bounds<u32> = Bounds::new(1, 20);

/// Settings of the ARC backend: the cluster every routing control is read and set through.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArcSettings {
    /// The cluster's regional data-plane endpoints (ARC gives five). Every call tries them in
    /// turn, so the routing controls can be read and set while some of them are down.
    pub cluster_endpoints: Vec<ClusterEndpoint>,
    /// ARNs of safety rules failoverd may override when it sets routing controls (ARC's
    /// `SafetyRulesToOverride`). Empty by default: ARC's rules then hold, and a change they block
    /// is reported, not forced.
    pub safety_rules_to_override: Vec<String>,
    /// Most ARC calls per second from this controller, over all endpoints.
    pub requests_per_second: u32,
}

/// One regional endpoint of an ARC cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    /// The endpoint's AWS region: its calls are signed for it.
    pub region: String,
    /// The endpoint's URL, as `DescribeCluster` lists it (`https://host-xxxx.us-east-1.example.com/v1`).
    pub url: String,
}

impl Default for ArcSettings {
    fn default() -> Self {
        Self {
            cluster_endpoints: Vec::new(),
            safety_rules_to_override: Vec::new(),
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
        }
    }
}

impl ArcSettings {
    /// Checks the settings found at `at` (`traffic.arc`); every violation goes to `out`.
    /// `bound` says whether any knob is an ARC routing control: only then is an endpoint needed.
    pub fn check(&self, at: &str, bound: bool, out: &mut Vec<Violation>) {
        if let Err(e) = REQUESTS_PER_SECOND_BOUNDS.check(self.requests_per_second) {
            out.push(Violation::new(
                format!("{at}.requests_per_second"),
                e.to_string(),
            ));
        }
        if bound && self.cluster_endpoints.is_empty() {
            out.push(Violation::new(
                format!("{at}.cluster_endpoints"),
                "must list the ARC cluster's endpoints (its five regional data-plane URLs, each with its region) because a knob is an ARC routing control",
            ));
        }
        let mut urls = BTreeSet::new();
        for (k, e) in self.cluster_endpoints.iter().enumerate() {
            let here = format!("{at}.cluster_endpoints[{k}]");
            if !is_region(&e.region) {
                out.push(Violation::new(
                    format!("{here}.region"),
                    format!(
                        "\"{}\" is not an AWS region name (like \"us-east-1\")",
                        e.region
                    ),
                ));
            }
            if let Err(why) = check_url(&e.url) {
                out.push(Violation::new(format!("{here}.url"), why));
            } else if !urls.insert(e.url.trim_end_matches('/')) {
                out.push(Violation::new(
                    format!("{here}.url"),
                    format!("\"{}\" is listed twice", e.url),
                ));
            }
        }
        let mut rules = BTreeSet::new();
        for (k, rule) in self.safety_rules_to_override.iter().enumerate() {
            let path = format!("{at}.safety_rules_to_override[{k}]");
            if arn_resource(rule, "safetyrule").is_none() {
                out.push(Violation::new(
                    path,
                    format!(
                        "\"{rule}\" is not an ARC safety rule ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/safetyrule/<id>)"
                    ),
                ));
            } else if !rules.insert(rule.as_str()) {
                out.push(Violation::new(path, format!("\"{rule}\" is listed twice")));
            }
        }
    }
}

/// Whether `name` looks like an AWS region name: lowercase words and a number, joined by dashes.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Why `url` cannot be a cluster endpoint, if it cannot: it must be an absolute `https` URL, or
/// `http` on a loopback address (a local fake).
fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("\"{url}\" is not a URL: {e}"))?;
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(format!(
            "\"{url}\" is not an absolute URL (https://host-xxxx.us-east-1.example.com/v1)"
        ));
    };
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "\"{url}\" must use https (plain http only on a loopback address)"
        )),
        _ => Err(format!(
            "\"{url}\" is not an absolute URL (https://host-xxxx.us-east-1.example.com/v1)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The resource id of an ARC control-panel resource ARN of `kind` (`routingcontrol`,
/// `safetyrule`): `arn:<partition>:route53-recovery-control::<account>:controlpanel/<panel>/<kind>/<id>`.
pub(super) fn arn_resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [
        "arn",
        partition,
        "route53-recovery-control",
        "",
        account,
        resource,
    ] = parts.as_slice()
    else {
        return None;
    };
    if !partition.starts_with("aws")
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let segments: Vec<&str> = resource.split('/').collect();
    match segments.as_slice() {
        ["controlpanel", panel, k, id] if *k == kind && !panel.is_empty() && !id.is_empty() => {
            Some(id)
        }
        _ => None,
    }
}

/// Which routing control carries a region's share in ARC: `On` is all its traffic, `Off` none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcBinding {
    /// ARN of the routing control
    /// (`arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/routingcontrol/<id>`).
    pub routing_control_arn: String,
    /// An IAM role to assume for this routing control, when its cluster is in another account
    /// than the controller's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl ArcBinding {
    /// A short name for status and the journal: `routingcontrol/<id>`.
    pub fn short_name(&self) -> String {
        match arn_resource(&self.routing_control_arn, "routingcontrol") {
            Some(id) => format!("routingcontrol/{id}"),
            None => self.routing_control_arn.clone(),
        }
    }
}

impl Binding for ArcBinding {
    fn check(&self, at: &str, earlier: &[(String, &Self)], out: &mut Vec<Violation>) {
        if arn_resource(&self.routing_control_arn, "routingcontrol").is_none() {
            out.push(Violation::new(
                format!("{at}.routing_control_arn"),
                format!(
                    "\"{}\" is not an ARC routing control ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/routingcontrol/<id>)",
                    self.routing_control_arn
                ),
            ));
        } else if let Some((path, _)) = earlier
            .iter()
            .find(|(_, o)| o.routing_control_arn == self.routing_control_arn)
        {
            out.push(Violation::new(
                format!("{at}.routing_control_arn"),
                format!(
                    "is bound by {path} too; a routing control is on or off, so it carries one unit's share"
                ),
            ));
        }
        crate::traffic::aws::check_role_arn(at, self.role_arn.as_deref(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str =
        "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/def";
    const RULE: &str =
        "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/safetyrule/min-one";

    fn endpoint(region: &str, url: &str) -> ClusterEndpoint {
        ClusterEndpoint {
            region: region.into(),
            url: url.into(),
        }
    }

    fn violations(settings: &ArcSettings, bound: bool) -> Vec<String> {
        let mut out = Vec::new();
        settings.check("traffic.arc", bound, &mut out);
        out.iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect()
    }

    #[test]
    fn the_defaults_pass_until_a_knob_needs_the_cluster() {
        let settings = ArcSettings::default();
        assert_eq!(settings.requests_per_second, DEFAULT_REQUESTS_PER_SECOND);
        assert_eq!(violations(&settings, false), Vec::<String>::new());
        assert_eq!(
            violations(&settings, true),
            [
                "traffic.arc.cluster_endpoints: must list the ARC cluster's endpoints (its five regional data-plane URLs, each with its region) because a knob is an ARC routing control"
            ]
        );
    }

    #[test]
    fn every_endpoint_rule_and_rate_is_checked_with_its_path() {
        let settings = ArcSettings {
            cluster_endpoints: vec![
                endpoint("us-east-1", "https://host-a.us-east-1.example.com/v1"),
                endpoint("US East", "https://host-b.us-west-2.example.com/v1"),
                endpoint("eu-west-1", "host-c.eu-west-1.example.com"),
                endpoint("ap-southeast-2", "http://host-d.example.com/v1"),
                endpoint("us-west-2", "https://host-a.us-east-1.example.com/v1/"),
                endpoint("us-west-2", "http://127.0.0.1:8080/v1"),
                endpoint("us-west-2", "ftp://127.0.0.1/"),
            ],
            safety_rules_to_override: vec![
                RULE.into(),
                CONTROL.into(),
                RULE.into(),
                "min-one".into(),
            ],
            requests_per_second: 0,
        };
        assert_eq!(
            violations(&settings, true),
            [
                "traffic.arc.requests_per_second: 0 is out of range; allowed 1..=20",
                "traffic.arc.cluster_endpoints[1].region: \"US East\" is not an AWS region name (like \"us-east-1\")",
                "traffic.arc.cluster_endpoints[2].url: \"host-c.eu-west-1.example.com\" is not an absolute URL (https://host-xxxx.us-east-1.example.com/v1)",
                "traffic.arc.cluster_endpoints[3].url: \"http://host-d.example.com/v1\" must use https (plain http only on a loopback address)",
                "traffic.arc.cluster_endpoints[4].url: \"https://host-a.us-east-1.example.com/v1/\" is listed twice",
                "traffic.arc.cluster_endpoints[6].url: \"ftp://127.0.0.1/\" is not an absolute URL (https://host-xxxx.us-east-1.example.com/v1)",
                &format!(
                    "traffic.arc.safety_rules_to_override[1]: \"{CONTROL}\" is not an ARC safety rule ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/safetyrule/<id>)"
                ),
                &format!("traffic.arc.safety_rules_to_override[2]: \"{RULE}\" is listed twice"),
                "traffic.arc.safety_rules_to_override[3]: \"min-one\" is not an ARC safety rule ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/safetyrule/<id>)",
            ]
        );
    }

    #[test]
    fn a_binding_names_one_routing_control_of_its_own() {
        let good = ArcBinding {
            routing_control_arn: CONTROL.into(),
            role_arn: None,
        };
        assert_eq!(good.short_name(), "routingcontrol/def");
        let mut out = Vec::new();
        good.check("regions[0].traffic.arc", &[], &mut out);
        assert_eq!(out, []);

        good.check(
            "regions[1].traffic.arc",
            &[("regions[0]".to_owned(), &good)],
            &mut out,
        );
        let rule = ArcBinding {
            routing_control_arn: RULE.into(),
            role_arn: Some("arn:aws:iam::123456789012:user/alice".into()),
        };
        rule.check("regions[2].knobs[0].arc", &[], &mut out);
        let got: Vec<String> = out
            .iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect();
        assert_eq!(
            got,
            [
                "regions[1].traffic.arc.routing_control_arn: is bound by regions[0] too; a routing control is on or off, so it carries one unit's share".to_owned(),
                format!("regions[2].knobs[0].arc.routing_control_arn: \"{RULE}\" is not an ARC routing control ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/routingcontrol/<id>)"),
                "regions[2].knobs[0].arc.role_arn: \"arn:aws:iam::123456789012:user/alice\" is not an IAM role ARN (arn:aws:iam::123456789012:role/failoverd)".to_owned(),
            ]
        );
    }

    #[test]
    fn arns_are_read_by_kind() {
        assert_eq!(arn_resource(CONTROL, "routingcontrol"), Some("def"));
        assert_eq!(arn_resource(CONTROL, "safetyrule"), None);
        assert_eq!(arn_resource(RULE, "safetyrule"), Some("min-one"));
        for bad in [
            "arn:aws:route53-recovery-control::1234:controlpanel/abc/routingcontrol/def",
            "arn:aws:route53-recovery-control:us-east-1:123456789012:controlpanel/abc/routingcontrol/def",
            "arn:aws:route53-recovery-control::123456789012:controlpanel//routingcontrol/def",
            "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/",
            "arn:aws:globalaccelerator::123456789012:controlpanel/abc/routingcontrol/def",
        ] {
            assert_eq!(arn_resource(bad, "routingcontrol"), None, "{bad}");
        }
    }
}
