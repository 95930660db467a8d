//! Setting Route 53 up for the data-plane switches (`failoverd setup route53-switches`, and
//! `failoverd check-config --live`): the health checks that probe each controller's switches and
//! the records that carry them.
//!
//! For each switch (`region`, or `service/region`) that has Route 53 knobs:
//! - **one HTTPS health check per controller** of `[switches].controllers`, probing
//!   `https://{address}:{port}/switch/{switch}` (`IPAddress` when the address is an IP,
//!   `FullyQualifiedDomainName` otherwise) at `request_interval` with `failure_threshold`;
//! - **one CALCULATED health check** over them, healthy while a majority is
//!   ([`SwitchSettings::majority`]);
//! - that calculated check as the `HealthCheckId` of **every record** of the switch's knobs
//!   (weighted records, and each record of a failover pair that a region binds).
//!
//! It goes in three steps: [`Wanted::new`] says what the config needs, `discover` (in
//! `calls`) reads what the account holds into a [`Found`], and [`plan`] (pure) compares them
//! into the [`Step`]s to take and the conflicts to report; `apply` takes the steps. Existing
//! checks are matched by what they do (type, address, port, path; a calculated check by its
//! set of children), never by name, so checks made by hand or by an earlier run are used as they
//! are, unless they cannot follow the switch: a matched check that is disabled or inverted, or a
//! calculated check that does not need a majority, is a conflict, and its switch gets no steps
//! until someone fixes it. A matched controller check whose failure threshold differs from the
//! config's is updated in place (a [`Step`]); one whose request interval differs is a conflict,
//! because Route 53 fixes a check's interval when it creates it. A check failoverd creates has a `CallerReference` derived from its settings
//! ([`caller_reference`]): a create retried after a lost answer returns the same check instead
//! of a second one.
//!
//! A record already carrying a health check that failoverd did not create (the team's own)
//! keeps it: it moves onto a CALCULATED check that is healthy only while both that check and
//! the switch's calculated check are (2 of 2), which the setup creates once per team's check
//! and switch (`combined`). The team's check is never changed. This is how records without a
//! weight (latency, geolocation, geoproximity, multivalue), which often carry the team's check
//! already, come under their switch.

mod calls;
mod combined;
mod plan;
mod update;
mod withdrawn;
mod writes;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use self::calls::{ATTEMPTS, Discovered, Outcome, Progress, Route53Api};
pub use self::combined::{COMBINED_THRESHOLD, combined_canonical};
pub use self::plan::{CheckRef, Plan, Step, plan};
use super::Route53Binding;
pub use super::checks::{CALLER_REFERENCE_PREFIX, FoundCheck, FoundConfig, not_always_unhealthy};
use super::records::fqdn;
use crate::traffic::switches::{SwitchSettings, path_of, switch_of};

/// Time allowed beyond `request_interval × failure_threshold` for Route 53's checkers to start
/// on a new check and report: until they have, Route 53 counts it healthy.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(120);

/// Why the switches cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The config has no `[switches]` table.
    #[error(
        "the config has no [switches] table: it says where each controller serves its switches and how Route 53 checks them (see config/example.toml)"
    )]
    NoSwitches,
    /// `[switches]` lists no controller.
    #[error("switches.controllers is empty: there is no controller for Route 53 to check")]
    NoControllers,
    /// No knob is a Route 53 record.
    #[error(
        "no region binds a Route 53 record (traffic.route53 or knobs[].route53): the switches have nothing to act on"
    )]
    NoRoute53Knobs,
    /// A knob's zone is reached through a role in another account.
    #[error(
        "{knob} reaches its zone through role_arn: its health checks would have to live in that account, which the switch setup does not do yet; set the zone up by hand, or without the role"
    )]
    OtherAccount {
        /// The knob's path in the config.
        knob: String,
    },
    /// A Route 53 call failed.
    #[error("{0}")]
    Api(#[from] crate::traffic::Error),
    /// One record's write does not fit in a Route 53 batch.
    #[error("{0}")]
    TooLarge(#[from] super::batch::TooLarge),
    /// Records kept changing between reading and writing them.
    #[error(
        "records changed between reading and writing them {attempts} times, so their health checks were not set (the running controller may be moving them): {records}; run again when they are stable"
    )]
    KeptChanging {
        /// How many times they were read and written.
        attempts: u32,
        /// The records that changed the last time.
        records: String,
    },
    /// A health check kept changing between reading it and updating it.
    #[error(
        "health check {id} changed between reading and updating it {attempts} times, so its failure threshold was not set (someone else is changing it); run again when it is stable"
    )]
    CheckKeptChanging {
        /// How many times it was read and updated.
        attempts: u32,
        /// The check's id.
        id: String,
    },
    /// A check failoverd created earlier was changed by hand, so creating it again collides with
    /// its `CallerReference`.
    #[error(
        "health check {id} was created by failoverd for {what} (CallerReference {reference}) and has since been changed so that it no longer does what the config says; delete it, or set it back, and run again"
    )]
    ChangedByHand {
        /// The check's id.
        id: String,
        /// Which switch and controller it is for.
        what: String,
        /// Its `CallerReference`.
        reference: String,
    },
}

/// Where Route 53's checkers reach a controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `IPAddress`.
    Ip(IpAddr),
    /// `FullyQualifiedDomainName`.
    Name(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Target::Ip(ip) => write!(f, "{ip}"),
            Target::Name(n) => f.write_str(n),
        }
    }
}

/// One controller's check of one switch, as the config wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointWanted {
    /// The controller's id.
    pub controller: String,
    /// Its address.
    pub target: Target,
    /// Its switch listener's port.
    pub port: u16,
    /// The switch's path (`/switch/us-east-1`).
    pub path: String,
    /// Seconds between checks (10 or 30).
    pub interval: u32,
    /// Consecutive results to change state.
    pub failure_threshold: u8,
}

impl fmt::Display for EndpointWanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTPS {}:{}{}, every {}s, {} results to change state",
            self.target, self.port, self.path, self.interval, self.failure_threshold
        )
    }
}

/// A record set: zone, name, type and set identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// Hosted zone id.
    pub zone: String,
    /// Fully qualified, lower case.
    pub name: String,
    /// `A`, `AAAA`, `CNAME`.
    pub rtype: String,
    /// `SetIdentifier`.
    pub set_id: String,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} \"{}\" in zone {}",
            self.name, self.rtype, self.set_id, self.zone
        )
    }
}

/// A record a switch's knob binds, with where the config binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWanted {
    /// The record.
    pub key: RecordKey,
    /// The knob's path in the config (`regions[0].traffic.route53`).
    pub knob: String,
}

/// One switch's checks and records, as the config wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchWanted {
    /// The switch (`us-east-1`, `api/us-east-1`).
    pub switch: String,
    /// One check per controller, in `[switches].controllers` order.
    pub checks: Vec<EndpointWanted>,
    /// The calculated check's `HealthThreshold`: a majority.
    pub threshold: u32,
    /// Every record of the switch's knobs.
    pub records: Vec<RecordWanted>,
}

/// What the config needs in Route 53 for its switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Each switch with Route 53 knobs, in config order.
    pub switches: Vec<SwitchWanted>,
    /// What the setup can do but the user should know (addresses Route 53 will not check).
    pub warnings: Vec<String>,
}

impl Wanted {
    /// What `settings` (`[switches]`) needs for `knobs`: every Route 53 knob of the config, each
    /// with its key (`region`, `region#k`, `service/region#k`; its switch is
    /// [`switch_of`] the key) and its path in the config, in config order.
    pub fn new<'a>(
        settings: Option<&SwitchSettings>,
        knobs: impl IntoIterator<Item = (&'a str, &'a str, &'a Route53Binding)>,
    ) -> Result<Wanted, SetupError> {
        let settings = settings.ok_or(SetupError::NoSwitches)?;
        if settings.controllers.is_empty() {
            return Err(SetupError::NoControllers);
        }
        let mut switches: Vec<SwitchWanted> = Vec::new();
        for (key, path, b) in knobs {
            if b.role_arn.is_some() {
                return Err(SetupError::OtherAccount {
                    knob: path.to_owned(),
                });
            }
            let switch = switch_of(key);
            let at = match switches.iter().position(|s| s.switch == switch) {
                Some(at) => at,
                None => {
                    switches.push(SwitchWanted {
                        switch: switch.to_owned(),
                        checks: endpoint_checks(settings, switch),
                        threshold: u32::try_from(settings.majority()).unwrap_or(u32::MAX),
                        records: Vec::new(),
                    });
                    switches.len() - 1
                }
            };
            for rtype in b.record_type.iter() {
                switches[at].records.push(RecordWanted {
                    key: RecordKey {
                        zone: b
                            .hosted_zone_id
                            .trim_start_matches("/hostedzone/")
                            .to_owned(),
                        name: fqdn(&b.record_name),
                        rtype: rtype.to_owned(),
                        set_id: b.set_identifier.clone(),
                    },
                    knob: path.to_owned(),
                });
            }
        }
        if switches.is_empty() {
            return Err(SetupError::NoRoute53Knobs);
        }
        let warnings = settings
            .controllers
            .iter()
            .filter_map(|c| {
                let ip = c.address.parse::<IpAddr>().ok()?;
                (!publicly_routable(ip)).then(|| {
                    format!(
                        "controller {} ({ip}): Route 53 does not check private, loopback or other non-public addresses and refuses to create such checks; give the address its checkers reach from the internet",
                        c.id
                    )
                })
            })
            .collect();
        Ok(Wanted { switches, warnings })
    }

    /// How many records the switches bind.
    pub fn record_count(&self) -> usize {
        self.switches.iter().map(|s| s.records.len()).sum()
    }

    /// How long to wait after creating checks before records may carry them: the slowest
    /// check's `request_interval × failure_threshold`, plus [`SETTLE_MARGIN`]. A new check is
    /// healthy to Route 53 until it has that much data.
    pub fn settle_time(&self) -> Duration {
        let slowest = self
            .switches
            .iter()
            .flat_map(|s| &s.checks)
            .map(|c| u64::from(c.interval) * u64::from(c.failure_threshold))
            .max()
            .unwrap_or(0);
        Duration::from_secs(slowest) + SETTLE_MARGIN
    }
}

fn endpoint_checks(settings: &SwitchSettings, switch: &str) -> Vec<EndpointWanted> {
    settings
        .controllers
        .iter()
        .map(|c| EndpointWanted {
            controller: c.id.clone(),
            target: c.address.parse::<IpAddr>().map_or_else(
                |_| Target::Name(c.address.trim_end_matches('.').to_ascii_lowercase()),
                Target::Ip,
            ),
            port: c.port,
            path: path_of(switch),
            interval: u32::try_from(settings.request_interval.as_secs()).unwrap_or(u32::MAX),
            failure_threshold: settings.failure_threshold,
        })
        .collect()
}

/// Whether Route 53's checkers may check `ip`: not private, loopback, link-local, shared
/// (100.64/10), unspecified, multicast, broadcast, documentation, or IPv6 unique-local.
pub fn publicly_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !publicly_routable(IpAddr::V4(v4))))
        }
    }
}

/// The `CallerReference` for a check with the settings `canonical` (a string naming everything
/// the check does), at `generation` (1 normally; more when a deleted check still holds the
/// reference, which Route 53 keeps for some days): the same settings always give the same
/// reference, so a retried create cannot make a second check, and different settings never do.
pub fn caller_reference(canonical: &str, generation: u32) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    if generation <= 1 {
        format!("{CALLER_REFERENCE_PREFIX}{hex}")
    } else {
        format!("{CALLER_REFERENCE_PREFIX}{hex}-{generation}")
    }
}

impl EndpointWanted {
    /// Everything this check does, for its caller reference.
    pub fn canonical(&self, switch: &str) -> String {
        format!(
            "endpoint|{switch}|{}|HTTPS|{}|{}|{}|{}|{}",
            self.controller,
            self.target,
            self.port,
            self.path,
            self.interval,
            self.failure_threshold
        )
    }
}

/// Everything a calculated check over `children` does, for its caller reference.
pub fn calculated_canonical(switch: &str, threshold: u32, children: &BTreeSet<String>) -> String {
    let ids: Vec<&str> = children.iter().map(String::as_str).collect();
    format!("calculated|{switch}|{threshold}|{}", ids.join(","))
}

/// A bound record as the zone holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundRecord {
    /// It is there, carrying this health check or none.
    Present(Option<String>),
    /// It is not (or its zone is not), as the message says.
    Missing(String),
}

/// What discovery read from the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Every health check of the account.
    pub checks: Vec<FoundCheck>,
    /// Every bound record.
    pub records: BTreeMap<RecordKey, FoundRecord>,
}

#[cfg(test)]
mod tests;
