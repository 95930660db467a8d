//! The container image builds from what the Dockerfile's build stage copies, and from nothing
//! else.
//!
//! `docker build` sees only the files its `COPY` lines name (less `.dockerignore`). A target,
//! build script or `include_str!` file that Cargo needs and the image never gets breaks the image
//! and nothing else, so it goes unnoticed until someone builds one. This test lays out exactly the
//! build stage's file set in a scratch directory (outside any git repository, as in the image) and
//! runs the stage's own `cargo build` command there as a `cargo check`, offline and sharing this
//! repository's target directory: no container engine needed, and seconds once the target
//! directory is warm.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// What the build stage takes from the context and how it builds.
#[derive(Debug, PartialEq)]
struct BuildStage {
    /// The stage's `COPY`s from the build context, in order.
    copies: Vec<Copy>,
    /// Where the stage's `cargo build` runs, absolute in the image.
    workdir: PathBuf,
    /// The arguments after `cargo build`, up to the next shell operator.
    cargo_build: Vec<String>,
}

/// One `COPY` (or `ADD`) from the build context.
#[derive(Debug, PartialEq)]
struct Copy {
    /// Context paths.
    sources: Vec<String>,
    /// Absolute destination in the image.
    dest: PathBuf,
    /// Sources go into `dest` (it ends with `/`, or there are several) rather than become it.
    into_dir: bool,
}

/// The Dockerfile's logical lines: comments dropped, `\` continuations joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    if !pending.trim().is_empty() {
        out.push(pending);
    }
    out
}

/// The instruction's arguments, in shell form or JSON (exec) form.
fn words(args: &str) -> Vec<String> {
    if args.trim_start().starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("bad JSON form {args:?}: {e}"))
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

/// The stage whose `RUN` has `cargo build`: its context copies, workdir and cargo arguments.
fn build_stage(dockerfile: &str) -> BuildStage {
    // Each stage with its current WORKDIR.
    let mut stages: Vec<(PathBuf, BuildStage)> = Vec::new();
    for line in instructions(dockerfile) {
        let (instruction, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            let stage = BuildStage {
                copies: Vec::new(),
                workdir: PathBuf::from("/"),
                cargo_build: Vec::new(),
            };
            stages.push((PathBuf::from("/"), stage));
            continue;
        }
        let Some((workdir, stage)) = stages.last_mut() else {
            continue;
        };
        match instruction.as_str() {
            "WORKDIR" => *workdir = normalize(&workdir.join(args.trim())),
            "COPY" | "ADD" => {
                let words = words(args);
                if words.iter().any(|w| w.starts_with("--from")) {
                    continue; // from another stage or image, not from the context
                }
                let mut paths: Vec<String> =
                    words.into_iter().filter(|w| !w.starts_with("--")).collect();
                let dest = paths
                    .pop()
                    .unwrap_or_else(|| panic!("{line}: no destination"));
                stage.copies.push(Copy {
                    into_dir: dest.ends_with('/') || paths.len() > 1,
                    dest: normalize(&workdir.join(dest)),
                    sources: paths,
                });
            }
            "RUN" => {
                let words = words(args);
                if let Some(at) = words.windows(2).position(|w| w == ["cargo", "build"]) {
                    stage.cargo_build = words[at + 2..]
                        .iter()
                        .take_while(|w| !["&&", "||", ";", "|"].contains(&w.as_str()))
                        .cloned()
                        .collect();
                    stage.workdir = workdir.clone();
                }
            }
            _ => {}
        }
    }
    let mut builds: Vec<BuildStage> = stages
        .into_iter()
        .map(|(_, stage)| stage)
        .filter(|s| !s.cargo_build.is_empty())
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "expected one stage that runs `cargo build`"
    );
    builds.remove(0)
}

/// `path` without `.` and `..` components, as Docker resolves destinations.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    out
}

/// Whether one path component matches one pattern component (`*` and `?` wildcards).
fn component_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            component_matches(&pattern[1..], name)
                || (!name.is_empty() && component_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => component_matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => component_matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Whether a pattern's components match a path's leading components (`**` spans several), as
/// `.dockerignore` excludes a directory with everything under it.
fn prefix_matches(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, _) => true,
        (Some(&"**"), _) => {
            prefix_matches(&pattern[1..], path)
                || (!path.is_empty() && prefix_matches(pattern, &path[1..]))
        }
        (Some(p), Some(n)) => {
            component_matches(p.as_bytes(), n.as_bytes())
                && prefix_matches(&pattern[1..], &path[1..])
        }
        (Some(_), None) => false,
    }
}

/// `.dockerignore`: whether a context path (relative, `/`-separated) is left out of the context.
/// Later lines win, and `!` brings a path back.
fn ignored(dockerignore: &str, path: &str) -> bool {
    let path: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut out = false;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keep, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if prefix_matches(&pattern, &path) {
            out = !keep;
        }
    }
    out
}

/// Copies a context file or directory to `to`, keeping modification times so that Cargo, which
/// shares the target directory, sees unchanged sources as unchanged.
fn copy_tree(context: &Path, dockerignore: &str, rel: &Path, to: &Path) {
    let from = context.join(rel);
    let meta = fs::metadata(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    if meta.is_dir() {
        fs::create_dir_all(to).expect("create a directory");
        for entry in fs::read_dir(&from).expect("read a directory") {
            let name = entry.expect("a directory entry").file_name();
            let rel = rel.join(&name);
            if !ignored(dockerignore, &rel.to_string_lossy()) {
                copy_tree(context, dockerignore, &rel, &to.join(&name));
            }
        }
    } else {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).expect("create a directory");
        }
        fs::copy(&from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        let copy = fs::File::options()
            .write(true)
            .open(to)
            .expect("open the copy");
        copy.set_modified(meta.modified().expect("an mtime"))
            .expect("keep the mtime");
    }
}

/// Lays out in `root` (the stage's workdir) what the stage copies from `context`.
fn lay_out(context: &Path, stage: &BuildStage, root: &Path) {
    let dockerignore = fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
    for copy in &stage.copies {
        for source in &copy.sources {
            let rel = Path::new(source);
            assert!(
                rel.components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                "COPY {source}: outside the build context"
            );
            assert!(
                context.join(rel).exists() && !ignored(&dockerignore, source),
                "COPY {source}: not in the build context, so docker build fails"
            );
            let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = if copy.into_dir && context.join(rel).is_file() {
                copy.dest.join(name)
            } else {
                copy.dest.clone()
            };
            // Only what lands under the workdir can matter to the build.
            if let Ok(under) = dest.strip_prefix(&stage.workdir) {
                copy_tree(context, &dockerignore, rel, &root.join(under));
            }
        }
    }
}

/// Paths Cargo needs before it compiles anything: the manifest's declared targets and its build
/// script. Cargo's own error for a missing one does not say the Dockerfile is to blame, and a
/// missing build script is no error to Cargo at all (it only stops looking for one).
fn manifest_paths(context: &Path) -> Vec<String> {
    let text = fs::read_to_string(context.join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    let mut paths = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    let package = manifest.get("package").and_then(|p| p.as_table());
    match package.and_then(|p| p.get("build")) {
        Some(toml::Value::String(build)) => paths.push(build.clone()),
        Some(_) => {}
        None if context.join("build.rs").exists() => paths.push("build.rs".to_owned()),
        None => {}
    }
    for (kind, dir) in [
        ("lib", "src"),
        ("bin", "src/bin"),
        ("bench", "benches"),
        ("test", "tests"),
        ("example", "examples"),
    ] {
        let targets = match manifest.get(kind) {
            Some(toml::Value::Table(t)) => vec![t.clone()],
            Some(toml::Value::Array(a)) => a.iter().filter_map(|t| t.as_table().cloned()).collect(),
            _ => Vec::new(),
        };
        for target in targets {
            let path = target
                .get("path")
                .and_then(|p| p.as_str())
                .map(str::to_owned);
            let name = target.get("name").and_then(|n| n.as_str()).unwrap_or("lib");
            paths.push(path.unwrap_or_else(|| match kind {
                "lib" => "src/lib.rs".to_owned(),
                _ => format!("{dir}/{name}.rs"),
            }));
        }
    }
    paths
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_image_build_stage_copies_everything_cargo_needs() {
    let dockerfile = fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let stage = build_stage(&dockerfile);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let root = scratch.path().join("context");
    lay_out(repo(), &stage, &root);

    let missing: Vec<String> = manifest_paths(repo())
        .into_iter()
        .filter(|p| !root.join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "Cargo needs {missing:?}, which the Dockerfile's build stage does not COPY"
    );

    // The stage's own command, as a check: the same profile, lock and target selection.
    let mut args = vec!["check".to_owned()];
    args.extend(stage.cargo_build.iter().cloned());
    args.push("--offline".to_owned());
    // This test's target directory (target/debug/failoverd's grandparent): dependencies are
    // already there, so only what changed is checked again.
    let target_dir = Path::new(env!("CARGO_BIN_EXE_failoverd"))
        .ancestors()
        .nth(2)
        .expect("the binary lives in <target>/<profile>/");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut check = Command::new(cargo);
    check
        .args(&args)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target_dir);
    // What `cargo test` sets for this test describes this package and its build, not the check's.
    // Dependencies' build scripts that watch such a variable (ring's watches OUT_DIR) would run
    // again, and a build from a shell would then run them again too.
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
                "FAILOVERD_VERSION",
            ]
            .contains(&&*name)
        {
            check.env_remove(&*name);
        } else if name == "LD_LIBRARY_PATH" {
            // Cargo puts the target directory's native library folders in front.
            let kept: Vec<PathBuf> = std::env::split_paths(&value)
                .filter(|p| !p.starts_with(target_dir))
                .collect();
            match std::env::join_paths(kept) {
                Ok(paths) if !paths.is_empty() => check.env(&*name, paths),
                _ => check.env_remove(&*name),
            };
        }
    }
    let out = check.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "`cargo {}` fails on the files the Dockerfile's build stage copies:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dockerfile_reader_follows_docker_rules() {
    let stage = build_stage(
        "# comment\nFROM rust AS build\nWORKDIR /src\nCOPY --chown=1:1 Cargo.toml Cargo.lock ./\n\
         COPY src \\\n  ./src\nCOPY [\"config\", \"conf\"]\nCOPY --from=other /x /y\n\
         WORKDIR app\nRUN cargo fetch && cargo build --release --locked --bin x && strip x\n\
         FROM distroless\nCOPY --from=build /src/app/target/release/x /x\n",
    );
    assert_eq!(
        stage,
        BuildStage {
            copies: vec![
                Copy {
                    sources: vec!["Cargo.toml".into(), "Cargo.lock".into()],
                    dest: "/src".into(),
                    into_dir: true,
                },
                Copy {
                    sources: vec!["src".into()],
                    dest: "/src/src".into(),
                    into_dir: false,
                },
                Copy {
                    sources: vec!["config".into()],
                    dest: "/src/conf".into(),
                    into_dir: false,
                },
            ],
            workdir: "/src/app".into(),
            cargo_build: vec![
                "--release".into(),
                "--locked".into(),
                "--bin".into(),
                "x".into()
            ],
        }
    );
}

#[test]
fn dockerignore_leaves_out_directories_with_their_contents() {
    let rules =
        "# build output\ntarget\n/.git\n**/*.tmp\nconfig/*.local.toml\n!config/keep.local.toml\n";
    for (path, out) in [
        ("target", true),
        ("target/release/failoverd", true),
        (".git/HEAD", true),
        ("src/a.tmp", true),
        ("a.tmp", true),
        ("config/dev.local.toml", true),
        ("config/keep.local.toml", false),
        ("config/example.toml", false),
        ("src/target.rs", false),
        ("Cargo.toml", false),
    ] {
        assert_eq!(ignored(rules, path), out, "{path}");
    }
}
