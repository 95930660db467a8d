//! The figures `config/scenarios/README.md` gives for every shipped scenario against the example
//! config are the ones the scenarios give: failed requests (where the table has them), share
//! changes and backend calls, refusals and alarms.

use std::path::Path;

use super::{failover_alarms, scenario};

/// A row of one of the README's tables of scenarios: its name and the figures it states.
#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    failed_requests: Option<u64>,
    share_changes: u64,
    backend_calls: u64,
    refusals: u64,
    alarms: u64,
}

/// The leading whole number of `s` (`5,580,000`, `1 (at 364.6 s, ...)`).
fn number(s: &str) -> u64 {
    let digits: String = s
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// `cell` split at each `, ` outside parentheses.
fn top_level(cell: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in cell.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 && cell[i..].starts_with(", ") => {
                parts.push(&cell[start..i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(&cell[start..]);
    parts
}

/// The rows of every table whose header starts `| scenario |` and has the columns
/// `changes / calls` and `refusals, alarms`.
fn readme_rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/README.md");
    let text = std::fs::read_to_string(path).expect("config/scenarios/README.md");
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut rows = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("| scenario |") {
            continue;
        }
        let header = cells(line);
        let column = |name: &str| header.iter().position(|h| h == name);
        let (Some(changes), Some(refusals)) =
            (column("changes / calls"), column("refusals, alarms"))
        else {
            continue;
        };
        let failed = column("failed requests");
        for row in lines.by_ref().skip(1).take_while(|l| l.starts_with("| `")) {
            let row = cells(row);
            assert_eq!(row.len(), header.len(), "a cell per column: {row:?}");
            let name = row[0].split('`').nth(1).expect("a `scenario` name");
            let (share_changes, backend_calls) =
                row[changes].split_once(" / ").expect("changes / calls");
            let counts = top_level(&row[refusals]);
            assert_eq!(counts.len(), 2, "refusals, alarms: {row:?}");
            rows.push(Row {
                name: name.to_owned(),
                failed_requests: failed.map(|i| number(&row[i])),
                share_changes: number(share_changes),
                backend_calls: number(backend_calls),
                refusals: number(counts[0]),
                alarms: number(counts[1]),
            });
        }
    }
    rows
}

#[test]
fn a_cell_splits_only_outside_parentheses() {
    assert_eq!(top_level("0, 1"), ["0", "1"]);
    assert_eq!(
        top_level("1 (at 364.6 s, a step off), 1 (`drill_failed`)"),
        ["1 (at 364.6 s, a step off)", "1 (`drill_failed`)"]
    );
    assert_eq!(number("5,580,000"), 5_580_000);
    assert_eq!(number("1 (at 364.6 s)"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_readme_tables_state_what_every_scenario_gives() {
    let rows = readme_rows();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"hard-outage") && names.contains(&"dr-drill-aborted") && rows.len() >= 17,
        "both tables were found and read: {names:?}"
    );
    for row in rows {
        let r = scenario(&row.name).await;
        let ran = Row {
            name: row.name.clone(),
            failed_requests: row
                .failed_requests
                .map(|_| r.failed_requests.round() as u64),
            share_changes: r.share_changes,
            backend_calls: r.backend_calls,
            refusals: r.refusals.len() as u64,
            alarms: failover_alarms(&r).len() as u64,
        };
        assert_eq!(
            ran, row,
            "config/scenarios/README.md's row for {}",
            row.name
        );
    }
}
