//! [`Switched`]: knobs that act through the data-plane switches, alone or beside records.
//!
//! A knob's share is its record's share while its switch is on, 0 while it is off. The
//! records are read every tick in both modes (a read-only call), so a record left at weight 0
//! reads 0 whatever its switch says; the last good read is kept with the switch states, so a
//! new leader or a restart during an outage knows it too.
//!
//! - `switches`: records are never written. A withdrawal turns the switch off; a return turns
//!   it on, which gives the region back only if its record has a weight. Every knob moves all
//!   or nothing.
//! - `mixed`: while the records' API answers, every change is written to the records as in
//!   `records` mode and the switch follows (off at 0, on above): a drain is as quick as a
//!   record write, and the switch is a second withdrawal. When the API fails, on a read or on
//!   a write, the knobs act through the switches, whole regions at a time, and
//!   [`TrafficBackend::degraded`] says so; a write is still tried first while only writes
//!   failed, so their return is noticed.
//!
//! Acting through the switches, every change that can be made is made, whatever else the batch
//! holds: a withdrawal turns its switch off (live once Route 53's checkers have seen it,
//! interval x threshold); a return from 0 turns it on when its record has a weight; a move
//! between weights, or a return to a record at weight 0, needs the API and is refused with
//! that reason, naming each.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Mode, SwitchBoard, switch_of};
use crate::share::Share;
use crate::traffic::{
    Applied, Error, ErrorCode, Result, ShareChange, Shares, TrafficBackend, Writer,
};

/// Why a region whose record's weight is 0 cannot come back through its switch.
const ZERO_WEIGHT: &str = "its record's weight is 0, which only the API can raise";

/// How a [`Switched`] backend acts.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// `switches` or `mixed`.
    pub mode: Mode,
    /// The knobs it holds.
    pub keys: Vec<String>,
    /// Route 53's checkers' interval × threshold: how long a flip takes to show in answers.
    pub flip_delay: Duration,
    /// Longest a call to the records may take (besides an apply's wait for its change to be
    /// confirmed) before the API counts as down: under the controller's own bound on a backend
    /// call, so the switches still answer within it when the API hangs rather than fails.
    pub records_limit: Duration,
}

/// What is known of the records' API.
#[derive(Debug, Default)]
struct Api {
    /// Why the last read failed, while it does.
    read: Option<String>,
    /// Why the last write failed, until one succeeds.
    write: Option<String>,
    /// The records' shares at the last good read.
    last: Shares,
}

/// A backend whose knobs act through `board`'s switches, beside `records` in `mixed` mode.
#[derive(Debug)]
pub struct Switched<B> {
    records: B,
    board: SwitchBoard,
    writer: Writer,
    mode: Mode,
    keys: Vec<String>,
    flip_delay: Duration,
    records_limit: Duration,
    api: Mutex<Api>,
}

impl<B: TrafficBackend> Switched<B> {
    /// `records` acting through `board` as `wiring` says, written as `writer`.
    pub fn new(records: B, board: SwitchBoard, writer: Writer, wiring: Wiring) -> Self {
        Self {
            records,
            board,
            writer,
            mode: wiring.mode,
            keys: wiring.keys,
            flip_delay: wiring.flip_delay,
            records_limit: wiring.records_limit,
            api: Mutex::new(Api::default()),
        }
    }

    /// The backend the records live in.
    pub fn records(&self) -> &B {
        &self.records
    }

    fn api(&self) -> std::sync::MutexGuard<'_, Api> {
        self.api.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the records' API counts as down, if it does.
    fn down(&self) -> Option<String> {
        let api = self.api();
        api.read
            .as_ref()
            .map(|e| format!("reads fail: {e}"))
            .or_else(|| api.write.as_ref().map(|e| format!("writes fail: {e}")))
    }

    fn error(&self, code: ErrorCode, message: String) -> Error {
        Error::new(self.records.name(), "apply", code, message)
    }

    /// `call` to the records, bounded by `records_limit` plus `confirm`.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        confirm: Duration,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = self.records_limit + confirm;
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(Error::new(
                self.records.name(),
                operation,
                ErrorCode::Timeout,
                format!("no answer within {}", humantime::format_duration(limit)),
            ))
        })
    }

    /// The epoch to write with, or why this controller may not write: not a fence lost to
    /// another writer (no sticky alarm), just not its turn, as the Route 53 backend says it.
    fn epoch(&self) -> Result<u64> {
        match self.writer.epoch.get() {
            0 => Err(self.error(
                ErrorCode::Unavailable,
                "not flipping switches: this controller's leadership has ended".to_owned(),
            )),
            epoch => Ok(epoch),
        }
    }

    /// Sets the switch of every change (on while its share is above 0).
    async fn flip(&self, changes: &[ShareChange]) -> Result<()> {
        let mut set: BTreeMap<String, bool> = BTreeMap::new();
        for c in changes {
            // Knobs of one region share its switch: on while any of them keeps traffic.
            *set.entry(switch_of(&c.region).to_owned()).or_default() |= c.to > Share::ZERO;
        }
        let epoch = self.epoch()?;
        self.board.set(&set, &self.writer.controller, epoch).await
    }

    /// The record share of `key` as last known: this controller's last good read, else the
    /// one kept with the switch states, else full.
    fn known(&self, key: &str, kept: &Shares) -> Share {
        let api = self.api();
        api.last
            .get(key)
            .or_else(|| kept.get(key))
            .copied()
            .unwrap_or(Share::FULL)
    }

    /// Why an apply now goes through the switches alone, without trying the records' API: the
    /// mode writes no record, or the API's reads fail. None when the API is tried first.
    fn switches_only(&self) -> Option<String> {
        if self.mode == Mode::Switches {
            return Some("traffic.route53.mode = \"switches\" writes no record".to_owned());
        }
        self.api()
            .read
            .as_ref()
            .map(|why| format!("the records' API is failing: {why}"))
    }

    /// Makes every change the switches can make and refuses the others, naming each with why:
    /// what acting without the records' API (`why` it is not used) comes to.
    async fn through_switches(&self, changes: &[ShareChange], why: &str) -> Result<Applied> {
        let kept = self.board.snapshot().states.records;
        let mut made = Vec::new();
        let mut refused = Vec::new();
        for c in changes {
            if c.to == Share::ZERO {
                made.push(c.clone());
            } else if c.from > Share::ZERO {
                refused.push(format!(
                    "{} {} -> {}: the switches only withdraw or return a region whole",
                    c.region, c.from, c.to
                ));
            } else {
                let weight = self.known(&c.region, &kept);
                if weight == Share::ZERO {
                    refused.push(format!(
                        "{} {} -> {}: {ZERO_WEIGHT}",
                        c.region, c.from, c.to
                    ));
                } else {
                    made.push(c.clone());
                    if weight != c.to {
                        // Back by its switch, but at the weight its record has: say so, so the
                        // move is not taken for one still propagating.
                        refused.push(format!(
                            "{} {} -> {}: back by its switch at its record's weight {weight}; the rest needs the API",
                            c.region, c.from, c.to
                        ));
                    }
                }
            }
        }
        if !made.is_empty() {
            self.flip(&made).await?;
        }
        if refused.is_empty() {
            return Ok(Applied::default());
        }
        let others = if made.is_empty() {
            String::new()
        } else {
            format!(
                "; {} other change(s) went out by their switches",
                made.len()
            )
        };
        Err(self.error(
            ErrorCode::Unavailable,
            format!("{} ({why}){others}", refused.join("; ")),
        ))
    }

    /// Keeps `read` with the switch states when it differs from what they hold, while this
    /// controller leads (a follower's copy is the leader's to write).
    async fn keep(&self, read: &Shares) {
        let Ok(epoch) = self.epoch() else { return };
        if !self.board.keeps_other(read) {
            return;
        }
        if let Err(e) = self
            .board
            .keep_records(read, &self.writer.controller, epoch)
            .await
        {
            tracing::debug!(error = %e, "The records' shares were not kept with the switches.");
        }
    }
}

impl<B: TrafficBackend> TrafficBackend for Switched<B> {
    fn name(&self) -> &'static str {
        self.records.name()
    }

    async fn read(&self) -> Result<Shares> {
        let states = self.board.states().await?;
        let effective = |key: &str, record: Share| {
            if states.on(switch_of(key)) {
                record
            } else {
                Share::ZERO
            }
        };
        match self
            .bounded("read", Duration::ZERO, self.records.read())
            .await
        {
            Ok(read) => {
                {
                    let mut api = self.api();
                    api.read = None;
                    api.last.clone_from(&read);
                }
                self.keep(&read).await;
                Ok(read
                    .iter()
                    .map(|(k, s)| (k.clone(), effective(k, *s)))
                    .collect())
            }
            Err(e) if e.code == ErrorCode::Fenced => Err(e),
            Err(e) => {
                self.api().read = Some(e.to_string());
                Ok(self
                    .keys
                    .iter()
                    .map(|k| (k.clone(), effective(k, self.known(k, &states.records))))
                    .collect())
            }
        }
    }

    fn all_or_nothing(&self, key: &str) -> bool {
        self.mode == Mode::Switches || self.down().is_some() || self.records.all_or_nothing(key)
    }

    fn raise_lands(&self, key: &str) -> Option<(Share, String)> {
        let why = self.switches_only()?;
        let kept = self.board.snapshot().states.records;
        let weight = self.known(key, &kept);
        let what = if weight == Share::ZERO {
            ZERO_WEIGHT.to_owned()
        } else {
            format!(
                "its switch returns it whole at its record's weight {weight}, which only the API can change"
            )
        };
        Some((weight, format!("{what} ({why})")))
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        if let Some(why) = self.switches_only() {
            return self.through_switches(changes, &why).await;
        }
        let confirm = self.records.confirm_deadline();
        match self
            .bounded("apply", confirm, self.records.apply(changes))
            .await
        {
            Ok(applied) => {
                self.api().write = None;
                self.flip(changes).await?;
                Ok(applied)
            }
            Err(e) if matches!(e.code, ErrorCode::Fenced | ErrorCode::Invalid) => Err(e),
            Err(e) => {
                let why = e.to_string();
                self.api().write = Some(why.clone());
                self.through_switches(changes, &format!("the records' API is failing: {why}"))
                    .await
            }
        }
    }

    fn confirm_deadline(&self) -> Duration {
        self.records.confirm_deadline()
    }

    fn unread(&self, key: &str) -> Option<String> {
        self.records.unread(key)
    }

    fn unverified(&self) -> Option<String> {
        self.records.unverified()
    }

    fn lag(&self) -> Duration {
        if self.mode == Mode::Switches || self.down().is_some() {
            self.flip_delay
        } else {
            Duration::ZERO
        }
    }

    fn degraded(&self) -> Option<String> {
        if self.mode == Mode::Switches {
            return None;
        }
        self.down().map(|why| {
            format!(
                "{} API failing ({}): acting through the data-plane switches, whole regions only; a flip shows in answers after about {} (health check interval x threshold); see runbooks/control-plane-outage.md",
                self.records.name(),
                crate::traffic::brief(&why),
                humantime::format_duration(self.flip_delay)
            )
        })
    }
}
