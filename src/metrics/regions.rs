//! The series a tick sets for each region of its status: the verdict, the shares, the
//! utilization and the evacuable fraction.
//!
//! # Handles, not lookups
//!
//! Every tick sets every region's series. Looking each up by its labels (label strings built,
//! hashed and compared) costs more than setting it, and a metric handle is a cheap clone that
//! shares the value the registry exports. Each status row's handles are therefore kept once made
//! (matched to the row by its service and region) and a tick only sets them. What is exported is
//! exactly what looking them up would export:
//!
//! - a handle is made where the lookup would first have created its series: the four verdicts
//!   with the row, a share or the utilization with its first value;
//! - these families are never cleared, so a kept handle always is the exported series;
//! - the evacuable series exist only for the rows that have a fraction (the family is cleared
//!   and refilled by the rows that have one), so while the same rows have one their handles are
//!   set, and whenever that changes the family is cleared and refilled as before.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::labels::{RegionLabel, VerdictLabel};
use super::{VERDICTS, ratio, verdict_label};
use crate::status::RegionStatus;

/// A gauge of a ratio or fraction.
pub(super) type Ratio = Gauge<f64, AtomicU64>;

/// The families of the region series, and the handles made in them so far.
pub(super) struct Regions {
    pub(super) verdict: Family<VerdictLabel, Gauge>,
    share_target: Family<RegionLabel, Ratio>,
    share_actual: Family<RegionLabel, Ratio>,
    utilization: Family<RegionLabel, Ratio>,
    evacuable: Family<RegionLabel, Ratio>,
    /// One per row of the latest status, in its order.
    rows: Mutex<Vec<Row>>,
}

/// The handles of one status row's series.
struct Row {
    service: Option<String>,
    region: String,
    /// In the order of [`VERDICTS`].
    verdict: [Gauge; 4],
    share_target: Option<Ratio>,
    share_actual: Option<Ratio>,
    utilization: Option<Ratio>,
    /// Present while the row's evacuable series is exported.
    evacuable: Option<Ratio>,
}

impl Row {
    /// Whether this row's handles are those of status row `r`.
    fn is(&self, r: &RegionStatus) -> bool {
        self.region == r.region && self.service == r.service
    }
}

/// The labels of status row `r`'s series.
fn label(r: &RegionStatus) -> RegionLabel {
    RegionLabel {
        service: r.service.clone(),
        region: r.region.clone(),
    }
}

/// The handle of `r`'s series in `family`, made (and its series created) at first use.
fn handle<'a>(
    kept: &'a mut Option<Ratio>,
    family: &Family<RegionLabel, Ratio>,
    r: &RegionStatus,
) -> &'a Ratio {
    kept.get_or_insert_with(|| family.get_or_create_owned(&label(r)))
}

impl Regions {
    /// The region series in these families (registered by the caller), no handle made yet.
    pub(super) fn new(
        verdict: Family<VerdictLabel, Gauge>,
        share_target: Family<RegionLabel, Ratio>,
        share_actual: Family<RegionLabel, Ratio>,
        utilization: Family<RegionLabel, Ratio>,
        evacuable: Family<RegionLabel, Ratio>,
    ) -> Self {
        Self {
            verdict,
            share_target,
            share_actual,
            utilization,
            evacuable,
            rows: Mutex::new(Vec::new()),
        }
    }

    /// The handles of a row not seen at its place before; its verdict series exist from now.
    fn row(&self, r: &RegionStatus) -> Row {
        let verdict = VERDICTS.map(|v| {
            self.verdict.get_or_create_owned(&VerdictLabel {
                service: r.service.clone(),
                region: r.region.clone(),
                verdict: verdict_label(v),
            })
        });
        Row {
            service: r.service.clone(),
            region: r.region.clone(),
            verdict,
            share_target: None,
            share_actual: None,
            utilization: None,
            evacuable: None,
        }
    }

    /// Sets the series of `regions` (a status's rows): each verdict, the shares and utilization
    /// a row has, and the evacuable fraction of exactly the rows that have one.
    pub(super) fn set(&self, regions: &[RegionStatus]) {
        // A panic while the handles were changed may have left them unlike the families: they
        // are made afresh.
        let mut rows = self.rows.lock().unwrap_or_else(|e| {
            let mut rows = e.into_inner();
            rows.clear();
            rows
        });
        self.rows.clear_poison();
        // Whether the rows that have an evacuable series are those that had one.
        let mut evacuable_kept = rows.len() == regions.len();
        rows.truncate(regions.len());
        for (i, r) in regions.iter().enumerate() {
            match rows.get(i) {
                Some(row) if row.is(r) => {}
                Some(_) => {
                    rows[i] = self.row(r);
                    evacuable_kept = false;
                }
                None => {
                    rows.push(self.row(r));
                    evacuable_kept = false;
                }
            }
            let row = &mut rows[i];
            for (gauge, v) in row.verdict.iter().zip(VERDICTS) {
                gauge.set(i64::from(r.verdict == v));
            }
            if let Some(s) = r.next {
                handle(&mut row.share_target, &self.share_target, r).set(ratio(s));
            }
            if let Some(s) = r.actual {
                handle(&mut row.share_actual, &self.share_actual, r).set(ratio(s));
            }
            if let Some(u) = r.utilization {
                handle(&mut row.utilization, &self.utilization, r).set(u);
            }
            evacuable_kept &= row.evacuable.is_some() == r.evacuable.is_some();
        }
        if evacuable_kept {
            for (row, r) in rows.iter().zip(regions) {
                if let (Some(gauge), Some(e)) = (&row.evacuable, &r.evacuable) {
                    gauge.set(e.fit);
                }
            }
        } else {
            self.evacuable.clear();
            for (row, r) in rows.iter_mut().zip(regions) {
                row.evacuable = r.evacuable.as_ref().map(|e| {
                    let gauge = self.evacuable.get_or_create_owned(&label(r));
                    gauge.set(e.fit);
                    gauge
                });
            }
        }
    }
}
