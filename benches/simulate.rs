//! How `failoverd simulate` scales with the number of regions: wall time and peak memory of a
//! 24 h scenario (one region down for an hour in the middle) at 3, 50 and 200 regions.
//!
//! `cargo bench --bench simulate` runs the full measurement (release build). Sizes given as
//! arguments replace the default ones, and an argument like `2h` shortens the scenario (at least
//! 2 h), to gauge a large size quickly: `cargo bench --bench simulate -- 200 2h`. Run without
//! `--bench` (as `cargo test --all-targets` does) it makes a small smoke run, so the benchmark
//! cannot rot.
//!
//! Each run is the real `failoverd::simulate::run` on a paused-clock current-thread runtime, as
//! the `simulate` command runs it. Peak memory is the process's VmHWM from /proc/self/status,
//! reset before each size through /proc/self/clear_refs (Linux).

use std::path::Path;
use std::time::Duration;

use failoverd::config::Config;
use failoverd::simulate::{Report, Scenario, run};

/// How many neighbours each region spills to.
const SPILL: usize = 3;
/// Every region's capacity and load: half full, so a down region's users fit on its
/// neighbours under the default 80% ceiling.
const CAPACITY_RPS: u32 = 1000;
const LOAD_RPS: u32 = 500;

fn name(i: usize) -> String {
    format!("r{i:03}")
}

/// A config of `n` regions on the simulated backend, each spilling to the next [`SPILL`]
/// regions (round the ring), at the default policy and probe settings. Probe URLs are
/// placeholders: the simulator points every probe at its own region.
fn config(n: usize) -> Config {
    let mut text = String::from(
        "[controller]\nid = \"bench\"\ncontrol_region = \"local\"\n\n[traffic]\nbackend = \"sim\"\n",
    );
    for i in 0..n {
        let spill: Vec<String> = (1..=SPILL.min(n - 1))
            .map(|k| format!("\"{}\"", name((i + k) % n)))
            .collect();
        text.push_str(&format!(
            "\n[[regions]]\nname = \"{}\"\ncapacity_rps = {CAPACITY_RPS}\nspill_to = [{}]\nprobes = [{{ url = \"http://127.0.0.1:9/healthz/deep\" }}]\n",
            name(i),
            spill.join(", ")
        ));
    }
    Config::from_toml(&text, Path::new("bench.toml")).expect("generated config is valid")
}

/// A scenario of `duration` in which the second region is down for an hour in the middle.
fn scenario(n: usize, duration: Duration, config: &Config) -> Scenario {
    let middle = duration / 2;
    let (down, up) = (
        middle - Duration::from_secs(1800),
        middle + Duration::from_secs(1800),
    );
    let loads: String = (0..n)
        .map(|i| format!("{} = {{ load_rps = {LOAD_RPS} }}\n", name(i)))
        .collect();
    let text = format!(
        "name = \"{n} regions, one down for an hour\"\nduration = \"{}s\"\n\n[regions]\n{loads}\n\
         [[events]]\naction = \"down\"\nat = \"{}s\"\nregion = \"{}\"\n\n\
         [[events]]\naction = \"recover\"\nat = \"{}s\"\nregion = \"{}\"\n",
        duration.as_secs(),
        down.as_secs(),
        name(1),
        up.as_secs(),
        name(1),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, text).expect("write scenario");
    Scenario::load(&path, config).expect("generated scenario is valid")
}

/// The process's peak resident set size so far, in KiB (VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current resident set size, so the next reading is this run's peak.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn simulate(config: &Config, scenario: &Scenario) -> (Report, Duration) {
    // As the `simulate` command builds it: timers only.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    // Read outside the runtime, so wall time (inside, the paused clock gives virtual time).
    let start = tokio::time::Instant::now();
    let report = runtime
        .block_on(run(config, scenario))
        .expect("the scenario runs");
    (report, start.elapsed())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let hours = args
        .iter()
        .find_map(|a| a.strip_suffix('h').and_then(|h| h.parse::<u64>().ok()))
        .unwrap_or(24)
        .max(2);
    let (sizes, duration) = match (full, sizes.is_empty()) {
        (true, true) => (vec![3, 50, 200], Duration::from_secs(hours * 3600)),
        (true, false) => (sizes, Duration::from_secs(hours * 3600)),
        (false, _) => (vec![3], Duration::from_secs(2 * 3600)),
    };
    println!(
        "simulate benchmark: {} h scenario, one region down for an hour in the middle, each region spilling to {SPILL} others{}",
        duration.as_secs() / 3600,
        if full {
            ""
        } else {
            " (smoke run; use `cargo bench --bench simulate`)"
        }
    );
    for n in sizes {
        let config = config(n);
        let scenario = scenario(n, duration, &config);
        let reset = reset_peak_rss();
        let (report, wall) = simulate(&config, &scenario);
        let fault = &report.faults[0];
        assert!(
            fault.first_move_s.is_some(),
            "{n} regions: the down region was never drained"
        );
        let rss = peak_rss_kib().map_or_else(
            || "n/a".to_owned(),
            |k| {
                format!(
                    "{:.1} MiB{}",
                    k as f64 / 1024.0,
                    if reset { "" } else { " (process peak)" }
                )
            },
        );
        println!(
            "{n:>4} regions  {:>8.2} s wall  peak RSS {rss}  ({} share changes, first move {:.0} s after the fault)",
            wall.as_secs_f64(),
            report.share_changes,
            fault.first_move_s.unwrap_or_default(),
        );
    }
}
