use super::*;

#[test]
fn entries_are_appended_as_json_lines_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path()).expect("open");
    let mut rx = journal.subscribe();
    let event = Event::Verdict {
        region: "eu-west-1".into(),
        from: Verdict::Healthy,
        to: Verdict::Down,
        reason: "3 consecutive failed rounds: HTTP 503".into(),
    };
    journal
        .record(Timestamp(1_000), "ctl-1", event.clone())
        .expect("record");
    drop(journal);
    let reopened = Journal::open(dir.path()).expect("reopen");
    reopened
        .record(Timestamp(2_000), "ctl-1", Event::Stopped)
        .expect("record");
    let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).expect("read");
    let entries: Vec<Entry> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].event, event);
    assert_eq!(entries[0].actor, "ctl-1");
    assert_eq!(entries[1].event, Event::Stopped);
    assert_eq!(rx.try_recv().expect("broadcast").event, event);
}

#[test]
fn an_entry_torn_by_a_crash_is_left_on_its_own_line_and_the_next_one_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let journal = Journal::open(dir.path()).expect("open");
    journal
        .record(Timestamp(1), "ctl", Event::Stopped)
        .expect("record");
    drop(journal);
    // Power lost mid-write: the file ends in half an entry, without its newline.
    let mut file = OpenOptions::new().append(true).open(&path).expect("open");
    file.write_all(br#"{"at":2,"actor":"ctl","ki"#)
        .expect("write");
    drop(file);

    let reopened = Journal::open(dir.path()).expect("reopen");
    reopened
        .record(Timestamp(3), "ctl", Event::Stopped)
        .expect("record");
    drop(reopened);
    let text = std::fs::read_to_string(&path).expect("read");
    let read: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .map(|e| e.at.0)
        .collect();
    assert_eq!(read, vec![1, 3], "{text}");
    assert_eq!(
        text.lines().count(),
        3,
        "the torn entry is on a line of its own"
    );
    let again = Journal::open(dir.path()).expect("open again");
    let recent: Vec<u64> = again.recent(10).iter().map(|e| e.at.0).collect();
    assert_eq!(recent, vec![1, 3]);
    assert!(text.ends_with('\n'), "nothing more was added: {text}");
}

#[test]
fn a_token_reload_journaled_before_rotations_were_recorded_reads_as_none_rotated() {
    let old = r#"{"at":1,"actor":"ctl-1","kind":"tokens_reloaded","names":["alice"],"removed":[],"restart_needed":false}"#;
    let entry: Entry = serde_json::from_str(old).expect("an older entry still reads");
    assert_eq!(
        entry.event,
        Event::TokensReloaded {
            names: vec!["alice".into()],
            removed: Vec::new(),
            rotated: Vec::new(),
            restart_needed: false,
        }
    );
}

#[test]
fn an_unwritable_state_dir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let err = Journal::open(&blocker.join("state")).expect_err("not a dir");
    assert!(err.to_string().contains("state directory"), "{err}");
}

#[test]
fn the_journal_rotates_past_its_size_keeping_the_newest_files_and_recent_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rotation = Rotation {
        max_bytes: 200,
        keep: 2,
    };
    let journal = Journal::open_rotating(dir.path(), rotation).expect("open");
    for i in 0..20 {
        journal
            .record(
                Timestamp(i),
                "ctl",
                Event::IntentExpired {
                    intent: format!("drain {i}"),
                },
            )
            .expect("record");
    }
    let files: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        files,
        vec!["journal.1.jsonl", "journal.2.jsonl", "journal.jsonl"]
    );
    for f in &files {
        let len = std::fs::metadata(dir.path().join(f)).expect("meta").len();
        assert!(len <= 200 + 100, "{f} is {len} bytes");
    }
    // Nothing recorded is lost from the newest files: their lines run on without a gap.
    let read = |f: &str| -> Vec<u64> {
        std::fs::read_to_string(dir.path().join(f))
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str::<Entry>(l).expect("json").at.0)
            .collect()
    };
    let mut newest = read("journal.2.jsonl");
    newest.extend(read("journal.1.jsonl"));
    newest.extend(read("journal.jsonl"));
    assert_eq!(newest.last(), Some(&19));
    assert!(newest.windows(2).all(|w| w[1] == w[0] + 1), "{newest:?}");
    let recent = journal.recent(3);
    assert_eq!(
        recent.iter().map(|e| e.at.0).collect::<Vec<_>>(),
        vec![17, 18, 19]
    );
    drop(journal);
    let reopened = Journal::open_rotating(dir.path(), rotation).expect("reopen");
    assert_eq!(
        reopened.recent(1)[0].at.0,
        read("journal.jsonl").last().copied().unwrap_or(19)
    );
}

#[test]
fn a_refusal_entry_keeps_its_kind_and_writes_its_rule_beside_it() {
    use crate::plan::{Refusal, RefusalKind};
    let refusal = Refusal {
        wanted_points: 25,
        ..Refusal::new("eu-west-1", RefusalKind::FlapDamping, "held".into())
    };
    let entry = Entry {
        at: Timestamp(1),
        actor: "c1".into(),
        service: None,
        event: Event::Refusal(refusal.clone()),
    };
    let v = serde_json::to_value(&entry).expect("serialize");
    assert_eq!(v["kind"], "refusal");
    assert_eq!(v["rule"], "flap_damping");
    // Written as a line and read back, as the journal's tail is at start-up.
    let line = serde_json::to_string(&entry).expect("line");
    let back: Entry = serde_json::from_str(&line).expect("parse");
    // All but the detail, which is not journaled (its reason holds it).
    let unjournaled = Refusal {
        detail: String::new(),
        ..refusal
    };
    assert_eq!(back.event, Event::Refusal(unjournaled));
}
