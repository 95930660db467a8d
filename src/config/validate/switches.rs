//! `[switches]` and `traffic.route53.mode`: a mode that acts through switches needs them
//! served, by a listener with a certificate, and checked for every controller; and records
//! without a weight (latency, geolocation, geoproximity, multivalue) need such a mode, or, in
//! `mode = "records"`, an always-unhealthy check to re-point them at.

use super::{Config, Report};
use crate::traffic::KnobRef;

/// Every rule of `[switches]`, and the mode's need of it.
pub(super) fn switches(config: &Config, r: &mut Report) {
    let mode = config.traffic.route53.mode;
    if !mode.uses_switches() {
        // Records without a weight are withdrawn only by their health check: in this mode, by
        // re-pointing it at the always-unhealthy check.
        let withdrawn = config.traffic.route53.withdrawn_health_check_id.as_deref();
        for k in config.knobs() {
            let KnobRef::Route53(b) = k.knob else {
                continue;
            };
            if !b.routing.withdrawn_by_health_check() {
                continue;
            }
            match withdrawn {
                None => r.error(
                    format!("{}.routing", k.path),
                    format!(
                        "{} records carry no weight, so failoverd withdraws them by their health check: best through the region's data-plane switch, with no API call (traffic.route53.mode = \"switches\" or \"mixed\" with a [switches] table, then `failoverd setup route53-switches`); or, in mode = \"records\", by re-pointing the record at an always-unhealthy check through the API (set traffic.route53.withdrawn_health_check_id; `failoverd setup route53-withdrawn` makes one). See runbooks/route53.md",
                        b.routing
                    ),
                ),
                Some(w) if b.health_check_id.as_deref().map(str::trim) == Some(w.trim()) => r
                    .error(
                        format!("{}.health_check_id", k.path),
                        "is traffic.route53.withdrawn_health_check_id, the check a drained record carries; name the check the record carries while it serves, or none",
                    ),
                Some(_) if b.role_arn.is_some() => r.error(
                    format!("{}.role_arn", k.path),
                    "names a zone in another account, and a record carries only health checks of its zone's account: withdrawn_health_check_id (in the controller's account) cannot withdraw it; use the switches, or a zone in the controller's account",
                ),
                Some(_) => {}
            }
        }
    }
    let Some(s) = &config.switches else {
        if mode.uses_switches() {
            r.error(
                "traffic.route53.mode",
                format!(
                    "\"{mode}\" acts through data-plane switches, and there is no [switches] table saying where they are served and how Route 53 reaches each controller"
                ),
            );
        }
        return;
    };
    let mut found = Vec::new();
    s.check("switches", &config.controller.id, &mut found);
    r.violations(found);
    if s.tls_cert.is_none() && (config.admin.tls_cert.is_none() || config.admin.tls_key.is_none()) {
        r.error(
            "switches.tls_cert",
            "is needed (with tls_key): Route 53 checks the switches over HTTPS, and [admin] has no certificate to share (a self-signed one does: the checkers do not verify it)",
        );
    }
    let a = config.admin.listen;
    if config.admin.enabled
        && s.listen.port() == a.port()
        && (s.listen.ip() == a.ip() || s.listen.ip().is_unspecified() || a.ip().is_unspecified())
    {
        r.error(
            "switches.listen",
            format!(
                "{} overlaps admin.listen {a}: the switches answer anyone, the admin endpoint only its tokens; give them different ports",
                s.listen
            ),
        );
    }
    if s.controllers.len() == 2 {
        r.error(
            "switches.controllers",
            "lists 2 controllers: a calculated check then needs both, so losing either fails every region's check and Route 53 fails open; list 1, or 3 or more",
        );
    }
    if config.cluster.is_none() && s.controllers.len() > 1 {
        r.error(
            "switches.controllers",
            format!(
                "lists {} controllers but there is no [cluster]: a controller alone serves only its own switch states, so the others could never agree with it; list this controller alone, or run them as a cluster",
                s.controllers.len()
            ),
        );
    }
    for (i, c) in s.controllers.iter().enumerate() {
        if let Some(j) = s.controllers[..i]
            .iter()
            .position(|o| o.address.eq_ignore_ascii_case(&c.address) && o.port == c.port)
        {
            r.error(
                format!("switches.controllers[{i}].address"),
                format!(
                    "{}:{} is controllers[{j}]'s too: each controller's checks must reach that controller",
                    c.address, c.port
                ),
            );
        }
    }
    if mode.uses_switches() && config.switch_ids().is_empty() {
        r.error(
            "traffic.route53.mode",
            format!("\"{mode}\" needs Route 53 knobs to act on, and no region binds one"),
        );
    }
}
