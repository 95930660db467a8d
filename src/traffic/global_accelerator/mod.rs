//! The Global Accelerator backend: a region's share is its endpoint group's traffic dial.
//!
//! GA's API has sharp edges this module exists to respect:
//! - `UpdateEndpointGroup` replaces the whole endpoint list, and an endpoint sent without a
//!   weight silently becomes 128. A cross-account endpoint's attachment ARN is not returned by
//!   `DescribeEndpointGroup`, so it is sent from the binding in the config. Every update therefore carries **every** endpoint with its
//!   explicit weight, and every other setting of the group as just read (health check port,
//!   protocol, path, interval, threshold, port overrides, client IP preservation).
//! - Concurrent writers get `TransactionInProgressException`; throttling happens. Both are retried
//!   with jittered backoff under a rate limiter ([`Discipline`]).
//! - The API lives in us-west-2 only, whatever regions the endpoint groups serve.
//! - Dials are floats 0-100; failoverd writes whole percents and reads them rounded to the nearest
//!   whole percent.
//! - A group that no longer exists is reported (its region goes missing from `read`, which the
//!   controller raises as an alarm), never a crash.
//! - GA has no conditional write, so updates are fenced on the controller's leadership epoch:
//!   before every attempt, an epoch of 0 (its lease may have ended) stops the update with nothing
//!   sent. The one attempt already in flight can still land up to `traffic.call_timeout` later;
//!   the successor's next read shows it and its next tick sets the dial as its plan says.
//!
//! Its settings and bindings, with their rules, are in `settings`; other tools' claims on its
//! accelerators are read in `claims` ([`AcceleratorClaims`]). SDK types never leave this module.

mod claims;
mod settings;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use aws_sdk_globalaccelerator::Client;
use aws_sdk_globalaccelerator::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_globalaccelerator::types::{EndpointConfiguration, EndpointGroup};
use tracing::{info, warn};

pub use self::claims::{AcceleratorClaims, accelerator_of};
pub use self::settings::{
    DEFAULT_REQUESTS_PER_SECOND, GlobalAcceleratorBinding, GlobalAcceleratorEndpoint,
    GlobalAcceleratorSettings, MAX_ENDPOINTS, MIN_WEIGHT_FOR_SHARE, ShareBy,
};
use super::claims::CALLS_PER_SECOND;
use super::retry::{self, CallSettings, Discipline};
use super::{Applied, Epoch, Error, ErrorCode, Result, ShareChange, Shares, TrafficBackend};
use crate::share::Share;

/// The only region the Global Accelerator API is served from.
pub const API_REGION: &str = "us-west-2";

const NAME: &str = "global_accelerator";

/// Traffic backend driving Global Accelerator endpoint groups.
#[derive(Debug, Clone)]
pub struct GlobalAcceleratorBackend {
    client: Client,
    /// Each knob's endpoint group, by knob key.
    groups: BTreeMap<String, Group>,
    /// Attachment ARNs by endpoint id: GA does not describe them, so they come from config.
    attachments: BTreeMap<String, String>,
    discipline: Discipline,
    /// The leadership epoch writes are fenced on: GA has no conditional write, so before every
    /// attempt of an update an epoch of 0 (this controller's lease may have ended) stops it
    /// with nothing sent. None: unfenced (tests driving the backend alone).
    epoch: Option<Epoch>,
}

/// The Global Accelerator error codes failoverd tells apart. Throttling, a concurrent writer
/// and GA's own transient failure are retried; every code not listed is permanent.
const CODES: &[(&str, ErrorCode)] = &[
    ("ThrottlingException", ErrorCode::Throttled),
    ("Throttling", ErrorCode::Throttled),
    ("TransactionInProgressException", ErrorCode::Busy),
    ("InternalServiceErrorException", ErrorCode::Unavailable),
    ("EndpointGroupNotFoundException", ErrorCode::NotFound),
    ("EndpointNotFoundException", ErrorCode::NotFound),
    ("ListenerNotFoundException", ErrorCode::NotFound),
    ("AcceleratorNotFoundException", ErrorCode::NotFound),
    ("InvalidArgumentException", ErrorCode::Invalid),
    ("InvalidPortRangeException", ErrorCode::Invalid),
    ("AccessDeniedException", ErrorCode::AccessDenied),
];

fn classify<E>(operation: &'static str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    retry::classify(NAME, operation, e, CODES)
}

/// One knob's endpoint group, and what carries its share.
#[derive(Debug, Clone)]
struct Group {
    arn: String,
    /// With `share_by = "weights"`: the endpoints whose weights carry the share, each with its
    /// normal weight; None: the dial carries it.
    weights: Option<Vec<(String, u8)>>,
}

impl Group {
    /// The knob's share as `group` reports it: its dial, or its endpoints' weights over their
    /// normal weights (the lowest of them, the most conservative). An endpoint the group no
    /// longer has gives no share at all (the region is reported missing), never a made-up one.
    fn share(&self, group: &EndpointGroup) -> Result<Share> {
        let Some(weights) = &self.weights else {
            return Ok(dial_share(group));
        };
        let mut share = Share::FULL;
        for (id, normal) in weights {
            let Some(d) = group
                .endpoint_descriptions()
                .iter()
                .find(|d| d.endpoint_id() == Some(id.as_str()))
            else {
                return Err(Error::new(
                    NAME,
                    "DescribeEndpointGroup",
                    ErrorCode::NotFound,
                    format!("endpoint {id} is not in {}", self.arn),
                ));
            };
            // GA's own default weight, when it describes none.
            let now = d.weight().unwrap_or(128);
            let pct = (f64::from(now) * 100.0 / f64::from((*normal).max(1))).round();
            share = share.min(Share::try_new(pct.clamp(0.0, 100.0) as u8).unwrap_or(Share::FULL));
        }
        Ok(share)
    }

    /// The weights that carry `share`: each endpoint's normal weight × share.
    fn weights_for(&self, share: Share) -> BTreeMap<String, u8> {
        self.weights
            .iter()
            .flatten()
            .map(|(id, normal)| {
                let w = (f64::from(*normal) * f64::from(share.get()) / 100.0).round();
                (id.clone(), w.clamp(0.0, 255.0) as u8)
            })
            .collect()
    }
}

/// The dial as a share: GA reports a float; failoverd rounds to the nearest whole percent.
fn dial_share(group: &EndpointGroup) -> Share {
    let dial = group
        .traffic_dial_percentage()
        .unwrap_or(100.0)
        .clamp(0.0, 100.0);
    Share::try_new(dial.round() as u8).unwrap_or(Share::FULL)
}

impl GlobalAcceleratorBackend {
    /// A backend for the regions `bindings` binds to endpoint groups (region name, binding),
    /// calling the API as `settings` and `calls` say, with a client built from the standard
    /// AWS configuration chain (credentials, `AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR`) in
    /// [`API_REGION`].
    pub async fn from_env(
        settings: &GlobalAcceleratorSettings,
        bindings: &[(&str, &GlobalAcceleratorBinding)],
        calls: &CallSettings,
        controller: &str,
    ) -> Self {
        // Grouped by account: every binding here names the same role, or none.
        let role = bindings.first().and_then(|(_, b)| b.role_arn.as_deref());
        let sdk = crate::traffic::aws::sdk_config(API_REGION, role, controller).await;
        Self::new(Client::new(&sdk), settings, bindings, calls)
    }

    /// A backend using `client` (tests point it at a fake endpoint). SDK retries are left to
    /// the client's configuration; failoverd's own retries wrap each call.
    pub fn new(
        client: Client,
        settings: &GlobalAcceleratorSettings,
        bindings: &[(&str, &GlobalAcceleratorBinding)],
        calls: &CallSettings,
    ) -> Self {
        let groups = bindings
            .iter()
            .map(|(region, b)| {
                let weights = (b.share_by == ShareBy::Weights).then(|| {
                    b.endpoints
                        .iter()
                        .map(|e| (e.id.clone(), e.weight))
                        .collect()
                });
                let group = Group {
                    arn: b.endpoint_group_arn.clone(),
                    weights,
                };
                ((*region).to_owned(), group)
            })
            .collect();
        let attachments = bindings
            .iter()
            .flat_map(|(_, b)| &b.endpoints)
            .filter_map(|e| Some((e.id.clone(), e.attachment_arn.clone()?)))
            .collect();
        let per_second = NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            client,
            groups,
            attachments,
            discipline: Discipline::new(NAME, per_second, calls.retry.clone(), calls.timeout),
            epoch: None,
        }
    }

    /// A reader of other tools' claims on this backend's accelerators, through its client (its
    /// account and role) at its own pace ([`CALLS_PER_SECOND`]), so reading them never holds up
    /// this backend's calls.
    pub fn claims(&self) -> AcceleratorClaims {
        let groups = self
            .groups
            .values()
            .map(|g| {
                let by = if g.weights.is_some() {
                    ShareBy::Weights
                } else {
                    ShareBy::Dial
                };
                (g.arn.clone(), by)
            })
            .collect();
        AcceleratorClaims::new(
            self.client.clone(),
            self.discipline.paced(CALLS_PER_SECOND),
            groups,
        )
    }

    /// The same backend with every update fenced on `epoch` (see the field).
    #[must_use]
    pub fn fenced(mut self, epoch: Epoch) -> Self {
        self.epoch = Some(epoch);
        self
    }

    /// Fails (retryable, nothing sent) once the fencing epoch reads 0: not a fence lost to
    /// another writer, just no longer this controller's turn, as the other backends say it.
    fn still_leading(&self) -> Result<()> {
        match &self.epoch {
            Some(e) if e.get() == 0 => Err(Error::new(
                NAME,
                "UpdateEndpointGroup",
                ErrorCode::Unavailable,
                "this controller's leadership ended (its epoch ran out); nothing sent",
            )),
            _ => Ok(()),
        }
    }

    async fn describe(&self, arn: &str) -> Result<EndpointGroup> {
        self.discipline
            .run("DescribeEndpointGroup", || async {
                let out = self
                    .client
                    .describe_endpoint_group()
                    .endpoint_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| classify("DescribeEndpointGroup", e))?;
                out.endpoint_group.ok_or_else(|| {
                    Error::new(
                        NAME,
                        "DescribeEndpointGroup",
                        ErrorCode::Unavailable,
                        format!("no endpoint group in the answer for {arn}"),
                    )
                })
            })
            .await
    }

    /// Writes `group` back with `dial` and `weights` changed and everything else as read.
    async fn update(
        &self,
        group: &EndpointGroup,
        dial: Option<Share>,
        weights: &BTreeMap<String, u8>,
    ) -> Result<()> {
        let arn = group.endpoint_group_arn().unwrap_or_default().to_owned();
        let endpoints: Vec<EndpointConfiguration> = group
            .endpoint_descriptions()
            .iter()
            .map(|d| {
                let id = d.endpoint_id().unwrap_or_default();
                let weight = weights
                    .get(id)
                    .map(|w| i32::from(*w))
                    .or(d.weight())
                    // GA's own default, made explicit so it is never implied.
                    .unwrap_or(128);
                EndpointConfiguration::builder()
                    .endpoint_id(id)
                    .weight(weight)
                    .set_client_ip_preservation_enabled(d.client_ip_preservation_enabled())
                    .set_attachment_arn(self.attachments.get(id).cloned())
                    .build()
            })
            .collect();
        let dial = dial.map_or_else(
            || group.traffic_dial_percentage().unwrap_or(100.0),
            |s| f32::from(s.get()),
        );
        self.discipline
            .run("UpdateEndpointGroup", || async {
                self.still_leading()?;
                self.client
                    .update_endpoint_group()
                    .endpoint_group_arn(&arn)
                    .set_endpoint_configurations(Some(endpoints.clone()))
                    .traffic_dial_percentage(dial)
                    .set_health_check_port(group.health_check_port())
                    .set_health_check_protocol(group.health_check_protocol().cloned())
                    .set_health_check_path(group.health_check_path().map(str::to_owned))
                    .set_health_check_interval_seconds(group.health_check_interval_seconds())
                    .set_threshold_count(group.threshold_count())
                    .set_port_overrides(Some(group.port_overrides().to_vec()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UpdateEndpointGroup", e))
            })
            .await
    }

    /// Sets the weights of some endpoints of `region`'s group, keeping every other endpoint's
    /// weight and every other setting; writes nothing when the weights already match.
    pub async fn set_endpoint_weights(
        &self,
        region: &str,
        weights: &BTreeMap<String, u8>,
    ) -> Result<()> {
        let arn = &self
            .groups
            .get(region)
            .ok_or_else(|| {
                Error::new(
                    NAME,
                    "UpdateEndpointGroup",
                    ErrorCode::Unbound,
                    format!("region {region} has no Global Accelerator binding"),
                )
            })?
            .arn;
        let group = self.describe(arn).await?;
        let known: Vec<&str> = group
            .endpoint_descriptions()
            .iter()
            .filter_map(|d| d.endpoint_id())
            .collect();
        if let Some(missing) = weights.keys().find(|id| !known.contains(&id.as_str())) {
            return Err(Error::new(
                NAME,
                "UpdateEndpointGroup",
                ErrorCode::NotFound,
                format!("endpoint {missing} is not in {arn}"),
            ));
        }
        let differs = group.endpoint_descriptions().iter().any(|d| {
            d.endpoint_id()
                .and_then(|id| weights.get(id))
                .is_some_and(|w| d.weight() != Some(i32::from(*w)))
        });
        if differs {
            self.update(&group, None, weights).await?;
        }
        Ok(())
    }
}

impl TrafficBackend for GlobalAcceleratorBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn read(&self) -> Result<Shares> {
        let mut shares = Shares::new();
        for (region, g) in &self.groups {
            let arn = &g.arn;
            match self.describe(arn).await.and_then(|group| g.share(&group)) {
                Ok(share) => {
                    shares.insert(region.clone(), share);
                }
                Err(e) if e.code == ErrorCode::NotFound => {
                    // Reported as a missing region by the controller, which then changes nothing.
                    warn!(%region, %arn, error = %e.message, "Endpoint group or endpoint not found.");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(shares)
    }

    async fn apply(&self, changes: &[ShareChange]) -> Result<Applied> {
        for change in changes {
            let Some(g) = self.groups.get(&change.region) else {
                return Err(Error::new(
                    NAME,
                    "UpdateEndpointGroup",
                    ErrorCode::Unbound,
                    format!("region {} has no Global Accelerator binding", change.region),
                ));
            };
            let arn = &g.arn;
            let group = self.describe(arn).await?;
            if g.share(&group)? == change.to {
                continue;
            }
            match &g.weights {
                None => {
                    self.update(&group, Some(change.to), &BTreeMap::new())
                        .await?
                }
                Some(_) => {
                    self.update(&group, None, &g.weights_for(change.to)).await?;
                }
            }
            // Read back: the write is not done until GA reports it.
            let after = g.share(&self.describe(arn).await?)?;
            let what = if g.weights.is_some() {
                "endpoint weights"
            } else {
                "dial"
            };
            if after != change.to {
                return Err(Error::new(
                    NAME,
                    "UpdateEndpointGroup",
                    ErrorCode::Unconfirmed,
                    format!(
                        "{arn} reports {what} at {after} after setting {}",
                        change.to
                    ),
                ));
            }
            info!(region = %change.region, %arn, from = %change.from, to = %change.to, carried_by = what, "Global Accelerator share set.");
        }
        Ok(Applied::default())
    }
}
