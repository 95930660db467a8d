//! A quorum of vantage points: several controllers' verdicts on one region combined, so that a
//! broken path between one control region and a serving region is not taken for an outage.

use serde::{Deserialize, Serialize};

use super::Verdict;

/// One controller's verdict on a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The controller.
    pub controller: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its reason.
    pub reason: String,
}

/// The combined verdict: Down only when more than half of the controllers say Down; Degraded
/// when more than half say Down or Degraded; Healthy when more than half say Healthy; Unknown
/// (which holds the region's share where it is) when no verdict has a majority. The reason
/// says how many agreed and quotes the first of them.
pub fn combine(views: &[View]) -> (Verdict, String) {
    let n = views.len();
    let count = |f: &dyn Fn(Verdict) -> bool| views.iter().filter(|v| f(v.verdict)).count();
    let majority = |k: usize| 2 * k > n;
    let down = count(&|v| v == Verdict::Down);
    let bad = count(&|v| matches!(v, Verdict::Down | Verdict::Degraded));
    let healthy = count(&|v| v == Verdict::Healthy);
    let (verdict, agreeing) = if majority(down) {
        (Verdict::Down, down)
    } else if majority(bad) {
        (Verdict::Degraded, bad)
    } else if majority(healthy) {
        (Verdict::Healthy, healthy)
    } else {
        let said: Vec<String> = views
            .iter()
            .map(|v| format!("{} {}", v.controller, v.verdict))
            .collect();
        return (
            Verdict::Unknown,
            format!(
                "no majority of {n} controllers agrees ({})",
                said.join(", ")
            ),
        );
    };
    let quoted = views
        .iter()
        .find(|v| match verdict {
            Verdict::Degraded => matches!(v.verdict, Verdict::Down | Verdict::Degraded),
            other => v.verdict == other,
        })
        .map(|v| format!("{}: {}", v.controller, v.reason))
        .unwrap_or_default();
    (
        verdict,
        format!("{verdict} for {agreeing} of {n} controllers; {quoted}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(verdicts: &[Verdict]) -> Vec<View> {
        verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| View {
                controller: format!("c{i}"),
                verdict: *v,
                reason: format!("r{i}"),
            })
            .collect()
    }

    #[test]
    fn a_region_is_down_only_when_most_controllers_see_it_down() {
        use Verdict::*;
        let case = |v: &[Verdict]| combine(&views(v));
        assert_eq!(case(&[Down, Healthy, Healthy]).0, Healthy);
        assert_eq!(
            case(&[Healthy, Down, Down]),
            (Down, "Down for 2 of 3 controllers; c1: r1".to_owned())
        );
        assert_eq!(case(&[Down, Degraded, Healthy]).0, Degraded);
        assert_eq!(case(&[Down]).0, Down);
        let (v, why) = case(&[Down, Healthy]);
        assert_eq!(v, Unknown);
        assert_eq!(
            why,
            "no majority of 2 controllers agrees (c0 Down, c1 Healthy)"
        );
        assert_eq!(case(&[Unknown, Unknown, Healthy]).0, Unknown);
        assert_eq!(case(&[Down, Down, Healthy, Healthy, Down]).0, Down);
    }
}
