//! Records that already carry the team's own health check keep it: such a record moves onto a
//! CALCULATED check that is healthy only while both the team's check and the switch's
//! calculated check are (`HealthThreshold` 2 of 2), so the team's check still withdraws the
//! record when their endpoint fails, and the switch withdraws it when failoverd drains the
//! region. The team's check itself is never changed.
//!
//! A combined check is failoverd's (its `CallerReference`), calculated, 2 of 2, and one of its
//! two children is a calculated check: that is how a later run tells it from the switch's own
//! calculated check, and finds the team's check inside it (the other child). One combined check
//! serves every record carrying the same team's check on the same switch (A and AAAA).

use std::collections::BTreeSet;

use super::plan::{CheckRef, Match, Plan, Step, best, fix_flags, flags};
use super::{Found, FoundCheck, FoundConfig, RecordWanted, SwitchWanted};

/// A combined check's `HealthThreshold`: both children healthy.
pub const COMBINED_THRESHOLD: u32 = 2;

/// The team's check inside `check`, if `check` is a combined check failoverd made: the child
/// that is not `switch_check` (the switch's calculated check now), or else the child that is
/// not a calculated check of failoverd's.
pub(super) fn team_of<'a>(
    check: &'a FoundCheck,
    checks: &[FoundCheck],
    switch_check: Option<&str>,
) -> Option<&'a str> {
    let FoundConfig::Calculated {
        children,
        threshold,
    } = &check.config
    else {
        return None;
    };
    if !check.ours()
        || children.len() != 2
        || threshold.map(i64::from) != Some(i64::from(COMBINED_THRESHOLD))
    {
        return None;
    }
    if let Some(s) = switch_check.filter(|s| children.contains(*s)) {
        return children
            .iter()
            .find(|c| c.as_str() != s)
            .map(String::as_str);
    }
    let switch_like = |id: &str| {
        checks
            .iter()
            .any(|c| c.id == id && c.ours() && matches!(c.config, FoundConfig::Calculated { .. }))
    };
    match children.iter().partition::<Vec<_>, _>(|c| switch_like(c)) {
        (switch, team) if switch.len() == 1 && team.len() == 1 => Some(team[0].as_str()),
        _ => None,
    }
}

/// Everything a combined check does, for its caller reference.
pub fn combined_canonical(switch: &str, team: &str, switch_check: &str) -> String {
    format!("combined|{switch}|{COMBINED_THRESHOLD}|{team}|{switch_check}")
}

/// The combined checks a plan creates, by team's check and switch check: one each.
#[derive(Debug, Default)]
pub(super) struct Combined(Vec<((String, CheckRef), CheckRef)>);

/// One record carrying `carried` (the team's check, or failoverd's combination of `team`).
pub(super) struct Combine<'a> {
    pub switch: &'a SwitchWanted,
    pub record: &'a RecordWanted,
    pub carried: &'a str,
    pub team: &'a str,
}

impl Combine<'_> {
    /// The steps moving the record onto the combined check of its team's check and
    /// `calculated` (the switch's), creating that check once if the account lacks it.
    pub(super) fn plan(
        &self,
        calculated: &CheckRef,
        found: &Found,
        made: &mut Combined,
        out: &mut Plan,
    ) {
        let key = (self.team.to_owned(), calculated.clone());
        let target = if let Some((_, c)) = made.0.iter().find(|(k, _)| *k == key) {
            c.clone()
        } else {
            let existing = match calculated {
                CheckRef::Existing(id) => find_combined(&found.checks, self.team, id),
                CheckRef::New(_) => None,
            };
            let target = match existing {
                Some(Match::Usable(c)) => CheckRef::Existing(c.id.clone()),
                Some(Match::Unsafe(c, why)) => {
                    out.conflicts.push(format!(
                        "calculated check {} (switch {}) combines the team's check {} with the switch's but {why}; {}",
                        c.id,
                        self.switch.switch,
                        self.team,
                        if c.disabled || c.inverted {
                            fix_flags(c)
                        } else {
                            format!(
                                "set it with `aws route53 update-health-check --health-check-id {} --health-threshold {COMBINED_THRESHOLD}`, or delete it once no record carries it, and run again",
                                c.id
                            )
                        }
                    ));
                    return;
                }
                None => {
                    out.steps.push(Step::CreateCombined {
                        switch: self.switch.switch.clone(),
                        team: self.team.to_owned(),
                        switch_check: calculated.clone(),
                    });
                    CheckRef::New(out.steps.len() - 1)
                }
            };
            made.0.push((key, target.clone()));
            target
        };
        if matches!(&target, CheckRef::Existing(id) if id == self.carried) {
            out.records_in_place += 1;
            return;
        }
        out.steps.push(Step::SetRecordCombined {
            switch: self.switch.switch.clone(),
            record: self.record.clone(),
            check: target,
            team: self.team.to_owned(),
        });
    }
}

/// The calculated check over exactly `team` and `switch_check`; usable if it needs both and
/// is neither disabled nor inverted.
fn find_combined<'a>(
    checks: &'a [FoundCheck],
    team: &str,
    switch_check: &str,
) -> Option<Match<'a>> {
    let children: BTreeSet<String> = [team.to_owned(), switch_check.to_owned()].into();
    best(
        checks.iter().filter(|c| {
            matches!(&c.config, FoundConfig::Calculated { children: have, .. } if *have == children)
        }),
        |c| {
            flags(c).or_else(|| match &c.config {
                FoundConfig::Calculated { threshold: t, .. }
                    if t.map(i64::from) != Some(i64::from(COMBINED_THRESHOLD)) =>
                {
                    Some(format!(
                        "needs {} of its 2 children healthy, where both are needed: with fewer, the team's check or the switch alone could no longer withdraw the record",
                        t.map_or_else(|| "an unknown number".to_owned(), |t| t.to_string())
                    ))
                }
                _ => None,
            })
        },
    )
}
