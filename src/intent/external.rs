//! Knobs changed by someone other than failoverd: what failoverd last set each knob to, the
//! changes it noticed, and the policy that says what it does about them.
//!
//! A person in the Route 53 console, a `terraform apply`, external-dns or a second tool may set
//! a knob failoverd drives. failoverd tells its own values from theirs by what it last applied
//! ([`Applied`], kept with the intents so a restart or a new leader knows it too), never by what
//! it plans: a knob that reads a value failoverd did not set is an external change. Each is kept
//! as a [`Notice`] until an operator acknowledges it (`failoverd ack`), and acted on by the
//! region's [`OnExternalChange`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::share::Share;

/// The actor of a drain failoverd adopts from an external change, as status and the journal
/// show it (`drain by external change ...`). No admin token may be named so, so no operator's
/// drain reads the same.
pub const ACTOR: &str = "external change";

/// How long a notice other than a hold stays (and keeps `external_change` raised) without an
/// acknowledgement; a hold stays until acknowledged.
pub const NOTICE_KEPT: Duration = Duration::from_secs(24 * 3600);

/// What failoverd does when a knob it drives reads a value it did not set
/// (`on_external_change`, in `[policy]`, a service's policy, or a region).
///
/// Whatever the policy, a raise of a region failoverd holds below the new value (Down,
/// Degraded, drained, a broken ring, a drill, hold-down, or not yet judged) is put back at
/// once: it sends users to a region failoverd keeps them away from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExternalChange {
    /// Follow the person: a lower value becomes a drain to it (ended by `undrain` or its
    /// expiry, then the normal ramp), a raise is kept.
    #[default]
    Adopt,
    /// Put the knob back to what failoverd last set, at once (a raise only up to where
    /// failoverd is taking the region).
    Revert,
    /// Change nothing in that region until an operator acknowledges (`failoverd ack`).
    Hold,
}

impl OnExternalChange {
    /// The name in the config file and the journal.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnExternalChange::Adopt => "adopt",
            OnExternalChange::Revert => "revert",
            OnExternalChange::Hold => "hold",
        }
    }
}

impl std::fmt::Display for OnExternalChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most values failoverd keeps accepting for a knob whose latest write has not shown yet.
pub const IN_FLIGHT_KEPT: usize = 8;

/// What failoverd last set a knob to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The value it set last (or is setting: recorded before the write).
    pub share: Share,
    /// The values before it, still accepted until a read shows `share`: writes that are
    /// propagating, or that failed and may or may not have landed, latest last (at most
    /// [`IN_FLIGHT_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<Share>,
    /// When it was recorded.
    pub at: Timestamp,
}

impl Applied {
    /// A value failoverd set (or adopted), settled.
    pub fn settled(share: Share, at: Timestamp) -> Self {
        Self {
            share,
            previous: Vec::new(),
            at,
        }
    }

    /// This record once failoverd writes `to` over a knob that reads `from`: every value not
    /// yet shown stays accepted until `to` shows.
    pub fn writing(&self, from: Share, to: Share, at: Timestamp) -> Self {
        let mut previous = self.previous.clone();
        for v in [self.share, from] {
            previous.retain(|p| *p != v);
            previous.push(v);
        }
        previous.retain(|p| *p != to);
        let extra = previous.len().saturating_sub(IN_FLIGHT_KEPT);
        previous.drain(..extra);
        Self {
            share: to,
            previous,
            at,
        }
    }

    /// Whether a knob reading `share` holds a value failoverd set.
    pub fn accepts(&self, share: Share) -> bool {
        self.share == share || self.previous.contains(&share)
    }
}

/// What failoverd did about an external change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Kept: a raise of a region failoverd does not hold down, under `adopt`.
    Adopted,
    /// Kept as a drain to the new value, under `adopt`.
    #[serde(rename = "adopted_as_drain")]
    Drained,
    /// Put back, under `revert`.
    Reverted,
    /// Put back whatever the policy: a raise of a region failoverd holds down.
    PutBack,
    /// Kept, and the region held as it is until acknowledged, under `hold`.
    Held,
    /// Kept under `revert`: putting it back would raise a region failoverd holds lower.
    Kept,
}

impl Action {
    /// The name in the journal and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Adopted => "adopted",
            Action::Drained => "adopted_as_drain",
            Action::Reverted => "reverted",
            Action::PutBack => "put_back",
            Action::Held => "held",
            Action::Kept => "kept",
        }
    }

    /// Whether failoverd writes the knob back to what it last set.
    pub const fn puts_back(self) -> bool {
        matches!(self, Action::Reverted | Action::PutBack)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An external change failoverd noticed, kept until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The knob's key (`us-east-1`, `api/us-east-1#1`).
    pub knob: String,
    /// The knob as a person knows it (`Route 53 weighted record www.example.com ...`).
    pub label: String,
    /// The service, in a config with `[[services]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The region whose share the knob carries.
    pub region: String,
    /// What failoverd had set.
    pub before: Share,
    /// What the knob read.
    pub after: Share,
    /// When failoverd noticed.
    pub noticed_at: Timestamp,
    /// The policy in force for the region.
    pub policy: OnExternalChange,
    /// What failoverd did.
    pub action: Action,
    /// Once a put-back is seen to have landed: the same value read again is a new change
    /// (a tool re-applying its own), not a put-back still on its way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub landed: bool,
}

impl crate::intent::Drain {
    /// Whether failoverd adopted this drain from a change made outside it.
    pub fn is_external(&self) -> bool {
        self.actor == ACTOR
    }
}

impl Notice {
    /// Where it is kept among the intents: by knob, a hold apart from the knob's later
    /// changes, so a later change never ends a hold nobody acknowledged.
    pub fn key(&self) -> String {
        if self.action == Action::Held {
            format!("{} (held)", self.knob)
        } else {
            self.knob.clone()
        }
    }

    /// Whether it still stands at `now`: a hold until acknowledged, others for
    /// [`NOTICE_KEPT`].
    pub fn stands(&self, now: Timestamp) -> bool {
        self.action == Action::Held || now.since(self.noticed_at) < NOTICE_KEPT
    }

    /// One line for the journal, status and alarms.
    pub fn describe(&self) -> String {
        let did = match self.action {
            Action::Adopted => "kept (adopt)".to_owned(),
            Action::Drained => format!(
                "adopted as a drain to {} (`failoverd undrain {}` ends it)",
                self.after, self.region
            ),
            Action::Reverted => format!("put back to {} (revert)", self.before),
            Action::PutBack => format!(
                "put back to {}: failoverd holds {} there (Down, Degraded, drained, a broken ring, a drill, hold-down, or not yet judged; `failoverd status` says which), and a raise would send users past it",
                self.before, self.region
            ),
            Action::Held => format!(
                "{} held as it is until acknowledged (it is still evacuated if it goes Down)",
                self.region
            ),
            Action::Kept => format!(
                "kept: putting it back would raise {} above where failoverd is taking it",
                self.region
            ),
        };
        // The region, unless the knob's own name says it already.
        let of = if self.label.contains(self.region.as_str()) {
            String::new()
        } else {
            format!(" ({})", self.region)
        };
        format!(
            "{}{of} set to {} outside failoverd (it had set {}), noticed {}: {did}",
            self.label, self.after, self.before, self.noticed_at
        )
    }
}

/// A change to the intents that external changes make, journaled (a notice) and saved by the
/// controller like a rollout's or a drill's.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// What failoverd set (or adopted) for a knob.
    Applied {
        /// The knob's key.
        knob: String,
        /// What it holds now.
        applied: Applied,
    },
    /// An external change noticed, with what follows from it, saved together: the value
    /// failoverd now holds for its own (when it keeps the change), and the drain adopted
    /// (under `adopt`), stored under its key (`region` or `service/region`).
    Noticed {
        /// The change.
        notice: Notice,
        /// What failoverd now takes the knob's value to be, when it keeps the change.
        applied: Option<Applied>,
        /// The drain adopted, with where drains are stored.
        drain: Option<(String, crate::intent::Drain)>,
    },
    /// A put-back was seen to land (the knob read what failoverd had set again).
    Landed {
        /// The notice's key.
        key: String,
    },
}

impl Record {
    /// Makes the change to `intents`.
    pub fn apply(&self, intents: &mut crate::intent::Intents) {
        match self {
            Record::Applied { knob, applied } => {
                intents.applied.insert(knob.clone(), applied.clone());
            }
            Record::Noticed {
                notice,
                applied,
                drain,
            } => {
                intents.external.insert(notice.key(), notice.clone());
                if let Some(a) = applied {
                    intents.applied.insert(notice.knob.clone(), a.clone());
                }
                if let Some((key, d)) = drain {
                    // An operator's drain in force stays: it is theirs to end, and a drain
                    // never raises a region, so the lower knob stays low under it.
                    let keep = intents.drains.get(key).is_some_and(|old| {
                        d.since < old.expires_at && (!old.is_external() || old.share <= d.share)
                    });
                    if !keep {
                        intents.drains.insert(key.clone(), d.clone());
                    }
                }
            }
            Record::Landed { key } => {
                if let Some(n) = intents.external.get_mut(key) {
                    n.landed = true;
                }
            }
        }
    }
}

/// Removes the notices an operator acknowledges: those of `region` (of `service`, or of
/// every service when None), or all when `region` is None; returns them, oldest first.
pub fn acknowledge(
    intents: &mut crate::intent::Intents,
    region: Option<&str>,
    service: Option<&str>,
) -> Vec<Notice> {
    let mut out = Vec::new();
    intents.external.retain(|_, n| {
        let hit = region.is_none_or(|r| n.region == r)
            && service.is_none_or(|s| n.service.as_deref() == Some(s));
        if hit {
            out.push(n.clone());
        }
        !hit
    });
    out.sort_by_key(|n| n.noticed_at);
    out
}
