//! Everything a file gets wrong is reported at once, path first, with its line: unknown keys and
//! values of the wrong type as well as what validation finds.

use super::*;

const BROKEN: &str = r#"
[controller]
id = "c1"
control_region = "us-east-2"
tick_interval = "soon"
tick_intervall = "5s"

[probe]
interval = 10
jitter = 0.1

[[regions]]
name = "a"
capacity_rps = 100
spill_to = ["b", 7]
probes = [{ url = "http://a.example/healthz/deep", timeout = "fast" }]

[[regions]]
name = "b"
capacity_rps = -1
spill_to = ["z"]
probes = [{ url = "http://b.example/healthz/deep" }]

[store]
journal_keep = "five"
"#;

#[test]
fn every_unknown_key_and_wrong_type_is_reported_with_the_validation_errors() {
    assert_eq!(
        load_errors(BROKEN),
        vec![
            "controller.tick_interval: invalid value: string \"soon\", expected a duration (line 5, column 17)",
            "controller.tick_intervall: unknown key, expected one of `id`, `control_region`, `tick_interval`, `shutdown_grace` (line 6, column 1)",
            "probe.interval: invalid type: integer `10`, expected a duration (line 9, column 12)",
            "regions[0].spill_to[1]: invalid type: integer `7`, expected a string (line 15, column 18)",
            "regions[0].probes[0].timeout: invalid value: string \"fast\", expected a duration (line 16, column 62)",
            "store.journal_keep: invalid type: string \"five\", expected u32 (line 25, column 16)",
        ],
        "the wrong list element makes the rest unsafe to validate"
    );
    // Without it, the values left out take their defaults and validation runs on the rest.
    let fixed_list = BROKEN.replace("spill_to = [\"b\", 7]", "spill_to = [\"b\"]");
    assert_eq!(
        load_errors(&fixed_list),
        vec![
            "controller.tick_interval: invalid value: string \"soon\", expected a duration (line 5, column 17)",
            "controller.tick_intervall: unknown key, expected one of `id`, `control_region`, `tick_interval`, `shutdown_grace` (line 6, column 1)",
            "probe.interval: invalid type: integer `10`, expected a duration (line 9, column 12)",
            "regions[0].probes[0].timeout: invalid value: string \"fast\", expected a duration (line 16, column 62)",
            "regions[1].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got -1",
            "regions[1].spill_to[0]: unknown region \"z\"",
            "store.journal_keep: invalid type: string \"five\", expected u32 (line 25, column 16)",
        ]
    );
}

#[test]
fn a_missing_required_value_is_named_and_the_rest_still_read() {
    let text = MINIMAL.replace("id = \"c1\"\n", "").replace(
        "name = \"b\"\ncapacity_rps = 100",
        "name = \"b\"\ncapacity_rps = \"many\"",
    );
    assert_eq!(
        load_errors(&text),
        vec![
            "controller.id: is required but missing (line 2, column 1)",
            "regions[1].capacity_rps: invalid type: string \"many\", expected f64 (line 13, column 16)",
        ]
    );
}

#[test]
fn a_syntax_error_is_one_line_naming_the_file_and_where_the_parser_stopped() {
    let err =
        Config::from_toml("[controller]\nid = \n", Path::new("bad.toml")).expect_err("not TOML");
    let text = err.to_string();
    assert!(
        text.starts_with("bad.toml: ") && text.ends_with("(line 2, column 6)"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn parsing_alone_reports_every_schema_error() {
    let Err(Error::Invalid(errors)) = Config::parse(BROKEN, Path::new("test.toml")) else {
        panic!("broken config parsed");
    };
    assert_eq!(errors.len(), 6, "{errors:?}");
}
