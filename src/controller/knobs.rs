//! A region's knobs: the share the planner sees when they disagree, and which knob to write.
//!
//! A region's share is applied to every knob it binds (records in several hosted zones, a
//! Global Accelerator dial) as one unit, but each write can fail on its own. The rules, each a
//! plain function of what was read and written, tested below:
//!
//! - **The planner sees the highest share of a region's knobs**: the most traffic the region
//!   may still hold. A drain's headroom check then covers every knob's move, including one that
//!   lags behind.
//! - **Every knob moves toward the region's new share, never away from it**, and on a rise no
//!   knob rises by more than the region's step: a knob left behind by a failed write catches up
//!   over the following steps instead of jumping.
//! - **A write that fails while others of the same apply take is retried every tick** (the
//!   knob is written again toward the share it was meant to get, rising at most `max_step`)
//!   until it takes or the region's share changes again; meanwhile `partly_applied` names it.
//!   When every write fails, the region did not move at all: that is a backend error, which the
//!   tick handles by planning the same change again.
//! - **A knob whose write was accepted is not written again** until a read shows it or
//!   `traffic.propagation_timeout` passes.
//! - A region with a knob that moves all or nothing (a failover record) moves all or nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::share::Share;
use crate::status::KnobStatus;
use crate::store::{Event, KnobChange, KnobFailure};
use crate::traffic::{self, KnobRef, ShareChange, Shares};

/// One knob of a region, as the knob state keeps it and the review of external changes reads
/// it.
#[derive(Debug, Clone)]
pub struct Knob {
    /// Its key.
    pub key: String,
    /// Its region.
    pub region: String,
    /// How a person knows it.
    pub label: String,
}

/// A knob that is not yet at its region's share: its write failed while others took
/// (`message`), or it is catching up a step at a time after a rise it could not take whole.
#[derive(Debug, Clone)]
struct Behind {
    target: Share,
    /// What its backend said when its last write failed; None while it is only catching up.
    message: Option<String>,
}

/// What the controller remembers about the knobs between ticks.
#[derive(Debug, Clone)]
pub struct KnobState {
    knobs: Vec<Knob>,
    /// Each region's knobs, as positions in `knobs` in their order: every tick asks for each
    /// region's knobs, and scanning every knob for each region grew with the square of the
    /// estate.
    by_region: BTreeMap<String, Vec<usize>>,
    propagation_timeout: Duration,
    /// Knob shares at the latest read.
    read: Shares,
    /// Writes accepted but not yet seen by a read, with when.
    pending: BTreeMap<String, (Share, Timestamp)>,
    /// Knobs not yet at their region's share, written toward it every tick until a read shows
    /// it there.
    behind: BTreeMap<String, Behind>,
    /// The knobs journaled as left behind, by region, so each set is journaled once.
    journaled: BTreeMap<String, BTreeSet<String>>,
    /// Whether `partly_applied` was journaled as raised.
    raised: bool,
}

/// Which writes of an apply went to which backend call, and how that call ended.
pub type WriteResults<'a> = Vec<(Vec<ShareChange>, Result<(), &'a traffic::Error>)>;

impl KnobState {
    /// Forgets the writes of a term as leader that has ended: what it left behind or had in
    /// flight is the new leader's to judge from what it reads, not this controller's to
    /// repair should it lead again.
    pub fn forget_writes(&mut self) {
        self.pending.clear();
        self.behind.clear();
    }

    /// The knobs of `config`'s regions.
    pub fn new(config: &Config) -> Self {
        let knobs: Vec<Knob> = config
            .knobs()
            .into_iter()
            .map(|k| Knob {
                label: match k.knob {
                    KnobRef::Sim(b) if b.label.is_none() => format!("sim {}", k.key),
                    other => other.describe(),
                },
                key: k.key,
                region: k.region.to_owned(),
            })
            .collect();
        let mut by_region: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, k) in knobs.iter().enumerate() {
            by_region.entry(k.region.clone()).or_default().push(i);
        }
        Self {
            knobs,
            by_region,
            propagation_timeout: config.traffic.propagation_timeout,
            read: Shares::new(),
            pending: BTreeMap::new(),
            behind: BTreeMap::new(),
            journaled: BTreeMap::new(),
            raised: false,
        }
    }

    fn of<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a Knob> + 'a {
        self.by_region
            .get(region)
            .into_iter()
            .flatten()
            .map(|&i| &self.knobs[i])
    }

    fn label<'a>(&'a self, key: &'a str) -> (&'a str, &'a str) {
        self.knobs
            .iter()
            .find(|k| k.key == key)
            .map_or((key, key), |k| (k.region.as_str(), k.label.as_str()))
    }

    /// The regions written in `results` none of whose writes took, each with one of its knobs'
    /// keys (whose call's error says why).
    pub fn regions_not_moved(&self, results: &WriteResults<'_>) -> Vec<(String, String)> {
        let mut tried: BTreeMap<&str, (bool, &str)> = BTreeMap::new();
        for (writes, result) in results {
            for w in writes {
                let region = self.label(&w.region).0;
                let e = tried.entry(region).or_insert((false, &w.region));
                e.0 |= result.is_ok();
            }
        }
        tried
            .into_iter()
            .filter(|(_, (took, _))| !took)
            .map(|(region, (_, key))| (region.to_owned(), key.to_owned()))
            .collect()
    }

    /// A knob write `c` as the journal names it.
    pub fn repair(&self, c: &ShareChange) -> KnobChange {
        let (region, knob) = self.label(&c.region);
        KnobChange {
            region: region.to_owned(),
            knob: knob.to_owned(),
            from: c.from,
            to: c.to,
        }
    }

    /// Each knob: its key, its region and how a person knows it.
    pub fn infos(&self) -> &[Knob] {
        &self.knobs
    }

    /// Whether `key` is one of these knobs.
    pub fn owns(&self, key: &str) -> bool {
        self.knobs.iter().any(|k| k.key == key)
    }

    /// Why each region some of whose knobs the last read left out is unread, as `knob` says
    /// for a key (each knob's reason, joined), for the alarm that names them.
    pub fn unread(&self, knob: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for k in &self.knobs {
            if let Some(why) = knob(&k.key) {
                let all = out.entry(k.region.clone()).or_default();
                if !all.is_empty() {
                    all.push_str("; ");
                }
                all.push_str(&why);
            }
        }
        out
    }

    /// Whether `region` moves all or nothing: any of its knobs does (`knob` tells for a key).
    pub fn all_or_nothing(&self, region: &str, knob: impl Fn(&str) -> bool) -> bool {
        self.of(region).any(|k| knob(&k.key))
    }

    /// Where a raise of `region` lands now, when none of its knobs can be set to just any
    /// share (`knob` tells where a raise of a key lands, and why): its share is the highest of
    /// its knobs', so the highest landing, with that knob's reason. None when one can be set
    /// to any share.
    pub fn raise_lands(
        &self,
        region: &str,
        knob: impl Fn(&str) -> Option<(Share, String)>,
    ) -> Option<(Share, String)> {
        let mut highest: Option<(Share, String)> = None;
        for k in self.of(region) {
            let (share, why) = knob(&k.key)?;
            if highest.as_ref().is_none_or(|(h, _)| share > *h) {
                highest = Some((share, why));
            }
        }
        highest
    }

    /// Folds a read of the knobs (`knobs`, with the `errors` of the backends that could not be
    /// read) and returns each region's share for the planner: the highest of its knobs. A
    /// region some of whose knobs are missing is left out (the tick alarms on it) unless a
    /// backend failed, which is then the read's error.
    pub fn regions(
        &mut self,
        now: Timestamp,
        knobs: Shares,
        errors: Vec<traffic::Error>,
    ) -> traffic::Result<Shares> {
        let timeout = self.propagation_timeout;
        self.pending
            .retain(|key, (target, at)| knobs.get(key) != Some(target) && now.since(*at) < timeout);
        self.behind
            .retain(|key, b| knobs.get(key) != Some(&b.target));
        let mut shares = Shares::new();
        let mut incomplete = false;
        for k in &self.knobs {
            match knobs.get(&k.key) {
                Some(s) => {
                    let e = shares.entry(k.region.clone()).or_insert(*s);
                    *e = (*e).max(*s);
                }
                None => incomplete = true,
            }
        }
        // Only a knob the read left out leaves its region out: looked for only when one was.
        if incomplete {
            for k in &self.knobs {
                if !knobs.contains_key(&k.key) {
                    shares.remove(&k.region);
                }
            }
        }
        self.read = knobs;
        match errors.into_iter().next() {
            Some(e) if incomplete => Err(e),
            _ => Ok(shares),
        }
    }

    /// The knob writes for this tick: each knob of a region in `changes` moved toward the new
    /// share, and the knobs whose last write failed written again toward theirs (rising at most
    /// `max_step`). The second list is the retries, for the journal.
    pub fn writes(
        &mut self,
        changes: &[ShareChange],
        max_step: u8,
    ) -> (Vec<ShareChange>, Vec<KnobChange>) {
        let mut out = Vec::new();
        let moved: BTreeSet<&str> = changes.iter().map(|c| c.region.as_str()).collect();
        // A region that moves again supersedes what was left behind of its last move.
        let mut behind = BTreeMap::new();
        for c in changes {
            let step = c.to.get().abs_diff(c.from.get());
            for k in self.of(&c.region) {
                // A drain never raises a knob that is already below the new share.
                let below = self.read.get(&k.key).is_some_and(|s| *s < c.to);
                if c.to < c.from && below {
                    continue;
                }
                if let Some(to) = self.toward(&k.key, c.to, step) {
                    out.push(knob_change(&k.key, self.read[&k.key], to));
                }
                if self.read.get(&k.key) != Some(&c.to) {
                    // Until a read shows it there, it is written toward it every tick.
                    let b = Behind {
                        target: c.to,
                        message: None,
                    };
                    behind.insert(k.key.clone(), b);
                }
            }
        }
        let mut retries = Vec::new();
        for (key, b) in &self.behind {
            let region = self.label(key).0;
            if moved.contains(region) {
                continue;
            }
            behind.insert(key.clone(), b.clone());
            if let Some(to) = self.toward(key, b.target, max_step) {
                let from = self.read[key];
                out.push(knob_change(key, from, to));
                retries.push(KnobChange {
                    region: region.to_owned(),
                    knob: self.label(key).1.to_owned(),
                    from,
                    to,
                });
            }
        }
        self.behind = behind;
        (out, retries)
    }

    /// What to write to knob `key` to move it toward `target`, rising at most `rise`; None when
    /// it is there, was not read, or a write of `target` is still propagating.
    fn toward(&self, key: &str, target: Share, rise: u8) -> Option<Share> {
        let now = *self.read.get(key)?;
        if now == target || self.pending.get(key).is_some_and(|(p, _)| *p == target) {
            return None;
        }
        if target < now {
            return Some(target);
        }
        let capped = now.get().saturating_add(rise).min(target.get());
        Share::try_new(capped).ok()
    }

    /// Folds what became of each backend call of an apply; returns the entries to journal.
    /// When every call failed nothing is remembered: the region did not move, and the tick
    /// plans the same change again.
    pub fn applied(&mut self, now: Timestamp, results: &WriteResults<'_>) -> Vec<Event> {
        let any_took = results.iter().any(|(_, r)| r.is_ok());
        for (writes, result) in results {
            for w in writes {
                match result {
                    Ok(()) => {
                        // Taken, not yet seen: it stays behind until a read shows its share.
                        if let Some(b) = self.behind.get_mut(&w.region) {
                            b.message = None;
                        }
                        self.pending.insert(w.region.clone(), (w.to, now));
                    }
                    // A fenced knob is not retried: another controller writes now.
                    Err(e) if any_took && e.retry() != traffic::Retry::Fenced => {
                        let b = self.behind.entry(w.region.clone()).or_insert(Behind {
                            target: w.to,
                            message: None,
                        });
                        b.message = Some(e.to_string());
                    }
                    Err(_) => {}
                }
            }
        }
        self.journal()
    }

    /// Entries for regions whose set of knobs left behind changed, and for the alarm when it
    /// is raised or cleared: after a read (which may show failed writes landing), and after
    /// each apply.
    pub fn journal(&mut self) -> Vec<Event> {
        let mut events = self.left_behind();
        let alarm = self.alarm();
        match (self.raised, alarm) {
            (false, Some(alarm)) => events.push(Event::Alarm(alarm)),
            (true, None) => events.push(Event::AlarmCleared {
                code: AlarmCode::PartlyApplied,
            }),
            _ => {}
        }
        self.raised = self.alarmed();
        events
    }

    /// When a write to one of `region`'s knobs failed while others took, the share reads of the
    /// region will show: the highest of its knobs, each at what was last written to it or else
    /// as last read. None when every knob of the region took its write (or was not written).
    pub fn partly_reads_as(&self, region: &str) -> Option<Share> {
        let failed = self
            .of(region)
            .any(|k| self.behind.get(&k.key).is_some_and(|b| b.message.is_some()));
        if !failed {
            return None;
        }
        self.of(region)
            .map(|k| match self.pending.get(&k.key) {
                Some((target, _)) => Some(*target),
                None => self.read.get(&k.key).copied(),
            })
            .collect::<Option<Vec<Share>>>()?
            .into_iter()
            .max()
    }

    /// Whether `partly_applied` is raised now.
    pub fn alarmed(&self) -> bool {
        self.behind.values().any(|b| b.message.is_some())
    }

    fn left_behind(&mut self) -> Vec<Event> {
        let mut now: BTreeMap<String, Vec<KnobFailure>> = BTreeMap::new();
        for (key, b) in &self.behind {
            let Some(message) = &b.message else { continue };
            let (region, knob) = self.label(key);
            now.entry(region.to_owned()).or_default().push(KnobFailure {
                knob: knob.to_owned(),
                message: message.clone(),
            });
        }
        let mut events = Vec::new();
        for (region, knobs) in &now {
            let set: BTreeSet<String> = knobs.iter().map(|k| k.knob.clone()).collect();
            if self.journaled.get(region) != Some(&set) {
                events.push(Event::PartlyApplied {
                    region: region.clone(),
                    knobs: knobs.clone(),
                });
                self.journaled.insert(region.clone(), set);
            }
        }
        self.journaled.retain(|region, _| now.contains_key(region));
        events
    }

    /// `partly_applied`, naming every knob left behind, while any is.
    pub fn alarm(&self) -> Option<Alarm> {
        if !self.alarmed() {
            return None;
        }
        let knobs: Vec<String> = self
            .behind
            .iter()
            .filter_map(|(key, b)| {
                let message = b.message.as_ref()?;
                let (region, knob) = self.label(key);
                Some(format!(
                    "{region}: {knob} should be {} ({message})",
                    b.target
                ))
            })
            .collect();
        Some(Alarm::new(
            AlarmCode::PartlyApplied,
            format!(
                "a change reached only some knobs; retrying every tick: {}",
                knobs.join("; ")
            ),
        ))
    }

    /// Every knob of `region`: what it is, its share at the latest read, and why it is behind.
    pub fn status(&self, region: &str) -> Vec<KnobStatus> {
        self.of(region)
            .map(|k| KnobStatus {
                knob: k.label.clone(),
                share: self.read.get(&k.key).copied(),
                failed: self.behind.get(&k.key).and_then(|b| b.message.clone()),
            })
            .collect()
    }
}

fn knob_change(key: &str, from: Share, to: Share) -> ShareChange {
    ShareChange {
        region: key.to_owned(),
        from,
        to,
    }
}

#[cfg(test)]
mod tests;
