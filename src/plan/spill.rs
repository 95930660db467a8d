//! Where a withdrawn region's users go: the spill model, and the one placement function the
//! headroom check, `what-if`, admission, evacuation readiness and the simulated data plane all
//! use.
//!
//! Rules:
//! - **Fill**: the users are poured into the regions of `spill_to` that take spill, in order,
//!   each up to its room; what fits nowhere is unplaced. This is an ideally steered data plane
//!   (the simulated knobs'), which no real backend is.
//! - **Spread**: the users are spread over the regions of `spill_to` that take spill in
//!   proportion to their weights, each its base weight times its share: Route 53 answers a
//!   weighted name with each record in proportion to its weight over the total, so what one
//!   region's lowered weight gives up goes to every other record by weight, not to the one with
//!   room. Multivalue records spread evenly (equal weights).
//! - **Nearest**: every user goes to the first region of `spill_to` that takes spill, whatever
//!   its room. This is what a latency or geolocation record does when its health check
//!   withdraws it (Route 53 answers with the next-closest healthy region, all of the users to
//!   one survivor, not spread over all), what a failover record does (to its partner), and what
//!   a Global Accelerator traffic dial does (the excess goes to the nearest endpoint group).
//! - **Mix**: like nearest, but the users are split by where they are (`40% of us-east-1's
//!   users are nearest us-west-2, 60% nearest eu-west-1`). A part whose region does not take
//!   spill passes on to the next region of `spill_to` after it that does, or, with none after
//!   it, to the first that does.
//! - With spread, nearest or a mix the destinations are fixed fractions of whatever moves: a
//!   move fits only as far as it fits **every** destination, so the part that fits is the
//!   smallest of each destination's room over its fraction.

use serde::{Deserialize, Serialize};

/// How a drained region's users reach the regions of its `spill_to`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spill {
    /// Fill `spill_to` in order, each region up to the ceiling (simulated knobs).
    #[default]
    Fill,
    /// In proportion to weights: (region, weight) in `spill_to` order (weighted records: base
    /// weight × share; multivalue records: equal).
    Spread(Vec<(String, u32)>),
    /// Some users to the nearest, some by weight (a region with a Global Accelerator dial and
    /// weighted records): the data plane is taken to send them to the nearest, and the headroom
    /// check holds every destination at the larger of its two fractions.
    NearestOrSpread(Vec<(String, u32)>),
    /// All to the first serving region of `spill_to`, whatever its room (latency and
    /// geolocation records withdrawn by their health check).
    Nearest,
    /// Split by client location: (region, percent) in `spill_to` order, percentages adding up
    /// to 100; each part goes to its region, or on to the next serving one after it.
    Mix(Vec<(String, u8)>),
}

impl Spill {
    /// The weight a spread's record set gives `region` (0 for a region it leaves out); None
    /// for a model without weights.
    pub fn weight(&self, region: &str) -> Option<u32> {
        match self {
            Spill::Spread(w) | Spill::NearestOrSpread(w) => {
                Some(w.iter().find(|(r, _)| r == region).map_or(0, |(_, w)| *w))
            }
            Spill::Fill | Spill::Nearest | Spill::Mix(_) => None,
        }
    }

    /// For people: `fill`, `nearest`, `mix us-west-2 40%, eu-west-1 60%`.
    pub fn describe(&self) -> String {
        match self {
            Spill::Fill => "fill".to_owned(),
            Spill::Spread(_) => "spread by weight".to_owned(),
            Spill::NearestOrSpread(_) => "nearest or spread by weight".to_owned(),
            Spill::Nearest => "nearest".to_owned(),
            Spill::Mix(parts) => format!(
                "mix {}",
                parts
                    .iter()
                    .map(|(r, p)| format!("{r} {p}%"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The same model with each region renamed by `f` (the simulator keys cells
    /// `service/region`).
    pub fn map_regions(&self, f: impl Fn(&str) -> String) -> Spill {
        match self {
            Spill::Mix(parts) => Spill::Mix(parts.iter().map(|(r, p)| (f(r), *p)).collect()),
            Spill::Spread(w) => Spill::Spread(w.iter().map(|(r, x)| (f(r), *x)).collect()),
            Spill::NearestOrSpread(w) => {
                Spill::NearestOrSpread(w.iter().map(|(r, x)| (f(r), *x)).collect())
            }
            other => other.clone(),
        }
    }

    /// With spread, each region's weight times its share (`share(region)`, 0 to 100) now:
    /// Route 53 answers by the weights the records hold, and a region held below its full share
    /// holds a lower weight. The other models are returned as they are.
    pub fn at_shares(&self, share: impl Fn(&str) -> f64) -> std::borrow::Cow<'_, Spill> {
        match self {
            Spill::Spread(w) => std::borrow::Cow::Owned(Spill::Spread(
                w.iter()
                    .map(|(r, x)| {
                        let scaled = f64::from(*x) * share(r).clamp(0.0, 100.0) / 100.0;
                        (r.clone(), scaled.round() as u32)
                    })
                    .collect(),
            )),
            other => std::borrow::Cow::Borrowed(other),
        }
    }

    /// The same model over fewer regions: a mix part whose region `keep` drops passes on to
    /// the next kept region of `spill_to` after it, else the first kept one (a service that
    /// does not serve a region of the shared spill order). A mix left with one region is
    /// nearest.
    pub fn keep_only(&self, spill_to: &[String], keep: impl Fn(&str) -> bool) -> Spill {
        if let Spill::Spread(w) = self {
            return Spill::Spread(w.iter().filter(|(r, _)| keep(r)).cloned().collect());
        }
        if let Spill::NearestOrSpread(w) = self {
            return Spill::NearestOrSpread(w.iter().filter(|(r, _)| keep(r)).cloned().collect());
        }
        let Spill::Mix(parts) = self else {
            return self.clone();
        };
        let mut folded: Vec<(String, u8)> = Vec::new();
        for (region, pct) in parts {
            let Some(to) = pass_on(region, spill_to, &keep) else {
                continue;
            };
            match folded.iter_mut().find(|(r, _)| r == to) {
                Some((_, p)) => *p = p.saturating_add(*pct),
                None => folded.push((to.to_owned(), *pct)),
            }
        }
        folded.sort_by_key(|(r, _)| spill_to.iter().position(|s| s == r));
        match folded.len() {
            0 | 1 => Spill::Nearest,
            _ => Spill::Mix(folded),
        }
    }
}

/// How a region of `spill_to` answers, as the data plane sees it when it sends a drained
/// region's users on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// It answers and fails nothing (failoverd's Healthy).
    Fully,
    /// It answers but fails some requests (a brownout). failoverd's Degraded maps here
    /// whatever its cause, a latency budget included: the verdict does not say which.
    Partly,
    /// It does not answer (Down, or not known).
    No,
}

impl Answers {
    /// Whether users placed by `spill` are sent to a region that answers so. Route 53 and
    /// Global Accelerator do not read failoverd's verdicts: a weighted record keeps its weight
    /// and an endpoint group its place in the nearest order while it still passes their health
    /// checks, as a brownout mostly does, so with every model but `fill` a region that answers
    /// in part gets its part of the users (and, once it is not being drained itself, the
    /// headroom check holds it to the ceiling as any survivor). Only `fill`, the in-memory
    /// backend's ideal steering, passes it by.
    pub fn receives(self, spill: &Spill) -> bool {
        match self {
            Answers::Fully => true,
            Answers::Partly => !matches!(spill, Spill::Fill),
            Answers::No => false,
        }
    }
}

/// Where the part of `region` goes: itself when `takes` it, else the next region of
/// `spill_to` after it that `takes`, else the first that does.
fn pass_on<'a>(
    region: &str,
    spill_to: &'a [String],
    takes: &impl Fn(&str) -> bool,
) -> Option<&'a str> {
    let at = spill_to.iter().position(|s| s == region).unwrap_or(0);
    spill_to[at..]
        .iter()
        .chain(spill_to[..at].iter())
        .map(String::as_str)
        .find(|s| takes(s))
}

/// Where users that fit nowhere go, as fractions adding up to 1 (empty when no region of
/// `spill_to` takes spill): with `fill`, the first region that takes spill (where the data
/// plane sends them first); with nearest, that one region; with a mix, each part's region; with
/// spread, every region that takes spill, by weight (none when every weight is 0).
pub fn destinations<'a>(
    spill: &Spill,
    spill_to: &'a [String],
    takes: impl Fn(&str) -> bool,
) -> Vec<(&'a str, f64)> {
    match spill {
        Spill::Fill | Spill::Nearest | Spill::NearestOrSpread(_) => spill_to
            .iter()
            .map(String::as_str)
            .find(|s| takes(s))
            .map(|s| vec![(s, 1.0)])
            .unwrap_or_default(),
        Spill::Spread(_) => {
            let out: Vec<(&str, f64)> = spill_to
                .iter()
                .map(String::as_str)
                .filter(|s| takes(s))
                .map(|s| (s, f64::from(spill.weight(s).unwrap_or(0))))
                .filter(|(_, w)| *w > 0.0)
                .collect();
            normalized(out)
        }
        Spill::Mix(parts) => {
            let mut out: Vec<(&str, f64)> = Vec::new();
            for (region, pct) in parts {
                let Some(to) = pass_on(region, spill_to, &takes) else {
                    continue;
                };
                let f = f64::from(*pct) / 100.0;
                match out.iter_mut().find(|(r, _)| *r == to) {
                    Some((_, x)) => *x += f,
                    None => out.push((to, f)),
                }
            }
            normalized(out)
        }
    }
}

/// `parts` scaled to add up to 1 (as they are when they add up to 0).
fn normalized(mut parts: Vec<(&str, f64)>) -> Vec<(&str, f64)> {
    let total: f64 = parts.iter().map(|(_, f)| f).sum();
    if total > 0.0 {
        for (_, f) in &mut parts {
            *f /= total;
        }
    }
    parts
}

/// Where `rps` of a drained region's users land.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement<'a> {
    /// Requests/s each destination takes, in `spill_to` order of first use.
    pub placed: Vec<(&'a str, f64)>,
    /// Requests/s that fit nowhere under `room`.
    pub unplaced: f64,
    /// Requests/s that left the region: what was placed, except that with bounded fractions
    /// (adding up to more than 1, [`spread_bounds`]) each destination is counted at its most.
    pub moved: f64,
}

impl Placement<'_> {
    /// Requests/s placed in all.
    pub fn placed_rps(&self) -> f64 {
        self.placed.iter().map(|(_, r)| r).sum()
    }
}

/// Places `rps` of a drained region's users by `spill` among the regions of `spill_to` that
/// `takes`, each taking at most `room(region)`: filled in order, or split in the model's fixed
/// fractions as far as every destination has room. A spread's weights are as given: scale them
/// to the regions' shares first ([`Spill::at_shares`]). Shared by the headroom check and the
/// simulated data plane, so both send drained users to the same places.
pub fn place<'a>(
    spill: &Spill,
    rps: f64,
    spill_to: &'a [String],
    takes: impl Fn(&str) -> bool,
    room: impl FnMut(&str) -> f64,
) -> Placement<'a> {
    if let Spill::Fill = spill {
        let (placed, unplaced) = super::fill_in_order(
            rps,
            spill_to.iter().map(String::as_str).filter(|s| takes(s)),
            room,
        );
        let moved = placed.iter().map(|(_, r)| r).sum();
        return Placement {
            placed,
            unplaced,
            moved,
        };
    }
    place_in_parts(&destinations(spill, spill_to, takes), rps, room)
}

/// Places `rps` in the fixed fractions `parts` as far as every destination has room under
/// `room`: the most that fits is the smallest room over its fraction. Fractions adding up to
/// more than 1 are upper bounds ([`spread_bounds`]): each destination is counted at its most.
pub fn place_in_parts<'a>(
    parts: &[(&'a str, f64)],
    rps: f64,
    mut room: impl FnMut(&str) -> f64,
) -> Placement<'a> {
    let rps = rps.max(0.0);
    // The most that fits every destination at its fraction.
    let fits = parts
        .iter()
        .map(|(d, f)| room(d).max(0.0) / f)
        .fold(f64::INFINITY, f64::min);
    let moved = if parts.is_empty() { 0.0 } else { rps.min(fits) };
    Placement {
        placed: parts
            .iter()
            .map(|(d, f)| (*d, moved * f))
            .filter(|(_, r)| *r > 0.0)
            .collect(),
        unplaced: rps - moved,
        moved,
    }
}

/// Each destination's largest fraction of a spread whose weights may each land anywhere in
/// `range(region)` (lowest, highest) by the time the move does, as when a survivor ramping back
/// in the same tick may or may not get its step: its highest weight over itself at its highest
/// plus every other at its lowest. Every range a single weight, they are the spread's fractions;
/// otherwise they add up to more than 1, and holding each destination to the ceiling at its
/// largest fraction holds it there however the weights land.
pub fn spread_bounds(
    spill_to: &[String],
    takes: impl Fn(&str) -> bool,
    range: impl Fn(&str) -> (f64, f64),
) -> Vec<(&str, f64)> {
    let takers: Vec<(&str, f64, f64)> = spill_to
        .iter()
        .map(String::as_str)
        .filter(|s| takes(s))
        .map(|s| {
            let (lo, hi) = range(s);
            (s, lo.max(0.0), hi.max(lo).max(0.0))
        })
        .collect();
    let lowest: f64 = takers.iter().map(|(_, lo, _)| lo).sum();
    takers
        .iter()
        .filter(|(_, _, hi)| *hi > 0.0)
        .map(|(s, lo, hi)| (*s, hi / (hi + lowest - lo)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    fn spread(weights: &[(&str, u32)]) -> Spill {
        Spill::Spread(weights.iter().map(|(r, w)| ((*r).to_owned(), *w)).collect())
    }

    fn mix(parts: &[(&str, u8)]) -> Spill {
        Spill::Mix(parts.iter().map(|(r, p)| ((*r).to_owned(), *p)).collect())
    }

    fn round(p: &Placement<'_>) -> (Vec<(String, i64)>, i64) {
        (
            p.placed
                .iter()
                .map(|(r, x)| ((*r).to_owned(), x.round() as i64))
                .collect(),
            p.unplaced.round() as i64,
        )
    }

    fn owned(v: &[(&str, i64)]) -> Vec<(String, i64)> {
        v.iter().map(|(r, x)| ((*r).to_owned(), *x)).collect()
    }

    /// (model, regions that take spill, placed, unplaced).
    type Case = (Spill, Vec<&'static str>, Vec<(&'static str, i64)>, i64);

    #[test]
    fn each_model_places_the_same_users_where_its_data_plane_sends_them() {
        let spill_to = names(&["b", "c", "d"]);
        let room = |s: &str| match s {
            "b" => 300.0,
            "c" => 500.0,
            _ => 1000.0,
        };
        // (model, regions that take spill, placed, unplaced) for 1,000 rps.
        let cases: Vec<Case> = vec![
            // Fill pours in order up to each room.
            (
                Spill::Fill,
                vec!["b", "c", "d"],
                vec![("b", 300), ("c", 500), ("d", 200)],
                0,
            ),
            // Nearest: everything to b, which has room for 300 only.
            (Spill::Nearest, vec!["b", "c", "d"], vec![("b", 300)], 700),
            // b withdrawn: c is the nearest serving region.
            (Spill::Nearest, vec!["c", "d"], vec![("c", 500)], 500),
            // 40/60: b takes 40% of what moves, c 60%; b binds at 300 / 0.4 = 750 moved.
            (
                mix(&[("b", 40), ("c", 60)]),
                vec!["b", "c", "d"],
                vec![("b", 300), ("c", 450)],
                250,
            ),
            // b not serving: its 40% passes on to c, the next after it.
            (
                mix(&[("b", 40), ("d", 60)]),
                vec!["c", "d"],
                vec![("c", 400), ("d", 600)],
                0,
            ),
            // d not serving and nothing after it: its half goes to the first serving, b, whose
            // room (300 at a half) binds: 600 move.
            (
                mix(&[("c", 50), ("d", 50)]),
                vec!["b", "c"],
                vec![("c", 300), ("b", 300)],
                400,
            ),
            // Nobody takes spill: nothing placed.
            (Spill::Nearest, vec![], vec![], 1000),
            // Spread by equal weights: a third each, as far as b's room (300 at a third) holds.
            (
                spread(&[("b", 100), ("c", 100), ("d", 100)]),
                vec!["b", "c", "d"],
                vec![("b", 300), ("c", 300), ("d", 300)],
                100,
            ),
            // b withdrawn: halves over c and d.
            (
                spread(&[("b", 100), ("c", 100), ("d", 100)]),
                vec!["c", "d"],
                vec![("c", 500), ("d", 500)],
                0,
            ),
        ];
        for (spill, takes, placed, unplaced) in cases {
            let p = place(&spill, 1000.0, &spill_to, |s| takes.contains(&s), room);
            assert_eq!(
                round(&p),
                (owned(&placed), unplaced),
                "{} taking {takes:?}",
                spill.describe()
            );
        }
    }

    #[test]
    fn a_spread_goes_by_the_weights_the_records_hold_at_their_shares() {
        let spill_to = names(&["b", "c", "d"]);
        let s = spread(&[("b", 100), ("c", 100), ("d", 100)]);
        // c held at half its share holds half its weight: 40/20/40.
        let at = s.at_shares(|r| if r == "c" { 50.0 } else { 100.0 });
        assert_eq!(*at, spread(&[("b", 100), ("c", 50), ("d", 100)]));
        let room = |r: &str| if r == "b" { 300.0 } else { 1000.0 };
        let p = place(&at, 1000.0, &spill_to, |_| true, room);
        assert_eq!(
            round(&p),
            (owned(&[("b", 300), ("c", 150), ("d", 300)]), 250),
            "b's room binds at 750 moved"
        );
        // A region at 0 holds no weight: it takes none.
        let at = s.at_shares(|r| if r == "b" { 0.0 } else { 100.0 });
        assert_eq!(
            destinations(&at, &spill_to, |_| true),
            [("c", 0.5), ("d", 0.5)]
        );
        // Other models are not weighted.
        assert_eq!(*Spill::Nearest.at_shares(|_| 0.0), Spill::Nearest);
        assert_eq!(
            s.keep_only(&spill_to, |r| r != "c"),
            spread(&[("b", 100), ("d", 100)])
        );
        assert_eq!(s.describe(), "spread by weight");
    }

    #[test]
    fn spread_bounds_hold_each_destination_at_its_largest_fraction_however_the_weights_land() {
        let spill_to = names(&["b", "c"]);
        // Settled weights: the fractions themselves.
        // b's weight range, then c's.
        let ranges = |b: (f64, f64), c: (f64, f64)| move |r: &str| if r == "b" { b } else { c };
        let exact = spread_bounds(&spill_to, |_| true, ranges((100.0, 100.0), (50.0, 50.0)));
        assert_eq!(round_parts(&exact), owned(&[("b", 667), ("c", 333)]));
        // c ramps from 50 to 75 in the same tick, or does not: c takes at most 75/175, b at
        // most 100/150.
        let bounds = spread_bounds(&spill_to, |_| true, ranges((100.0, 100.0), (50.0, 75.0)));
        assert_eq!(round_parts(&bounds), owned(&[("b", 667), ("c", 429)]));
        // Placed at those bounds, each is counted at its most; what moved is held to the room
        // of the one that binds.
        let p = place_in_parts(&bounds, 1000.0, |r| if r == "c" { 300.0 } else { 1000.0 });
        assert!((p.moved - 700.0).abs() < 1e-6, "{p:?}");
        assert!(p.placed_rps() > p.moved);
    }

    fn round_parts(parts: &[(&str, f64)]) -> Vec<(String, i64)> {
        parts
            .iter()
            .map(|(r, f)| ((*r).to_owned(), (f * 1000.0).round() as i64))
            .collect()
    }

    #[test]
    fn with_unlimited_room_a_mix_splits_by_its_fractions() {
        let spill_to = names(&["b", "c", "d"]);
        let p = place(
            &mix(&[("b", 40), ("d", 60)]),
            1000.0,
            &spill_to,
            |_| true,
            |_| f64::INFINITY,
        );
        assert_eq!(round(&p), (owned(&[("b", 400), ("d", 600)]), 0));
    }

    #[test]
    fn where_overflow_goes_follows_the_model() {
        let spill_to = names(&["b", "c"]);
        let all = |_: &str| true;
        assert_eq!(destinations(&Spill::Fill, &spill_to, all), [("b", 1.0)]);
        assert_eq!(destinations(&Spill::Nearest, &spill_to, all), [("b", 1.0)]);
        assert_eq!(
            destinations(&mix(&[("b", 25), ("c", 75)]), &spill_to, all),
            [("b", 0.25), ("c", 0.75)]
        );
        assert_eq!(destinations(&Spill::Nearest, &spill_to, |_| false), []);
    }

    #[test]
    fn a_mix_over_fewer_regions_passes_the_dropped_parts_on() {
        let spill_to = names(&["b", "c", "d"]);
        let m = mix(&[("b", 30), ("c", 30), ("d", 40)]);
        assert_eq!(m.keep_only(&spill_to, |_| true), m);
        assert_eq!(
            m.keep_only(&spill_to, |s| s != "c"),
            mix(&[("b", 30), ("d", 70)])
        );
        assert_eq!(m.keep_only(&spill_to, |s| s == "b"), Spill::Nearest);
        assert_eq!(Spill::Fill.keep_only(&spill_to, |_| false), Spill::Fill);
        assert_eq!(m.describe(), "mix b 30%, c 30%, d 40%");
    }
}
