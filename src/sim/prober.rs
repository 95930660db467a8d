//! A prober that asks the simulated world directly, without sockets, so whole scenarios run on
//! virtual time. Its answers are judged by the same
//! [`crate::probe::evaluate`] as the HTTP prober's.
//!
//! A steady cell gives every probe the same bytes ([`World::answer_bytes`]), and judging
//! them (parsing the JSON body, reading its pointers, writing the reason) cost more than
//! the rest of the probe. So the prober keeps each target's latest judgement and gives it
//! again while the answer, its latency and the target's judging settings are all equal to the
//! judged ones: [`crate::probe::evaluate`] is a pure function of exactly those
//! ([`judges_alike`]), so the outcome is the one judging anew would give.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::World;
use super::noise::{Draw, Noise};
use crate::probe::{Fetched, HttpAnswer, ProbeOutcome, Prober, Reply, Target, judges_alike};

/// Probes simulated regions by URL without opening sockets.
#[derive(Debug, Clone)]
pub struct SimProber {
    world: World,
    regions_by_url: BTreeMap<String, String>,
    /// Prometheus query URLs (rollout validations), each with the cell it asks about.
    queries_by_url: BTreeMap<String, String>,
    /// Random loss and latency on the probe path, and the virtual time its draws count from.
    noise: Option<(Noise, Instant)>,
    /// Each URL's latest probe time and how many tries were sent at it, so a retry sent at the
    /// same virtual instant (a lost probe fails at once) draws apart from the try before it.
    tries: Arc<Mutex<HashMap<String, (Duration, u32)>>>,
    /// Each target's latest judgement of an HTTP answer, by URL (one entry per distinct
    /// judging settings asking that URL): given again for an equal answer and latency.
    judged: Arc<Mutex<HashMap<String, Vec<Judged>>>>,
}

/// One target's latest judgement: what judged it, what it judged and the outcome.
#[derive(Debug)]
struct Judged {
    target: Target,
    answer: HttpAnswer,
    latency: Duration,
    outcome: ProbeOutcome,
}

impl SimProber {
    /// A prober for `world`; `regions_by_url` says which region each target URL reaches.
    pub fn new(world: World, regions_by_url: BTreeMap<String, String>) -> Self {
        Self {
            world,
            regions_by_url,
            queries_by_url: BTreeMap::new(),
            noise: None,
            tries: Arc::default(),
            judged: Arc::default(),
        }
    }

    /// Loses and delays probes as `noise` draws them, from now on.
    pub fn with_noise(mut self, noise: Noise) -> Self {
        self.noise = Some((noise, Instant::now()));
        self
    }

    /// Answers each of `queries_by_url` (a Prometheus instant query URL, with the cell it asks
    /// about) as Prometheus would, with the cell's fraction of failed user requests: the
    /// simulator's figure for every rollout validation.
    pub fn with_queries(mut self, queries_by_url: BTreeMap<String, String>) -> Self {
        self.queries_by_url = queries_by_url;
        self
    }

    /// Which try of a probe of `url` at `at` this is: 0, or 1, 2, ... for tries sent at the
    /// same instant as the one before.
    fn attempt(&self, url: &str, at: Duration) -> u32 {
        let mut tries = self.tries.lock().unwrap_or_else(|e| e.into_inner());
        let n = match tries.get(url) {
            Some(&(last, n)) if last == at => n.saturating_add(1),
            _ => 0,
        };
        tries.insert(url.to_owned(), (at, n));
        n
    }
}

impl Prober for SimProber {
    /// Judges as [`Fetched::judge`] does, giving a target's latest outcome again for an
    /// equal HTTP answer and latency (see the module doc for why that is exact).
    fn judge(&self, fetched: &Fetched, target: &Target) -> ProbeOutcome {
        let Reply::Answered(answer) = &fetched.reply else {
            return fetched.judge(target);
        };
        let mut judged = self.judged.lock().unwrap_or_else(|e| e.into_inner());
        // Looked up before inserting: copying the URL for every probe cost an allocation each.
        if !judged.contains_key(&target.url) {
            judged.insert(target.url.clone(), Vec::new());
        }
        let Some(entries) = judged.get_mut(&target.url) else {
            return fetched.judge(target);
        };
        let slot = entries
            .iter_mut()
            .position(|j| judges_alike(&j.target, target));
        if let Some(j) = slot.map(|i| &entries[i])
            && j.latency == fetched.latency
            && j.answer == *answer
        {
            return j.outcome.clone();
        }
        let outcome = fetched.judge(target);
        let latest = (answer.clone(), fetched.latency, outcome.clone());
        match slot {
            Some(i) => {
                let j = &mut entries[i];
                (j.answer, j.latency, j.outcome) = latest;
            }
            None => entries.push(Judged {
                target: target.clone(),
                answer: latest.0,
                latency: latest.1,
                outcome: latest.2,
            }),
        }
        outcome
    }

    async fn fetch(&self, target: &Target) -> Fetched {
        let start = Instant::now();
        let timed_out = || Fetched {
            reply: Reply::Failed(format!(
                "no answer within {} from {}",
                humantime::format_duration(target.timeout),
                target.url
            )),
            latency: target.timeout,
        };
        if let Some(cell) = self.queries_by_url.get(&target.url) {
            let value = self.world.error_fraction(cell);
            let body = serde_json::json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [
                    {"metric": {}, "value": [0, value.to_string()]}
                ]}
            });
            return Fetched {
                reply: Reply::Answered(HttpAnswer {
                    status: 200,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    truncated: false,
                    certificate: None,
                }),
                latency: start.elapsed(),
            };
        }
        let Some(region) = self.regions_by_url.get(&target.url) else {
            return Fetched {
                reply: Reply::Failed(format!("connection refused by {}", target.url)),
                latency: start.elapsed(),
            };
        };
        let extra = match self.noise.map(|(n, epoch)| {
            let at = start - epoch;
            n.draw_try(&target.url, at, self.attempt(&target.url, at))
        }) {
            Some(Draw::Lost) => {
                return Fetched {
                    reply: Reply::Failed(format!(
                        "connection reset by {} (probe_loss)",
                        target.url
                    )),
                    latency: start.elapsed(),
                };
            }
            Some(Draw::Delayed(d)) => d,
            None => Duration::ZERO,
        };
        match self.world.answer_bytes(region) {
            Ok(None) => {
                tokio::time::sleep(target.timeout).await;
                timed_out()
            }
            Ok(Some((delay, ..))) if delay + extra >= target.timeout => {
                tokio::time::sleep(target.timeout).await;
                timed_out()
            }
            Ok(Some((delay, status, body))) => {
                // A cell that answers at once (most of them, most of the time) needs no timer.
                if !(delay + extra).is_zero() {
                    tokio::time::sleep(delay + extra).await;
                }
                Fetched {
                    reply: Reply::Answered(HttpAnswer {
                        status,
                        body,
                        truncated: false,
                        certificate: None,
                    }),
                    latency: start.elapsed(),
                }
            }
            Err(e) => Fetched {
                reply: Reply::Failed(e.to_string()),
                latency: start.elapsed(),
            },
        }
    }
}
