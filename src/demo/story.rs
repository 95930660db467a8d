//! The demo's story: a region breaks for every service, is evacuated and mended; then an
//! operator drains a region for every service, is refused one service's drain of a second, and
//! undrains. Each step waits for what the controller reports, with a deadline.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::sync::watch;

use super::{Error, VICTIM};
use crate::admin::client::Client;
use crate::admin::render;
use crate::admin::verbs::{Action, DrainArgs, UndrainArgs};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::health::Verdict;
use crate::intent::DrainRequest;
use crate::share::Share;
use crate::sim::{Fault, World};
use crate::status::{RegionStatus, Status};
use crate::stdout;
use crate::terminal::escape;
use crate::timeline::stamp;

/// Detection, first move, evacuation, restore, peak survivor utilization, operator's drain.
pub(super) type Figures = (Duration, Duration, Duration, Duration, f64, Duration);

pub(super) struct Story {
    pub(super) clock: Clock,
    pub(super) status: watch::Receiver<Status>,
    pub(super) out: Arc<std::sync::Mutex<()>>,
}

impl Story {
    pub(super) fn say(&self, text: &str) {
        let _one_writer = self.out.lock().unwrap_or_else(|e| e.into_inner());
        stdout::line(format_args!("{:>7}  ▶ {text}", stamp(self.clock.elapsed())));
    }

    /// Waits until `done(status)` holds, at most `deadline`.
    async fn until(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Result<Timestamp, Error> {
        let wait = self.status.wait_for(|s| done(s));
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(s)) => Ok(s.at.unwrap_or(self.clock.now())),
            Ok(Err(_)) => Err(Error::Stalled(format!(
                "the controller stopped before {what}"
            ))),
            Err(_) => Err(Error::Stalled(format!(
                "{what} did not happen within {}",
                humantime::format_duration(deadline)
            ))),
        }
    }
}

/// Every row of `region`: one per service serving it.
fn rows<'a>(s: &'a Status, region: &'a str) -> impl Iterator<Item = &'a RegionStatus> + Clone {
    s.regions.iter().filter(move |r| r.region == region)
}

/// Whether every service in `region` holds `share` (and the region has rows).
fn all_at(s: &Status, region: &str, share: u8) -> bool {
    let mut rows = rows(s, region).peekable();
    rows.peek().is_some() && rows.all(|r| r.actual.map(Share::get) == Some(share))
}

/// Whether every service in `region` has the verdict `v`.
fn all_verdict(s: &Status, region: &str, v: Verdict) -> bool {
    let mut rows = rows(s, region).peekable();
    rows.peek().is_some() && rows.all(|r| r.verdict == v)
}

/// The demo's operator: an admin API client and the CLI flags that reach the same endpoint.
pub(super) struct Operator {
    pub(super) client: Client,
    pub(super) cli: String,
}

impl Operator {
    /// Prints the CLI command an operator would type, then makes the same request and prints
    /// the answer as the CLI would.
    async fn act(
        &self,
        story: &Story,
        action: Action,
    ) -> Result<(StatusCode, serde_json::Value), Error> {
        story.say(&format!(
            "operator: failoverd {} {}",
            action.command_line(),
            self.cli
        ));
        let (method, path, body) = action.request();
        let (code, answer) = self
            .client
            .request(method, &path, body)
            .await
            .map_err(|e| Error::Stalled(e.to_string()))?;
        let text = if code.is_success() {
            action.render(&answer).unwrap_or_else(|e| {
                format!("unexpected answer ({e}): {}\n", escape(&answer.to_string()))
            })
        } else {
            render::error(code, &answer)
        };
        let _one_writer = story.out.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines() {
            stdout::line(format_args!("           {line}"));
        }
        Ok((code, answer))
    }
}

/// A maintenance drain of `region`: for one service, for every service (`all`), or for the
/// region of a config without services (neither).
fn maintenance(region: &str, service: Option<&str>, all: bool) -> Action {
    Action::Drain(DrainArgs {
        region: region.to_owned(),
        request: DrainRequest {
            reason: "kernel patching".to_owned(),
            ttl: "30m".to_owned(),
            force: false,
            share: 0,
            service: service.map(str::to_owned),
            all_services: all,
            dry_run: false,
        },
    })
}

/// The operator's chapter: a drain of every service in a region that fits, a drain of one
/// service in a second region that headroom refuses, undrain.
async fn operate(
    story: &mut Story,
    op: &Operator,
    names: &[String],
    services: &[String],
) -> Result<Duration, Error> {
    const FIRST: &str = "us-east-1";
    const SECOND: &str = "us-west-2";
    let several = services.len() > 1;
    story.say(&format!(
        "an operator drains {FIRST} for maintenance{}, through the admin endpoint",
        if several { ", for every service" } else { "" }
    ));
    let asked = story.clock.now();
    let (code, body) = op.act(story, maintenance(FIRST, None, several)).await?;
    if !code.is_success() {
        return Err(Error::Stalled(format!(
            "the drain of {FIRST} was refused: {body}"
        )));
    }
    let drained_at = story
        .until(&format!("{FIRST} drained"), Duration::from_secs(30), |s| {
            all_at(s, FIRST, 0)
        })
        .await?;
    // With several services, the second drain is one service's own.
    let one = several.then(|| services[0].as_str());
    story.say(&format!(
        "{FIRST} drained; the operator asks to drain {SECOND}{} too, which the last survivor cannot absorb",
        one.map_or_else(String::new, |s| format!(" for {s}"))
    ));
    let (code, _) = op.act(story, maintenance(SECOND, one, false)).await?;
    if code != StatusCode::CONFLICT {
        return Err(Error::Stalled(format!(
            "the second drain answered {code}, not a headroom refusal"
        )));
    }
    story.say(&format!("maintenance done; the operator undrains {FIRST}"));
    op.act(
        story,
        Action::Undrain(UndrainArgs {
            region: FIRST.to_owned(),
            service: None,
        }),
    )
    .await?;
    story
        .until("every region back at 100%", Duration::from_secs(40), |s| {
            names.iter().all(|n| all_at(s, n, 100))
        })
        .await?;
    story.say("every region serves its own users again");
    Ok(drained_at.since(asked))
}

pub(super) async fn play(
    story: &mut Story,
    world: &World,
    config: &Config,
    operator: &Operator,
) -> Result<Figures, Error> {
    let names: Vec<String> = config.regions.iter().map(|r| r.name.clone()).collect();
    let services = config.services();
    let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let everyone = if services.len() > 1 {
        format!(" for {}", service_names.join(" and "))
    } else {
        String::new()
    };
    story.say("waiting for every region's first verdicts");
    story
        .until("every region Healthy", Duration::from_secs(15), |s| {
            !s.regions.is_empty() && s.regions.iter().all(|r| r.verdict == Verdict::Healthy)
        })
        .await?;
    story.say(&format!("all regions Healthy at 100%; now breaking {VICTIM}{everyone}: its database stops answering (deep health → 503)"));
    world.set_fault(VICTIM, Fault::Down)?;
    let fault_at = story.clock.now();
    let down_at = story
        .until(&format!("{VICTIM} Down"), Duration::from_secs(20), |s| {
            all_verdict(s, VICTIM, Verdict::Down)
        })
        .await?;
    let moved_at = story
        .until(
            &format!("the first move off {VICTIM}"),
            Duration::from_secs(20),
            |s| rows(s, VICTIM).any(|r| r.actual.is_some_and(|v| v.get() < 100)),
        )
        .await?;
    let peak = Arc::new(std::sync::Mutex::new(0.0_f64));
    let track = |s: &Status| {
        let here = s
            .regions
            .iter()
            .filter(|r| r.region != VICTIM)
            .filter_map(|r| r.utilization)
            .fold(0.0, f64::max);
        let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.max(here);
    };
    let evacuated_at = story
        .until(
            &format!("{VICTIM} fully drained"),
            Duration::from_secs(30),
            |s| {
                track(s);
                all_at(s, VICTIM, 0)
            },
        )
        .await?;
    story
        .until("survivors' load settled", Duration::from_secs(10), |s| {
            track(s);
            s.at.is_some() && rows(s, VICTIM).all(|r| r.load_rps == Some(0.0))
        })
        .await?;
    story.say(&format!(
        "{VICTIM} evacuated{everyone}; survivors carry its users. Now mending its database"
    ));
    world.set_fault(VICTIM, Fault::Healthy)?;
    let recovered_at = story.clock.now();
    let restored_at = story
        .until(
            &format!("{VICTIM} back at 100%"),
            Duration::from_secs(40),
            |s| {
                track(s);
                names.iter().all(|n| all_at(s, n, 100))
            },
        )
        .await?;
    story.say(&format!(
        "{VICTIM} is back at 100%; every region serves its own users again"
    ));
    let peak = *peak.lock().unwrap_or_else(|e| e.into_inner());
    // Load readings trail the shares by a probe round; the operator's what-if must see every
    // region carrying only its own users again, or it plans against the evacuation's loads.
    let named = config.has_services();
    let own: Vec<(Option<String>, String, f64)> = services
        .iter()
        .flat_map(|s| {
            let service = named.then(|| s.name.clone());
            s.config.regions.iter().filter_map(move |r| {
                let demand = r.sim.as_ref()?.demand_rps;
                Some((service.clone(), r.name.clone(), demand))
            })
        })
        .collect();
    story
        .until(
            "loads back to each region's own users",
            Duration::from_secs(10),
            |s| {
                own.iter().all(|(service, region, demand)| {
                    s.regions
                        .iter()
                        .find(|r| r.service == *service && r.region == *region)
                        .and_then(|r| r.load_rps)
                        .is_some_and(|l| (l - demand).abs() < 1.0)
                })
            },
        )
        .await?;
    let manual_drain = operate(story, operator, &names, &service_names).await?;
    Ok((
        down_at.since(fault_at),
        moved_at.since(fault_at),
        evacuated_at.since(fault_at),
        restored_at.since(recovered_at),
        peak,
        manual_drain,
    ))
}
