//! Probe engine throughput and cost: probes per second and CPU-seconds per 1,000 probes, for
//! HTTP and HTTPS, against 1,000 loopback targets (one listener each).
//!
//! `cargo bench --bench probe` runs the full measurement (release build). Run without `--bench`
//! (as `cargo test --all-targets` does) it makes a small smoke run, so the benchmark cannot rot.
//!
//! The prober runs alone on one thread (a current-thread runtime), so that thread's CPU time is
//! the prober's cost; the servers run on another runtime. Every probe opens a fresh TCP (and TLS)
//! connection, as failoverd does by default.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use failoverd::clock::Clock;
use failoverd::health::ProbeStatus;
use failoverd::probe::{HttpProber, RegionProbes, Target, round};
use tokio::sync::Semaphore;

/// CPU time (user + system) of the calling thread, from /proc (Linux).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

struct Figures {
    probes: usize,
    wall: Duration,
    cpu: Option<Duration>,
    failed: usize,
}

fn measure(targets: Vec<Target>, rounds: u64, concurrency: usize) -> Figures {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("prober runtime");
    runtime.block_on(async move {
        let region = RegionProbes {
            service: None,
            load_query: None,
            validations: Vec::new(),
            region: "bench".into(),
            targets: targets.into_iter().map(Arc::new).collect(),
            quorum: None,
        };
        let prober = Arc::new(HttpProber::new());
        let limit = Arc::new(Semaphore::new(concurrency));
        let clock = Clock::new();
        // One warm-up round (TLS config, first connections).
        let _warm = round(&region, 0, &prober, &limit, &clock).await;
        let cpu0 = thread_cpu();
        let start = tokio::time::Instant::now();
        let mut probes = 0;
        let mut failed = 0;
        for n in 0..rounds {
            let obs = round(&region, n, &prober, &limit, &clock)
                .await
                .expect("targets due");
            probes += obs.outcomes.len();
            failed += obs
                .outcomes
                .iter()
                .filter(|(_, o)| o.status != ProbeStatus::Pass)
                .count();
        }
        let wall = start.elapsed();
        let cpu = thread_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
        Figures {
            probes,
            wall,
            cpu,
            failed,
        }
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n_targets, rounds) = if full { (1000, 5) } else { (20, 1) };
    let concurrency = 64;

    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let pki = support::pki(Duration::from_secs(90 * 86_400));
    let (_dir, ca) = pki.ca_file();
    let (plain, tls) = servers.block_on(async {
        let mut plain = Vec::new();
        let mut tls = Vec::new();
        for _ in 0..n_targets {
            plain.push(support::serve(None).await.addr);
            tls.push(support::serve(Some(Arc::clone(&pki.server))).await.addr);
        }
        (plain, tls)
    });
    let http_targets: String = plain
        .iter()
        .map(|a| format!("[[regions.probes]]\nurl = \"http://{a}/ok\"\n"))
        .collect();
    let https_targets: String = tls
        .iter()
        .map(|a| format!("[[regions.probes]]\nurl = \"https://{a}/ok\"\nhost = \"localhost\"\nca_file = \"{}\"\n", ca.display()))
        .collect();

    println!(
        "probe benchmark: {n_targets} loopback targets, {rounds} rounds, concurrency {concurrency}, fresh connection per probe{}",
        if full {
            ""
        } else {
            " (smoke run; use `cargo bench --bench probe`)"
        }
    );
    for (name, toml) in [("HTTP", http_targets), ("HTTPS", https_targets)] {
        let targets = support::targets(&toml);
        let f = measure(targets, rounds, concurrency);
        assert_eq!(f.failed, 0, "{name}: {} probes failed", f.failed);
        let rate = f.probes as f64 / f.wall.as_secs_f64();
        let cpu = f.cpu.map_or_else(
            || "n/a".to_owned(),
            |c| format!("{:.3}", c.as_secs_f64() / (f.probes as f64 / 1000.0)),
        );
        println!(
            "{name:<5}  {:>6} probes in {:>6.2} s  {:>8.0} probes/s  {cpu} CPU-s per 1,000 probes (prober thread)",
            f.probes,
            f.wall.as_secs_f64(),
            rate
        );
    }
}
