//! Random trouble on the probe path, for soaks: a fraction of probes lost, and latency that
//! varies from probe to probe. Every draw is a hash of the seed, the target and the virtual
//! time of the probe, so a run is the same for the same seed whatever order the probes of a
//! round happen to run in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latency added to every probe's answer: log-normal, given by its median and its 99th
/// percentile (`{ median = "20ms", p99 = "200ms" }`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Jitter {
    /// Half the probes wait less than this.
    #[serde(with = "humantime_serde")]
    pub median: Duration,
    /// One probe in a hundred waits longer than this.
    #[serde(with = "humantime_serde")]
    pub p99: Duration,
}

/// The trouble a soak puts on the probe path.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Noise {
    /// Fraction of probes lost (the connection resets), 0 to 1.
    pub loss: f64,
    /// Latency added to each answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Picks the run: the same seed, the same probes lost and delayed.
    pub seed: u64,
}

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // To a tenth of a percent: 0.07 is "7%", not "7.000000000000001%".
        write!(f, "{}% of probes lost", (self.loss * 1000.0).round() / 10.0)?;
        if let Some(j) = self.jitter {
            write!(
                f,
                ", latency added log-normal (median {}, p99 {})",
                humantime::format_duration(j.median),
                humantime::format_duration(j.p99)
            )?;
        }
        write!(f, ", seed {}", self.seed)
    }
}

/// What the noise does to one probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    /// The probe is lost.
    Lost,
    /// The answer comes this much later.
    Delayed(Duration),
}

/// z of the standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

impl Noise {
    /// What happens to a probe of `url` sent `at` (virtual time since the start).
    pub fn draw(&self, url: &str, at: Duration) -> Draw {
        self.draw_try(url, at, 0)
    }

    /// What happens to try number `attempt` (0 first) of a probe of `url` sent `at`: a retry
    /// sent at the same instant draws its own loss and latency, independent of the first's.
    pub fn draw_try(&self, url: &str, at: Duration, attempt: u32) -> Draw {
        let key = fnv1a(url.as_bytes())
            ^ self.seed.rotate_left(17)
            ^ (at.as_nanos() as u64)
            ^ u64::from(attempt).wrapping_mul(0xd6e8_feb8_6659_fd93);
        let mut state = key;
        let mut next = || unit(splitmix64(&mut state));
        if next() < self.loss {
            return Draw::Lost;
        }
        let Some(j) = self.jitter else {
            return Draw::Delayed(Duration::ZERO);
        };
        let median = j.median.as_secs_f64();
        let p99 = j.p99.as_secs_f64().max(median);
        if median <= 0.0 {
            return Draw::Delayed(Duration::ZERO);
        }
        let sigma = (p99 / median).ln() / Z99;
        let z = inverse_normal(next().clamp(1e-12, 1.0 - 1e-12));
        let secs = median * (sigma * z).exp();
        Draw::Delayed(Duration::try_from_secs_f64(secs.min(3600.0)).unwrap_or(Duration::ZERO))
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) from 53 random bits.
pub(crate) fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The standard normal's quantile at `p` (Acklam's rational approximation, relative error
/// under 1.2e-9).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_shows_the_noise_as_written() {
        let noise = Noise {
            loss: 0.07,
            jitter: Some(Jitter {
                median: Duration::from_millis(20),
                p99: Duration::from_millis(300),
            }),
            seed: 9,
        };
        assert_eq!(
            noise.to_string(),
            "7% of probes lost, latency added log-normal (median 20ms, p99 300ms), seed 9"
        );
        assert_eq!(
            serde_json::to_value(noise).expect("json"),
            serde_json::json!({
                "loss": 0.07,
                "jitter": { "median": "20ms", "p99": "300ms" },
                "seed": 9
            })
        );
        let lossy = Noise {
            loss: 0.025,
            jitter: None,
            seed: 0,
        };
        assert_eq!(lossy.to_string(), "2.5% of probes lost, seed 0");
        assert_eq!(
            serde_json::to_value(lossy).expect("json"),
            serde_json::json!({ "loss": 0.025, "seed": 0 })
        );
    }

    #[test]
    fn a_retry_at_the_same_instant_draws_its_own_loss() {
        let noise = Noise {
            loss: 0.02,
            jitter: None,
            seed: 3,
        };
        let at = |i: u64| Duration::from_millis(i * 2_000);
        let (mut first, mut both) = (0, 0);
        for i in 0..200_000u64 {
            if noise.draw("http://a/healthz", at(i)) == Draw::Lost {
                first += 1;
                if noise.draw_try("http://a/healthz", at(i), 1) == Draw::Lost {
                    both += 1;
                }
            }
        }
        // About 4000 first tries lost, and of those about 2% (80) lost again: independent.
        assert!((3_600..4_400).contains(&first), "{first}");
        assert!((40..130).contains(&both), "{both} of {first}");
        assert_eq!(
            noise.draw_try("http://a/healthz", at(9), 0),
            noise.draw("http://a/healthz", at(9))
        );
    }

    #[test]
    fn the_quantile_function_matches_known_points() {
        for (p, z) in [(0.5, 0.0), (0.99, Z99), (0.01, -Z99), (0.8413, 0.9998)] {
            assert!(
                (inverse_normal(p) - z).abs() < 1e-3,
                "{p}: {}",
                inverse_normal(p)
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_and_the_rates_are_the_ones_asked_for() {
        let noise = Noise {
            loss: 0.02,
            jitter: Some(Jitter {
                median: Duration::from_millis(20),
                p99: Duration::from_millis(200),
            }),
            seed: 7,
        };
        let draws: Vec<Draw> = (0..100_000u64)
            .map(|i| noise.draw("http://a/healthz", Duration::from_millis(i * 2_000)))
            .collect();
        let again: Vec<Draw> = (0..100_000u64)
            .map(|i| noise.draw("http://a/healthz", Duration::from_millis(i * 2_000)))
            .collect();
        assert_eq!(draws, again);
        let lost = draws.iter().filter(|d| **d == Draw::Lost).count() as f64 / 1e5;
        assert!((0.018..0.022).contains(&lost), "{lost}");
        let mut delays: Vec<Duration> = draws
            .iter()
            .filter_map(|d| match d {
                Draw::Delayed(x) => Some(*x),
                Draw::Lost => None,
            })
            .collect();
        delays.sort();
        let at = |q: f64| delays[(q * delays.len() as f64) as usize].as_secs_f64();
        assert!((0.018..0.022).contains(&at(0.5)), "median {}", at(0.5));
        assert!((0.17..0.23).contains(&at(0.99)), "p99 {}", at(0.99));
        let other = Noise { seed: 8, ..noise };
        assert_ne!(
            draws[..1000].to_vec(),
            (0..1000u64)
                .map(|i| other.draw("http://a/healthz", Duration::from_millis(i * 2_000)))
                .collect::<Vec<_>>()
        );
    }
}
