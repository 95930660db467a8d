//! Probe engine throughput and cost: probes per second and CPU-seconds per 1,000 probes, for
//! HTTP and HTTPS, against 1,000 loopback targets (one listener each).
//!
//! `cargo bench --bench probe` runs the full measurement (release build). Run without `--bench`
//! (as `cargo test --all-targets` does) it makes a small smoke run, so the benchmark cannot rot.
//!
//! The prober runs alone on one thread (a current-thread runtime), so that thread's CPU time is
//! the prober's cost; the servers run on another runtime. Every probe opens a fresh TCP (and TLS)
//! connection, as failoverd does by default.
//!
//! HTTPS is measured twice, because a resumed TLS 1.3 handshake skips the certificate chain
//! check: with full handshakes only (the prober's session cache off), and with the servers
//! offering session tickets and the prober's cache large enough to keep one for every target.
//! Each line says how many handshakes the servers saw resumed. failoverd's own cache is rustls's
//! default (256 sessions, eight per server name: 32 names), so a controller probing more than
//! about 32 HTTPS hosts makes mostly full handshakes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
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
    /// Full and resumed handshakes during the measured rounds.
    full: usize,
    resumed: usize,
}

/// Full and resumed TLS handshakes the servers have seen so far.
type Handshakes<'a> = &'a dyn Fn() -> (usize, usize);

fn measure(
    targets: Vec<Target>,
    rounds: u64,
    concurrency: usize,
    handshakes: Handshakes<'_>,
) -> Figures {
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
        let (full0, resumed0) = handshakes();
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
        let (full, resumed) = handshakes();
        Figures {
            probes,
            wall,
            cpu,
            failed,
            full: full - full0,
            resumed: resumed - resumed0,
        }
    })
}

/// `targets` sharing one TLS client config whose session cache holds `sessions` sessions
/// (eight per server name), or none: with none, every handshake is full.
fn with_session_cache(mut targets: Vec<Target>, sessions: usize) -> Vec<Target> {
    let Some(tls) = targets.iter().find_map(|t| t.tls.clone()) else {
        return targets;
    };
    let mut config = rustls::ClientConfig::clone(&tls);
    config.resumption = if sessions == 0 {
        rustls::client::Resumption::disabled()
    } else {
        rustls::client::Resumption::in_memory_sessions(sessions)
    };
    let config = Arc::new(config);
    for t in &mut targets {
        t.tls = Some(Arc::clone(&config));
    }
    targets
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
    // Stateless session tickets, as load balancers issue them, so any number of targets can
    // resume (the default server-side session store holds 256).
    let mut server = rustls::ServerConfig::clone(&pki.server);
    server.ticketer = rustls::crypto::ring::Ticketer::new().expect("ticketer");
    let server = Arc::new(server);
    let (plain, tls) = servers.block_on(async {
        let mut plain = Vec::new();
        let mut tls = Vec::new();
        for _ in 0..n_targets {
            plain.push(support::serve(None).await);
            tls.push(support::serve(Some(Arc::clone(&server))).await);
        }
        (plain, tls)
    });
    let http_targets: String = plain
        .iter()
        .map(|s| format!("[[regions.probes]]\nurl = \"http://{}/ok\"\n", s.addr))
        .collect();
    // A server name per target, as distinct load balancers have: the prober keeps sessions
    // by name.
    let https_targets: String = tls
        .iter()
        .enumerate()
        .map(|(i, s)| format!("[[regions.probes]]\nurl = \"https://{}/ok\"\nhost = \"t{i}.failoverd.test\"\nca_file = \"{}\"\n", s.addr, ca.display()))
        .collect();
    let handshakes = || {
        tls.iter().fold((0, 0), |(f, r), s| {
            (
                f + s.in_flight.full.load(Ordering::SeqCst),
                r + s.in_flight.resumed.load(Ordering::SeqCst),
            )
        })
    };

    println!(
        "probe benchmark: {n_targets} loopback targets, {rounds} rounds, concurrency {concurrency}, fresh connection per probe{}",
        if full {
            ""
        } else {
            " (smoke run; use `cargo bench --bench probe`)"
        }
    );
    let runs = [
        ("HTTP", support::targets(&http_targets)),
        (
            "HTTPS, full handshakes",
            with_session_cache(support::targets(&https_targets), 0),
        ),
        (
            "HTTPS, resumed handshakes",
            with_session_cache(support::targets(&https_targets), 8 * n_targets),
        ),
    ];
    for (name, targets) in runs {
        let f = measure(targets, rounds, concurrency, &handshakes);
        assert_eq!(f.failed, 0, "{name}: {} probes failed", f.failed);
        let rate = f.probes as f64 / f.wall.as_secs_f64();
        let cpu = f.cpu.map_or_else(
            || "n/a".to_owned(),
            |c| format!("{:.3}", c.as_secs_f64() / (f.probes as f64 / 1000.0)),
        );
        let kinds = if f.full + f.resumed == 0 {
            String::new()
        } else {
            format!(
                "  ({} full, {} resumed handshakes: {:.0}% resumed)",
                f.full,
                f.resumed,
                100.0 * f.resumed as f64 / (f.full + f.resumed) as f64
            )
        };
        println!(
            "{name:<26}  {:>6} probes in {:>6.2} s  {:>8.0} probes/s  {cpu} CPU-s per 1,000 probes (prober thread){kinds}",
            f.probes,
            f.wall.as_secs_f64(),
            rate
        );
    }
}
