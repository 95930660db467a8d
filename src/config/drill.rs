//! `[[drills]]`: scheduled DR drills.
//!
//! A drill withdraws a region's (or a ring's) traffic through the same stepped, headroom-checked
//! path as a real failure, holds it away, restores it with the normal ramp and reports the times
//! it measured against the recovery-time objective. Each drill here has a cron schedule read in
//! its own time zone, blocked dates and windows, and the Prometheus queries that abort it.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp as Instant, Zoned};
use serde::{Deserialize, Serialize};

use crate::bounds::{Bounds, hours, secs};
use crate::clock::Timestamp;

/// Allowed `hold`: a second (tests and demos) to a day.
pub const HOLD_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), hours(24));
/// Allowed objectives: a second to a day.
pub const OBJECTIVE_BOUNDS: Bounds<Duration> = Bounds::new(secs(1), hours(24));
/// Allowed `start_within`: how late after its time a drill may still start (a controller that
/// was down or not leading at the time).
pub const START_WITHIN_BOUNDS: Bounds<Duration> = Bounds::new(secs(10), hours(6));
/// Default hold.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30 * 60);
/// Default recovery-time objective.
pub const DEFAULT_OBJECTIVE: Duration = Duration::from_secs(5 * 60);
/// Default `start_within`.
pub const DEFAULT_START_WITHIN: Duration = Duration::from_secs(15 * 60);
/// An evacuation or a restore that takes this many times its objective is given up: the
/// drill ends (restoring, after an evacuation) and fails.
pub const GIVE_UP_FACTOR: u32 = 3;

/// One scheduled drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// Name, unique: drill ids, `failoverd drill skip` and alarms use it (`a-z`, `0-9`, `-`).
    pub name: String,
    /// The service it drills, in a file with `[[services]]` (required there).
    #[serde(default)]
    pub service: Option<String>,
    /// The region it evacuates (or `ring`).
    #[serde(default)]
    pub region: Option<String>,
    /// The ring whose regions it evacuates together (or `region`).
    #[serde(default)]
    pub ring: Option<u32>,
    /// Cron expression, five fields (minute hour day-of-month month day-of-week) or six with
    /// seconds first; `TUE#1` is the first Tuesday, `L` the last day
    /// (`"0 10 * * TUE#1"`: every first Tuesday at 10:00).
    pub schedule: String,
    /// IANA time zone the schedule, blocked dates and windows are read in (`Europe/Berlin`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// How long the region is held evacuated.
    #[serde(default = "default_hold", with = "humantime_serde")]
    pub hold: Duration,
    /// Recovery-time objective: the evacuation must be complete within it.
    #[serde(default = "default_objective", with = "humantime_serde")]
    pub objective: Duration,
    /// The restore's objective; default `objective`.
    #[serde(default, with = "humantime_serde")]
    pub restore_objective: Option<Duration>,
    /// A drill whose time passed while no controller could start it (all down, or none
    /// leading, no verdicts yet after a restart) still starts this long after; later, that run
    /// does not happen and the next one is due as scheduled.
    #[serde(default = "default_start_within", with = "humantime_serde")]
    pub start_within: Duration,
    /// Dates (`YYYY-MM-DD`, in `time_zone`) with no drill: release days, holidays.
    #[serde(default)]
    pub blocked_dates: Vec<String>,
    /// Windows with no drill, in `time_zone`.
    #[serde(default)]
    pub blocked_windows: Vec<WindowConfig>,
    /// Prometheus queries read during the drill: reported, and aborting it when they cross
    /// their threshold.
    #[serde(default)]
    pub aborts: Vec<AbortConfig>,
}

/// Times of the week with no drill: `days` (every day when empty), from `from` to `to` (the
/// whole day when both are absent; `to` before `from` crosses midnight).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Days it applies to: `mon` ... `sun`.
    #[serde(default)]
    pub days: Vec<String>,
    /// Start, `HH:MM`.
    #[serde(default)]
    pub from: Option<String>,
    /// End, `HH:MM` (not included).
    #[serde(default)]
    pub to: Option<String>,
}

/// A Prometheus instant query read for the survivors during a drill: its peak, low and last
/// figures go in the report, and it aborts the drill when it crosses `max` or `min` (with
/// neither, it is only reported: an error ratio, failed requests per second).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortConfig {
    /// Name shown in the report and the abort's reason.
    pub name: String,
    /// PromQL giving one value; `$region` is replaced by each survivor's name.
    pub query: String,
    /// Abort when the value goes over this.
    #[serde(default)]
    pub max: Option<f64>,
    /// Abort when the value goes under this.
    #[serde(default)]
    pub min: Option<f64>,
}

impl AbortConfig {
    /// The query asked for `region`.
    pub fn query_for(&self, region: &str) -> String {
        self.query.replace("$region", region)
    }

    /// The name a region's figure for it is kept under among the probe's query results.
    pub fn key(&self, drill: &str) -> String {
        format!("drill:{drill}:{}", self.name)
    }

    /// Why `value` aborts the drill, if it does.
    pub fn crossed(&self, value: f64) -> Option<String> {
        if let Some(max) = self.max.filter(|&m| value > m) {
            return Some(format!("{} is {value} (over {max})", self.name));
        }
        let min = self.min.filter(|&m| value < m)?;
        Some(format!("{} is {value} (under {min})", self.name))
    }
}

fn utc() -> String {
    "UTC".to_owned()
}
const fn default_hold() -> Duration {
    DEFAULT_HOLD
}
const fn default_objective() -> Duration {
    DEFAULT_OBJECTIVE
}
const fn default_start_within() -> Duration {
    DEFAULT_START_WITHIN
}

/// A drill's schedule, read: when it fires and when it may not.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: TimeZone,
    blocked_dates: Vec<Date>,
    windows: Vec<Window>,
}

#[derive(Debug, Clone)]
struct Window {
    days: Vec<Weekday>,
    from: Time,
    to: Option<Time>,
}

impl Window {
    fn covers(&self, day: Weekday, t: Time) -> bool {
        let on = |d: Weekday| self.days.is_empty() || self.days.contains(&d);
        match self.to {
            None => on(day) && t >= self.from,
            Some(to) if to > self.from => on(day) && t >= self.from && t < to,
            // Crosses midnight: the evening belongs to `day`, the morning to the day before.
            Some(to) => (on(day) && t >= self.from) || (on(day.previous()) && t < to),
        }
    }
}

/// Reads `HH:MM`.
fn time(s: &str) -> Result<Time, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not a time; write HH:MM, like \"18:00\""))?;
    let n = |x: &str| x.parse::<i8>().ok();
    match (n(h), n(m)) {
        (Some(h), Some(m)) if (0..24).contains(&h) && (0..60).contains(&m) => {
            Ok(Time::constant(h, m, 0, 0))
        }
        _ => Err(format!("{s:?} is not a time; write HH:MM, like \"18:00\"")),
    }
}

fn weekday(s: &str) -> Result<Weekday, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => {
            return Err(format!(
                "{s:?} is not a day; write mon, tue, wed, thu, fri, sat or sun"
            ));
        }
    })
}

fn instant(t: Timestamp) -> Instant {
    Instant::from_millisecond(i64::try_from(t.0).unwrap_or(i64::MAX)).unwrap_or(Instant::MAX)
}

fn timestamp(z: &Zoned) -> Timestamp {
    Timestamp(u64::try_from(z.timestamp().as_millisecond()).unwrap_or(0))
}

/// Reads `c.schedule`: five fields, or six with one second first.
fn cron(c: &DrillConfig) -> Result<Cron, (String, String)> {
    let seconds = c.schedule.split_whitespace().count() == 6;
    // Drill ids carry the minute: one run a minute at most.
    if seconds
        && !c
            .schedule
            .split_whitespace()
            .next()
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err((
            "schedule".to_owned(),
            format!(
                "{:?}: give its seconds field one number (a drill runs at most once a minute), or leave it out",
                c.schedule
            ),
        ));
    }
    // Cron's old trap: with both day fields set, a run matches either (the 1st to the 7th *and*
    // every Tuesday), never what "the first Tuesday" means.
    let fields: Vec<&str> = c.schedule.split_whitespace().collect();
    let days = if seconds { (3, 5) } else { (2, 4) };
    if let (Some(dom), Some(dow)) = (fields.get(days.0), fields.get(days.1))
        && !matches!(*dom, "*" | "?")
        && !matches!(*dow, "*" | "?")
    {
        return Err((
            "schedule".to_owned(),
            format!(
                "{:?} sets both day-of-month ({dom}) and day-of-week ({dow}): cron runs it on either, not both; for \"the first Tuesday\" write \"{} * * TUE#1\"",
                c.schedule,
                fields[..days.0].join(" ")
            ),
        ));
    }
    let parser = CronParser::builder()
        .seconds(if seconds {
            Seconds::Required
        } else {
            Seconds::Disallowed
        })
        .build();
    parser.parse(&c.schedule).map_err(|e| {
        (
            "schedule".to_owned(),
            format!(
                "{:?} is not a cron expression ({e}); write five fields, minute hour day-of-month month day-of-week, like \"0 10 * * TUE#1\" (every first Tuesday at 10:00)",
                c.schedule
            ),
        )
    })
}

/// Reads one blocked window; its errors name the field within it (`from`, `days[1]`).
fn window(w: &WindowConfig) -> Result<Window, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut days = Vec::new();
    for (j, d) in w.days.iter().enumerate() {
        match weekday(d) {
            Ok(day) => days.push(day),
            Err(e) => problems.push((format!("days[{j}]"), e)),
        }
    }
    let from = match w.from.as_deref().map(time) {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            problems.push(("from".to_owned(), e));
            Time::midnight()
        }
        None => Time::midnight(),
    };
    let to = match w.to.as_deref().map(time) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            problems.push(("to".to_owned(), e));
            None
        }
        None => None,
    };
    if problems.is_empty() && to == Some(from) {
        problems.push((
            "to".to_owned(),
            "equals from: the window would be empty".to_owned(),
        ));
    }
    if problems.is_empty() {
        Ok(Window { days, from, to })
    } else {
        Err(problems)
    }
}

impl Schedule {
    /// Reads `c`'s schedule; an error names the field (`schedule`, `time_zone`,
    /// `blocked_dates[1]`, `blocked_windows[0].from`) and says what is wrong.
    pub fn new(c: &DrillConfig) -> Result<Self, (String, String)> {
        let (schedule, mut problems) = Self::read(c);
        match schedule {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(problems.remove(0)),
        }
    }

    /// Everything wrong with `c`'s schedule, time zone, dates and windows, each part read on
    /// its own (so every mistake is reported at once).
    pub fn problems(c: &DrillConfig) -> Vec<(String, String)> {
        Self::read(c).1
    }

    fn read(c: &DrillConfig) -> (Option<Self>, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let cron = cron(c).map_err(|p| problems.push(p)).ok();
        let tz = TimeZone::get(&c.time_zone)
            .map_err(|_| {
                problems.push((
                    "time_zone".to_owned(),
                    format!(
                        "{:?} is not an IANA time zone; write one like \"Europe/Berlin\" or \"UTC\"",
                        c.time_zone
                    ),
                ));
            })
            .ok();
        let mut blocked_dates = Vec::new();
        for (i, d) in c.blocked_dates.iter().enumerate() {
            match d.parse::<Date>() {
                Ok(date) => blocked_dates.push(date),
                Err(_) => problems.push((
                    format!("blocked_dates[{i}]"),
                    format!("{d:?} is not a date; write YYYY-MM-DD"),
                )),
            }
        }
        let mut windows = Vec::new();
        for (i, w) in c.blocked_windows.iter().enumerate() {
            match window(w) {
                Ok(w) => windows.push(w),
                Err(found) => problems.extend(
                    found
                        .into_iter()
                        .map(|(f, m)| (format!("blocked_windows[{i}].{f}"), m)),
                ),
            }
        }
        let schedule = cron.zip(tz).map(|(cron, tz)| Self {
            cron,
            tz,
            blocked_dates,
            windows,
        });
        (schedule, problems)
    }

    /// The first time the schedule fires after `t` (blocked or not); None when it never does.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let z = instant(t).to_zoned(self.tz.clone());
        self.cron
            .find_next_occurrence(&z, false)
            .ok()
            .map(|z| timestamp(&z))
    }

    /// The latest time the schedule fired at or before `t`, if any.
    pub fn latest_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let z = instant(t).to_zoned(self.tz.clone());
        self.cron
            .find_previous_occurrence(&z, true)
            .ok()
            .map(|z| timestamp(&z))
    }

    /// Why no drill may start at `t`, if it is blocked.
    pub fn blocked(&self, t: Timestamp) -> Option<String> {
        let z = instant(t).to_zoned(self.tz.clone());
        if self.blocked_dates.contains(&z.date()) {
            return Some(format!("{} is a blocked date", z.date()));
        }
        let w = self
            .windows
            .iter()
            .find(|w| w.covers(z.weekday(), z.time()))?;
        let days = if w.days.is_empty() {
            "every day".to_owned()
        } else {
            w.days
                .iter()
                .map(|d| format!("{d:?}")[..3].to_owned())
                .collect::<Vec<_>>()
                .join(",")
        };
        let hm = |t: Time| format!("{:02}:{:02}", t.hour(), t.minute());
        let to = w.to.map_or_else(|| "24:00".to_owned(), hm);
        Some(format!(
            "{} falls in a blocked window ({days} {}-{to} {})",
            self.local(t),
            hm(w.from),
            self.tz.iana_name().unwrap_or("UTC")
        ))
    }

    /// `t` as the drill's local time, like `2026-12-01 10:00 Europe/Berlin`.
    pub fn local(&self, t: Timestamp) -> String {
        let z = instant(t).to_zoned(self.tz.clone());
        format!(
            "{} {:02}:{:02} {}",
            z.date(),
            z.hour(),
            z.minute(),
            self.tz.iana_name().unwrap_or("UTC")
        )
    }

    /// The shortest time between two of the schedule's next `n` runs after `from`.
    pub fn shortest_gap(&self, from: Timestamp, n: usize) -> Option<Duration> {
        let mut t = self.next_after(from)?;
        let mut shortest: Option<Duration> = None;
        for _ in 1..n {
            let Some(next) = self.next_after(t) else {
                break;
            };
            let gap = next.since(t);
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            t = next;
        }
        shortest
    }

    /// The schedule in words (`At 10:00 on the first Tuesday of the month`).
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}
