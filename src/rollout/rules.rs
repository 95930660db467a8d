//! What people may do to a rollout: start, promote, approve, abort, and end a drain by
//! undraining. Each rule checks a request against the rollouts as they are and returns the
//! [`Change`]s it makes (journaled, then saved); none changes anything itself.

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, Mark, RingPhase, Rollout, What, gate};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::intent::rollout::Start;
use crate::intent::rollout::{AbortRequest, MAX_ID_CHARS, RingRequest, RolloutStartRequest};

/// Ended rollouts kept for their gates and history; older ones are dropped as new ones start.
pub const KEEP_ENDED: usize = 100;

/// A request a rollout's rules refuse. Each message starts with the field or the rollout it
/// is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An id ids cannot be.
    #[error("id: {0}")]
    Id(String),
    /// No such rollout.
    #[error("rollout \"{0}\" does not exist")]
    NotFound(String),
    /// The id is taken.
    #[error("id: rollout \"{id}\" exists already (started by {actor} at {at}); use another id")]
    Exists {
        /// The id.
        id: String,
        /// Who started it.
        actor: String,
        /// When.
        at: Timestamp,
    },
    /// Another rollout of the same service is still live.
    #[error(
        "rollout \"{other}\"{} is in progress (ring {ring}); let it end or abort it first",
        .service.as_ref().map(|s| format!(" of {s}")).unwrap_or_default()
    )]
    Busy {
        /// The live rollout.
        other: String,
        /// Its service.
        service: Option<String>,
        /// The ring it is at.
        ring: u32,
    },
    /// A ring the config does not have.
    #[error("ring: {ring} is not a configured ring (rings: {})", .rings.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    UnknownRing {
        /// What was asked.
        ring: u32,
        /// The configured rings.
        rings: Vec<u32>,
    },
    /// A ring other than the one the rollout is at.
    #[error("ring: rollout \"{id}\" is at ring {current}; ring {ring} cannot be {verb} now")]
    NotCurrent {
        /// The rollout.
        id: String,
        /// The ring asked about.
        ring: u32,
        /// The ring it is at.
        current: u32,
        /// What was asked.
        verb: &'static str,
    },
    /// The gate is shut.
    #[error("ring: ring {ring}'s gate is shut: {reason}")]
    GateShut {
        /// The ring.
        ring: u32,
        /// The gate's reason.
        reason: String,
    },
    /// The rollout has ended.
    #[error("rollout \"{0}\" has ended; start a new one")]
    Ended(String),
    /// The rollout was aborted.
    #[error("rollout \"{0}\" was aborted; start a new one")]
    Aborted(String),
    /// An approval that is not due yet.
    #[error("ring: {0}")]
    Approval(String),
    /// An approval of a ring that needs none.
    #[error(
        "ring: ring {0} needs no approval (rollout.rings[].approval); its gate opens when its bake passes"
    )]
    NoApproval(u32),
    /// A service the request cannot name.
    #[error("service: {0}")]
    Service(String),
    /// A version the bodies could not report.
    #[error("version: {0}")]
    Version(String),
    /// A service or reason the intent rules refuse.
    #[error(transparent)]
    Intent(#[from] crate::intent::Error),
}

/// How an API answers a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request itself is wrong (400).
    BadRequest,
    /// The rollout does not exist (404).
    NotFound,
    /// The rollout's state refuses it (409).
    Conflict,
}

impl Error {
    /// How an API answers it.
    pub const fn kind(&self) -> Kind {
        match self {
            Error::Id(_)
            | Error::UnknownRing { .. }
            | Error::Intent(_)
            | Error::NoApproval(_)
            | Error::Service(_)
            | Error::Version(_) => Kind::BadRequest,
            Error::NotFound(_) => Kind::NotFound,
            _ => Kind::Conflict,
        }
    }
}

/// Whether ids may hold `c`: letters, digits and `.-_+~:@` (an id is a URL path segment).
pub const fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '~' | ':' | '@')
}

/// The rings of `service`'s regions (every configured ring, for a config without
/// `[[services]]`).
pub fn rings(config: &Config, service: Option<&str>) -> BTreeSet<u32> {
    match service.and_then(|s| config.services.iter().find(|x| x.name == s)) {
        Some(svc) => svc
            .regions
            .iter()
            .filter_map(|r| config.region(&r.name))
            .map(|r| r.ring)
            .collect(),
        None => config.regions.iter().map(|r| r.ring).collect(),
    }
}

fn ring_known(config: &Config, service: Option<&str>, ring: u32) -> Result<(), Error> {
    let rings = rings(config, service);
    if rings.contains(&ring) {
        Ok(())
    } else {
        Err(Error::UnknownRing {
            ring,
            rings: rings.into_iter().collect(),
        })
    }
}

/// The rollout `id`, live.
fn live<'a>(rollouts: &'a BTreeMap<String, Rollout>, id: &str) -> Result<&'a Rollout, Error> {
    let r = rollouts
        .get(id)
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
    if r.aborted.is_some() {
        return Err(Error::Aborted(id.to_owned()));
    }
    if !r.live() {
        return Err(Error::Ended(id.to_owned()));
    }
    Ok(r)
}

/// The service a rollout of `config` names: none without `[[services]]`; with them, the one
/// named (or the only one).
fn service(config: &Config, asked: Option<&str>) -> Result<Option<String>, Error> {
    let names: Vec<String> = config.services.iter().map(|s| s.name.clone()).collect();
    match (config.has_services(), asked) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(crate::intent::Error::NoServices.into()),
        (true, None) if names.len() == 1 => Ok(Some(names[0].clone())),
        (true, None) => Err(Error::Service(format!(
            "the config lists several services ({}); say which one this rollout deploys with service (--service NAME)",
            names.join(", ")
        ))),
        (true, Some(s)) if names.iter().any(|n| n == s) => Ok(Some(s.to_owned())),
        (true, Some(s)) => Err(crate::intent::Error::NoSuchService {
            service: s.to_owned(),
            known: names,
        }
        .into()),
    }
}

/// The rollout in progress that takes `version` of `service` out, if one does.
fn same<'a>(
    rollouts: &'a BTreeMap<String, Rollout>,
    version: &str,
    service: Option<&str>,
) -> Option<&'a Rollout> {
    rollouts
        .values()
        .find(|r| r.in_progress() && r.version == version && r.service.as_deref() == service)
}

/// The id of the rollout in progress that `req` asks for again, when [`start`] found one and
/// changed nothing.
pub fn already(
    rollouts: &BTreeMap<String, Rollout>,
    req: &RolloutStartRequest,
    config: &Config,
) -> Option<String> {
    let service = service(config, req.service.as_deref()).ok()?;
    let version = req.version.as_deref().unwrap_or(&req.id).trim();
    same(rollouts, version, service.as_deref()).map(|r| r.id.clone())
}

/// `failoverd rollout start`: a new rollout at its first ring, deploying (baking at once
/// without a version pointer). Asking again for a rollout in progress, of the same version and
/// service, changes nothing.
pub fn start(
    rollouts: &BTreeMap<String, Rollout>,
    req: &RolloutStartRequest,
    config: &Config,
    actor: &str,
    now: Timestamp,
) -> Result<Vec<Change>, Error> {
    let id = req.id.trim();
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(Error::Id(format!(
            "must be 1 to {MAX_ID_CHARS} characters, like v2.1.0"
        )));
    }
    if let Some(c) = id.chars().find(|c| !id_char(*c)) {
        return Err(Error::Id(format!(
            "{c:?} is not allowed; use letters, digits and . - _ + ~ : @"
        )));
    }
    let reason = crate::intent::request::reason(&req.reason)?;
    let service = service(config, req.service.as_deref())?;
    let version = req.version.as_deref().map_or(id, str::trim).to_owned();
    if version.is_empty() || version.chars().any(crate::terminal::is_unprintable) {
        return Err(Error::Version(
            "must be printable text, as the deep-health bodies report it".to_owned(),
        ));
    }
    let ring = match req.ring {
        Some(ring) => {
            ring_known(config, service.as_deref(), ring)?;
            ring
        }
        None => rings(config, service.as_deref())
            .first()
            .copied()
            .unwrap_or(1),
    };
    // The same rollout asked for again (a pipeline's retry, or a deploy that a version seen
    // had already started, under its own id): nothing to change.
    if same(rollouts, &version, service.as_deref()).is_some() {
        return Ok(Vec::new());
    }
    if let Some(r) = rollouts.get(id) {
        return Err(Error::Exists {
            id: id.to_owned(),
            actor: r.actor.clone(),
            at: r.started_at,
        });
    }
    if let Some(other) = rollouts
        .values()
        .find(|r| r.in_progress() && r.service == service)
    {
        return Err(Error::Busy {
            other: other.id.clone(),
            service,
            ring: other.ring,
        });
    }
    let phase = if config.rollout.version_pointer.is_some() {
        RingPhase::Deploying { since: now }
    } else {
        RingPhase::Baking { since: now }
    };
    let rollout = Rollout::new(Start {
        id: id.to_owned(),
        version,
        service,
        by: Mark {
            actor: actor.to_owned(),
            at: now,
            reason: reason.clone(),
        },
        ring,
        phase,
    });
    Ok(vec![Change {
        rollout: id.to_owned(),
        ring,
        what: What::Started(Box::new(rollout)),
        reason,
    }])
}

/// `failoverd rollout promote`: the ring the rollout is at is promoted and the next one starts
/// (the last ring: the rollout ends). Refused while the ring's gate is shut, unless forced
/// past a bake or an approval still running (never past a broken or aborted rollout).
pub fn promote(
    rollouts: &BTreeMap<String, Rollout>,
    id: &str,
    req: &RingRequest,
    config: &Config,
    actor: &str,
    now: Timestamp,
) -> Result<Vec<Change>, Error> {
    let reason = crate::intent::request::reason(&req.reason)?;
    let r = live(rollouts, id)?;
    ring_known(config, r.service.as_deref(), req.ring)?;
    if req.ring != r.ring {
        return Err(Error::NotCurrent {
            id: id.to_owned(),
            ring: req.ring,
            current: r.ring,
            verb: "promoted",
        });
    }
    let rings = rings(config, r.service.as_deref());
    if let Some(g) = gate(r, req.ring, &config.rollout, &rings, now)
        && !g.promote
        && (!req.force || g.phase.shut_for_good())
    {
        return Err(Error::GateShut {
            ring: req.ring,
            reason: if g.phase.shut_for_good() {
                g.reason
            } else {
                format!("{}; add force (--force) to promote anyway", g.reason)
            },
        });
    }
    let forced = if req.force { " (forced)" } else { "" };
    Ok(match rings.range(req.ring + 1..).next() {
        Some(&next) => vec![Change {
            rollout: id.to_owned(),
            ring: req.ring,
            what: What::Promoted {
                next,
                baking: config.rollout.version_pointer.is_none(),
            },
            reason: format!("{reason}{forced}"),
        }],
        None => vec![
            Change {
                rollout: id.to_owned(),
                ring: req.ring,
                what: What::Approved,
                reason: format!("{reason}{forced}"),
            },
            Change {
                rollout: id.to_owned(),
                ring: req.ring,
                what: What::Ended,
                reason: format!("the last ring was promoted by {actor}{forced}"),
            },
        ],
    })
}

/// `failoverd rollout approve`: a person's approval of a ring whose gate needs one, once its
/// bake passed.
pub fn approve(
    rollouts: &BTreeMap<String, Rollout>,
    id: &str,
    req: &RingRequest,
    config: &Config,
) -> Result<Vec<Change>, Error> {
    let reason = crate::intent::request::reason(&req.reason)?;
    let r = live(rollouts, id)?;
    ring_known(config, r.service.as_deref(), req.ring)?;
    if !config.rollout.approval(req.ring) {
        return Err(Error::NoApproval(req.ring));
    }
    let Some(ring) = r.rings.get(&req.ring).filter(|_| req.ring == r.ring) else {
        return Err(Error::NotCurrent {
            id: id.to_owned(),
            ring: req.ring,
            current: r.ring,
            verb: "approved",
        });
    };
    if !matches!(ring.phase, RingPhase::Passed { .. }) {
        let rings = rings(config, r.service.as_deref());
        let g = gate(r, req.ring, &config.rollout, &rings, Timestamp(0));
        return Err(Error::Approval(format!(
            "ring {} has not passed its bake ({}); approve it once it has",
            req.ring,
            g.map_or_else(
                || ring.phase.name().to_owned(),
                |g| g.phase.as_str().to_owned()
            )
        )));
    }
    if ring.approved.is_some() {
        return Ok(Vec::new());
    }
    Ok(vec![Change {
        rollout: id.to_owned(),
        ring: req.ring,
        what: What::Approved,
        reason,
    }])
}

/// `failoverd rollout abort`, the kill switch: every region on the new version drains (as far
/// as headroom allows) and every gate shuts, until undrained or rolled back.
pub fn abort(
    rollouts: &BTreeMap<String, Rollout>,
    id: &str,
    req: &AbortRequest,
) -> Result<Vec<Change>, Error> {
    let reason = crate::intent::request::reason(&req.reason)?;
    let r = live(rollouts, id)?;
    Ok(vec![Change {
        rollout: id.to_owned(),
        ring: r.ring,
        what: What::Aborted,
        reason,
    }])
}

/// An operator's undrain of `region` (in `ring`; of `service`, or of every service) ends its
/// drain by every broken or aborted rollout that holds it.
pub fn release(
    rollouts: &BTreeMap<String, Rollout>,
    region: &str,
    ring: u32,
    service: Option<&str>,
    actor: &str,
) -> Vec<Change> {
    rollouts
        .values()
        .filter(|r| service.is_none_or(|s| r.service.as_deref() == Some(s)))
        .filter(|r| !r.released.contains_key(region))
        .filter(|r| {
            r.live() && (r.aborted.is_some() || r.broken_ring().is_some_and(|(n, _)| n == ring))
        })
        .map(|r| Change {
            rollout: r.id.clone(),
            ring,
            what: What::Released {
                region: region.to_owned(),
            },
            reason: format!("{region} undrained by {actor}"),
        })
        .collect()
}

/// Drops the oldest ended rollouts beyond [`KEEP_ENDED`].
pub fn trim(rollouts: &mut BTreeMap<String, Rollout>) {
    let mut ended: Vec<(Timestamp, String)> = rollouts
        .values()
        .filter_map(|r| r.ended.as_ref().map(|m: &Mark| (m.at, r.id.clone())))
        .collect();
    if ended.len() <= KEEP_ENDED {
        return;
    }
    ended.sort();
    for (_, id) in ended.iter().take(ended.len() - KEEP_ENDED) {
        rollouts.remove(id);
    }
}
