//! External changes in the loop: each read of a service's knobs is compared with what
//! failoverd last set them to (kept with the intents), and a knob that reads anything else was
//! changed by someone else. [`review`] is the pure rule, run for each service by the
//! controller's methods below: the changes noticed are journaled before the tick plans, and
//! saved, with what failoverd is about to write ([`marks`]), before any knob is written, so a
//! restart or a new leader finds its own values and nothing is put back off the record.
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
use crate::intent::external::{Action, Applied, Notice, OnExternalChange, Record};
use crate::intent::{Drain, Intents, Scope};
use crate::share::Share;
use crate::traffic::{ShareChange, Shares};

use super::knobs::Knob;
use super::rollouts::Recorded;

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
    pub knobs: &'a [Knob],
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
    let mut noticed: Vec<(Notice, Option<Applied>)> = Vec::new();
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
        // The latest change noticed on this knob that failoverd is putting back.
        let putting_back = intents
            .external
            .get(&k.key)
            .filter(|n| n.action.puts_back());
        if applied.accepts(now_reads) {
            if !applied.previous.is_empty() && now_reads == applied.share {
                out.records.push(Record::Applied {
                    knob: k.key.clone(),
                    applied: Applied::settled(now_reads, cx.now),
                });
            }
            if let Some(n) = putting_back.filter(|n| !n.landed && now_reads == n.before) {
                out.records.push(Record::Landed { key: n.key() });
            }
            continue;
        }
        let before = applied.share;
        let change = ShareChange {
            region: k.key.clone(),
            from: now_reads,
            to: before,
        };
        if putting_back.is_some_and(|n| !n.landed && n.after == now_reads) {
            // Its put-back has not shown yet: written again, not noticed again.
            out.read.insert(k.key.clone(), before);
            out.retry.push(change);
            continue;
        }
        let policy = (cx.policy)(&k.region);
        let goal = cx.goals.get(&k.region).copied();
        // Before a first plan, no region is judged: a raise is put back, and a put-back
        // that would raise waits for the plan.
        let held_below = |v: Share| goal.is_none_or(|g| v > g);
        let action = match policy {
            _ if now_reads > before && held_below(now_reads) => Action::PutBack,
            OnExternalChange::Adopt if now_reads < before => Action::Drained,
            OnExternalChange::Adopt => Action::Adopted,
            OnExternalChange::Revert if before > now_reads && goal.is_none() => continue,
            OnExternalChange::Revert if before > now_reads && held_below(before) => Action::Kept,
            OnExternalChange::Revert => Action::Reverted,
            OnExternalChange::Hold => Action::Held,
        };
        let notice = Notice {
            knob: k.key.clone(),
            label: k.label.clone(),
            service: cx.service.map(str::to_owned),
            region: k.region.clone(),
            before,
            after: now_reads,
            noticed_at: cx.now,
            policy,
            action,
            landed: false,
        };
        let kept = if action.puts_back() {
            out.read.insert(k.key.clone(), before);
            out.put_back.push(change);
            None
        } else {
            Some(Applied::settled(now_reads, cx.now))
        };
        noticed.push((notice, kept));
    }
    // The drain adopted for a region goes with its first notice: the highest value a knob of
    // it was lowered to, with every such change as its reason.
    let scope = cx
        .service
        .map_or(Scope::Region, |s| Scope::Service(s.to_owned()));
    let mut drains: BTreeMap<usize, (String, Drain)> = BTreeMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, (n, _)) in noticed.iter().enumerate() {
        if n.action != Action::Drained || seen.contains(&n.region.as_str()) {
            continue;
        }
        seen.push(&n.region);
        let lowered: Vec<&Notice> = noticed
            .iter()
            .map(|(n, _)| n)
            .filter(|m| m.region == n.region && m.action == Action::Drained)
            .collect();
        let share = lowered.iter().map(|n| n.after).max().unwrap_or(Share::ZERO);
        let reason: Vec<String> = lowered.iter().map(|n| n.describe()).collect();
        let drain = Drain {
            share,
            actor: crate::intent::external::ACTOR.to_owned(),
            reason: reason.join("; "),
            since: cx.now,
            expires_at: cx.now + cx.drain_ttl,
            force: false,
        };
        drains.insert(i, (scope.key(&n.region), drain));
    }
    for (i, (notice, applied)) in noticed.into_iter().enumerate() {
        out.records.push(Record::Noticed {
            notice,
            applied,
            drain: drains.remove(&i),
        });
    }
    out
}

/// The changes a review noticed, for the journal and the metric.
pub fn notices(records: &[Record]) -> impl Iterator<Item = &Notice> {
    records.iter().filter_map(|r| match r {
        Record::Noticed { notice, .. } => Some(notice),
        _ => None,
    })
}

/// What failoverd records before writing `writes`: each knob's new value, with every value not
/// yet shown still accepted until a read shows the write landed.
pub fn marks(writes: &[ShareChange], intents: &Intents, now: Timestamp) -> Vec<Record> {
    writes
        .iter()
        .map(|w| {
            let applied = intents.applied.get(&w.region).map_or_else(
                || Applied::settled(w.from, now).writing(w.from, w.to, now),
                |a| a.writing(w.from, w.to, now),
            );
            Record::Applied {
                knob: w.region.clone(),
                applied,
            }
        })
        .collect()
}

impl<B: crate::traffic::TrafficBackend> super::Controller<B> {
    /// Reviews every service's knobs for changes made outside failoverd (only while this
    /// controller writes them: leading, and not in shadow mode); a service not reviewed reads
    /// as it is.
    fn review_external(&self, read: &Shares, intents: &Intents, now: Timestamp) -> Vec<Review> {
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
                    knobs,
                    goals: svc.state.goals(),
                    policy: &policy,
                    drain_ttl: config.policy.external_drain_ttl,
                    now,
                };
                review(read, seen, &cx)
            })
            .collect()
    }

    /// Reviews every service's knobs, journals each change noticed (the write-ahead record of
    /// what follows from it), counts it, and makes what follows in `intents` for this tick's
    /// plans. Returns the reviews, and the records to save before anything is written (none
    /// when the journal refused a notice: nothing is put back, and the change is noticed again
    /// next tick). A mismatch is checked again against the intents as the store holds them
    /// now, and so is the first review after taking the lead: another controller may have
    /// written since this one last read them.
    pub(super) async fn reviewed(
        &mut self,
        read: &Shares,
        intents: &mut Intents,
        now: Timestamp,
    ) -> (Vec<Review>, Vec<(Option<String>, Recorded)>) {
        let leading = self.gate.leading();
        let gained = leading && !self.led;
        self.led = leading;
        let mut reviews = self.review_external(read, intents, now);
        let news = reviews
            .iter()
            .any(|r| notices(&r.records).next().is_some() || !r.retry.is_empty());
        if let (true, Some(store)) = (gained || news, &self.store)
            && store.refresh().await.is_ok()
        {
            *intents = self.intents.borrow().clone();
            for (_, c) in &self.unsaved {
                c.apply(intents, &self.config.controller.id, now);
            }
            reviews = self.review_external(read, intents, now);
        }
        let mut journaled = true;
        for (i, r) in reviews.iter().enumerate() {
            let name = self.services[i].name.clone();
            for n in notices(&r.records) {
                let event = crate::store::Event::ExternalChange {
                    knob: n.knob.clone(),
                    label: n.label.clone(),
                    region: n.region.clone(),
                    before: n.before,
                    after: n.after,
                    policy: n.policy,
                    action: n.action,
                    note: n.describe(),
                };
                if self.journal(now, name.as_deref(), event) {
                    self.metrics.external_change(name.as_deref(), &n.region);
                } else {
                    journaled = false;
                }
            }
        }
        let mut records = Vec::new();
        for (r, svc) in reviews.iter_mut().zip(&self.services) {
            if !journaled {
                r.put_back.clear();
            }
            for c in &r.records {
                c.apply(intents);
                if journaled {
                    records.push((svc.name.clone(), Recorded::External(c.clone())));
                }
            }
        }
        (reviews, records)
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
