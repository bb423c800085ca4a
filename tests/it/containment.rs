//! One containment rule for every kind: a target named by DNS whose name resolves to a
//! link-local or cloud metadata address, in any form (`::ffff:169.254.169.254`,
//! `::ffff:a9fe:a9fe`, NAT64 `64:ff9b::a9fe:a9fe`, AWS's `fd00:ec2::254`, ECS's
//! `169.254.170.2`), is refused with the same message by the `tcp`, `tls` and `http` runners,
//! before any connection.
//!
//! No traffic goes to those addresses, and no name goes to DNS: names resolve through a stub
//! given to the real runner ([`picket::run::Runner::with_resolver`]), which maps them to
//! 127.0.0.1 *followed by* the forbidden address. A runner that did not refuse would connect
//! to 127.0.0.1 first, where a listener nobody accepts on sees the connection in its queue;
//! after a refused run that queue is empty.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use picket::outcome::{Outcome, RunResult};
use picket::run::net::{Lookup, Resolve};

use crate::helpers::{TestServer, respond, workspace};

const FORBIDDEN: [&str; 5] = [
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "fd00:ec2::254",
    "169.254.170.2",
];

/// Resolves the names it was given, and nothing else; counts lookups.
#[derive(Debug, Default)]
pub struct Stub {
    names: HashMap<String, Vec<IpAddr>>,
    pub lookups: AtomicUsize,
}

impl Stub {
    pub fn new(name: &str, addresses: &[&str]) -> Arc<Stub> {
        let mut names = HashMap::new();
        names.insert(
            name.to_string(),
            addresses.iter().map(|a| a.parse().unwrap()).collect(),
        );
        Arc::new(Stub {
            names,
            lookups: AtomicUsize::new(0),
        })
    }
}

impl Resolve for Stub {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found = self.names.get(name).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not in stub"))
        })
    }
}

/// Runs one probe once against `url` through the real runner, names resolved by `resolver`.
pub async fn run(url: &str, probe_yaml: &str, resolver: Arc<Stub>) -> RunResult {
    let ws = workspace(&[("probes/p.yaml", probe_yaml)]);
    let config = format!(
        "library: false\nprobes: [{}]\ntargets:\n  - name: web\n    url: {url}\nlimits:\n  per_target_rps: 1000\n",
        ws.path().join("probes").display()
    );
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config).unwrap();
    let loaded = match picket::load::load(&path, &|_: &str| None) {
        Ok(l) => l,
        Err(d) => panic!("probe did not load:\n{d}"),
    };
    let plan = picket::plan::plan(&loaded);
    assert_eq!(plan.series.len(), 1, "expected one series");
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::with_resolver(&loaded.config, resolver).unwrap();
    runner.run(&plan.series[0]).await
}

const TCP: &str =
    "id: network/test\nname: test\nseverity: high\ntcp: {}\nchecks:\n  - reachable: false\n";
const TLS: &str = "id: tls/test\nname: test\nseverity: high\ntimeout: 2s\ntls: {}\nchecks:\n  - certificate: { chain_trusted: true }\n";
const HTTP: &str = "id: http/test\nname: test\nseverity: high\ntimeout: 3s\nhttp:\n  path: /\nchecks:\n  - status: 200\n";

/// Each kind: its probe and the URL of a target named `host` on `port`.
fn kinds(host: &str, port: u16) -> [(&'static str, String, &'static str); 3] {
    [
        ("tcp", format!("tcp://{host}:{port}"), TCP),
        ("tls", format!("tls://{host}:{port}"), TLS),
        ("http", format!("http://{host}:{port}/"), HTTP),
    ]
}

/// A loopback listener nobody accepts on, and whether a connection reached it.
struct Witness(std::net::TcpListener);

impl Witness {
    fn new() -> Witness {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Witness(listener)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Whether a connection is waiting (the kernel queues it once the handshake is done,
    /// before `connect` returns, so a finished run's connection is always there).
    fn was_connected(&self) -> bool {
        match self.0.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[tokio::test]
async fn names_resolving_to_metadata_addresses_are_refused_by_every_kind_before_connecting() {
    for forbidden in FORBIDDEN {
        let mut messages = Vec::new();
        let witness = Witness::new();
        for (kind, url, probe) in kinds("imds.invalid", witness.port()) {
            let stub = Stub::new("imds.invalid", &["127.0.0.1", forbidden]);
            let r = run(&url, probe, stub.clone()).await;
            let Outcome::Error(e) = &r.outcome else {
                panic!("{kind} {forbidden}: {:?}", r.outcome);
            };
            assert_eq!(e.kind.as_str(), "request", "{kind} {forbidden}: {e}");
            assert!(
                e.message.starts_with(&format!(
                    "refused to connect: `imds.invalid` resolves to {}",
                    forbidden.parse::<IpAddr>().unwrap()
                )),
                "{kind} {forbidden}: {e}"
            );
            assert!(stub.lookups.load(Ordering::SeqCst) >= 1, "{kind}");
            assert!(
                !witness.was_connected(),
                "{kind} {forbidden}: connected before refusing"
            );
            messages.push(e.message.clone());
        }
        assert!(
            messages.windows(2).all(|w| w[0] == w[1]),
            "one message for every kind: {messages:#?}"
        );
    }
}

/// The stub is what the runner resolves with: a name mapped to 127.0.0.1 alone is reached, by
/// every kind (so the refusals above are the rule's doing, not a name that went nowhere).
#[tokio::test]
async fn names_resolve_through_the_given_resolver_for_every_kind() {
    for (kind, _, probe) in kinds("web.invalid", 0) {
        let witness = Witness::new();
        let url = match kind {
            "tcp" => format!("tcp://web.invalid:{}", witness.port()),
            "tls" => format!("tls://web.invalid:{}", witness.port()),
            _ => continue,
        };
        let stub = Stub::new("web.invalid", &["127.0.0.1"]);
        let r = run(&url, probe, stub.clone()).await;
        assert!(witness.was_connected(), "{kind}: {:?}", r.outcome);
        assert!(stub.lookups.load(Ordering::SeqCst) >= 1, "{kind}");
    }
    let server = TestServer::start(|_| respond(200, &[], "ok")).await;
    let stub = Stub::new("web.invalid", &["127.0.0.1"]);
    let url = format!("http://web.invalid:{}/", server.addr.port());
    let r = run(&url, HTTP, stub.clone()).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.outcome);
    assert_eq!(server.seen().len(), 1);
    assert!(stub.lookups.load(Ordering::SeqCst) >= 1);
}
