//! From what the config wants and what the account holds to the steps that close the gap: pure,
//! so every case is a unit test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use super::combined::{COMBINED_THRESHOLD, Combine, Combined, team_of};
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
    /// Set an existing controller check's `FailureThreshold` to the config's (`UpdateHealthCheck`,
    /// which changes nothing else).
    SetFailureThreshold {
        /// The switch.
        switch: String,
        /// The controller the check probes.
        controller: String,
        /// The check's id.
        id: String,
        /// Its `HealthCheckVersion` as read: the update is refused if it changed since.
        version: Option<i64>,
        /// Its failure threshold now.
        from: i32,
        /// The config's.
        to: u8,
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
    /// Create the check a record that carries the team's own check moves onto: CALCULATED,
    /// healthy only while both the team's check and the switch's calculated check are.
    CreateCombined {
        /// The switch.
        switch: String,
        /// The team's check, kept as it is.
        team: String,
        /// The switch's calculated check.
        switch_check: CheckRef,
    },
    /// Make a record that carried the team's own check carry the combined check instead.
    SetRecordCombined {
        /// The switch.
        switch: String,
        /// The record.
        record: RecordWanted,
        /// The combined check.
        check: CheckRef,
        /// The team's check it carries now (or that the old combined check held), kept inside
        /// the combined one.
        team: String,
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
            Step::SetFailureThreshold {
                switch,
                controller,
                id,
                from,
                to,
                ..
            } => write!(
                f,
                "set failure threshold: switch {switch}, controller {controller}: health check {id} from {from} to {to} results to change state"
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
            Step::CreateCombined {
                switch,
                team,
                switch_check,
            } => {
                let of = match switch_check {
                    CheckRef::Existing(id) => format!("the switch's calculated check {id}"),
                    CheckRef::New(_) => "the switch's new calculated check".to_owned(),
                };
                write!(
                    f,
                    "create calculated health check: switch {switch}: healthy while both the team's check {team} and {of} are ({COMBINED_THRESHOLD} of 2)"
                )
            }
            Step::SetRecordCombined {
                switch,
                record,
                check,
                team,
            } => {
                let check = match check {
                    CheckRef::Existing(id) => format!("calculated check {id}"),
                    CheckRef::New(_) => "its new calculated check".to_owned(),
                };
                write!(
                    f,
                    "set health check: switch {switch}, record {} ({}): {check}, which keeps the team's check {team} and adds the switch",
                    record.key, record.knob
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

impl Step {
    /// Whether this moves a record onto a check the same plan creates: such a move waits for a
    /// later run, because Route 53 counts a new check healthy until it has data.
    pub fn needs_new_check(&self) -> bool {
        matches!(
            self,
            Step::SetRecordCheck {
                check: CheckRef::New(_),
                ..
            } | Step::SetRecordCombined {
                check: CheckRef::New(_),
                ..
            }
        )
    }
}

/// The steps that put the switches' checks and records in place, and what stands in the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The changes, in the order they must be made.
    pub steps: Vec<Step>,
    /// What the plan cannot fix and leaves as it is, each saying what to do.
    pub conflicts: Vec<String>,
    /// What the user should know but needs no change (a record on a deleted check, an old check
    /// left unused).
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
///
/// A check that does what the config says but cannot be trusted to follow the switch (a
/// disabled or inverted check, a calculated check that does not need a majority) is a conflict,
/// not a check to use: the switch gets no steps until it is fixed by hand, because failoverd
/// cannot tell a deliberate setting (a check disabled for maintenance) from a mistake, and a
/// second check beside it would hide it.
pub fn plan(wanted: &Wanted, found: &Found) -> Plan {
    let mut out = Plan::default();
    let mut claimed: BTreeMap<&super::RecordKey, &str> = BTreeMap::new();
    let mut combined = Combined::default();
    for s in &wanted.switches {
        let mut children = Vec::new();
        let mut usable = true;
        for want in &s.checks {
            let check = match find_endpoint(&found.checks, want) {
                Some(Match::Usable(c)) => {
                    drift(c, &s.switch, want, &mut out);
                    CheckRef::Existing(c.id.clone())
                }
                Some(Match::Unsafe(c, why)) => {
                    usable = false;
                    out.conflicts.push(format!(
                        "health check {} (switch {}, controller {}) {why}; {}",
                        c.id,
                        s.switch,
                        want.controller,
                        fix_flags(c)
                    ));
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
        let found_calculated = if usable {
            existing.and_then(|ids| find_calculated(&found.checks, &ids, s.threshold))
        } else {
            None
        };
        let calculated = match found_calculated {
            Some(Match::Usable(c)) => Some(CheckRef::Existing(c.id.clone())),
            Some(Match::Unsafe(c, why)) => {
                out.conflicts.push(format!(
                    "calculated check {} (switch {}) {why}; {}",
                    c.id,
                    s.switch,
                    if c.disabled || c.inverted {
                        fix_flags(c)
                    } else {
                        format!(
                            "set it with `aws route53 update-health-check --health-check-id {} --health-threshold {}`, or delete it once no record carries it, and run again",
                            c.id, s.threshold
                        )
                    }
                ));
                None
            }
            None if usable => {
                out.steps.push(Step::CreateCalculated {
                    switch: s.switch.clone(),
                    children,
                    threshold: s.threshold,
                });
                Some(CheckRef::New(out.steps.len() - 1))
            }
            None => None,
        };
        for r in &s.records {
            if let Some(other) = claimed.insert(&r.key, &s.switch) {
                out.conflicts.push(format!(
                    "record {} ({}) is bound by switch {other} and switch {}; a record carries one health check, so bind it once",
                    r.key, r.knob, s.switch
                ));
                continue;
            }
            let Some(calculated) = &calculated else {
                // The conflicts above say why the switch's records are left as they are.
                continue;
            };
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
            let switch_id = match calculated {
                CheckRef::Existing(id) => Some(id.as_str()),
                CheckRef::New(_) => None,
            };
            let replacing = match (carried, calculated) {
                (Some(id), CheckRef::Existing(want)) if id == want => {
                    out.records_in_place += 1;
                    continue;
                }
                (None, _) => None,
                (Some(id), _) => match found.checks.iter().find(|c| &c.id == id) {
                    // The team's own check, or failoverd's combination of one with a switch:
                    // the record keeps the team's check inside a combined one.
                    Some(c) if !c.ours() || team_of(c, &found.checks, switch_id).is_some() => {
                        let team = team_of(c, &found.checks, switch_id).unwrap_or(id);
                        let want = Combine {
                            switch: s,
                            record: r,
                            carried: id,
                            team,
                        };
                        want.plan(calculated, found, &mut combined, &mut out);
                        continue;
                    }
                    Some(_) => Some(id.clone()),
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

/// A found check that does what the config wants, and whether it can be used.
pub(super) enum Match<'a> {
    /// It follows the switch.
    Usable(&'a FoundCheck),
    /// It does not, for the reason given.
    Unsafe(&'a FoundCheck, String),
}

/// Why `check` cannot be trusted to follow the switch, if it cannot: disabled or inverted.
pub(super) fn flags(check: &FoundCheck) -> Option<String> {
    match (check.disabled, check.inverted) {
        (true, _) => Some(
            "is disabled: Route 53 counts a disabled check healthy, so a switch that is off would still answer"
                .to_owned(),
        ),
        (false, true) => Some(
            "is inverted: Route 53 counts it healthy while the switch is off and unhealthy while it is on"
                .to_owned(),
        ),
        (false, false) => None,
    }
}

/// How to clear `check`'s disabled and inverted flags.
pub(super) fn fix_flags(check: &FoundCheck) -> String {
    format!(
        "clear it with `aws route53 update-health-check --health-check-id {} --no-disabled --no-inverted`, or delete it once no record carries it, and run again",
        check.id
    )
}

/// The best of `candidates`: a usable one if any (failoverd's own first, then the lowest id, so
/// every run picks the same one among duplicates), else the first unsafe one with its reason.
pub(super) fn best<'a>(
    candidates: impl Iterator<Item = &'a FoundCheck>,
    why_not: impl Fn(&FoundCheck) -> Option<String>,
) -> Option<Match<'a>> {
    let mut sorted: Vec<&FoundCheck> = candidates.collect();
    sorted.sort_by_key(|c| (!c.ours(), c.id.as_str()));
    if let Some(c) = sorted.iter().find(|c| why_not(c).is_none()) {
        return Some(Match::Usable(c));
    }
    let c = sorted.first()?;
    Some(Match::Unsafe(c, why_not(c).unwrap_or_default()))
}

/// The check that does what `want` says.
fn find_endpoint<'a>(checks: &'a [FoundCheck], want: &EndpointWanted) -> Option<Match<'a>> {
    best(
        checks.iter().filter(|c| endpoint_matches(&c.config, want)),
        flags,
    )
}

/// The calculated check over exactly `children`; usable if it needs `threshold` of them (a
/// majority) and is neither disabled nor inverted.
fn find_calculated<'a>(
    checks: &'a [FoundCheck],
    children: &BTreeSet<String>,
    threshold: u32,
) -> Option<Match<'a>> {
    best(
        checks.iter().filter(|c| matches!(&c.config, FoundConfig::Calculated { children: have, .. } if have == children)),
        |c| {
            flags(c).or_else(|| match &c.config {
                FoundConfig::Calculated { threshold: t, .. }
                    if t.map(i64::from) != Some(i64::from(threshold)) =>
                {
                    Some(format!(
                        "needs {} of its {} children healthy, where the switches need a majority ({threshold}): fewer lets one controller's stale \"on\" keep a drained region answering, more lets one lost controller withdraw it",
                        t.map_or_else(|| "an unknown number".to_owned(), |t| t.to_string()),
                        children.len()
                    ))
                }
                _ => None,
            })
        },
    )
}

/// What a matched check does differently from the config: a failure threshold is a step (Route
/// 53 updates it in place); a request interval is a conflict, because Route 53 cannot change it
/// on an existing check. The check still follows its switch, at its own pace, so the switch's
/// other steps go ahead.
fn drift(found: &FoundCheck, switch: &str, want: &EndpointWanted, out: &mut Plan) {
    let FoundConfig::Endpoint {
        interval,
        failure_threshold,
        ..
    } = &found.config
    else {
        return;
    };
    if let Some(i) = interval
        && i64::from(*i) != i64::from(want.interval)
    {
        out.conflicts.push(format!(
            "health check {} (switch {switch}, controller {}) checks every {i}s, the config's request_interval is {}s, and Route 53 cannot change a check's interval: delete the check so that setup creates one at {}s (and a new calculated check, which the records move onto once it has data), or set request_interval back to {i}s",
            found.id, want.controller, want.interval, want.interval
        ));
    }
    if let Some(t) = failure_threshold
        && i64::from(*t) != i64::from(want.failure_threshold)
    {
        out.steps.push(Step::SetFailureThreshold {
            switch: switch.to_owned(),
            controller: want.controller.clone(),
            id: found.id.clone(),
            version: found.version,
            from: *t,
            to: want.failure_threshold,
        });
    }
}
