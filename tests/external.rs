//! Knobs changed outside failoverd, through the real AWS SDKs: Route 53 records on the moto
//! server and Global Accelerator dials on the wire-level fake, set by hand between ticks as a
//! person in the console would. Each policy (`adopt`, `revert`, `hold`), the safety rule (a
//! raise of a region failoverd holds down is put back), and restarts with the intents and the
//! journal on disk: one mid-evacuation resumes without a false alarm, one after a hand-made
//! change raises one. Every round of probes comes a tick interval of virtual time after the
//! last tick (`support::virtual_time`), so each ramp's pace is a count of ticks.

mod ga_fake;
mod moto;
mod support;

use std::path::Path;
use std::sync::Arc;

use failoverd::alarm::AlarmCode;
use failoverd::clock::Clock;
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::health::{ProbeStatus, RoundResult};
use failoverd::intent::external::Action;
use failoverd::probe::Observation;
use failoverd::share::Share;
use failoverd::status::Status;
use failoverd::store::intents::IntentStore;
use failoverd::store::{Entry, Event, Journal};
use failoverd::traffic::{Backend, Setup};
use ga_fake::GaFake;
use moto::Moto;
use support::virtual_time::{TICK, skip};

const WWW: &str = "www.example.com.";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";
const EAST_GROUP: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/east";
const WEST_GROUP: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/west";

/// Where the knobs live.
enum Knobs {
    Route53 { zone: String },
    Ga,
}

fn config(knobs: &Knobs, policy: &str) -> Config {
    let binding = |region: &str, group: &str| match knobs {
        Knobs::Route53 { zone } => format!(
            r#"traffic.route53 = {{ hosted_zone_id = "{zone}", record_name = "{WWW}", set_identifier = "{region}", routing = "weighted" }}"#
        ),
        Knobs::Ga => {
            format!(r#"traffic.global_accelerator = {{ endpoint_group_arn = "{group}" }}"#)
        }
    };
    let backend = match knobs {
        Knobs::Route53 { .. } => "route53",
        Knobs::Ga => "global_accelerator",
    };
    let text = format!(
        r#"
[controller]
id = "ext"
control_region = "local"
[policy]
# The test servers report load at once: no users on their way after a move.
settle = "0s"
fall = 1
rise = 1
hold_down = "0s"
max_step = 25
hard_down = "step"
on_external_change = "{policy}"
external_drain_ttl = "1h"
[traffic]
backend = "{backend}"
[traffic.route53]
confirm_poll = "10ms"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "5ms"
[[regions]]
name = "{EAST}"
capacity_rps = 1000
spill_to = ["{WEST}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
{}
[[regions]]
name = "{WEST}"
capacity_rps = 1000
spill_to = ["{EAST}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
{}
"#,
        binding(EAST, EAST_GROUP),
        binding(WEST, WEST_GROUP),
    );
    Config::from_toml(&text, Path::new("external.toml")).expect("valid config")
}

/// The emulators, the state directory a controller keeps its intents and journal in, and the
/// clock every controller of the rig runs on (one clock, so a restarted controller's time goes
/// on from its predecessor's; virtual time, `support::virtual_time`).
struct Rig {
    clock: Clock,
    moto: Option<Moto>,
    ga: GaFake,
    ga_addr: Option<std::net::SocketAddr>,
    knobs: Knobs,
    dir: tempfile::TempDir,
}

impl Rig {
    /// Two weighted records at 100 on moto.
    async fn route53() -> Rig {
        let moto = Moto::start().await;
        let client = moto.route53();
        let zone = moto::zone(&client, "example.com.").await;
        let records = [EAST, WEST]
            .map(|r| moto::record(WWW, r, &["192.0.2.1"], Some(100), None))
            .to_vec();
        moto::create(&client, &zone, records).await;
        Rig {
            clock: Clock::new(),
            moto: Some(moto),
            ga: GaFake::default(),
            ga_addr: None,
            knobs: Knobs::Route53 { zone },
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Two endpoint groups dialled at 100 on the fake.
    async fn ga() -> Rig {
        let ga = GaFake::default();
        ga.insert(GaFake::group(EAST_GROUP, &[("alb-east", 128)]));
        ga.insert(GaFake::group(WEST_GROUP, &[("alb-west", 128)]));
        let ga_addr = Some(ga.serve().await);
        Rig {
            clock: Clock::new(),
            moto: None,
            ga,
            ga_addr,
            knobs: Knobs::Ga,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A controller with `policy`, its intents and journal in the rig's state directory (a
    /// second one started later is a restart).
    fn controller(&self, policy: &str) -> Loop {
        let config = Arc::new(config(&self.knobs, policy));
        let setup = config
            .traffic_setups()
            .into_iter()
            .next()
            .expect("a backend");
        let backend = match setup {
            Setup::Route53 { .. } => {
                let moto = self.moto.as_ref().expect("moto");
                // Alone, a daemon's fencing epoch is its start time: a restart outranks its
                // predecessor and takes the fence over.
                let epoch = self.clock.now().0;
                Backend::Route53(support::route53(moto.route53(), &config, epoch))
            }
            setup @ Setup::GlobalAccelerator { .. } => {
                let addr = self.ga_addr.expect("the fake serves");
                Backend::GlobalAccelerator(ga_fake::backend(addr, &config, setup))
            }
            _ => panic!("route53 or global_accelerator only"),
        };
        let state = self.dir.path().join("state");
        let store = Arc::new(IntentStore::open(&state).expect("intent store"));
        let journal = Journal::open(&state).expect("journal");
        let entries = journal.subscribe();
        let controller = Controller::new(
            Arc::clone(&config),
            backend,
            self.clock,
            journal,
            store.subscribe(),
        )
        .with_store(Arc::clone(&store));
        let status = controller.status();
        Loop {
            clock: self.clock,
            controller,
            store,
            entries,
            status,
        }
    }

    /// A knob's value as a person sees it in the console: a weight, or a dial.
    async fn value(&self, region: &str) -> u8 {
        match &self.knobs {
            Knobs::Route53 { zone } => {
                let moto = self.moto.as_ref().expect("moto");
                let w = moto::by_set_id(&moto.route53(), zone, region)
                    .await
                    .weight()
                    .expect("a weight");
                u8::try_from(w).expect("a weight of 0-100 here")
            }
            Knobs::Ga => {
                let dial = self.ga.get(group(region))["TrafficDialPercentage"]
                    .as_f64()
                    .expect("a dial");
                dial.round() as u8
            }
        }
    }

    /// Sets a knob by hand, as in the console.
    async fn set_by_hand(&self, region: &str, value: u8) {
        match &self.knobs {
            Knobs::Route53 { zone } => {
                let moto = self.moto.as_ref().expect("moto");
                let record =
                    moto::record(WWW, region, &["192.0.2.1"], Some(i64::from(value)), None);
                moto::upsert(&moto.route53(), zone, record).await;
            }
            Knobs::Ga => {
                let mut g = self.ga.get(group(region));
                g["TrafficDialPercentage"] = serde_json::json!(f64::from(value));
                self.ga.insert(g);
            }
        }
    }
}

fn group(region: &str) -> &'static str {
    if region == EAST {
        EAST_GROUP
    } else {
        WEST_GROUP
    }
}

struct Loop {
    clock: Clock,
    controller: Controller<Backend>,
    store: Arc<IntentStore>,
    entries: tokio::sync::broadcast::Receiver<Entry>,
    status: tokio::sync::watch::Receiver<Status>,
}

impl Loop {
    /// A tick interval after the last tick, one probe round for each region (`down` fail, the
    /// others pass), then one tick. The round is never in the millisecond of the last tick's
    /// writes, which would count it as taken before them.
    async fn tick(&mut self, down: &[&str]) -> Status {
        skip(TICK).await;
        let now = self.clock.now();
        for region in [EAST, WEST] {
            let status = if down.contains(&region) {
                ProbeStatus::Fail
            } else {
                ProbeStatus::Pass
            };
            self.controller.observe(Observation {
                service: None,
                region: region.to_owned(),
                round: RoundResult {
                    status,
                    reason: "round".to_owned(),
                    at: now,
                },
                load_rps: Some(100.0),
                capacity_rps: None,
                outcomes: Vec::new(),
                versions: Vec::new(),
                validations: Vec::new(),
            });
        }
        self.controller.tick().await;
        self.status.borrow().clone()
    }

    /// Ticks (all regions healthy but `down`) until `done`, which holds first after exactly
    /// `n` ticks: on virtual time no tick is lost to a round in the millisecond of the last
    /// tick's writes, so the count is the pace (a status shows what its tick read, so `n` is one
    /// more than the steps a ramp takes).
    async fn until(&mut self, n: usize, down: &[&str], done: impl Fn(&Status) -> bool) -> Status {
        for i in 1..n {
            let s = self.tick(down).await;
            assert!(!done(&s), "reached after {i} ticks, not {n}: {s:#?}");
        }
        let s = self.tick(down).await;
        assert!(done(&s), "not reached in {n} ticks: {s:#?}");
        s
    }

    /// The external changes journaled since the last call, with everything else journaled.
    fn journaled(&mut self) -> (Vec<Event>, Vec<Event>) {
        let mut all = Vec::new();
        while let Ok(e) = self.entries.try_recv() {
            all.push(e.event);
        }
        let external = all
            .iter()
            .filter(|e| matches!(e, Event::ExternalChange { .. }))
            .cloned()
            .collect();
        (external, all)
    }
}

fn share(s: &Status, region: &str) -> Option<Share> {
    s.region(region).and_then(|r| r.actual)
}

fn alarmed(s: &Status) -> bool {
    s.alarms.iter().any(|a| a.code == AlarmCode::ExternalChange)
}

/// The one external change journaled: (before, after, action).
fn one_change(events: &[Event]) -> (u8, u8, Action, String) {
    match events {
        [
            Event::ExternalChange {
                before,
                after,
                action,
                note,
                ..
            },
        ] => (before.get(), after.get(), *action, note.clone()),
        other => panic!("one external change expected: {other:#?}"),
    }
}

#[tokio::test]
async fn adopt_keeps_a_hand_set_zero_as_an_external_drain_until_it_expires_then_ramps_back() {
    let rig = Rig::route53().await;
    let mut c = rig.controller("adopt");
    c.tick(&[]).await;
    assert!(
        c.journaled().0.is_empty(),
        "the first read is the starting point"
    );

    // The console: us-east-1's weight to 0, with every region healthy.
    rig.set_by_hand(EAST, 0).await;
    let s = c.tick(&[]).await;
    let (external, _) = c.journaled();
    let (before, after, action, note) = one_change(&external);
    assert_eq!((before, after, action), (100, 0, Action::Drained), "{note}");
    assert!(note.contains("adopted as a drain to 0%"), "{note}");
    assert!(alarmed(&s), "{:?}", s.alarms);
    let drain = s.intents.drains.get(EAST).expect("an external drain");
    assert!(
        drain.is_external() && drain.share == Share::ZERO,
        "{drain:?}"
    );
    assert!(
        failoverd::admin::render::status(&s).contains("external drain: us-east-1 to 0%"),
        "{}",
        failoverd::admin::render::status(&s)
    );
    // It stays: no ramp back, and no second notice.
    for _ in 0..4 {
        let s = c.tick(&[]).await;
        assert_eq!(share(&s, EAST), Some(Share::ZERO));
    }
    assert_eq!(rig.value(EAST).await, 0);
    assert!(c.journaled().0.is_empty());

    // Its expiry comes (moved to now rather than waited for): the normal ramp brings it back, a
    // step of 25 each tick.
    let now = c.clock.now();
    c.store
        .update(now, |i| {
            if let Some(d) = i.drains.get_mut(EAST) {
                d.expires_at = now;
            }
        })
        .await
        .expect("saved");
    let s = c
        .until(5, &[], |s| share(s, EAST) == Some(Share::FULL))
        .await;
    let (external, all) = c.journaled();
    assert!(
        external.is_empty(),
        "failoverd's own ramp is not an external change"
    );
    let steps: Vec<(u8, u8)> = all
        .iter()
        .filter_map(|e| match e {
            Event::Shift { decisions, .. } => Some(
                decisions
                    .iter()
                    .map(|d| (d.from.get(), d.to.get()))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(steps, vec![(0, 25), (25, 50), (50, 75), (75, 100)]);
    assert_eq!(rig.value(EAST).await, 100);
    assert!(alarmed(&s), "the notice stands until acknowledged");
}

#[tokio::test]
async fn revert_puts_a_hand_set_weight_back_at_once_and_says_so() {
    let rig = Rig::route53().await;
    let mut c = rig.controller("revert");
    c.tick(&[]).await;
    rig.set_by_hand(EAST, 0).await;
    let s = c.tick(&[]).await;
    let (before, after, action, note) = one_change(&c.journaled().0);
    assert_eq!(
        (before, after, action),
        (100, 0, Action::Reverted),
        "{note}"
    );
    assert_eq!(rig.value(EAST).await, 100, "written back in the same tick");
    assert!(alarmed(&s));
    assert!(s.intents.drains.is_empty());
    let s = c.tick(&[]).await;
    assert_eq!(share(&s, EAST), Some(Share::FULL));
    assert!(
        c.journaled().0.is_empty(),
        "once put back, nothing more to notice"
    );
}

#[tokio::test]
async fn hold_leaves_a_region_where_a_person_set_it_until_ack() {
    let rig = Rig::route53().await;
    let mut c = rig.controller("hold");
    c.tick(&[]).await;
    rig.set_by_hand(EAST, 40).await;
    c.tick(&[]).await;
    let (before, after, action, _) = one_change(&c.journaled().0);
    assert_eq!((before, after, action), (100, 40, Action::Held));
    for _ in 0..4 {
        let s = c.tick(&[]).await;
        assert_eq!(share(&s, EAST), Some(Share::try_new(40).expect("share")));
        assert!(alarmed(&s));
    }
    assert_eq!(rig.value(EAST).await, 40);

    // An operator acknowledges (what `failoverd ack us-east-1` saves): the hold ends, and the
    // region ramps back as its health allows, a step of 25 each tick (65, 90, 100).
    let now = c.clock.now();
    let acked = c
        .store
        .update(now, |i| {
            failoverd::intent::external::acknowledge(i, Some(EAST), None)
        })
        .await
        .expect("saved");
    assert_eq!(acked.len(), 1);
    let s = c
        .until(4, &[], |s| share(s, EAST) == Some(Share::FULL))
        .await;
    assert!(!alarmed(&s), "acknowledged: {:?}", s.alarms);
    assert_eq!(rig.value(EAST).await, 100);
    assert!(c.journaled().0.is_empty());
}

#[tokio::test]
async fn a_hand_set_dial_raising_a_down_region_is_put_back_at_once_with_an_alarm() {
    let rig = Rig::ga().await;
    let mut c = rig.controller("adopt");
    c.tick(&[]).await;
    // eu-west-1 goes Down: failoverd takes its dial to 0 in four steps of 25.
    c.until(5, &[WEST], |s| share(s, WEST) == Some(Share::ZERO))
        .await;
    assert_eq!(rig.value(WEST).await, 0);
    c.journaled();

    // Someone turns its dial back up while it is still Down.
    rig.set_by_hand(WEST, 100).await;
    let s = c.tick(&[WEST]).await;
    let (before, after, action, note) = one_change(&c.journaled().0);
    assert_eq!((before, after, action), (0, 100, Action::PutBack), "{note}");
    assert!(note.contains("failoverd holds eu-west-1 there"), "{note}");
    assert_eq!(
        rig.value(WEST).await,
        0,
        "put back in the same tick, not stepped"
    );
    assert!(alarmed(&s));
    assert_eq!(share(&s, WEST), Some(Share::ZERO));
    assert!(
        s.intents.drains.is_empty(),
        "a raise is never adopted as anything"
    );
}

#[tokio::test]
async fn a_restart_mid_evacuation_resumes_without_an_alarm_and_one_after_a_hand_set_change_raises_one()
 {
    let rig = Rig::route53().await;
    let mut first = rig.controller("adopt");
    first.tick(&[]).await;
    // us-east-1 goes Down; two steps of its drain, then the controller dies.
    first.tick(&[EAST]).await;
    first.tick(&[EAST]).await;
    let mid = rig.value(EAST).await;
    assert_eq!(mid, 50, "mid-evacuation, two steps of 25 down");
    drop(first);

    // Two more steps. The restarted backend, started later, takes over the fence its
    // predecessor left (its first batch is not refused), so the drain lands in the second tick
    // and reads back in the third.
    let mut second = rig.controller("adopt");
    let s = second
        .until(3, &[EAST], |s| share(s, EAST) == Some(Share::ZERO))
        .await;
    let (external, all) = second.journaled();
    assert!(external.is_empty(), "its own values: {external:#?}");
    assert!(
        !all.iter().any(|e| matches!(e, Event::BackendError { .. })),
        "no batch refused: {all:#?}"
    );
    assert!(!alarmed(&s));
    assert!(
        all.iter()
            .any(|e| matches!(e, Event::Shift { decisions, .. }
            if decisions.iter().any(|d| d.from.get() == mid))),
        "resumed from {mid}%: {all:#?}"
    );
    drop(second);

    // While no controller runs, someone lowers eu-west-1 by hand; the next start notices.
    rig.set_by_hand(WEST, 60).await;
    let mut third = rig.controller("adopt");
    let s = third.tick(&[EAST]).await;
    let (before, after, action, _) = one_change(&third.journaled().0);
    assert_eq!((before, after, action), (100, 60, Action::Drained));
    assert!(alarmed(&s));
    // The journal on disk holds it with before and after.
    let journal =
        std::fs::read_to_string(rig.dir.path().join("state/journal.jsonl")).expect("journal");
    assert!(
        journal
            .lines()
            .any(|l| l.contains(r#""kind":"external_change""#)
                && l.contains(r#""before":100"#)
                && l.contains(r#""after":60"#)),
        "{journal}"
    );
}

#[tokio::test]
async fn a_crash_between_the_mark_and_the_write_is_no_external_change_whether_or_not_it_landed() {
    let rig = Rig::route53().await;
    let mut first = rig.controller("adopt");
    first.tick(&[]).await;
    // What the controller saves before writing 100 -> 75, and then it dies: the write never
    // went out.
    let now = rig.clock.now();
    let mark = |i: &mut failoverd::intent::Intents| {
        let a = i.applied[EAST].clone();
        i.applied.insert(
            EAST.to_owned(),
            a.writing(Share::FULL, Share::try_new(75).expect("75"), now),
        );
    };
    first.store.update(now, mark).await.expect("saved");
    drop(first);
    let mut second = rig.controller("adopt");
    let s = second.tick(&[]).await;
    assert!(
        second.journaled().0.is_empty(),
        "not written: still its own"
    );
    assert!(!alarmed(&s));
    drop(second);

    // Again, and this time the write went out before the crash.
    let now = rig.clock.now();
    let mut third = rig.controller("adopt");
    third.tick(&[]).await;
    third.store.update(now, mark).await.expect("saved");
    drop(third);
    rig.set_by_hand(EAST, 75).await;
    let mut fourth = rig.controller("adopt");
    let s = fourth.tick(&[]).await;
    assert!(fourth.journaled().0.is_empty(), "written: its own too");
    assert!(!alarmed(&s));
}
