//! Names the commit a binary was built from, for `failoverd --version`:
//! `failoverd 0.1.0 (abc1234 2026-12-04)`.
//!
//! The commit and its date come from git when the source is a checkout; otherwise from
//! `FAILOVERD_GIT_COMMIT` (the Dockerfile takes it as a build argument, because the image's build
//! context has no `.git`); otherwise the version says `unknown`. The script runs again only when
//! HEAD moves or that variable changes, not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Names the commit where git cannot, e.g. `abc1234 2026-12-04`.
const COMMIT_VAR: &str = "FAILOVERD_GIT_COMMIT";

/// What the version says about the source, and the files whose change makes that stale.
#[derive(Debug)]
pub struct Source {
    /// `abc1234 2026-12-04`, the fallback's text, or `unknown`.
    pub commit: String,
    /// Watched for changes: the build script runs again when one changes or is gone.
    pub watch: Vec<PathBuf>,
}

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let source = describe(&dir, std::env::var(COMMIT_VAR).ok());
    println!("cargo:rerun-if-env-changed={COMMIT_VAR}");
    for path in &source.watch {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!(
        "cargo:rustc-env=FAILOVERD_VERSION={version} ({})",
        source.commit
    );
}

/// The commit `dir` is built from, and what to watch to notice when that changes.
pub fn describe(dir: &Path, fallback: Option<String>) -> Source {
    let log = [
        "log",
        "-1",
        "--no-show-signature",
        "--date=short",
        "--format=%h %cd",
    ];
    if let Some(commit) = git(dir, &log) {
        let mut watch: Vec<PathBuf> = git_path(dir, "HEAD").into_iter().collect();
        if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
            // A commit rewrites the branch's ref file. A packed ref has no file until the next
            // commit writes one into its directory; the nearest directory that exists changes
            // then (git needs `refs/` to exist, so the walk ends there at the latest).
            let reference = git_path(dir, &branch);
            watch
                .extend(reference.and_then(|r| r.ancestors().find(|p| p.exists()).map(Into::into)));
        }
        if watch.iter().all(|p| p.exists()) && !watch.is_empty() {
            return Source { commit, watch };
        }
    }
    let commit = fallback
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    // By absolute path: a build of a copy of this tree elsewhere that shares the target directory
    // (tests/docker_context.rs) leaves a path that is then gone, so the next build here runs this
    // script again rather than keep the copy's `unknown`.
    Source {
        commit,
        watch: vec![dir.join("build.rs")],
    }
}

/// `git ARGS` in `dir`: its trimmed output, if it succeeds and says something.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Where git keeps `name` (`HEAD`, `refs/heads/main`) for `dir`, worktrees included.
fn git_path(dir: &Path, name: &str) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p))
}
