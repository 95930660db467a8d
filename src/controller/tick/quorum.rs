//! A cluster member's verdicts combined with the other controllers': the planner sees a region
//! Down only when most live controllers see it so ([`crate::health::quorum::combine`]), and a
//! controller whose own probes disagree with the majority says so (`vantage_disagrees`).

use std::collections::BTreeMap;

use super::TickState;
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::health::quorum::{View, combine};

/// What the planner uses for one region in a cluster.
#[derive(Debug, Clone)]
pub(super) struct Combined {
    pub verdict: Verdict,
    pub reason: String,
    /// When the combined verdict took its current value.
    pub since: Timestamp,
    /// Every controller's view, this one's included.
    pub views: Vec<View>,
}

impl TickState {
    /// Ticks stepped so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Puts `alarm` (`cluster_unavailable`) in force from the next step, or clears it.
    pub fn set_cluster_alarm(&mut self, alarm: Option<Alarm>) {
        self.cluster_alarm = alarm;
    }

    /// Sets (or clears) the backend's own alarms: that it acts through the switches alone
    /// (`why`, its degraded reason this tick) and what it could not verify (`unverified`).
    pub fn set_degraded(
        &mut self,
        why: Option<String>,
        unverified: Option<String>,
        unread: BTreeMap<String, String>,
    ) {
        use crate::alarm::AlarmCode;
        self.backend_alarms = why
            .map(|m| Alarm::new(AlarmCode::SwitchesInUse, m))
            .into_iter()
            .chain(unverified.map(|m| Alarm::new(AlarmCode::BackendUnverified, m)))
            .collect();
        self.unread = unread;
    }

    /// How much longer than `policy.settle` a change made now takes to reach users
    /// ([`crate::traffic::TrafficBackend::lag`]): a reading counts as settled that much later.
    pub fn set_lag(&mut self, lag: std::time::Duration) {
        self.lag = lag;
    }

    /// How much longer than `policy.settle` a change made up to now may take to reach users:
    /// the backend's lag, or the latest one while a change made under it may still be on its
    /// way.
    pub(super) fn lag(&mut self, now: Timestamp) -> std::time::Duration {
        if !self.lag.is_zero() {
            self.lag_seen = Some((self.lag, now));
        }
        let settle = self.config.policy.settle.unwrap_or_default();
        match self.lag_seen {
            Some((lag, at)) if now.since(at) <= settle + lag => lag,
            _ => std::time::Duration::ZERO,
        }
    }

    /// The policy to plan with at `now` when it is not the config's: its `settle` lengthened
    /// by the backend's lag ([`TickState::lag`]), since a move through the switches reaches
    /// users a flip delay later than the knobs'.
    pub(super) fn lagged_policy(&mut self, now: Timestamp) -> Option<crate::plan::Policy> {
        let lag = self.lag(now);
        (!lag.is_zero()).then(|| crate::plan::Policy {
            settle: Some(self.config.policy.settle.unwrap_or_default() + lag),
            ..self.config.policy.clone()
        })
    }

    /// The policy the latest plan was made with: the config's, its `settle` lengthened by the
    /// lag while a move may still be on its way through the switches. What a drill's preflight
    /// asks of the same readings is asked under it too.
    pub fn policy(&self) -> &crate::plan::Policy {
        self.lagged.as_ref().unwrap_or(&self.config.policy)
    }

    /// This controller's own verdict on each region, to publish to the others.
    pub fn own_views(&self, me: &str) -> BTreeMap<String, View> {
        self.regions
            .iter()
            .map(|(name, rt)| {
                (
                    name.clone(),
                    View {
                        controller: me.to_owned(),
                        verdict: rt.health.verdict(),
                        reason: rt.health.reason().to_owned(),
                    },
                )
            })
            .collect()
    }

    /// Puts the live controllers' views in force (`views` by region, this controller's own
    /// included), or drops them (None: alone, or etcd unreadable: own verdicts only).
    pub fn set_views(&mut self, views: Option<BTreeMap<String, Vec<View>>>, now: Timestamp) {
        let Some(views) = views else {
            self.combined.clear();
            return;
        };
        for (region, views) in views {
            if !self.regions.contains_key(&region) || views.is_empty() {
                continue;
            }
            let (verdict, reason) = combine(&views);
            let since = match self.combined.get(&region) {
                Some(c) if c.verdict == verdict => c.since,
                _ => now,
            };
            self.combined.insert(
                region,
                Combined {
                    verdict,
                    reason,
                    since,
                    views,
                },
            );
        }
    }

    /// The verdict, reason and since the planner uses for `region`: the combined one in a
    /// cluster, this controller's own otherwise.
    pub(super) fn verdict_of(&self, region: &str) -> (Verdict, String, Timestamp) {
        let rt = &self.regions[region];
        match self.combined.get(region) {
            // The same verdict as its own: the later of the two dates it, so a region most
            // controllers only now see recovered waits out its hold-down from now.
            Some(c) if c.verdict == rt.health.verdict() => {
                (c.verdict, c.reason.clone(), rt.health.since().max(c.since))
            }
            Some(c) => (c.verdict, c.reason.clone(), c.since),
            None => (
                rt.health.verdict(),
                rt.health.reason().to_owned(),
                rt.health.since(),
            ),
        }
    }

    /// Every controller's view of `region`, when in a cluster.
    pub(super) fn views_of(&self, region: &str) -> Vec<View> {
        self.combined
            .get(region)
            .map(|c| c.views.clone())
            .unwrap_or_default()
    }

    /// `vantage_disagrees`: this controller sees a region Down (or Healthy) while most of the
    /// controllers see it Healthy (or Down): its own path to the region may be what is broken.
    pub(super) fn vantage_alarm(&self, me: &str) -> Option<Alarm> {
        let disagreeing: Vec<String> = self
            .combined
            .iter()
            .filter_map(|(region, c)| {
                let own = self.regions.get(region)?.health.verdict();
                let opposed = matches!(
                    (own, c.verdict),
                    (Verdict::Down, Verdict::Healthy) | (Verdict::Healthy, Verdict::Down)
                );
                opposed.then(|| format!("{region} {own} here, {}", c.reason))
            })
            .collect();
        (!disagreeing.is_empty()).then(|| {
            Alarm::new(
                AlarmCode::VantageDisagrees,
                format!(
                    "{me}'s own probes disagree with most controllers ({}): the path from this control region may be what is broken; the planner follows the majority",
                    disagreeing.join("; ")
                ),
            )
        })
    }
}
