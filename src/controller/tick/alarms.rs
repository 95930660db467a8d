//! The tick's alarms: the backend alarm kept in step with each call's result, alarms and
//! refusals journaled when they start and end, `backend_unreachable` and `load_unknown`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Operation, RefusalKey, TickState};
use crate::alarm::{Alarm, AlarmCode};
use crate::clock::Timestamp;
use crate::health::Verdict;
use crate::intent::Intents;
use crate::plan;
use crate::store::Event;
use crate::traffic::{self, Retry};

impl TickState {
    /// Keeps the backend alarm in step with `result`: a permanent failure or a fence raises it,
    /// only the same operation succeeding clears it, and the fence alarm never clears. Every
    /// failure is journaled (the next tick tries again).
    pub(super) fn settle<T>(
        &mut self,
        now: Timestamp,
        operation: Operation,
        result: traffic::Result<T>,
        journal: &mut Vec<Event>,
    ) -> Option<T> {
        match result {
            Ok(v) => {
                self.last_success = self.last_success.max(now);
                if let Some(f) = self.failing.remove(&operation) {
                    journal.push(Event::BackendRecovered {
                        operation: operation.as_str().to_owned(),
                        failed_calls: f.calls,
                        failing_since: f.since,
                    });
                }
                if self
                    .backend_alarm
                    .as_ref()
                    .is_some_and(|(op, a)| *op == operation && a.code != AlarmCode::BackendFenced)
                {
                    self.backend_alarm = None;
                }
                Some(v)
            }
            Err(e) => {
                let message = e.to_string();
                let alarm = match e.retry() {
                    Retry::Retryable => None,
                    Retry::Permanent => Some(Alarm::new(
                        AlarmCode::BackendError,
                        format!("{message}; retrying every tick, but this will not heal by itself"),
                    )),
                    Retry::Fenced => Some(Alarm::new(
                        AlarmCode::BackendFenced,
                        format!(
                            "{message}; another controller with a newer epoch writes now, so this one has stopped writing"
                        ),
                    )),
                };
                // A fence alarm stays whatever fails later: it needs an operator.
                let fenced = self
                    .backend_alarm
                    .as_ref()
                    .is_some_and(|(_, a)| a.code == AlarmCode::BackendFenced);
                if let Some(alarm) = alarm.filter(|_| !fenced) {
                    self.backend_alarm = Some((operation, alarm));
                }
                // A failure is news when it starts and when what it says changes; the same
                // failure again next tick (an API down for an hour) is counted, not journaled.
                let failing = self.failing.entry(operation).or_insert_with(|| Failing {
                    message: String::new(),
                    since: now,
                    calls: 0,
                });
                failing.calls += 1;
                if failing.message != message {
                    failing.message.clone_from(&message);
                    journal.push(Event::BackendError {
                        operation: operation.as_str().to_owned(),
                        message,
                    });
                }
                None
            }
        }
    }

    /// The alarms of a tick that makes no plan: what the latest plan found, but `frozen` from
    /// the intents now and, when `judge_verdicts` (not with a region unreported, nor before
    /// the first rounds are in), `fail_open` from the verdicts now.
    pub(super) fn unplanned_alarms(
        &self,
        intents: &Intents,
        now: Timestamp,
        judge_verdicts: bool,
    ) -> Vec<Alarm> {
        let verdicts: Option<Vec<(&str, Verdict)>> = judge_verdicts.then(|| {
            self.config
                .regions
                .iter()
                .map(|r| (r.name.as_str(), self.verdict_of(&r.name).0))
                .collect()
        });
        let mut alarms: Vec<Alarm> = self
            .planned_alarms
            .iter()
            .filter(|a| {
                a.code != AlarmCode::Frozen && !(judge_verdicts && a.code == AlarmCode::FailOpen)
            })
            .cloned()
            .collect();
        alarms.extend(plan::verdict_and_intent_alarms(
            verdicts.as_deref(),
            intents,
            now,
        ));
        alarms
    }

    /// Journals alarms raised and cleared since the last tick, and refusals not seen last tick
    /// and those ended; `refusals` None: no plan looked this tick, and those in force stand.
    pub(super) fn raise_and_clear(
        &mut self,
        alarms: &[Alarm],
        refusals: Option<&[plan::Refusal]>,
        journal: &mut Vec<Event>,
    ) {
        let codes: BTreeSet<AlarmCode> = alarms.iter().map(|a| a.code).collect();
        for alarm in alarms {
            if !self.active_alarms.contains(&alarm.code) {
                journal.push(Event::Alarm(alarm.clone()));
            }
        }
        for code in self.active_alarms.difference(&codes) {
            journal.push(Event::AlarmCleared { code: *code });
        }
        self.active_alarms = codes;
        // None: no plan looked this tick; the refusals in force stand.
        let Some(refusals) = refusals else {
            return;
        };
        // A refusal is news when it starts, when its rule or its points change, and when it
        // ends; its figures (loads, rps) move every tick and are not news by themselves.
        let mut held: BTreeMap<String, RefusalKey> = BTreeMap::new();
        for r in refusals {
            let key = (r.kind, r.wanted_points, r.moved_points);
            if self.last_refusals.get(&r.region) != Some(&key) && !held.contains_key(&r.region) {
                journal.push(Event::Refusal(r.clone()));
            }
            held.entry(r.region.clone()).or_insert(key);
        }
        for region in self.last_refusals.keys() {
            if !held.contains_key(region) {
                journal.push(Event::RefusalEnded {
                    region: region.clone(),
                });
            }
        }
        self.last_refusals = held;
    }

    /// The `backend_unreachable` alarm, once no call has succeeded for
    /// `traffic.unreachable_after`.
    pub(super) fn unreachable(&self, now: Timestamp, backend: &str) -> Option<Alarm> {
        let silent = now.since(self.last_success);
        if silent < self.config.traffic.unreachable_after {
            return None;
        }
        let last_read = self
            .last_read
            .map_or_else(|| "never".to_owned(), |t| t.to_string());
        Some(Alarm::new(
            AlarmCode::BackendUnreachable,
            format!(
                "no {backend} call has succeeded for {} (shares last read: {last_read}); nothing can be changed until one does",
                humantime::format_duration(Duration::from_secs(silent.as_secs()))
            ),
        ))
    }

    /// The `load_unknown` alarm: regions answering their probes (Healthy or Degraded) without
    /// a load reading within `policy.load_max_age`, and no static `load_rps` to fall back on.
    /// A Down region reports no load as a matter of course; its last healthy figure stands in.
    pub(super) fn load_unknown(&self, now: Timestamp) -> Option<Alarm> {
        let max_age = self.config.policy.load_max_age;
        if now.since(self.started) < max_age {
            return None;
        }
        let blind: Vec<String> = self
            .config
            .regions
            .iter()
            .filter(|r| r.load_rps.is_none())
            .filter_map(|r| {
                let rt = self.regions.get(&r.name)?;
                let answering = matches!(
                    rt.health.verdict(),
                    crate::health::Verdict::Healthy | crate::health::Verdict::Degraded
                );
                let last = rt.load.map(|l| l.at);
                (answering && last.is_none_or(|at| now.since(at) > max_age)).then(|| {
                    last.map_or_else(
                        || format!("{} (never read)", r.name),
                        |at| format!("{} (last read {at})", r.name),
                    )
                })
            })
            .collect();
        if blind.is_empty() {
            return None;
        }
        Some(Alarm::new(
            AlarmCode::LoadUnknown,
            format!(
                "no load reading within load_max_age ({}) for {}: every move onto or off them counts them as full, so failover may stall; `failoverd probe` shows what their load source returns",
                humantime::format_duration(max_age),
                blind.join(", ")
            ),
        ))
    }
}

/// `external_change`, while changes made outside failoverd stand unacknowledged: each named.
pub(super) fn external_alarm(intents: &Intents, now: Timestamp) -> Option<Alarm> {
    let notices = intents.notices(now);
    let first = notices.first()?;
    let regions: BTreeSet<&str> = notices.iter().map(|n| n.region.as_str()).collect();
    let more = match notices.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    let ack = match regions.len() {
        1 => first.region.clone(),
        _ => "--all".to_owned(),
    };
    Some(Alarm::new(
        AlarmCode::ExternalChange,
        format!(
            "{}{more}; `failoverd ack {ack}` acknowledges",
            first.describe()
        ),
    ))
}

/// A backend operation failing since `since`: what it last said and how many calls failed.
#[derive(Debug, Clone)]
pub(super) struct Failing {
    message: String,
    since: Timestamp,
    calls: u32,
}
