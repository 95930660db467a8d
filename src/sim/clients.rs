//! How users follow a share change: at once, as their cached DNS answers expire, or as their
//! connections end.
//!
//! The model is one of renewal. A user of a Route 53 name asks again when its cached answer
//! expires, so at any moment the users hold answers fetched at times spread evenly over the
//! last TTL, and the fraction of a region's users still sent there is the share *averaged over
//! the last TTL*, not the share now. A resolver or client that holds answers longer (a JVM
//! cache, a resolver that stretches TTLs) is a second, smaller population averaging over a
//! longer window. A Global Accelerator dial or endpoint weight acts on new connections only;
//! connections opened evenly over the last `lifetime` are still open, so the dial is averaged
//! over that window. A window of zero is the instant model.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::bounds::{Bounds, days, secs};

/// Allowed TTLs, lagging holds and connection lifetimes.
pub const WINDOW_BOUNDS: Bounds<Duration> = Bounds::new(Duration::ZERO, days(1));

/// How the simulated users follow the shares the data plane answers with.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Clients {
    /// Every user follows a change the moment the data plane shows it. (A struct variant, so
    /// an unknown key beside `model = "instant"` is refused as it is for the others.)
    Instant {},
    /// Route 53: each user holds its answer for the record's `ttl`; a fraction `lagging` of
    /// them (resolvers that stretch TTLs, clients that cache) hold it for `lagging_for`.
    Dns {
        /// The record's TTL.
        #[serde(default = "default_ttl", with = "humantime_serde")]
        ttl: Duration,
        /// Fraction of users that hold answers longer, 0 to 1.
        #[serde(default = "default_lagging")]
        lagging: f64,
        /// How long they hold them.
        #[serde(default = "default_lagging_for", with = "humantime_serde")]
        lagging_for: Duration,
    },
    /// Global Accelerator: a dial or weight change acts on new connections; each connection
    /// lasts `lifetime`.
    Connections {
        /// How long one connection lasts.
        #[serde(default = "default_lifetime", with = "humantime_serde")]
        lifetime: Duration,
    },
}

fn default_ttl() -> Duration {
    secs(60)
}

fn default_lagging() -> f64 {
    0.05
}

fn default_lagging_for() -> Duration {
    secs(600)
}

fn default_lifetime() -> Duration {
    secs(60)
}

impl Clients {
    /// Route 53's users at the defaults: TTL 60 s, 5% holding answers 10 minutes.
    pub fn dns() -> Clients {
        Clients::Dns {
            ttl: default_ttl(),
            lagging: default_lagging(),
            lagging_for: default_lagging_for(),
        }
    }

    /// Global Accelerator's users at the default: connections of 60 s.
    pub fn connections() -> Clients {
        Clients::Connections {
            lifetime: default_lifetime(),
        }
    }

    /// Every way the model's figures are out of range, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut window = |field: &'static str, d: Duration| {
            if let Err(e) = WINDOW_BOUNDS.check(d) {
                out.push((field, e.to_string()));
            }
        };
        match *self {
            Clients::Instant {} => {}
            Clients::Dns {
                ttl,
                lagging,
                lagging_for,
            } => {
                window("ttl", ttl);
                window("lagging_for", lagging_for);
                if !(0.0..=1.0).contains(&lagging) {
                    out.push((
                        "lagging",
                        format!("{lagging} is not a fraction from 0 to 1"),
                    ));
                }
                if lagging_for < ttl {
                    out.push((
                        "lagging_for",
                        format!(
                            "{} is shorter than ttl ({}): lagging users hold answers longer, not shorter",
                            humantime::format_duration(lagging_for),
                            humantime::format_duration(ttl)
                        ),
                    ));
                }
            }
            Clients::Connections { lifetime } => window("lifetime", lifetime),
        }
        out
    }

    /// The populations of users: (fraction of users, how long they hold what they got).
    fn populations(&self) -> Vec<(f64, Duration)> {
        match *self {
            Clients::Instant {} => vec![(1.0, Duration::ZERO)],
            Clients::Dns {
                ttl,
                lagging,
                lagging_for,
            } => vec![(1.0 - lagging, ttl), (lagging, lagging_for)],
            Clients::Connections { lifetime } => vec![(1.0, lifetime)],
        }
    }

    /// The longest any user holds an answer or a connection.
    pub fn longest(&self) -> Duration {
        self.populations()
            .iter()
            .map(|(_, d)| *d)
            .max()
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = humantime::format_duration;
        match *self {
            Clients::Instant {} => f.write_str("users follow at once"),
            Clients::Dns {
                ttl,
                lagging,
                lagging_for,
            } => write!(
                f,
                "DNS answers cached {} ({:.0}% of users for {})",
                d(ttl),
                lagging * 100.0,
                d(lagging_for)
            ),
            Clients::Connections { lifetime } => {
                write!(
                    f,
                    "a change acts on new connections, each lasting {}",
                    d(lifetime)
                )
            }
        }
    }
}

/// What the users of every cell do: the answers they were given over time, and the share of
/// them each cell's users follow now.
#[derive(Debug)]
pub struct Followers {
    clients: Clients,
    /// Each cell's answered share (0-100) after every change, oldest first.
    history: BTreeMap<String, Vec<(Instant, f64)>>,
}

impl Followers {
    /// Users following `clients`' model, with no answers seen yet.
    pub fn new(clients: Clients) -> Self {
        Self {
            clients,
            history: BTreeMap::new(),
        }
    }

    /// The model they follow.
    pub fn clients(&self) -> Clients {
        self.clients
    }

    /// Whether users follow every answer at once (no window to hold an old one in): then what
    /// they follow never depends on when it is asked.
    pub fn at_once(&self) -> bool {
        self.clients.longest().is_zero()
    }

    /// Records that the data plane answers with `answered` (each cell's share, 0-100) at
    /// `now`, and returns the share of each cell's users that still go to it.
    pub fn follow(
        &mut self,
        now: Instant,
        answered: &BTreeMap<String, f64>,
    ) -> BTreeMap<String, f64> {
        let populations = self.clients.populations();
        let keep = self.clients.longest();
        answered
            .iter()
            .map(|(cell, &share)| {
                let history = self.history.entry(cell.clone()).or_default();
                if history.last().is_none_or(|(_, last)| *last != share) {
                    history.push((now, share));
                }
                // Entries older than every window matter only as the value held at its start.
                let stale = history
                    .iter()
                    .take_while(|(at, _)| now.saturating_duration_since(*at) >= keep)
                    .count();
                if stale > 1 {
                    history.drain(..stale - 1);
                }
                let followed = populations
                    .iter()
                    .map(|&(fraction, window)| fraction * average(history, now, window))
                    .sum::<f64>();
                (cell.clone(), followed)
            })
            .collect()
    }
}

/// The time-weighted average over the last `window` before `now` of the step function
/// `history` (its first value held since ever); the value now when `window` is zero.
fn average(history: &[(Instant, f64)], now: Instant, window: Duration) -> f64 {
    let current = history.last().map_or(100.0, |(_, v)| *v);
    if window.is_zero() {
        return current;
    }
    let w = window.as_secs_f64();
    // Worked back from now, by age in seconds: each value held from its change to the next.
    let mut newer = 0.0_f64;
    let mut area = 0.0;
    for &(at, value) in history.iter().rev() {
        let age = now.saturating_duration_since(at).as_secs_f64().min(w);
        area += value * (age - newer);
        newer = age;
        if age >= w {
            break;
        }
    }
    let first = history.first().map_or(current, |(_, v)| *v);
    area += first * (w - newer);
    area / w
}

#[cfg(test)]
mod tests;
