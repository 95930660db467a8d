//! A cluster member's exchange of verdicts: each tick it publishes its own per service and
//! region, reads every live controller's, and hands each service the views of its regions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::Controller;
use super::gate::Gate;
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::cluster::Role;
use crate::health::quorum::View;
use crate::share::Share;
use crate::status::Status;
use crate::traffic::TrafficBackend;

/// What one controller publishes each tick.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    controller: String,
    at: Timestamp,
    /// By service name ("" for a file without `[[services]]`), then region.
    services: BTreeMap<String, BTreeMap<String, View>>,
    /// Its plan at its last tick, by service and region: what followers show as the targets.
    #[serde(default)]
    plan: Plan,
}

/// Planned shares by service ("" for a file without `[[services]]`) and region.
pub(super) type Plan = BTreeMap<String, BTreeMap<String, Planned>>;

/// Each region's planned shares in `status`, a service's own of one tick.
pub(super) fn planned(status: &Status) -> BTreeMap<String, Planned> {
    status
        .regions
        .iter()
        .map(|r| {
            (
                r.region.clone(),
                Planned {
                    next: r.next,
                    goal: r.goal,
                },
            )
        })
        .collect()
}

/// One region's planned shares.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Planned {
    next: Option<Share>,
    goal: Option<Share>,
}

impl<B: TrafficBackend> Controller<B> {
    /// In a cluster: publishes this controller's verdicts and puts every live controller's in
    /// force for the planner, and keeps `cluster_unavailable` in step with etcd. Alone: nothing.
    pub(super) async fn exchange_views(&mut self, now: Timestamp) {
        let Gate::Cluster { leadership } = &self.gate else {
            return;
        };
        let me = self.config.controller.id.clone();
        let unavailable = match &*leadership.role().borrow() {
            Role::Unavailable { since, error } => Some(Alarm::new(
                AlarmCode::ClusterUnavailable,
                format!(
                    "etcd unreachable since {since} ({error}): this controller changes nothing until it is back; traffic stays as last set"
                ),
            )),
            _ => None,
        };
        let mine = Published {
            controller: me.clone(),
            at: now,
            services: self
                .services
                .iter()
                .map(|s| (s.name.clone().unwrap_or_default(), s.state.own_views(&me)))
                .collect(),
            plan: self
                .services
                .iter()
                .map(|s| (s.name.clone().unwrap_or_default(), s.last_plan.clone()))
                .collect(),
        };
        let exchanged = match leadership.publish(&mine).await {
            Ok(()) => leadership.observations::<Published>().await,
            Err(e) => Err(e),
        };
        let role = leadership.role().borrow().clone();
        let leads = role.leads();
        // A follower shows the leader's plan: the one traffic follows.
        self.leader_plan = match (&role, &exchanged) {
            (
                Role::Follower {
                    leader: Some(l), ..
                },
                Ok(all),
            ) => all
                .iter()
                .find(|p| &p.controller == l)
                .map(|p| (l.clone(), p.plan.clone())),
            _ => None,
        };
        self.metrics
            .cluster(leads, exchanged.as_ref().map_or(1, Vec::len));
        let all = match exchanged {
            Ok(all) => Some(all),
            Err(e) => {
                warn!(error = %e, "Cannot exchange verdicts with the other controllers; using this controller's own.");
                None
            }
        };
        let members = match &all {
            Some(_) => leadership.members().await.ok(),
            None => None,
        };
        // etcd's own health is asked every tenth tick (and at the first): one call per member.
        let due = self
            .services
            .first()
            .is_none_or(|s| s.state.ticks().is_multiple_of(10));
        let etcd = match &self.cluster {
            Some(c) if !due => c.etcd.clone(),
            _ => leadership.etcd_health().await,
        };
        self.cluster = Some(crate::cluster::ClusterView {
            me: me.clone(),
            role: leadership.role().borrow().clone(),
            members: members
                .or_else(|| self.cluster.as_ref().map(|c| c.members.clone()))
                .unwrap_or_default(),
            etcd,
            plan_from: None,
        });
        // A verdict counts while fresh (published within three ticks); a registered member
        // with none counts as not agreeing (Unknown), so the majority is of every live
        // controller, not only of those that published.
        let stale_after = self.config.controller.tick_interval * 3;
        let fresh: Vec<&Published> = all
            .iter()
            .flatten()
            .filter(|p| now.since(p.at) <= stale_after)
            .collect();
        let silent: Vec<String> = self
            .cluster
            .as_ref()
            .map(|c| c.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|id| !fresh.iter().any(|p| &p.controller == id))
            .collect();
        for svc in &mut self.services {
            svc.state.set_cluster_alarm(unavailable.clone());
            let name = svc.name.clone().unwrap_or_default();
            let views = all.as_ref().map(|_| {
                let mut by_region: BTreeMap<String, Vec<View>> = BTreeMap::new();
                for p in &fresh {
                    for (region, view) in p.services.get(&name).into_iter().flatten() {
                        by_region
                            .entry(region.clone())
                            .or_default()
                            .push(view.clone());
                    }
                }
                for region in svc.config.regions.iter().map(|r| &r.name) {
                    for id in &silent {
                        by_region.entry(region.clone()).or_default().push(View {
                            controller: id.clone(),
                            verdict: crate::health::Verdict::Unknown,
                            reason: "no fresh verdicts published".to_owned(),
                        });
                    }
                }
                by_region
            });
            svc.state.set_views(views, now);
        }
    }
}

impl<B: TrafficBackend> Controller<B> {
    /// A follower's status shows the leader's planned shares (the ones traffic follows), and
    /// says whose they are.
    pub(super) fn show_leader_plan(&self, status: &mut Status) {
        let Some((leader, plan)) = &self.leader_plan else {
            return;
        };
        for r in &mut status.regions {
            let service = r.service.clone().unwrap_or_default();
            if let Some(p) = plan.get(&service).and_then(|s| s.get(&r.region)) {
                r.next = p.next;
                r.goal = p.goal;
            }
        }
        if let Some(c) = &mut status.cluster {
            c.plan_from = Some(leader.clone());
        }
    }
}
