//! From what the config wants and what the account holds to the steps that close the gap: pure,
//! so every case is a unit test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use super::{
    EndpointWanted, Found, FoundCheck, FoundConfig, FoundRecord, RecordWanted, Target, Wanted,
};

/// A health check a step refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRef {
    /// One the account holds, by id.
    Existing(String),
    /// The one an earlier step of the plan creates, by the step's index.
    New(usize),
}

/// One change the plan makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a controller's check of a switch.
    CreateEndpoint {
        /// The switch.
        switch: String,
        /// The check.
        check: EndpointWanted,
    },
    /// Create a switch's calculated check over its controllers' checks.
    CreateCalculated {
        /// The switch.
        switch: String,
        /// Each controller's check, by controller id.
        children: Vec<(String, CheckRef)>,
        /// `HealthThreshold`.
        threshold: u32,
    },
    /// Make a record carry its switch's calculated check.
    SetRecordCheck {
        /// The switch.
        switch: String,
        /// The record.
        record: RecordWanted,
        /// The calculated check.
        check: CheckRef,
        /// The check of failoverd's it carries now (an old one, or one deleted since).
        replacing: Option<String>,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateEndpoint { switch, check } => write!(
                f,
                "create health check: switch {switch}, controller {}: {check}",
                check.controller
            ),
            Step::CreateCalculated {
                switch,
                children,
                threshold,
            } => {
                let names: Vec<&str> = children.iter().map(|(c, _)| c.as_str()).collect();
                write!(
                    f,
                    "create calculated health check: switch {switch}: healthy while {threshold} of {} controllers' checks are ({})",
                    children.len(),
                    names.join(", ")
                )
            }
            Step::SetRecordCheck {
                switch,
                record,
                check,
                replacing,
            } => {
                let check = match check {
                    CheckRef::Existing(id) => format!("calculated check {id}"),
                    CheckRef::New(_) => "its new calculated check".to_owned(),
                };
                write!(
                    f,
                    "set health check: switch {switch}, record {} ({}): {check}",
                    record.key, record.knob
                )?;
                if let Some(old) = replacing {
                    write!(f, ", replacing failoverd's check {old}")?;
                }
                Ok(())
            }
        }
    }
}

/// The steps that put the switches' checks and records in place, and what stands in the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The changes, in the order they must be made.
    pub steps: Vec<Step>,
    /// What the plan cannot fix and leaves as it is, each saying what to do.
    pub conflicts: Vec<String>,
    /// What the user should know but needs no change (settings that differ from the config).
    pub notes: Vec<String>,
    /// How many records already carry their switch's calculated check.
    pub records_in_place: usize,
}

impl Plan {
    /// Whether everything is in place: nothing to change, nothing in the way.
    pub fn in_place(&self) -> bool {
        self.steps.is_empty() && self.conflicts.is_empty()
    }
}

/// The steps from what `found` holds to what `wanted` needs.
pub fn plan(wanted: &Wanted, found: &Found) -> Plan {
    let mut out = Plan::default();
    let mut claimed: BTreeMap<&super::RecordKey, &str> = BTreeMap::new();
    for s in &wanted.switches {
        let mut children = Vec::new();
        for want in &s.checks {
            let check = match find_endpoint(&found.checks, want) {
                Some(c) => {
                    drift(c, &s.switch, want, &mut out.notes);
                    CheckRef::Existing(c.id.clone())
                }
                None => {
                    out.steps.push(Step::CreateEndpoint {
                        switch: s.switch.clone(),
                        check: want.clone(),
                    });
                    CheckRef::New(out.steps.len() - 1)
                }
            };
            children.push((want.controller.clone(), check));
        }
        let existing: Option<BTreeSet<String>> = children
            .iter()
            .map(|(_, c)| match c {
                CheckRef::Existing(id) => Some(id.clone()),
                CheckRef::New(_) => None,
            })
            .collect();
        let calculated = match existing.and_then(|ids| find_calculated(&found.checks, &ids)) {
            Some(c) => {
                if let FoundConfig::Calculated {
                    threshold: Some(t), ..
                } = &c.config
                    && i64::from(*t) != i64::from(s.threshold)
                {
                    out.notes.push(format!(
                        "calculated check {} (switch {}) needs {t} healthy children, the config a majority of {}; set its health threshold to {}",
                        c.id,
                        s.switch,
                        s.checks.len(),
                        s.threshold
                    ));
                }
                CheckRef::Existing(c.id.clone())
            }
            None => {
                out.steps.push(Step::CreateCalculated {
                    switch: s.switch.clone(),
                    children,
                    threshold: s.threshold,
                });
                CheckRef::New(out.steps.len() - 1)
            }
        };
        for r in &s.records {
            if let Some(other) = claimed.insert(&r.key, &s.switch) {
                out.conflicts.push(format!(
                    "record {} ({}) is bound by switch {other} and switch {}; a record carries one health check, so bind it once",
                    r.key, r.knob, s.switch
                ));
                continue;
            }
            let carried = match found.records.get(&r.key) {
                Some(FoundRecord::Present(carried)) => carried,
                Some(FoundRecord::Missing(why)) => {
                    out.conflicts.push(format!(
                        "switch {}: record {} ({}) cannot carry the switch's check: {why}; create the record, or correct the binding",
                        s.switch, r.key, r.knob
                    ));
                    continue;
                }
                None => {
                    out.conflicts.push(format!(
                        "switch {}: record {} ({}) was not read",
                        s.switch, r.key, r.knob
                    ));
                    continue;
                }
            };
            let replacing = match (carried, &calculated) {
                (Some(id), CheckRef::Existing(want)) if id == want => {
                    out.records_in_place += 1;
                    continue;
                }
                (None, _) => None,
                (Some(id), _) => match found.checks.iter().find(|c| &c.id == id) {
                    Some(c) if c.ours() => Some(id.clone()),
                    Some(_) => {
                        out.conflicts.push(format!(
                            "switch {}: record {} ({}) carries health check {id}, which failoverd did not create; it is left as it is. The record would need a calculated check combining that check with the switch's, which failoverd does not build yet: remove the record's check to let the switch drive it, or leave this record out of the switch",
                            s.switch, r.key, r.knob
                        ));
                        continue;
                    }
                    None => {
                        out.notes.push(format!(
                            "record {} carries health check {id}, which no longer exists (Route 53 calls the status of a deleted check unpredictable); it is replaced",
                            r.key
                        ));
                        Some(id.clone())
                    }
                },
            };
            out.steps.push(Step::SetRecordCheck {
                switch: s.switch.clone(),
                record: r.clone(),
                check: calculated.clone(),
                replacing,
            });
        }
    }
    // Records that move from one check to another leave failoverd's old check unused.
    let replaced: BTreeSet<&str> = out
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::SetRecordCheck {
                replacing: Some(old),
                ..
            } if found.checks.iter().any(|c| &c.id == old) => Some(old.as_str()),
            _ => None,
        })
        .collect();
    for old in replaced {
        out.notes.push(format!(
            "failoverd's check {old} is no longer wanted once the records move off it; delete it when no record carries it"
        ));
    }
    out
}

/// Whether `found` checks `want`'s endpoint: HTTPS, the same address, port and path.
fn endpoint_matches(found: &FoundConfig, want: &EndpointWanted) -> bool {
    let FoundConfig::Endpoint {
        kind,
        ip,
        fqdn,
        port,
        path,
        ..
    } = found
    else {
        return false;
    };
    let target = match &want.target {
        Target::Ip(w) => ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()) == Some(*w),
        Target::Name(n) => {
            ip.is_none()
                && fqdn
                    .as_deref()
                    .is_some_and(|f| f.trim_end_matches('.').eq_ignore_ascii_case(n))
        }
    };
    kind == "HTTPS"
        && target
        && *port == Some(i32::from(want.port))
        && path.as_deref() == Some(want.path.as_str())
}

/// The check that does what `want` says: failoverd's own first, then the lowest id, so every
/// run picks the same one among duplicates.
fn find_endpoint<'a>(checks: &'a [FoundCheck], want: &EndpointWanted) -> Option<&'a FoundCheck> {
    checks
        .iter()
        .filter(|c| endpoint_matches(&c.config, want))
        .min_by_key(|c| (!c.ours(), c.id.as_str()))
}

/// The calculated check over exactly `children`.
fn find_calculated<'a>(
    checks: &'a [FoundCheck],
    children: &BTreeSet<String>,
) -> Option<&'a FoundCheck> {
    checks
        .iter()
        .filter(|c| matches!(&c.config, FoundConfig::Calculated { children: have, .. } if have == children))
        .min_by_key(|c| (!c.ours(), c.id.as_str()))
}

/// Notes on what a matched check does differently from the config.
fn drift(found: &FoundCheck, switch: &str, want: &EndpointWanted, notes: &mut Vec<String>) {
    let FoundConfig::Endpoint {
        interval,
        failure_threshold,
        ..
    } = &found.config
    else {
        return;
    };
    let what = format!(
        "health check {} (switch {switch}, controller {})",
        found.id, want.controller
    );
    if let Some(i) = interval
        && i64::from(*i) != i64::from(want.interval)
    {
        notes.push(format!(
            "{what} checks every {i}s, the config says {}s; Route 53 cannot change a check's interval: delete the check (after moving its records off it) and run again",
            want.interval
        ));
    }
    if let Some(t) = failure_threshold
        && i64::from(*t) != i64::from(want.failure_threshold)
    {
        notes.push(format!(
            "{what} has failure threshold {t}, the config {}; set it with `aws route53 update-health-check --health-check-id {} --failure-threshold {}`",
            want.failure_threshold, found.id, want.failure_threshold
        ));
    }
}
