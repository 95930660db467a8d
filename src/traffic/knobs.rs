//! Several backends driven as one: every knob key belongs to exactly one backend, so a region
//! whose knobs live in Route 53 and Global Accelerator is read and written through both.
//!
//! This only routes; what a region's share is when its knobs disagree, and which knob to write,
//! is the controller's rule (`controller::knobs`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Share, ShareChange, TrafficBackend};

/// The backends a config's knobs name, each with the keys of its knobs.
#[derive(Debug)]
pub struct Knobs<B> {
    backends: Vec<B>,
    /// Which backend each key belongs to; empty for a single backend, which takes every key.
    owner: BTreeMap<String, usize>,
}

impl<B: TrafficBackend> From<B> for Knobs<B> {
    fn from(backend: B) -> Self {
        Knobs::single(backend)
    }
}

impl<B: TrafficBackend> Knobs<B> {
    /// One backend holding every knob.
    pub fn single(backend: B) -> Self {
        Self {
            backends: vec![backend],
            owner: BTreeMap::new(),
        }
    }

    /// Several backends, each with the keys of its knobs.
    pub fn new(backends: Vec<(B, Vec<String>)>) -> Self {
        let mut owner = BTreeMap::new();
        let mut out = Vec::with_capacity(backends.len());
        for (i, (backend, keys)) in backends.into_iter().enumerate() {
            owner.extend(keys.into_iter().map(|k| (k, i)));
            out.push(backend);
        }
        Self {
            backends: out,
            owner,
        }
    }

    /// The backends, in config order.
    pub fn backends(&self) -> &[B] {
        &self.backends
    }

    /// Which backend holds `key` (the only one, for a single backend).
    fn owner(&self, key: &str) -> Option<usize> {
        if self.backends.len() == 1 {
            Some(0)
        } else {
            self.owner.get(key).copied()
        }
    }

    /// `changes` split by the backend that holds each knob, in backend order; a change for a
    /// key no backend holds is dropped (config validation makes that impossible).
    pub fn route(&self, changes: &[ShareChange]) -> Vec<(usize, Vec<ShareChange>)> {
        let mut by: BTreeMap<usize, Vec<ShareChange>> = BTreeMap::new();
        for c in changes {
            if let Some(i) = self.owner(&c.region) {
                by.entry(i).or_default().push(c.clone());
            }
        }
        by.into_iter().collect()
    }

    /// Whether the knob `key` moves all of its traffic or none.
    pub fn all_or_nothing(&self, key: &str) -> bool {
        self.owner(key)
            .is_some_and(|i| self.backends[i].all_or_nothing(key))
    }

    /// Where a raise of knob `key` lands now, as its backend says (see
    /// [`TrafficBackend::raise_lands`]).
    pub fn raise_lands(&self, key: &str) -> Option<(Share, String)> {
        self.owner(key)
            .and_then(|i| self.backends[i].raise_lands(key))
    }

    /// The longest any backend may wait for its change to be confirmed live.
    pub fn confirm_deadline(&self) -> Duration {
        self.backends
            .iter()
            .map(TrafficBackend::confirm_deadline)
            .max()
            .unwrap_or_default()
    }

    /// Why the last read left knob `key` out, as its backend says (see
    /// [`TrafficBackend::unread`]).
    pub fn unread(&self, key: &str) -> Option<String> {
        self.owner(key).and_then(|i| self.backends[i].unread(key))
    }

    /// Every backend's degraded-mode reason (see [`TrafficBackend::degraded`]), joined.
    pub fn degraded(&self) -> Option<String> {
        self.joined(TrafficBackend::degraded)
    }

    /// The longest lag of any backend (see [`TrafficBackend::lag`]).
    pub fn lag(&self) -> Duration {
        self.backends
            .iter()
            .map(TrafficBackend::lag)
            .max()
            .unwrap_or_default()
    }

    /// Every backend's unverified reliance (see [`TrafficBackend::unverified`]), joined.
    pub fn unverified(&self) -> Option<String> {
        self.joined(TrafficBackend::unverified)
    }

    /// What `say` says of each backend that says something, joined; None when none does.
    fn joined(&self, say: impl Fn(&B) -> Option<String>) -> Option<String> {
        let said: Vec<String> = self.backends.iter().filter_map(say).collect();
        (!said.is_empty()).then(|| said.join("; "))
    }

    /// The backends' names joined (`route53+global_accelerator`), for the journal and logs.
    pub fn name(&self) -> String {
        let names: Vec<&str> = self.backends.iter().map(TrafficBackend::name).collect();
        names.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::Share;
    use crate::traffic::sim::SimBackend;

    fn change(key: &str) -> ShareChange {
        ShareChange {
            region: key.to_owned(),
            from: Share::FULL,
            to: Share::ZERO,
        }
    }

    #[test]
    fn changes_go_to_the_backend_that_holds_their_knob() {
        let a = SimBackend::new(["a", "b#1"], Duration::ZERO);
        let b = SimBackend::new(["a#1", "b"], Duration::ZERO);
        let knobs = Knobs::new(vec![
            (a, vec!["a".into(), "b#1".into()]),
            (b, vec!["a#1".into(), "b".into()]),
        ]);
        let routed = knobs.route(&[change("a"), change("a#1"), change("b"), change("x")]);
        let keys: Vec<(usize, Vec<&str>)> = routed
            .iter()
            .map(|(i, cs)| (*i, cs.iter().map(|c| c.region.as_str()).collect()))
            .collect();
        assert_eq!(keys, [(0, vec!["a"]), (1, vec!["a#1", "b"])]);
        assert_eq!(knobs.name(), "sim+sim");
        let single = Knobs::single(SimBackend::new(["a"], Duration::ZERO));
        assert_eq!(single.route(&[change("anything")])[0].1.len(), 1);
    }
}
