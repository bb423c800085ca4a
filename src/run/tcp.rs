//! The `tcp` kind's runner: one connection attempt to each port of the target's own host,
//! then (when open) an optional payload and a bounded read of what the service sends.
//!
//! Containment: the host is always the target's, and its address passes the rule of
//! [`super::net`] (a name that resolves to a link-local or cloud metadata address is refused).

use std::net::SocketAddr;
use std::time::Duration;

use super::{Lane, Runner, net};
use crate::check::tcp::{self, Connect};
use crate::config::{Target, Var};
use crate::outcome::{ErrorKind, Outcome, RunError, RunResult};
use crate::plan::Series;
use crate::probe::tcp::{Ports, Tcp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Most bytes of banner read from one port.
pub const MAX_BANNER_BYTES: usize = 4096;
/// How long to wait for a banner once connected.
const BANNER_WAIT: Duration = Duration::from_millis(700);

/// Connects to each port and evaluates the checks.
pub(super) async fn execute(
    runner: &Runner,
    series: &Series,
    spec: &Tcp,
    lane: &Lane<'_>,
    result: &mut RunResult,
) -> Outcome {
    let target = &series.target;
    let ports = match ports(spec, target) {
        Ok(p) => p,
        Err(message) => {
            return Outcome::Error(RunError {
                kind: ErrorKind::Request,
                message,
            });
        }
    };
    // The run's timeout bounds everything; each attempt gets a fair share of it, so that
    // filtered ports (which only time out) cannot starve the rest.
    let share = series.probe.timeout / (ports.len() as u32 + 1);
    let connect_timeout = share.clamp(Duration::from_millis(200), Duration::from_secs(5));
    let mut findings = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let addr = match net::target_address(runner.resolver.as_ref(), target, *port).await {
            Ok(a) => a,
            Err(e) => return Outcome::Error(e),
        };
        if i == 0 {
            result.url = format!("tcp://{}:{port}", result.server_address);
            result.server_port = *port;
        }
        lane.pace().await;
        let found = attempt(addr, spec.send.as_deref(), connect_timeout).await;
        let found = match found {
            Ok(f) => f,
            Err(e) => return Outcome::Error(e),
        };
        findings.extend(tcp::evaluate(&spec.checks, *port, &found, &runner.software));
        if spec
            .checks
            .iter()
            .any(|g| matches!(g.check, tcp::TcpCheck::Software(_)))
        {
            runner.record_software(&tcp::identify_banner(&found), result);
        }
    }
    if findings.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(findings)
    }
}

/// The ports of this run.
fn ports(spec: &Tcp, target: &Target) -> Result<Vec<u16>, String> {
    match &spec.ports {
        Ports::Target => target
            .url
            .port_or_known_default()
            .map(|p| vec![p])
            .ok_or_else(|| "the target URL has no port; give `port:` in the probe".to_string()),
        Ports::List(list) => Ok(list.clone()),
        Ports::Var(name) => {
            let values: Vec<&str> = match target.vars.get(name) {
                Some(Var::One(v)) => vec![v.expose().as_str()],
                Some(Var::List(vs)) => vs.iter().map(|v| v.expose().as_str()).collect(),
                None => return Err(format!("target declares no `vars.{name}`")),
            };
            values
                .iter()
                .map(|v| {
                    v.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("`vars.{name}` holds `{v}`, not a TCP port"))
                })
                .collect()
        }
    }
}

/// One connection attempt: refused, filtered, or open with what the service sent.
async fn attempt(
    addr: SocketAddr,
    send: Option<&[u8]>,
    connect_timeout: Duration,
) -> Result<Connect, RunError> {
    let mut stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return Ok(Connect::Filtered),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Ok(Connect::Refused);
        }
        Ok(Err(e)) => {
            // Unreachable networks and hosts are "not reachable from here" too.
            return match e.raw_os_error() {
                Some(101 | 113) => Ok(Connect::Filtered),
                _ => Err(RunError {
                    kind: ErrorKind::Connect,
                    message: e.to_string(),
                }),
            };
        }
        Ok(Ok(s)) => s,
    };
    if let Some(bytes) = send {
        // A peer that closes at once is still "open"; what it said is the evidence.
        let _ = tokio::time::timeout(BANNER_WAIT, stream.write_all(bytes)).await;
    }
    let mut banner = Vec::new();
    let deadline = Instant::now() + BANNER_WAIT;
    let mut buf = [0u8; 1024];
    while banner.len() < MAX_BANNER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                let room = MAX_BANNER_BYTES - banner.len();
                banner.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    Ok(Connect::Open { banner })
}
