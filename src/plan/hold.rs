//! Raises the backend cannot make as planned: while only the data-plane switches work, a raise
//! lands at a record's weight or not at all.

use super::{Refusal, RefusalKind, TrafficPlan};
use crate::share::Share;

impl TrafficPlan {
    /// Fits every raise this plan makes to where the backend can land it now (`raise_lands`
    /// says where a raise of a region lands and why, as `TrafficBackend::raise_lands` does;
    /// None: anywhere). A raise that can land only at or below where the region is, or above
    /// where it is going, is held: the region stays at its current share and its move becomes
    /// a refusal of kind [`RefusalKind::Backend`] naming the goal and why. One that can land
    /// short of its goal goes there, the rest refused likewise. Written anyway, such a raise
    /// failed every tick, or landed at another share than written and was then taken for
    /// someone else's change; a refusal is news once, and ends when the backend can act again.
    pub fn hold_raises(&mut self, raise_lands: impl Fn(&str) -> Option<(Share, String)>) {
        // Each decision fitted: where it goes now, and why.
        let mut fitted: Vec<(usize, Share, String)> = Vec::new();
        for (i, d) in self.decisions.iter().enumerate() {
            let Some((lands, why)) = (d.to > d.from).then(|| raise_lands(&d.region)).flatten()
            else {
                continue;
            };
            if lands == d.to {
                continue;
            }
            fitted.push(if lands > d.to {
                // Above where it is going (a Degraded region's share): held, not overshot.
                let why = format!("it would land at {lands}, above {}: {why}", d.to);
                (i, d.from, why)
            } else if lands > d.from {
                (i, lands, why)
            } else {
                (i, d.from, why)
            });
        }
        // A region ramping together with one fitted counted on that one's users going home
        // as its whole step landed: it holds too.
        loop {
            let fitted_names: Vec<&str> = fitted
                .iter()
                .map(|(i, ..)| self.decisions[*i].region.as_str())
                .collect();
            let partners: Vec<(usize, Share, String)> = self
                .decisions
                .iter()
                .enumerate()
                .filter(|(i, d)| d.to > d.from && !fitted.iter().any(|(j, ..)| j == i))
                .filter_map(|(i, d)| {
                    let p = d.together.iter().find(|p| fitted_names.contains(&p.as_str()))?;
                    let why = format!(
                        "held with {p}, whose users it counted on going home as both ramped, and {p} cannot ramp now"
                    );
                    Some((i, d.from, why))
                })
                .collect();
            if partners.is_empty() {
                break;
            }
            fitted.extend(partners);
        }
        for (i, to, detail) in fitted {
            let d = &mut self.decisions[i];
            if let Some(r) = self.regions.iter_mut().find(|r| r.region == d.region) {
                r.next = to;
                if to == r.current {
                    r.projected_utilization = r.utilization;
                    r.moved_in_rps = Some(0.0);
                }
            }
            // What else held its move back this tick is moot beside what the backend can do.
            self.refusals.retain(|x| x.region != d.region);
            self.refusals.push(Refusal {
                wanted_points: d.to.get() - d.from.get(),
                moved_points: to.get() - d.from.get(),
                ..Refusal::of_goal(&d.region, RefusalKind::Backend, &d.reason, detail.clone())
            });
            if to > d.from {
                d.reason = format!("{}; it goes to {to}: {detail}", d.reason);
            }
            d.to = to;
        }
        self.decisions.retain(|d| d.to != d.from);
    }
}
