//! build.rs, which names the commit in `failoverd --version`: from git in a checkout, from
//! `FAILOVERD_GIT_COMMIT` where there is no `.git` (the container image's build), and the files
//! it watches so that it runs again when HEAD moves, and only then.

use std::path::Path;
use std::process::Command;

#[allow(dead_code)] // its main() is the build script's, not this test's
#[path = "../build.rs"]
mod build_script;

use build_script::describe;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn without_git_the_commit_comes_from_the_variable_or_is_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = describe(dir.path(), Some("abc1234 2026-12-04\n".into()));
    assert_eq!(source.commit, "abc1234 2026-12-04");
    for unset in [None, Some(String::new()), Some("  ".into())] {
        assert_eq!(describe(dir.path(), unset).commit, "unknown");
    }
    // The build script itself, by absolute path: runs again once this copy is gone.
    assert_eq!(source.watch, vec![dir.path().join("build.rs")]);
}

#[test]
fn in_a_checkout_the_commit_is_heads_and_its_ref_is_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "trunk"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let head = git(repo, &["log", "-1", "--date=short", "--format=%h %cd"]);

    // git wins over the variable: a checkout knows better.
    let source = describe(repo, Some("abc1234 2026-12-04".into()));
    assert_eq!(source.commit, head);
    let git_dir = repo.join(".git");
    assert_eq!(
        source.watch,
        vec![git_dir.join("HEAD"), git_dir.join("refs/heads/trunk")]
    );

    // A packed ref has no file until the next commit writes one into refs/heads.
    git(repo, &["pack-refs", "--all"]);
    let packed = describe(repo, None);
    assert_eq!(packed.commit, head);
    assert_eq!(
        packed.watch,
        vec![git_dir.join("HEAD"), git_dir.join("refs/heads")]
    );

    git(repo, &["commit", "-q", "--allow-empty", "-m", "second"]);
    let next = describe(repo, None);
    assert_ne!(next.commit, head);
    assert!(git_dir.join("refs/heads/trunk").exists());

    // A detached HEAD is its own file.
    git(repo, &["checkout", "-q", "--detach"]);
    assert_eq!(describe(repo, None).watch, vec![git_dir.join("HEAD")]);
}

#[test]
fn the_repositorys_own_build_watches_files_that_exist() {
    // A watched path that does not exist makes cargo run the script on every build.
    let source = describe(Path::new(env!("CARGO_MANIFEST_DIR")), None);
    assert!(!source.watch.is_empty());
    for path in &source.watch {
        assert!(path.is_absolute() && path.exists(), "{}", path.display());
    }
}
