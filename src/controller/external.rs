//! External changes in the loop: each read of a service's knobs is compared with what
//! failoverd last set them to (kept with the intents), and a knob that reads anything else was
//! changed by someone else. [`review`] is the pure rule; the controller journals and saves what
//! it returns before the tick plans, writes the knobs it puts back, and marks what it is about
//! to write before writing it ([`marks`]), so a restart or a new leader finds its own values.
//!
//! The rules, per knob:
//! - **Never seen**: the first read is failoverd's starting point, not news (a first start, a
//!   new knob, an upgrade).
//! - **Reads what failoverd set** (or the value before a write still landing): nothing to do;
//!   once the read shows the new value, the old one is no longer accepted.
//! - **Reads anything else**: an external change, acted on by the region's policy, except that
//!   a raise above where failoverd holds the region (the goal of its last plan, or any raise
//!   before a first plan) is put back whatever the policy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::intent::external::{Action, Applied, OnExternalChange, Record};
use crate::intent::{Drain, Intents, Scope};
use crate::share::Share;
use crate::traffic::{ShareChange, Shares};

/// One knob as the review needs it.
#[derive(Debug, Clone)]
pub struct KnobInfo {
    /// Its key.
    pub key: String,
    /// Its region.
    pub region: String,
    /// How a person knows it.
    pub label: String,
}

/// What a service's review found.
#[derive(Debug, Default, PartialEq)]
pub struct Review {
    /// Changes to journal (the notices) and save, in order.
    pub records: Vec<Record>,
    /// Knobs to write back to what failoverd last set, first noticed this tick.
    pub put_back: Vec<ShareChange>,
    /// Knobs still to be put back after a write that did not take: written again.
    pub retry: Vec<ShareChange>,
    /// The knobs as the planner should see them: a knob being put back reads as what
    /// failoverd set.
    pub read: Shares,
}

/// What the review is given besides the read.
pub struct Context<'a> {
    /// The service's name, in a file with `[[services]]`.
    pub service: Option<&'a str>,
    /// The service's knobs.
    pub knobs: &'a [KnobInfo],
    /// Where the last plan was taking each region; absent before a first plan.
    pub goals: &'a BTreeMap<String, Share>,
    /// Each region's policy.
    pub policy: &'a dyn Fn(&str) -> OnExternalChange,
    /// How long an adopted drain lasts.
    pub drain_ttl: Duration,
    /// Now.
    pub now: Timestamp,
}

/// Compares `read` with what `intents` says failoverd last set each knob of the service to.
pub fn review(read: &Shares, intents: &Intents, cx: &Context<'_>) -> Review {
    let mut out = Review {
        read: read.clone(),
        ..Review::default()
    };
    // The adopted drains, by region: the highest value a knob of it was lowered to.
    let mut drains: BTreeMap<&str, (Share, Vec<String>)> = BTreeMap::new();
    for k in cx.knobs {
        let Some(&now_reads) = read.get(&k.key) else {
            continue;
        };
        let Some(applied) = intents.applied.get(&k.key) else {
            out.records.push(Record::Applied {
                knob: k.key.clone(),
                applied: Applied::settled(now_reads, cx.now),
            });
            continue;
        };
        if applied.accepts(now_reads) {
            if applied.previous.is_some() && now_reads == applied.share {
                out.records.push(Record::Applied {
                    knob: k.key.clone(),
                    applied: Applied::settled(now_reads, cx.now),
                });
            }
            continue;
        }
        let before = applied.share;
        let putting_back = intents
            .external
            .get(&k.key)
            .is_some_and(|n| n.after == now_reads && n.action.puts_back());
        let change = ShareChange {
            region: k.key.clone(),
            from: now_reads,
            to: before,
        };
        if putting_back {
            out.read.insert(k.key.clone(), before);
            out.retry.push(change);
            continue;
        }
        let policy = (cx.policy)(&k.region);
        let held_below = cx.goals.get(&k.region).is_none_or(|g| now_reads > *g);
        let action = if now_reads > before && held_below {
            Action::PutBack
        } else {
            match policy {
                OnExternalChange::Adopt if now_reads < before => Action::Drained,
                OnExternalChange::Adopt => Action::Adopted,
                OnExternalChange::Revert => Action::Reverted,
                OnExternalChange::Hold => Action::Held,
            }
        };
        let notice = crate::intent::external::Notice {
            knob: k.key.clone(),
            label: k.label.clone(),
            service: cx.service.map(str::to_owned),
            region: k.region.clone(),
            before,
            after: now_reads,
            noticed_at: cx.now,
            policy,
            action,
        };
        if action.puts_back() {
            out.read.insert(k.key.clone(), before);
            out.put_back.push(change);
        } else {
            out.records.push(Record::Applied {
                knob: k.key.clone(),
                applied: Applied::settled(now_reads, cx.now),
            });
        }
        if action == Action::Drained {
            let e = drains.entry(&k.region).or_insert((now_reads, Vec::new()));
            e.0 = e.0.max(now_reads);
            e.1.push(notice.describe());
        }
        out.records.push(Record::Noticed(notice));
    }
    for (region, (share, why)) in drains {
        let scope = cx
            .service
            .map_or(Scope::Region, |s| Scope::Service(s.to_owned()));
        out.records.push(Record::Drain {
            key: scope.key(region),
            drain: Drain {
                share,
                actor: crate::intent::external::ACTOR.to_owned(),
                reason: why.join("; "),
                since: cx.now,
                expires_at: cx.now + cx.drain_ttl,
                force: false,
            },
        });
    }
    out
}

/// What failoverd records before writing `writes`: each knob's new value, with the value it
/// reads now still accepted until a read shows the write landed.
pub fn marks(writes: &[ShareChange], now: Timestamp) -> Vec<Record> {
    writes
        .iter()
        .map(|w| Record::Applied {
            knob: w.region.clone(),
            applied: Applied {
                share: w.to,
                previous: Some(w.from),
                at: now,
            },
        })
        .collect()
}

impl<B: crate::traffic::TrafficBackend> super::Controller<B> {
    /// Reviews every service's knobs for changes made outside failoverd (only while this
    /// controller writes them: leading, and not in shadow mode); a service not reviewed reads
    /// as it is.
    pub(super) fn review_external(
        &self,
        read: &Shares,
        intents: &Intents,
        now: Timestamp,
    ) -> Vec<Review> {
        let active =
            self.gate.leading() && self.config.traffic.mode != crate::config::TrafficMode::Shadow;
        self.services
            .iter()
            .map(|svc| {
                if !active {
                    return Review {
                        read: read.clone(),
                        ..Review::default()
                    };
                }
                let own = svc.name.as_deref().map(|n| intents.for_service(n, now));
                let seen = own.as_ref().unwrap_or(intents);
                let knobs = svc.knobs.infos();
                let config = &svc.config;
                let policy = |region: &str| config.on_external_change(region);
                let cx = Context {
                    service: svc.name.as_deref(),
                    knobs: &knobs,
                    goals: svc.state.goals(),
                    policy: &policy,
                    drain_ttl: config.policy.external_drain_ttl,
                    now,
                };
                review(read, seen, &cx)
            })
            .collect()
    }

    /// Adds to service `i`'s `writes` the knobs its review puts back, except those the plan
    /// writes anyway this tick; a put-back written again (the first did not take) is journaled
    /// as a knob repair first.
    pub(super) fn put_back(
        &mut self,
        i: usize,
        now: Timestamp,
        mut writes: Vec<ShareChange>,
        review: &Review,
    ) -> Vec<ShareChange> {
        if self.config.traffic.mode == crate::config::TrafficMode::Shadow {
            return writes;
        }
        let fresh = |c: &&ShareChange| !writes.iter().any(|w| w.region == c.region);
        let first: Vec<ShareChange> = review.put_back.iter().filter(fresh).cloned().collect();
        let again: Vec<ShareChange> = review.retry.iter().filter(fresh).cloned().collect();
        writes.extend(first);
        if !again.is_empty() {
            let svc = &self.services[i];
            let changes = again.iter().map(|c| svc.knobs.repair(c)).collect();
            let name = svc.name.clone();
            if self.journal(
                now,
                name.as_deref(),
                crate::store::Event::KnobRepair { changes },
            ) {
                writes.extend(again);
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests;
