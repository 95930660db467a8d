//! What `failoverd status` says of the data-plane switches a controller serves.

use super::*;
use crate::status::SwitchesStatus;

#[test]
fn the_status_says_which_switches_are_off_who_set_them_and_how_fresh_they_are() {
    let mut s = Status {
        switches: Some(SwitchesStatus {
            served: vec!["us-east-1".into(), "eu-west-1".into()],
            off: vec!["eu-west-1".into()],
            set_by: Some("ctl-a".into()),
            epoch: 42,
            read_secs_ago: Some(1),
        }),
        ..Status::default()
    };
    let text = super::super::status(&s);
    assert!(
        text.contains("switches (2 served): OFF eu-west-1; set by ctl-a (epoch 42); read 1s ago"),
        "{text}"
    );
    s.switches = Some(SwitchesStatus {
        served: vec!["us-east-1".into()],
        ..SwitchesStatus::default()
    });
    let text = super::super::status(&s);
    assert!(
        text.contains("switches (1 served): all on; never set; not read yet"),
        "{text}"
    );
    // Without [switches], nothing is said of them.
    assert!(!super::super::status(&Status::default()).contains("switches"));
}
