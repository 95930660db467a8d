//! How Route 53 answers a name, without I/O: given the record sets of one name and type and the
//! state of the health checks they carry, the fraction of DNS answers each record set gets. The
//! switch tests use it to say what users would see after a switch flips, and the simulator can
//! use it to move simulated users the way resolvers would.
//!
//! The rules, each with the wording of the Route 53 Developer Guide ("How Amazon Route 53
//! chooses records when health checking is configured", "Active-active and active-passive
//! failover") or the API Reference it follows:
//!
//! 1. **A record without a health check is healthy.** "If a record in a group of records that
//!    have the same name and type doesn't have an associated health check, Route 53 always
//!    considers it healthy and always includes it among possible responses to a query."
//! 2. **An unhealthy record is left out**: Route 53 "chooses a record based on the routing
//!    policy … If the record is unhealthy, Route 53 chooses a different record using the same
//!    criteria and repeats the process until it finds a healthy record."
//! 3. **Weighted records share the answers by weight**, among the healthy ones.
//! 4. **Weight 0 only as a last resort**: "Route 53 initially considers only the nonzero
//!    weighted records, if any. If all the records that have a weight greater than 0 are
//!    unhealthy, then Route 53 considers the zero-weighted records." Among zero-weighted records
//!    the answers are shared equally ("If you set Weight to 0 for all of the records in the
//!    group, traffic is routed to all resources with equal probability", API Reference,
//!    `ResourceRecordSet.Weight`).
//! 5. **Fail open**: "If none of the records in a group of records are healthy, Route 53 needs
//!    to return something in response to DNS queries, but it has no basis for choosing one
//!    record over another. In this situation, Route 53 considers all the records in the group
//!    to be healthy and selects one based on the routing policy."
//! 6. **Failover**: "Route 53 includes only the healthy primary resources. If all the primary
//!    resources are unhealthy, Route 53 begins to include only the healthy secondary resources."
//!    With both unhealthy, rule 5 makes both healthy again, and the routing policy picks the
//!    PRIMARY.
//! 7. **Calculated checks**: healthy while at least `HealthThreshold` of their children are
//!    ("The number of child health checks … that Amazon Route 53 must consider healthy for the
//!    CALCULATED health check to be considered healthy"); so 0 is always healthy ("If you
//!    specify 0, Route 53 always considers this health check to be healthy") and a threshold
//!    above the number of children never is ("If you specify a number greater than the number
//!    of child health checks, Route 53 always considers this health check to be unhealthy").
//!    A calculated child of a calculated check is evaluated the same way; a cycle, which Route
//!    53 cannot be given at creation (children must exist first), counts as unhealthy where it
//!    closes.
//! 8. **A health check id that names no check counts as healthy.** Route 53 lets a check be
//!    deleted while records still name it, and then says only that "the future status of the
//!    health check can't be predicted and may change" (API Reference, `DeleteHealthCheck`).
//!    The model picks healthy, as for a record without a check (rule 1): a dangling id then
//!    changes no answer, and the worst case it hides is the one rule 5 produces anyway. The
//!    switch setup treats a record carrying a dangling id as one to fix, so an estate
//!    failoverd set up never depends on this choice.
//!
//! What the model leaves out; callers that depend on these must handle them themselves:
//! - **A new check is healthy until Route 53 has data for it** ("Route 53 considers a new
//!   health check to be healthy until there's enough data to determine the actual status").
//!   The model takes the status a check will have once its checkers report. The switch setup
//!   therefore never moves a record onto a check it created in the same run.
//! - **`Disabled` and `Inverted`.** A disabled check is always healthy, and an inverted one is
//!   healthy while its endpoint fails. The model has no such flags. The switch setup refuses to
//!   use such checks (they are conflicts), so an estate it set up never has them.
//! - **Alarm checks** (CloudWatch) and their `InsufficientDataHealthStatus`.
//! - **Time.** That covers Route 53's propagation: from a checker's observation to the check's
//!   status (`request_interval × failure_threshold`), from a status to the answers, and from an
//!   accepted record change to INSYNC. It also covers TTLs and resolvers that cache past them.
//!   The fractions are what fresh queries get once everything has settled.
//! - **Health checkers' disagreement**: a check is healthy or not.
//! - **Alias records' `EvaluateTargetHealth`**: give such a record the target's health as its
//!   check.

use std::collections::{BTreeMap, BTreeSet};

/// The role of a failover record set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailoverRole {
    /// Answers while it is healthy (or while the SECONDARY is not).
    Primary,
    /// Answers while the PRIMARY is unhealthy and it is not.
    Secondary,
}

/// How a record set takes part in the answers of its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRouting {
    /// A weighted record, with its weight (0-255).
    Weighted(u8),
    /// One record of a failover pair.
    Failover(FailoverRole),
}

/// One record set of a name and type, as far as answering goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    /// Its `SetIdentifier`, unique within the name and type.
    pub set_identifier: String,
    /// Weighted or failover.
    pub routing: RecordRouting,
    /// Its `HealthCheckId`, if it carries one.
    pub health_check: Option<String>,
}

/// A health check's state, as Route 53 would see it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// A check of an endpoint (HTTP, HTTPS, TCP), healthy or not according to its checkers.
    Endpoint {
        /// Whether Route 53 considers it healthy.
        healthy: bool,
    },
    /// A CALCULATED check over other checks.
    Calculated {
        /// The ids of its child checks.
        children: Vec<String>,
        /// How many children must be healthy (`HealthThreshold`).
        threshold: u32,
    },
}

/// Health checks by id.
pub type HealthChecks = BTreeMap<String, HealthCheck>;

/// Each record set's fraction of the answers, by set identifier; the fractions sum to 1 when
/// there is any record set.
pub type Fractions = BTreeMap<String, f64>;

/// Record sets Route 53 would not accept together under one name and type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Two record sets share a set identifier.
    #[error("set identifier {0:?} is used twice")]
    DuplicateSetIdentifier(String),
    /// Weighted and failover record sets under one name and type.
    #[error("weighted and failover records cannot share a name and type")]
    MixedRouting,
    /// More than one PRIMARY, or more than one SECONDARY.
    #[error("a failover pair has one {0:?} record, and this group has more")]
    FailoverRoleTwice(FailoverRole),
}

/// Whether the check `id` is healthy among `checks` (rules 7 and 8).
pub fn is_healthy(id: &str, checks: &HealthChecks) -> bool {
    healthy_within(id, checks, &mut BTreeSet::new())
}

fn healthy_within<'a>(id: &'a str, checks: &'a HealthChecks, path: &mut BTreeSet<&'a str>) -> bool {
    match checks.get(id) {
        None => true,
        Some(HealthCheck::Endpoint { healthy }) => *healthy,
        Some(HealthCheck::Calculated {
            children,
            threshold,
        }) => {
            if !path.insert(id) {
                return false;
            }
            let up = children
                .iter()
                .filter(|c| healthy_within(c, checks, path))
                .count();
            path.remove(id);
            u32::try_from(up).unwrap_or(u32::MAX) >= *threshold
        }
    }
}

/// Whether `record` is healthy: no check, or a healthy one (rules 1, 7, 8).
pub fn record_healthy(record: &RecordSet, checks: &HealthChecks) -> bool {
    record
        .health_check
        .as_deref()
        .is_none_or(|id| is_healthy(id, checks))
}

/// The fraction of answers each of `records` (one name and type) gets while the health checks
/// are as `checks` says (rules 1-8).
pub fn answers(records: &[RecordSet], checks: &HealthChecks) -> Result<Fractions, AnswerError> {
    let mut ids = BTreeSet::new();
    for r in records {
        if !ids.insert(r.set_identifier.as_str()) {
            return Err(AnswerError::DuplicateSetIdentifier(
                r.set_identifier.clone(),
            ));
        }
    }
    let mut out: Fractions = records
        .iter()
        .map(|r| (r.set_identifier.clone(), 0.0))
        .collect();
    if records.is_empty() {
        return Ok(out);
    }
    let healthy: Vec<bool> = records.iter().map(|r| record_healthy(r, checks)).collect();
    // Rule 5: with none healthy, all are.
    let considered = |i: usize| healthy[i] || !healthy.contains(&true);
    let weighted = records
        .iter()
        .all(|r| matches!(r.routing, RecordRouting::Weighted(_)));
    if weighted {
        let weight = |r: &RecordSet| match r.routing {
            RecordRouting::Weighted(w) => f64::from(w),
            RecordRouting::Failover(_) => 0.0,
        };
        let live: Vec<usize> = (0..records.len()).filter(|&i| considered(i)).collect();
        let total: f64 = live.iter().map(|&i| weight(&records[i])).sum();
        if total > 0.0 {
            for &i in &live {
                out.insert(
                    records[i].set_identifier.clone(),
                    weight(&records[i]) / total,
                );
            }
        } else {
            // Rule 4: only zero weights left, shared equally.
            let each = 1.0 / live.len() as f64;
            for &i in &live {
                out.insert(records[i].set_identifier.clone(), each);
            }
        }
        return Ok(out);
    }
    let role = |r: &RecordSet| match r.routing {
        RecordRouting::Failover(role) => Some(role),
        RecordRouting::Weighted(_) => None,
    };
    if records.iter().any(|r| role(r).is_none()) {
        return Err(AnswerError::MixedRouting);
    }
    for wanted in [FailoverRole::Primary, FailoverRole::Secondary] {
        if records.iter().filter(|r| role(r) == Some(wanted)).count() > 1 {
            return Err(AnswerError::FailoverRoleTwice(wanted));
        }
    }
    // Rule 6: the PRIMARY if it is considered healthy, else the SECONDARY.
    let pick = [FailoverRole::Primary, FailoverRole::Secondary]
        .into_iter()
        .find_map(|wanted| {
            (0..records.len()).find(|&i| role(&records[i]) == Some(wanted) && considered(i))
        });
    if let Some(i) = pick {
        out.insert(records[i].set_identifier.clone(), 1.0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
