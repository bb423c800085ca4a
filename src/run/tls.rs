//! The `tls` kind's runner: one scan of the target's own host with the scanning engine
//! ([`crate::tls_scan`]), planned from the probe's checks, then the checks.

use crate::check::tls;
use crate::outcome::{ErrorKind, Outcome, RunError, RunResult};
use crate::plan::Series;
use crate::probe::tls::Tls;
use crate::tls_scan::{self, Endpoint, Plan, ScanError};

/// Scans the target and evaluates the checks.
pub(super) async fn execute(
    runner: &super::Runner,
    series: &Series,
    spec: &Tls,
    result: &mut RunResult,
) -> Outcome {
    let target = &series.target;
    let Some(port) = spec.port.or_else(|| target.url.port_or_known_default()) else {
        return Outcome::Error(RunError {
            kind: ErrorKind::Request,
            message: "the target URL has no port; give `port:` in the probe".into(),
        });
    };
    let addr = match super::net::target_address(runner.resolver.as_ref(), target, port).await {
        Ok(a) => a,
        Err(e) => return Outcome::Error(e),
    };
    result.url = format!("tls://{}:{port}", result.server_address);
    result.server_port = port;
    let mut plan = Plan {
        protocols: false,
        ciphers: false,
        certificate: false,
        client_cert_required: false,
    };
    for check in spec.checks.iter().map(|g| &g.check) {
        let need = check.needs();
        plan.protocols |= need.protocols;
        plan.ciphers |= need.ciphers;
        plan.certificate |= need.certificate;
        plan.client_cert_required |= need.client_cert_required;
    }
    let endpoint = Endpoint {
        host: target.url.host_str().unwrap_or_default().to_string(),
        port,
        server_name: target.server_name.clone(),
        ca_file: target.ca_file.clone(),
    };
    let report = match tls_scan::scan_at(&endpoint, addr, &plan, series.probe.timeout).await {
        Ok(r) => r,
        Err(e) => {
            let kind = match e {
                ScanError::Timeout { .. } => ErrorKind::Timeout,
                ScanError::Connect { .. } => ErrorKind::Connect,
                _ => ErrorKind::Tls,
            };
            return Outcome::Error(RunError {
                kind,
                message: e.to_string(),
            });
        }
    };
    result.attributes = report.span_attributes();
    if let Some(Ok(cert)) = &report.certificate {
        result.certificate_not_after = Some(cert.not_after);
    }
    let evaluation = tls::evaluate(&spec.checks, &report);
    if !evaluation.findings.is_empty() {
        Outcome::Fail(evaluation.findings)
    } else if !evaluation.undecided.is_empty() {
        Outcome::Error(RunError {
            kind: ErrorKind::Tls,
            message: format!("could not decide: {}", evaluation.undecided.join("; ")),
        })
    } else {
        Outcome::Pass
    }
}
