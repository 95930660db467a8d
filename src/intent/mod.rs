//! Operators' intents: manual drains and a freeze.
//!
//! Intents outrank automation. A manual drain holds a region at its drained share until it is
//! undrained or expires (expiry is mandatory and capped); a freeze stops every automated change
//! while still allowing manual ones. This module is pure data, the rules about time, and the
//! rules a request must pass to become an intent ([`Drain::try_new`], [`Freeze::try_new`]);
//! storing intents durably and changing them through the admin API build on it.

pub mod drill;
pub mod external;
pub mod request;
pub mod rollout;

pub use self::drill::Drill;
pub use self::request::{DrainRequest, FreezeRequest};
pub use self::rollout::Rollout;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::share::Share;

/// A manual drain of one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// Share the region is drained to (0 = all traffic away).
    pub share: Share,
    /// Who asked.
    pub actor: String,
    /// Why, in their words.
    pub reason: String,
    /// When it was asked for.
    pub since: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
    /// Move the traffic even where survivors lack headroom.
    pub force: bool,
}

/// A freeze of all automated changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// Who asked.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When it was asked for.
    pub since: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
}

/// Every intent in force or recently in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intents {
    /// Manual drains by region.
    pub drains: BTreeMap<String, Drain>,
    /// The freeze of every service, if any.
    pub freeze: Option<Freeze>,
    /// Freezes of one service each, by service name (a config with `[[services]]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_freezes: BTreeMap<String, Freeze>,
    /// When an operator lifted a region's flap-damping hold, keyed like drains (`region`, or
    /// `service/region`): moves before then no longer count towards damping.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub damping_lifted: BTreeMap<String, Timestamp>,
    /// Ring rollouts, live and ended, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rollouts: BTreeMap<String, Rollout>,
    /// DR drills, live and ended (their reports), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drills: BTreeMap<String, Drill>,
    /// What failoverd last set each knob to, by knob key: how it tells its own values from
    /// other people's after a restart or a change of leader.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied: BTreeMap<String, external::Applied>,
    /// External changes noticed and not yet acknowledged, by knob key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external: BTreeMap<String, external::Notice>,
}

/// An intent that cannot be accepted. Each message starts with the field it is about, as the
/// admin API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A blank reason: the next person on call would not know why.
    #[error("reason: must not be empty; it is what the next person on call reads")]
    EmptyReason,
    /// A reason holding a character a terminal would obey rather than show (an escape sequence,
    /// a line break, a bidi override): every place that prints it would have to guess.
    #[error(
        "reason: must be one line of printable text; it holds U+{:04X} at character {at} (control characters and bidi overrides are refused)",
        u32::from(*found)
    )]
    UnprintableReason {
        /// The first such character.
        found: char,
        /// Where, counting characters of the trimmed reason from 1.
        at: usize,
    },
    /// A reason longer than [`request::MAX_REASON_CHARS`].
    #[error(
        "reason: must be at most {} characters; it has {chars}",
        request::MAX_REASON_CHARS
    )]
    LongReason {
        /// Its length, in characters.
        chars: usize,
    },
    /// A time-to-live that does not read as a duration.
    #[error("ttl: {message} (e.g. \"2h\", \"30m\")")]
    TtlUnreadable {
        /// What was written.
        text: String,
        /// Why it does not read.
        message: String,
    },
    /// An expiry under [`MIN_TTL`], or one beyond the cap.
    #[error("ttl: must be between {} and {}, got {}", humantime::format_duration(MIN_TTL), humantime::format_duration(*max), humantime::format_duration(*got))]
    Ttl {
        /// What was asked.
        got: Duration,
        /// The cap (`policy.max_intent_ttl`).
        max: Duration,
    },
    /// A drain to 100% or more, which would drain nothing.
    #[error("share: must be 0-99, got {got}")]
    Share {
        /// What was asked.
        got: u8,
    },
    /// A region that is not configured.
    #[error("region: unknown region \"{0}\"")]
    UnknownRegion(String),
    /// A service named that does not serve the region (or does not exist).
    #[error("service: \"{service}\" does not serve {region} (services there: {})", .serving.join(", "))]
    UnknownService {
        /// What was asked.
        service: String,
        /// The region.
        region: String,
        /// The services that serve it.
        serving: Vec<String>,
    },
    /// Several services serve the region and the request says neither which nor all.
    #[error("service: several services serve {region} ({}); say which with service (--service NAME) or all_services (--all-services)", .serving.join(", "))]
    ScopeNeeded {
        /// The region.
        region: String,
        /// The services that serve it.
        serving: Vec<String>,
    },
    /// A service named that the config does not list.
    #[error("service: no service \"{service}\" (services: {})", .known.join(", "))]
    NoSuchService {
        /// What was asked.
        service: String,
        /// The services configured.
        known: Vec<String>,
    },
    /// An acknowledgement that names neither a region nor all, or both.
    #[error("region: name one region (with service, if one), or all (--all) without a service")]
    AckScope,
    /// A service named, or all services asked for, in a config without `[[services]]`.
    #[error(
        "service: this config lists no [[services]]; name the region without service or all_services"
    )]
    NoServices,
}

/// The service a freeze names, checked against the configured `services` (`None` in a config
/// without `[[services]]`); `None` freezes every service.
pub fn freeze_service(
    service: Option<&str>,
    services: Option<&[String]>,
) -> Result<Option<String>, Error> {
    match (service, services) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(Error::NoServices),
        (Some(s), Some(known)) if known.iter().any(|k| k == s) => Ok(Some(s.to_owned())),
        (Some(s), Some(known)) => Err(Error::NoSuchService {
            service: s.to_owned(),
            known: known.to_vec(),
        }),
    }
}

/// What a drain covers: the region for every service that serves it, or for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every service in the region (and the only one in a config without `[[services]]`).
    Region,
    /// One service.
    Service(String),
}

impl Scope {
    /// The key the drain is stored under: the region, or `service/region`.
    pub fn key(&self, region: &str) -> String {
        match self {
            Scope::Region => region.to_owned(),
            Scope::Service(service) => format!("{service}/{region}"),
        }
    }

    /// The service it names, if one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Scope::Region => None,
            Scope::Service(s) => Some(s),
        }
    }

    /// The scope a request for `region` asks for, given the services that serve it (`None` in
    /// a config without `[[services]]`). With several services a request must say which, or
    /// all: draining every service in a region is a decision, not a default.
    pub fn of(
        region: &str,
        service: Option<&str>,
        all_services: bool,
        serving: Option<&[String]>,
    ) -> Result<Scope, Error> {
        match (serving, service, all_services) {
            (None, None, false) => Ok(Scope::Region),
            (None, _, _) => Err(Error::NoServices),
            (Some(_), Some(_), true) => Err(Error::ScopeNeeded {
                region: region.to_owned(),
                serving: serving.unwrap_or_default().to_vec(),
            }),
            (Some(serving), Some(s), false) => {
                if serving.iter().any(|x| x == s) {
                    Ok(Scope::Service(s.to_owned()))
                } else {
                    Err(Error::UnknownService {
                        service: s.to_owned(),
                        region: region.to_owned(),
                        serving: serving.to_vec(),
                    })
                }
            }
            (Some(_), None, true) => Ok(Scope::Region),
            (Some(serving), None, false) if serving.len() == 1 => Ok(Scope::Region),
            (Some(serving), None, false) => Err(Error::ScopeNeeded {
                region: region.to_owned(),
                serving: serving.to_vec(),
            }),
        }
    }
}

/// The shortest time-to-live an intent may have. Below a second a drain or freeze would end
/// before a tick could act on it, so asking for one is a typo (`1ns` for `1h`), not an intent.
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// Checks a requested time-to-live against the minimum, [`MIN_TTL`], and the cap.
pub fn check_ttl(ttl: Duration, max: Duration) -> Result<(), Error> {
    if ttl < MIN_TTL || ttl > max {
        return Err(Error::Ttl { got: ttl, max });
    }
    Ok(())
}

impl Intents {
    /// The intents as `service` sees them at `now`: its own drains (stored as
    /// `service/region`) and the region-wide ones, each under its region. Where both are in
    /// force, the one that drains further holds (an evacuation is never weakened by an older
    /// partial drain of one service); an expired one never hides the other.
    pub fn for_service(&self, service: &str, now: Timestamp) -> Intents {
        let mut drains: BTreeMap<String, Drain> = BTreeMap::new();
        for (key, d) in &self.drains {
            let region = match key.split_once('/') {
                None => key.as_str(),
                Some((s, region)) if s == service => region,
                Some(_) => continue,
            };
            if now >= d.expires_at {
                continue;
            }
            match drains.get(region) {
                Some(held) if held.share <= d.share => {}
                _ => {
                    drains.insert(region.to_owned(), d.clone());
                }
            }
        }
        // Its own freeze or the global one, whichever ends later.
        let freeze = [self.freeze.as_ref(), self.service_freezes.get(service)]
            .into_iter()
            .flatten()
            .max_by_key(|f| f.expires_at)
            .cloned();
        // Its own lifts and the region-wide ones, the latest holding.
        let mut damping_lifted: BTreeMap<String, Timestamp> = BTreeMap::new();
        for (key, at) in &self.damping_lifted {
            let region = match key.split_once('/') {
                None => key.as_str(),
                Some((s, region)) if s == service => region,
                Some(_) => continue,
            };
            let e = damping_lifted.entry(region.to_owned()).or_insert(*at);
            *e = (*e).max(*at);
        }
        Intents {
            drains,
            freeze,
            service_freezes: BTreeMap::new(),
            damping_lifted,
            rollouts: self
                .rollouts
                .iter()
                .filter(|(_, r)| r.service.as_deref().is_none_or(|s| s == service))
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect(),
            drills: self
                .drills
                .iter()
                .filter(|(_, d)| d.service.as_deref().is_none_or(|s| s == service))
                .map(|(id, d)| (id.clone(), d.clone()))
                .collect(),
            // Keyed by knob, and a service's knobs' keys start with its name.
            applied: self
                .applied
                .iter()
                .filter(|(key, _)| key.split_once('/').is_some_and(|(s, _)| s == service))
                .map(|(key, a)| (key.clone(), a.clone()))
                .collect(),
            external: self
                .external
                .iter()
                .filter(|(_, n)| n.service.as_deref() == Some(service))
                .map(|(key, n)| (key.clone(), n.clone()))
                .collect(),
        }
    }

    /// The intents as status shows them: without what failoverd last set each knob to, which
    /// is its own bookkeeping, not anybody's intent.
    pub fn shown(&self) -> Intents {
        Intents {
            applied: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// The external change that holds `region` as it is (`on_external_change = "hold"`) until
    /// acknowledged, if any.
    pub fn held(&self, region: &str) -> Option<&external::Notice> {
        self.external
            .values()
            .find(|n| n.region == region && n.action == external::Action::Held)
    }

    /// The external changes standing at `now`, oldest first.
    pub fn notices(&self, now: Timestamp) -> Vec<&external::Notice> {
        let mut out: Vec<&external::Notice> =
            self.external.values().filter(|n| n.stands(now)).collect();
        out.sort_by_key(|n| n.noticed_at);
        out
    }

    /// The drain of `region` if it is in force at `now`.
    pub fn drain(&self, region: &str, now: Timestamp) -> Option<&Drain> {
        self.drains.get(region).filter(|d| now < d.expires_at)
    }

    /// The freeze if it is in force at `now`.
    pub fn freeze(&self, now: Timestamp) -> Option<&Freeze> {
        self.freeze.as_ref().filter(|f| now < f.expires_at)
    }

    /// Each recorded intent, named for the journal (`drain of eu-west-1 by alice`, `freeze by
    /// bob`), split into those in force at `now` and those past their expiry.
    pub fn by_expiry(&self, now: Timestamp) -> (BTreeSet<String>, BTreeSet<String>) {
        let drains = self
            .drains
            .iter()
            .map(|(region, d)| (format!("drain of {region} by {}", d.actor), d.expires_at));
        let freeze =
            self.freeze
                .iter()
                .map(|f| (format!("freeze by {}", f.actor), f.expires_at))
                .chain(self.service_freezes.iter().map(|(service, f)| {
                    (format!("freeze of {service} by {}", f.actor), f.expires_at)
                }));
        let (mut in_force, mut expired) = (BTreeSet::new(), BTreeSet::new());
        for (name, expires_at) in drains.chain(freeze) {
            if now < expires_at {
                in_force.insert(name);
            } else {
                expired.insert(name);
            }
        }
        (in_force, expired)
    }
}

/// A full drain by alice until `expires_at`, for tests.
#[cfg(test)]
pub(crate) fn test_drain(expires_at: u64) -> Drain {
    Drain {
        share: Share::ZERO,
        actor: "alice".into(),
        reason: "bad deploy".into(),
        since: Timestamp(0),
        expires_at: Timestamp(expires_at),
        force: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(expires_at: u64) -> Drain {
        test_drain(expires_at)
    }

    #[test]
    fn a_drain_holds_until_its_expiry_and_is_then_named_as_expired() {
        let mut i = Intents::default();
        i.drains.insert("eu-west-1".into(), drain(1000));
        assert!(i.drain("eu-west-1", Timestamp(999)).is_some());
        assert!(i.drain("eu-west-1", Timestamp(1000)).is_none());
        let names = |v: &[&str]| {
            v.iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<String>>()
        };
        assert_eq!(
            i.by_expiry(Timestamp(999)),
            (names(&["drain of eu-west-1 by alice"]), names(&[]))
        );
        assert_eq!(
            i.by_expiry(Timestamp(1000)),
            (names(&[]), names(&["drain of eu-west-1 by alice"]))
        );
        i.freeze = Some(Freeze {
            actor: "bob".into(),
            reason: "game day".into(),
            since: Timestamp(0),
            expires_at: Timestamp(2000),
        });
        assert_eq!(
            i.by_expiry(Timestamp(1500)),
            (
                names(&["freeze by bob"]),
                names(&["drain of eu-west-1 by alice"])
            )
        );
    }

    #[test]
    fn ttl_is_mandatory_and_capped() {
        let max = Duration::from_secs(72 * 3600);
        assert!(check_ttl(Duration::from_secs(3600), max).is_ok());
        assert_eq!(
            check_ttl(Duration::ZERO, max)
                .expect_err("zero")
                .to_string(),
            "ttl: must be between 1s and 3days, got 0s"
        );
        assert!(check_ttl(Duration::from_secs(73 * 3600), max).is_err());
    }

    #[test]
    fn a_ttl_under_a_second_is_refused_with_the_minimum_the_message_names() {
        let max = Duration::from_secs(72 * 3600);
        for short in [Duration::from_nanos(1), Duration::from_millis(999)] {
            assert_eq!(
                check_ttl(short, max),
                Err(Error::Ttl { got: short, max }),
                "{short:?}"
            );
        }
        assert_eq!(
            check_ttl(Duration::from_nanos(1), max)
                .expect_err("1ns")
                .to_string(),
            "ttl: must be between 1s and 3days, got 1ns"
        );
        assert!(
            check_ttl(MIN_TTL, max).is_ok(),
            "the minimum itself is allowed"
        );
    }

    #[test]
    fn with_several_services_a_drain_says_which_or_all() {
        let serving = ["api".to_owned(), "web".to_owned()];
        let of = |service: Option<&str>, all: bool, serving: Option<&[String]>| {
            Scope::of("r1", service, all, serving)
        };
        assert_eq!(of(None, false, None), Ok(Scope::Region));
        assert_eq!(of(Some("api"), false, None), Err(Error::NoServices));
        assert_eq!(of(None, true, None), Err(Error::NoServices));
        assert_eq!(of(None, true, Some(&serving)), Ok(Scope::Region));
        assert_eq!(
            of(Some("web"), false, Some(&serving)),
            Ok(Scope::Service("web".into()))
        );
        assert_eq!(of(None, false, Some(&serving[..1])), Ok(Scope::Region));
        let err = of(None, false, Some(&serving)).expect_err("must say which");
        assert_eq!(
            err.to_string(),
            "service: several services serve r1 (api, web); say which with service (--service NAME) or all_services (--all-services)"
        );
        let err = of(Some("db"), false, Some(&serving)).expect_err("not there");
        assert_eq!(
            err.to_string(),
            "service: \"db\" does not serve r1 (services there: api, web)"
        );
        assert_eq!(Scope::Service("api".into()).key("r1"), "api/r1");
        assert_eq!(Scope::Region.key("r1"), "r1");
    }

    #[test]
    fn a_service_sees_region_wide_drains_and_its_own_which_win() {
        let mut intents = Intents::default();
        intents.drains.insert("r1".into(), test_drain(10));
        let mut own = test_drain(20);
        own.share = Share::try_new(50).expect("share");
        intents.drains.insert("api/r1".into(), own.clone());
        intents.drains.insert("web/r2".into(), test_drain(30));
        // The region-wide drain to 0 drains further than api's own to 50: it holds.
        let api = intents.for_service("api", Timestamp(5));
        assert_eq!(api.drains.len(), 1);
        assert_eq!(api.drains["r1"].expires_at, Timestamp(10));
        // Once it has expired, api's own holds; once that has expired too, nothing.
        assert_eq!(intents.for_service("api", Timestamp(15)).drains["r1"], own);
        assert!(intents.for_service("api", Timestamp(25)).drains.is_empty());
        let web = intents.for_service("web", Timestamp(5));
        assert_eq!(web.drains["r1"].expires_at, Timestamp(10));
        assert_eq!(web.drains["r2"].expires_at, Timestamp(30));
    }

    #[test]
    fn a_freeze_names_a_configured_service_or_none_and_a_service_sees_its_own() {
        let known = ["api".to_owned(), "web".to_owned()];
        assert_eq!(freeze_service(None, Some(&known)), Ok(None));
        assert_eq!(
            freeze_service(Some("web"), Some(&known)),
            Ok(Some("web".into()))
        );
        assert_eq!(freeze_service(Some("web"), None), Err(Error::NoServices));
        assert_eq!(
            freeze_service(Some("db"), Some(&known))
                .expect_err("unknown")
                .to_string(),
            "service: no service \"db\" (services: api, web)"
        );
        let freeze = |expires_at| Freeze {
            actor: "bob".into(),
            reason: "release".into(),
            since: Timestamp(0),
            expires_at: Timestamp(expires_at),
        };
        let mut intents = Intents::default();
        intents.service_freezes.insert("web".into(), freeze(20));
        assert_eq!(
            intents.for_service("web", Timestamp(10)).freeze,
            Some(freeze(20))
        );
        assert_eq!(intents.for_service("api", Timestamp(10)).freeze, None);
        intents.freeze = Some(freeze(30));
        assert_eq!(
            intents.for_service("web", Timestamp(10)).freeze,
            Some(freeze(30)),
            "the later one"
        );
        assert_eq!(
            intents.for_service("api", Timestamp(10)).freeze,
            Some(freeze(30))
        );
        let (in_force, _) = intents.by_expiry(Timestamp(10));
        assert!(in_force.contains("freeze of web by bob"), "{in_force:?}");
    }
}
