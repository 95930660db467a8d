//! Assertions on JSON bodies: `equals`, `one_of` and numeric comparisons at a JSON pointer.

use serde_json::Value;

use crate::config::BodyAssertion;

fn expectation(a: &BodyAssertion) -> String {
    let numeric = [("<", a.lt), ("<=", a.le), (">", a.gt), (">=", a.ge)]
        .into_iter()
        .find_map(|(op, v)| v.map(|v| format!("{op} {v}")));
    match (&a.equals, &a.one_of, numeric) {
        (Some(v), _, _) => v.to_string(),
        (None, Some(list), _) => format!("one of {}", Value::Array(list.clone())),
        (None, None, Some(n)) => n,
        (None, None, None) => "a value".to_owned(),
    }
}

fn holds(a: &BodyAssertion, v: &Value) -> bool {
    if let Some(expected) = &a.equals {
        return v == expected;
    }
    if let Some(list) = &a.one_of {
        return list.contains(v);
    }
    let Some(x) = v.as_f64() else { return false };
    a.lt.is_none_or(|t| x < t)
        && a.le.is_none_or(|t| x <= t)
        && a.gt.is_none_or(|t| x > t)
        && a.ge.is_none_or(|t| x >= t)
}

/// `"/checks/db = \"down\""`: the pointer and what the body holds there.
pub fn describe(a: &BodyAssertion, body: &Value) -> String {
    match body.pointer(&a.pointer) {
        Some(v) => format!("{} = {v}", a.pointer),
        None => format!("{} is missing", a.pointer),
    }
}

/// The first assertion that fails, as `"/checks/db = \"down\", expected \"ok\""`.
pub fn first_failing(assertions: &[BodyAssertion], body: &Value) -> Option<String> {
    assertions.iter().find_map(|a| {
        let holds = body.pointer(&a.pointer).is_some_and(|v| holds(a, v));
        (!holds).then(|| format!("{}, expected {}", describe(a, body), expectation(a)))
    })
}

/// The first assertion that holds.
pub fn first_holding<'a>(
    assertions: &'a [BodyAssertion],
    body: &Value,
) -> Option<&'a BodyAssertion> {
    assertions
        .iter()
        .find(|a| body.pointer(&a.pointer).is_some_and(|v| holds(a, v)))
}
