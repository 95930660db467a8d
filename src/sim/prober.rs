//! A prober that asks the simulated world directly, without sockets, so whole scenarios run on
//! virtual time. It judges answers with the same [`evaluate`] as the HTTP prober.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::{Answer, World};
use crate::probe::{HttpAnswer, ProbeOutcome, Prober, Target, evaluate, no_answer};

/// Probes simulated regions by URL without opening sockets.
#[derive(Debug, Clone)]
pub struct SimProber {
    world: World,
    regions_by_url: BTreeMap<String, String>,
}

impl SimProber {
    /// A prober for `world`; `regions_by_url` says which region each target URL reaches.
    pub fn new(world: World, regions_by_url: BTreeMap<String, String>) -> Self {
        Self {
            world,
            regions_by_url,
        }
    }
}

impl Prober for SimProber {
    async fn probe(&self, target: &Target) -> ProbeOutcome {
        let start = Instant::now();
        let timed_out = || {
            no_answer(
                format!(
                    "no answer within {} from {}",
                    humantime::format_duration(target.timeout),
                    target.url
                ),
                target.timeout,
            )
        };
        let Some(region) = self.regions_by_url.get(&target.url) else {
            return no_answer(
                format!("connection refused by {}", target.url),
                start.elapsed(),
            );
        };
        match self.world.answer(region) {
            Ok(Answer::Hang) => {
                tokio::time::sleep(target.timeout).await;
                timed_out()
            }
            Ok(Answer::Respond { delay, .. }) if delay >= target.timeout => {
                tokio::time::sleep(target.timeout).await;
                timed_out()
            }
            Ok(Answer::Respond {
                delay,
                status,
                body,
            }) => {
                tokio::time::sleep(delay).await;
                let answer = HttpAnswer {
                    status,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    truncated: false,
                    certificate: None,
                };
                evaluate(target, &answer, start.elapsed())
            }
            Err(e) => no_answer(e.to_string(), start.elapsed()),
        }
    }
}
