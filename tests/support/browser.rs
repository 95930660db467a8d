//! Headless chromium for the page tests: a screenshot of a URL, and how many of its pixels are
//! of given colours (a chart drawn is a chart whose colours are on screen).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// A channel's distance from a colour that still counts as it (anti-aliasing, colour profile).
pub const TOLERANCE: i32 = 12;

/// Debian's chromium (or `FAILOVERD_CHROMIUM`); fails the test, saying how to get it, if absent.
pub fn chromium() -> String {
    let chromium =
        std::env::var("FAILOVERD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test, which installs Debian's chromium, or set FAILOVERD_CHROMIUM"
    );
    chromium
}

/// A 1000x1400 screenshot of `url` into `dir`/shot.png (a self-signed certificate accepted).
pub async fn screenshot(url: &str, dir: &Path) -> PathBuf {
    let profile = tempfile::tempdir().expect("profile");
    let shot = dir.join("shot.png");
    let run = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--ignore-certificate-errors",
            "--force-color-profile=srgb",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("chromium took over 2 minutes")
        .expect("run chromium");
    assert!(
        shot.exists(),
        "no screenshot; chromium {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    shot
}

/// `#rrggbb` as channels.
pub fn rgb(hex: &str) -> [i32; 3] {
    let channel = |i: usize| i32::from_str_radix(&hex[i..i + 2], 16).expect("hex colour");
    [channel(1), channel(3), channel(5)]
}

/// How many pixels of `png` are within [`TOLERANCE`] of each of `colours`.
pub fn count(png: &Path, colours: &[[i32; 3]]) -> Vec<usize> {
    let file = std::fs::File::open(png).expect("open the screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("a screenshot in {other:?}"),
    };
    let mut counts = vec![0; colours.len()];
    for px in buf[..info.buffer_size()].chunks_exact(step) {
        for (n, c) in counts.iter_mut().zip(colours) {
            if px[..3]
                .iter()
                .zip(c)
                .all(|(p, c)| (i32::from(*p) - c).abs() <= TOLERANCE)
            {
                *n += 1;
            }
        }
    }
    counts
}
