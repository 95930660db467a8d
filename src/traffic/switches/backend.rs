//! [`Switched`]: knobs that act through the data-plane switches, alone or beside records.
//!
//! - `switches`: a knob's share is its switch, 100 while on, 0 while off; its records are
//!   never written. Every knob moves all or nothing.
//! - `mixed`: while the records' API answers, every change is written to the records as in
//!   `records` mode, and the switch follows (off at 0, on above): a drain is as quick as a
//!   record write, and the switch is a second withdrawal. When a read of the records fails
//!   (the API is down: errors, timeouts, a refusal), the knobs act through the switches alone,
//!   whole regions at a time, and [`TrafficBackend::degraded`] says so: a withdrawal turns the
//!   switch off (live once Route 53's checkers have seen it, interval x threshold); a return
//!   turns it on, which gives the region back only if its record still has a weight (one
//!   withdrawn by its switch alone); weights between 0 and 100 cannot change until the API
//!   answers again. A move that cannot be made is refused with that reason.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Mode, SwitchBoard, switch_of};
use crate::share::Share;
use crate::traffic::{
    Applied, Error, ErrorCode, Result, ShareChange, Shares, TrafficBackend, Writer,
};

/// How a [`Switched`] backend acts.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// `switches` or `mixed`.
    pub mode: Mode,
    /// The knobs it holds.
    pub keys: Vec<String>,
    /// Route 53's checkers' interval × threshold: how long a flip takes to show in answers.
    pub flip_delay: Duration,
    /// Longest a call to the records may take before the API counts as down for this tick:
    /// under the controller's own bound on a backend call, so the switches still answer
    /// within it when the API hangs rather than fails.
    pub records_limit: Duration,
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
    /// The records' shares at their last good read (`mixed`).
    last_records: Mutex<Shares>,
    /// Why the records' API is taken as down, since its last failed read (`mixed`).
    down: Mutex<Option<String>>,
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
            last_records: Mutex::new(Shares::new()),
            down: Mutex::new(None),
        }
    }

    /// `call` to the records, bounded by `records_limit`.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.records_limit, call)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    self.records.name(),
                    operation,
                    ErrorCode::Timeout,
                    format!(
                        "no answer within {}",
                        humantime::format_duration(self.records_limit)
                    ),
                ))
            })
    }

    /// The backend the records live in.
    pub fn records(&self) -> &B {
        &self.records
    }

    fn down(&self) -> Option<String> {
        self.down.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_down(&self, why: Option<String>) {
        *self.down.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }

    fn error(&self, code: ErrorCode, message: String) -> Error {
        Error::new(self.records.name(), "apply", code, message)
    }

    /// Sets the switch of every change (on while its share is above 0).
    async fn flip(&self, changes: &[ShareChange]) -> Result<()> {
        let mut set: BTreeMap<String, bool> = BTreeMap::new();
        for c in changes {
            // Knobs of one region share its switch: on while any of them keeps traffic.
            *set.entry(switch_of(&c.region).to_owned()).or_default() |= c.to > Share::ZERO;
        }
        let epoch = self.writer.epoch.get();
        if epoch == 0 {
            return Err(self.error(
                ErrorCode::Fenced,
                "not flipping switches: this controller's leadership has ended".to_owned(),
            ));
        }
        self.board.set(&set, &self.writer.controller, epoch).await
    }
}

impl<B: TrafficBackend> TrafficBackend for Switched<B> {
    fn name(&self) -> &'static str {
        self.records.name()
    }

    async fn read(&self) -> Result<Shares> {
        let states = self.board.states().await?;
        let by_switch = |key: &str, records: Option<Share>| {
            if states.on(switch_of(key)) {
                records.unwrap_or(Share::FULL)
            } else {
                Share::ZERO
            }
        };
        if self.mode == Mode::Switches {
            return Ok(self
                .keys
                .iter()
                .map(|k| (k.clone(), by_switch(k, None)))
                .collect());
        }
        match self.bounded("read", self.records.read()).await {
            Ok(read) => {
                self.set_down(None);
                let shares = read
                    .iter()
                    .map(|(k, s)| (k.clone(), by_switch(k, Some(*s))))
                    .collect();
                *self.last_records.lock().unwrap_or_else(|e| e.into_inner()) = read;
                Ok(shares)
            }
            Err(e) if e.code == ErrorCode::Fenced => Err(e),
            Err(e) => {
                self.set_down(Some(e.to_string()));
                let last = self
                    .last_records
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                Ok(self
                    .keys
                    .iter()
                    .map(|k| (k.clone(), by_switch(k, last.get(k).copied())))
                    .collect())
            }
        }
    }

    fn all_or_nothing(&self, key: &str) -> bool {
        self.mode == Mode::Switches || self.down().is_some() || self.records.all_or_nothing(key)
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        if self.mode == Mode::Switches {
            self.flip(changes).await?;
            return Ok(Applied::default());
        }
        let Some(why) = self.down() else {
            return match self.bounded("apply", self.records.apply(changes)).await {
                Ok(applied) => {
                    self.flip(changes).await?;
                    Ok(applied)
                }
                Err(e) if e.code == ErrorCode::Fenced => Err(e),
                Err(e) => {
                    // The records may not have taken it: withdraw what was to go to 0 by its
                    // switch anyway, and let the next read tell whether the API is down.
                    let withdrawals: Vec<ShareChange> = changes
                        .iter()
                        .filter(|c| c.to == Share::ZERO)
                        .cloned()
                        .collect();
                    if !withdrawals.is_empty() {
                        self.flip(&withdrawals).await?;
                    }
                    Err(e)
                }
            };
        };
        let last = self
            .last_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let refuse = |c: &ShareChange, what: &str| {
            Err(self.error(
                ErrorCode::Unavailable,
                format!(
                    "{} cannot go from {} to {}: {what}, and the records' API is failing ({why})",
                    c.region, c.from, c.to
                ),
            ))
        };
        for c in changes.iter().filter(|c| c.to > Share::ZERO) {
            if c.from > Share::ZERO {
                return refuse(c, "the switches only withdraw or return a region whole");
            }
            if last.get(&c.region).is_some_and(|s| *s == Share::ZERO) {
                return refuse(c, "its record's weight is 0, which only the API can raise");
            }
        }
        self.flip(changes).await?;
        Ok(Applied::default())
    }

    fn confirm_deadline(&self) -> Duration {
        self.records.confirm_deadline()
    }

    fn degraded(&self) -> Option<String> {
        self.down().map(|why| {
            format!(
                "{} API failing ({why}): acting through the data-plane switches, whole regions only; a flip shows in answers after about {} (health check interval x threshold)",
                self.records.name(),
                humantime::format_duration(self.flip_delay)
            )
        })
    }
}
