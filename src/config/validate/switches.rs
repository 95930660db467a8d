//! `[switches]` and `traffic.route53.mode`: a mode that acts through switches needs them
//! served, by a listener with a certificate, and checked for every controller.

use super::{Config, Report};
use crate::traffic::KnobRef;

/// Every rule of `[switches]`, and the mode's need of it.
pub(super) fn switches(config: &Config, r: &mut Report) {
    let mode = config.traffic.route53.mode;
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
    if config.admin.enabled && s.listen == config.admin.listen {
        r.error(
            "switches.listen",
            "must differ from admin.listen: the switches answer anyone, the admin endpoint only its tokens",
        );
    }
    if mode.uses_switches()
        && !config
            .knobs()
            .iter()
            .any(|k| matches!(k.knob, KnobRef::Route53(_)))
    {
        r.error(
            "traffic.route53.mode",
            format!("\"{mode}\" needs Route 53 knobs to act on, and no region binds one"),
        );
    }
}
