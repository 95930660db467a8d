//! What an operator asks for, and the checks that turn a request into an intent.
//!
//! A request is what a person typed (a reason, a duration as text, a share); [`Drain::try_new`]
//! and [`Freeze::try_new`] are the only way from a request to an intent, so every drain and
//! freeze in force has a reason, a mandatory and capped expiry, and a share that drains.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Drain, Error, Freeze, check_ttl};
use crate::clock::Timestamp;
use crate::share::Share;
use crate::terminal::{is_invisible, is_unprintable};

/// The longest reason, in characters: a sentence or two for the next person on call, not a
/// document (a 100,000-character reason was journaled and shown in every status).
pub const MAX_REASON_CHARS: usize = 500;

/// A request to drain one region (the region itself is named apart from it, in the URL or on
/// the command line). The same type is the flags of `failoverd drain` and the body of
/// `POST /v1/regions/{region}/drain`, so the two cannot drift; the field docs are the flags' help.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Why (recorded in the journal with your token's name).
    #[arg(long)]
    pub reason: String,
    /// How long the drain holds (e.g. 2h); capped by policy.max_intent_ttl.
    #[arg(long = "for", value_name = "DURATION")]
    pub ttl: String,
    /// Move the traffic even where survivors lack headroom.
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
    /// Drain to this share instead of 0 (0-99).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub share: u8,
    /// Drain the region for this service only (when the config lists services).
    #[arg(long, value_name = "NAME", conflicts_with = "all_services")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Drain the region for every service that serves it (when the config lists services).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_services: bool,
    /// Only say what the drain would do (for each service, with `--all-services`): the same
    /// checks and answer, but nothing is recorded and no traffic moves.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// A request to freeze every automated change: the flags of `failoverd freeze` and the body of
/// `POST /v1/freeze`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// Why (recorded in the journal with your token's name).
    #[arg(long)]
    pub reason: String,
    /// How long the freeze holds (e.g. 1h); capped by policy.max_intent_ttl.
    #[arg(long = "for", value_name = "DURATION")]
    pub ttl: String,
    /// Freeze this service only (when the config lists services); without it, every service.
    #[arg(long, value_name = "NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// The reason, trimmed; one that shows nothing (empty, or only invisible characters) is
/// refused, and so is one holding a character a terminal would obey (older journals and intents
/// may hold such text, so printing escapes it too), and one longer than [`MAX_REASON_CHARS`].
pub fn reason(text: &str) -> Result<String, Error> {
    let reason = text.trim();
    if reason.chars().all(is_invisible) {
        return Err(Error::EmptyReason);
    }
    if let Some((i, found)) = reason.chars().enumerate().find(|(_, c)| is_unprintable(*c)) {
        return Err(Error::UnprintableReason { found, at: i + 1 });
    }
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(Error::LongReason { chars });
    }
    Ok(reason.to_owned())
}

/// The time-to-live written as `text`, mandatory and at most `max`.
fn ttl(text: &str, max: Duration) -> Result<Duration, Error> {
    let ttl = humantime::parse_duration(text.trim()).map_err(|e| Error::TtlUnreadable {
        text: text.to_owned(),
        message: e.to_string(),
    })?;
    check_ttl(ttl, max)?;
    Ok(ttl)
}

impl Drain {
    /// The drain `request` asks for, by `actor` at `now`, expiring within `max_ttl`. Checks, in
    /// order: the reason is not blank and is one line of printable text, the ttl reads as a
    /// duration within the cap, the share is 0-99 (a drain to 100% drains nothing).
    pub fn try_new(
        request: &DrainRequest,
        actor: &str,
        now: Timestamp,
        max_ttl: Duration,
    ) -> Result<Drain, Error> {
        let reason = reason(&request.reason)?;
        let ttl = ttl(&request.ttl, max_ttl)?;
        let share = Share::try_new(request.share)
            .ok()
            .filter(|s| *s < Share::FULL)
            .ok_or(Error::Share { got: request.share })?;
        Ok(Drain {
            share,
            actor: actor.to_owned(),
            reason,
            since: now,
            expires_at: now + ttl,
            force: request.force,
        })
    }
}

impl Freeze {
    /// The freeze `request` asks for, by `actor` at `now`, expiring within `max_ttl`. Checks, in
    /// order: the reason is not blank and is one line of printable text, the ttl reads as a
    /// duration within the cap.
    pub fn try_new(
        request: &FreezeRequest,
        actor: &str,
        now: Timestamp,
        max_ttl: Duration,
    ) -> Result<Freeze, Error> {
        let reason = reason(&request.reason)?;
        let ttl = ttl(&request.ttl, max_ttl)?;
        Ok(Freeze {
            actor: actor.to_owned(),
            reason,
            since: now,
            expires_at: now + ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_000_000);
    const MAX: Duration = Duration::from_secs(72 * 3600);

    fn drain(reason: &str, ttl: &str, share: u8) -> Result<Drain, Error> {
        let request = DrainRequest {
            reason: reason.into(),
            ttl: ttl.into(),
            force: true,
            share,
            service: None,
            all_services: false,
            dry_run: false,
        };
        Drain::try_new(&request, "alice", NOW, MAX)
    }

    fn freeze(reason: &str, ttl: &str) -> Result<Freeze, Error> {
        let request = FreezeRequest {
            reason: reason.into(),
            ttl: ttl.into(),
            service: None,
        };
        Freeze::try_new(&request, "bob", NOW, MAX)
    }

    fn message<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn a_valid_drain_request_becomes_a_drain_by_its_actor_with_a_trimmed_reason() {
        assert_eq!(
            drain("  bad deploy \n", " 2h ", 10),
            Ok(Drain {
                share: Share::try_new(10).expect("share"),
                actor: "alice".into(),
                reason: "bad deploy".into(),
                since: NOW,
                expires_at: NOW + Duration::from_secs(7200),
                force: true,
            })
        );
        assert_eq!(drain("x", "72h", 99).map(|d| d.share.get()), Ok(99));
    }

    #[test]
    fn a_blank_reason_is_refused() {
        // Invisible characters alone show as "()" wherever the reason is printed.
        for blank in [
            "",
            "  ",
            "\n\t",
            "\u{200b}",
            "\u{feff}\u{a0}",
            "\u{3000}",
            "\u{e0001}\u{2060}",
            "\u{3164}\u{3164}",
            "\u{115f}\u{1160}\u{ffa0}",
            "\u{2800} \u{2800}",
            "\u{17b4}\u{17b5}\u{034f}",
            "\u{fe0f}\u{180e}\u{e0100}\u{1d173}",
        ] {
            assert_eq!(drain(blank, "1h", 0), Err(Error::EmptyReason));
            assert_eq!(freeze(blank, "1h"), Err(Error::EmptyReason));
        }
        assert_eq!(
            message(drain(" ", "1h", 0)),
            "reason: must not be empty; it is what the next person on call reads"
        );
    }

    #[test]
    fn a_reason_a_terminal_would_obey_is_refused_naming_the_character() {
        for (reason, what) in [
            ("patching\x1b]0;pwned\x07", "U+001B at character 9"),
            ("x\x1b[2J", "U+001B at character 2"),
            ("two\nlines", "U+000A at character 4"),
            ("a\tb", "U+0009 at character 2"),
            ("del\x7f", "U+007F at character 4"),
            ("csi\u{9b}31m", "U+009B at character 4"),
            ("\u{202e}dellorp", "U+202E at character 1"),
            ("isolate \u{2066}x\u{2069}", "U+2066 at character 9"),
            ("line\u{2028}separator", "U+2028 at character 5"),
            ("para\u{2029}graph", "U+2029 at character 5"),
            ("mark\u{200f}x", "U+200F at character 5"),
            ("\u{61c}arabic mark", "U+061C at character 1"),
        ] {
            let m = message(drain(reason, "1h", 0));
            assert_eq!(
                m,
                format!(
                    "reason: must be one line of printable text; it holds {what} (control characters and bidi overrides are refused)"
                ),
                "{reason:?}"
            );
            assert_eq!(message(freeze(reason, "1h")), m, "{reason:?}");
        }
        // Surrounding whitespace is trimmed as before; other scripts are text like any other.
        assert_eq!(
            drain("\tdéploiement raté, 回滚 \n", "1h", 0).map(|d| d.reason),
            Ok("déploiement raté, 回滚".to_owned())
        );
    }

    #[test]
    fn a_reason_is_at_most_500_characters() {
        let most = "é".repeat(MAX_REASON_CHARS);
        assert_eq!(drain(&most, "1h", 0).map(|d| d.reason), Ok(most.clone()));
        assert_eq!(
            message(freeze(&format!("{most}x"), "1h")),
            "reason: must be at most 500 characters; it has 501"
        );
    }

    #[test]
    fn an_unreadable_ttl_is_refused_with_an_example() {
        let m = message(drain("x", "forever", 0));
        assert!(
            m.starts_with("ttl: ") && m.ends_with(" (e.g. \"2h\", \"30m\")"),
            "{m}"
        );
        assert!(matches!(freeze("x", ""), Err(Error::TtlUnreadable { .. })));
    }

    #[test]
    fn a_ttl_is_mandatory_and_capped() {
        assert_eq!(
            message(drain("x", "0s", 0)),
            "ttl: must be between 1s and 3days, got 0s"
        );
        assert_eq!(
            message(drain("x", "1ns", 0)),
            "ttl: must be between 1s and 3days, got 1ns"
        );
        assert_eq!(
            message(freeze("x", "500ms")),
            "ttl: must be between 1s and 3days, got 500ms"
        );
        assert_eq!(
            message(drain("x", "100h", 0)),
            "ttl: must be between 1s and 3days, got 4days 4h"
        );
        assert_eq!(
            freeze("x", "73h"),
            Err(Error::Ttl {
                got: Duration::from_secs(73 * 3600),
                max: MAX
            })
        );
    }

    #[test]
    fn a_drain_to_100_percent_or_more_is_refused() {
        assert_eq!(
            message(drain("x", "1h", 100)),
            "share: must be 0-99, got 100"
        );
        assert_eq!(drain("x", "1h", 255), Err(Error::Share { got: 255 }));
    }

    #[test]
    fn the_reason_is_checked_first_then_the_ttl_then_the_share() {
        assert_eq!(drain(" ", "forever", 100), Err(Error::EmptyReason));
        assert!(matches!(
            drain("x", "forever", 100),
            Err(Error::TtlUnreadable { .. })
        ));
    }

    #[test]
    fn a_request_body_names_unknown_fields_and_defaults_force_and_share() {
        let r: DrainRequest =
            serde_json::from_str(r#"{"reason": "x", "ttl": "1h"}"#).expect("minimal body");
        assert_eq!((r.force, r.share), (false, 0));
        let e =
            serde_json::from_str::<DrainRequest>(r#"{"reason": "x", "ttl": "1h", "forse": true}"#)
                .expect_err("typo");
        assert!(e.to_string().starts_with("unknown field `forse`"), "{e}");
        assert!(
            serde_json::from_str::<FreezeRequest>(r#"{"reason": "x", "ttl": "1h", "share": 0}"#)
                .is_err()
        );
    }
}
