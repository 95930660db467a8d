//! `[[drills]]`: every field that can be wrong is named with what is wrong.

use super::*;

/// The errors of a valid drill with `extra` (one `key = value` line) set or replacing a field.
fn with_drill(extra: &str) -> Vec<String> {
    let key = extra.split('=').next().unwrap_or_default().trim();
    let fields: String = [
        "name = \"a-monthly\"",
        "region = \"a\"",
        "schedule = \"0 10 * * TUE#1\"",
        "time_zone = \"Europe/Berlin\"",
    ]
    .iter()
    .filter(|f| f.split('=').next().unwrap_or_default().trim() != key)
    .map(|f| format!("{f}\n"))
    .collect();
    load_errors(&format!("{MINIMAL}\n[[drills]]\n{fields}{extra}"))
}

#[test]
fn a_drill_with_a_cron_schedule_in_its_time_zone_reads() {
    assert_eq!(with_drill(""), Vec::<String>::new());
    let c = parse(&format!(
        "{MINIMAL}\n[[drills]]\nname = \"a-monthly\"\nregion = \"a\"\nschedule = \"0 10 * * TUE#1\"\n"
    ));
    let d = &c.drills[0];
    assert_eq!(d.time_zone, "UTC");
    assert_eq!(d.hold, Duration::from_secs(1800));
    assert_eq!(d.objective, Duration::from_secs(300));
}

#[test]
fn every_wrong_drill_field_is_named() {
    let cases = [
        (
            "schedule = \"every tuesday\"",
            "drills[0].schedule: \"every tuesday\" is not a cron expression",
        ),
        (
            "time_zone = \"Mars/Olympus\"",
            "drills[0].time_zone: \"Mars/Olympus\" is not an IANA time zone",
        ),
        (
            "blocked_dates = [\"2026-13-01\"]",
            "drills[0].blocked_dates[0]: \"2026-13-01\" is not a date; write YYYY-MM-DD",
        ),
        (
            "blocked_windows = [{ from = \"25:00\" }]",
            "drills[0].blocked_windows[0].from: \"25:00\" is not a time",
        ),
        (
            "blocked_windows = [{ days = [\"funday\"] }]",
            "drills[0].blocked_windows[0].days[0]: \"funday\" is not a day",
        ),
        ("hold = \"0s\"", "drills[0].hold"),
        (
            "ring = 1",
            "drills[0].region: give exactly one of region and ring",
        ),
        (
            "aborts = [{ name = \"e\", query = \"x\", max = 1.0 }]",
            "drills[0].aborts[0].query: needs probe.prometheus_url",
        ),
    ];
    for (extra, expected) in cases {
        let errors = with_drill(&format!("{extra}\n")).join("\n");
        assert!(
            errors.contains(expected),
            "{extra}: expected {expected:?} in\n{errors}"
        );
    }
    // The same schedule and time zone, but the first line differs.
    let text = format!(
        "{MINIMAL}\n[[drills]]\nname = \"Bad Name\"\nregion = \"z\"\nschedule = \"0 10 * * *\"\n"
    );
    let errors = load_errors(&text).join("\n");
    assert!(
        errors.contains("drills[0].name: \"Bad Name\" is not a drill name"),
        "{errors}"
    );
    assert!(
        errors.contains("drills[0].region: \"z\" is not a configured region"),
        "{errors}"
    );
}

#[test]
fn a_drill_needs_a_survivor() {
    let text = format!(
        "{MINIMAL}\n[[drills]]\nname = \"everything\"\nring = 1\nschedule = \"0 10 * * *\"\n"
    );
    let errors = load_errors(&text).join("\n");
    assert!(
        errors.contains("drills[0].ring: leaves no region to take the traffic"),
        "{errors}"
    );
}

#[test]
fn schedules_a_drill_cannot_keep_are_refused() {
    let errors = with_drill("schedule = \"*/30 * * * * *\"\n").join("\n");
    assert!(
        errors.contains("give its seconds field one number (a drill runs at most once a minute)"),
        "{errors}"
    );
    let errors = with_drill("schedule = \"0 * * * *\"\n").join("\n");
    assert!(
        errors.is_empty(),
        "hourly with a 30m hold and 5m objectives fits: {errors}"
    );
    let errors = with_drill("schedule = \"*/15 * * * *\"\n").join("\n");
    assert!(
        errors.contains("runs 15m apart, sooner than one drill lasts (hold + objectives = 40m)"),
        "{errors}"
    );
    let text = format!(
        "{MINIMAL}\n[[drills]]\nname = \"adhoc-a\"\nregion = \"a\"\nschedule = \"0 10 * * *\"\n"
    );
    let errors = load_errors(&text).join("\n");
    assert!(
        errors.contains("drills[0].name: \"adhoc-a\" starts with adhoc-"),
        "{errors}"
    );
}

#[test]
fn every_schedule_mistake_is_reported_at_once() {
    let text = format!(
        "{MINIMAL}\n[[drills]]\nname = \"x\"\nregion = \"a\"\nschedule = \"0 25 * * *\"\ntime_zone = \"Europe/Berln\"\nblocked_dates = [\"2026-02-30\"]\nblocked_windows = [{{ days = [\"tue\", \"someday\"], to = \"25:00\" }}]\n"
    );
    let errors = load_errors(&text);
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "drills[0].schedule",
            "drills[0].time_zone",
            "drills[0].blocked_dates[0]",
            "drills[0].blocked_windows[0].days[1]",
            "drills[0].blocked_windows[0].to"
        ],
        "{errors:#?}"
    );
}

#[test]
fn both_day_fields_set_is_refused_with_the_way_to_say_it() {
    let errors = with_drill("schedule = \"0 10 1-7 * TUE\"\n").join("\n");
    assert!(
        errors.contains(
            "sets both day-of-month (1-7) and day-of-week (TUE): cron runs it on either, not both; for \"the first Tuesday\" write \"0 10 * * TUE#1\""
        ),
        "{errors}"
    );
}
