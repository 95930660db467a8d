//! The label sets and metric types the families are made of: a region's labels (with its
//! service in a file with `[[services]]`), the counter written the 0.0.4 way, the histograms'
//! buckets.

use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A region's series: `{region}`, or `{service, region}` in a file with `[[services]]`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct RegionLabel {
    pub(super) service: Option<String>,
    pub(super) region: String,
}

impl EncodeLabelSet for RegionLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        if let Some(service) = &self.service {
            ("service", service.as_str()).encode(encoder.encode_label())?;
        }
        ("region", self.region.as_str()).encode(encoder.encode_label())
    }
}

/// A region's verdict series, with the service as for [`RegionLabel`].
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct VerdictLabel {
    pub(super) service: Option<String>,
    pub(super) region: String,
    pub(super) verdict: String,
}

impl EncodeLabelSet for VerdictLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        if let Some(service) = &self.service {
            ("service", service.as_str()).encode(encoder.encode_label())?;
        }
        ("region", self.region.as_str()).encode(encoder.encode_label())?;
        ("verdict", self.verdict.as_str()).encode(encoder.encode_label())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct AlarmLabel {
    pub(super) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CallLabel {
    pub(super) backend: String,
    pub(super) operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BackendLabel {
    pub(super) backend: String,
}

pub(super) type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// A counter written the Prometheus 0.0.4 way: registered under its sample name (ending in
/// `_total`), so the `# HELP` and `# TYPE` lines name the series the samples carry.
#[derive(Clone, Debug, Default)]
pub(super) struct Total(Counter);

impl Total {
    pub(super) fn inc(&self) {
        self.0.inc();
    }
}

impl TypedMetric for Total {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Total {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // A gauge sample is written under the registered name as is, without OpenMetrics'
        // `_total` suffix, which the registered name already carries.
        encoder.encode_gauge(&self.0.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

pub(super) fn latency_histogram() -> Histogram {
    // 1 ms to ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub(super) fn propagation_histogram() -> Histogram {
    // 1 s to ~9 min: Route 53 changes usually go INSYNC within a minute.
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}
