//! `failoverd completions SHELL` and `failoverd man`: generated from the parser's own definition,
//! so they offer every command the binary accepts.

use std::process::{Command, Output, Stdio};

fn failoverd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .output()
        .expect("failoverd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The commands `failoverd --help` lists, checked against the ones an operator relies on so that
/// the list cannot come back empty.
fn commands() -> Vec<String> {
    let help = stdout(&failoverd(&["--help"]));
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    for expected in [
        "run",
        "check-config",
        "probe",
        "simulate",
        "status",
        "drain",
        "undrain",
        "undamp",
        "freeze",
        "unfreeze",
        "hash-token",
        "demo",
        "completions",
        "man",
        "setup",
    ] {
        assert!(
            listed.iter().any(|c| c == expected),
            "{expected} not in --help:\n{help}"
        );
    }
    listed
}

/// What bash offers for the words typed so far, the last being the one being completed.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}\n_failoverd failoverd '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        cur = words[cword],
        prev = words[cword - 1],
    );
    let o = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stdout(&o).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_every_command_and_their_flags() {
    let o = failoverd(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let script = stdout(&o);
    for command in commands() {
        assert!(
            script.contains(&format!("failoverd,{command})")),
            "{command} missing from the bash completion"
        );
    }
    assert_eq!(
        bash_complete(&script, &["failoverd", "dr"]),
        ["drain", "drill"]
    );
    assert_eq!(bash_complete(&script, &["failoverd", "dra"]), ["drain"]);
    assert_eq!(bash_complete(&script, &["failoverd", "se"]), ["setup"]);
    assert_eq!(
        bash_complete(&script, &["failoverd", "setup", "r"]),
        ["route53-switches", "route53-withdrawn"]
    );
    assert_eq!(
        bash_complete(&script, &["failoverd", "setup", "route53-w"]),
        ["route53-withdrawn"]
    );
    assert_eq!(
        bash_complete(&script, &["failoverd", "un"]),
        ["undrain", "undamp", "unfreeze"]
    );
    assert_eq!(
        bash_complete(&script, &["failoverd", "drain", "eu-west-1", "--re"]),
        ["--reason"]
    );
    assert_eq!(
        bash_complete(&script, &["failoverd", "completions", "z"]),
        ["zsh"]
    );
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = failoverd(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        for command in ["drain", "undrain", "freeze", "check-config"] {
            assert!(script.contains(command), "{shell}: {command} missing");
        }
    }
    let o = failoverd(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: bash"));
}

#[test]
fn the_man_page_names_synopsis_and_every_command() {
    let o = failoverd(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section} missing:\n{page}");
    }
    assert!(page.contains("failoverd \\- Global traffic failover controller"));
    // The footer and VERSION section name the build, as --version does.
    let version = stdout(&failoverd(&["--version"]));
    let version = version.trim().strip_prefix("failoverd ").expect("version");
    assert!(
        page.contains(&version.replace('-', "\\-")),
        "{version}:\n{page}"
    );
    for command in commands() {
        let roff = format!("failoverd\\-{}(1)", command.replace('-', "\\-"));
        assert!(page.contains(&roff), "{roff} missing:\n{page}");
    }
}

#[test]
fn man_writes_a_page_for_every_command_into_a_directory() {
    let scratch = tempfile::tempdir().expect("tempdir");
    // Created if missing, as man1/ often is under a fresh prefix.
    let dir = scratch.path().join("share/man/man1");
    let o = failoverd(&["man", "--out-dir", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(dir.join("failoverd.1").is_file());
    for command in commands() {
        let path = dir.join(format!("failoverd-{command}.1"));
        assert!(path.is_file(), "{} missing", path.display());
    }
    let drain = std::fs::read_to_string(dir.join("failoverd-drain.1")).expect("page");
    for flag in ["\\-\\-reason", "\\-\\-for", "\\-\\-force", "\\-\\-admin"] {
        assert!(drain.contains(flag), "{flag} missing:\n{drain}");
    }

    let file = scratch.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let o = failoverd(&[
        "man",
        "--out-dir",
        file.join("man1").to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot write man pages"));
}

#[test]
fn a_reader_that_stops_early_is_no_failure() {
    for args in [&["completions", "bash"][..], &["man"][..]] {
        // A pipe whose only reader has already exited: every write fails with EPIPE.
        let mut reader = Command::new("true")
            .stdin(Stdio::piped())
            .spawn()
            .expect("true runs");
        let pipe = reader.stdin.take().expect("the pipe");
        reader.wait().expect("true exits");
        let o = Command::new(env!("CARGO_BIN_EXE_failoverd"))
            .args(args)
            .stdout(pipe)
            .output()
            .expect("failoverd runs");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
        assert!(o.stderr.is_empty(), "{args:?}: {o:?}");
    }
}
