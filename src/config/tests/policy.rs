//! `[policy]`: each value is checked by its planner type while the file is read, and reported
//! with every other error.

use super::*;

/// Every error of `MINIMAL` with `policy` as its `[policy]` table.
fn policy_errors(policy: &str) -> Vec<String> {
    load_errors(&format!("{MINIMAL}\n[policy]\n{policy}\n"))
}

fn assert_one_policy_error(policy: &str, expected: &str) {
    assert_eq!(policy_errors(policy), vec![expected.to_owned()]);
}

#[test]
fn thresholds_must_be_at_least_one() {
    assert_one_policy_error(
        "fall = 0",
        "policy.fall: must be at least 1, got 0 (line 19, column 8)",
    );
    assert_one_policy_error(
        "rise = 0",
        "policy.rise: must be at least 1, got 0 (line 19, column 8)",
    );
    assert_one_policy_error(
        "max_step = 0",
        "policy.max_step: must be between 1 and 100 percentage points, got 0 (line 19, column 12)",
    );
    assert_one_policy_error(
        "min_serving_regions = 0",
        "policy.min_serving_regions: must be at least 1 (line 19, column 23)",
    );
    assert_one_policy_error(
        "min_serving_regions = 3",
        "policy.min_serving_regions: is 3 but only 2 region(s) are configured",
    );
    assert_one_policy_error(
        "max_reversals = 0",
        "policy.max_reversals: must be at least 1 (line 19, column 17)",
    );
}

#[test]
fn max_utilization_is_a_fraction_above_zero() {
    assert_one_policy_error(
        "max_utilization = 0.0",
        "policy.max_utilization: must be greater than 0 and at most 1, got 0 (line 19, column 19)",
    );
    assert_one_policy_error(
        "max_utilization = 1.5",
        "policy.max_utilization: must be greater than 0 and at most 1, got 1.5 (line 19, column 19)",
    );
    assert!(policy_errors("max_utilization = 1.0").is_empty());
}

#[test]
fn degraded_share_is_a_percentage() {
    assert_one_policy_error(
        "degraded_share = 101",
        "policy.degraded_share: must be between 0 and 100 percent, got 101 (line 19, column 18)",
    );
    assert!(policy_errors("degraded_share = 0").is_empty());
}

#[test]
fn rejected_policy_values_are_reported_with_every_other_error_in_the_files_order() {
    // Within a section, what reading rejects comes first, in the file's order, then what
    // validation finds.
    let text = format!(
        "{}\n[policy]\nmax_step = 0\nmin_serving_regions = 3\nflap_window = \"0s\"\nfall = 0\n",
        MINIMAL.replace("id = \"c1\"", "id = \"\"")
    );
    assert_eq!(
        load_errors(&text),
        vec![
            "controller.id: must not be empty",
            "policy.max_step: must be between 1 and 100 percentage points, got 0 (line 19, column 12)",
            "policy.fall: must be at least 1, got 0 (line 22, column 8)",
            "policy.min_serving_regions: is 3 but only 2 region(s) are configured",
            "policy.flap_window: 0s is out of range; allowed 10s..=1day",
        ]
    );
}

#[test]
fn parsing_alone_names_the_path_and_the_value_of_a_rejected_policy_value() {
    let text = format!("{MINIMAL}\n[policy]\nmax_utilization = 1.7\n");
    let err = Config::parse(&text, Path::new("test.toml")).expect_err("rejected");
    let message = err.to_string();
    assert!(
        message.contains("policy.max_utilization: ")
            && message.contains("must be greater than 0 and at most 1, got 1.7"),
        "{message}"
    );
}
