//! Older software (SPEC §4 "Older software", issue 23) through the real check path: real
//! servers on loopback (Debian's nginx, Apache httpd, Python's `http.server`, OpenSSH, Redis)
//! identified and judged as the built-in release data says; a table of headers and banners for
//! every product the identifier knows, before, near and after an end of life; a series that
//! regresses when its target is downgraded to a release past end of life; and
//! `picket.software.eol` and the span's `software.*` attributes at a real OTLP receiver.
//!
//! No verdict is hard-coded: each is computed from `picket::software::data::builtin()`, the
//! version the server really runs (or the one a fake one announces) and today's date, so the
//! tests stay right as the data and the installed packages age.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use picket::software::data::{self, Cycle, Placement, Table};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};
use crate::real_servers::{Server, Site, nginx, python_http_server};

// ---------------------------------------------------------------------------------------------
// What the release data implies
// ---------------------------------------------------------------------------------------------

/// The window of the shipped probes' second check (`supported_for_at_least: 90d`).
const SOON_DAYS: i64 = 90;

/// Where a version stands in the built-in data today, as the shipped probes judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Past its end of life: both shipped checks fail (high and medium).
    Past,
    /// Ends within 90 days: the medium check fails.
    EndsSoon,
    /// Supported for longer, no end-of-life date, or not placed: no finding.
    Pass,
}

fn table() -> &'static Table {
    data::builtin()
}

fn today() -> NaiveDate {
    data::today()
}

/// The cycle of `version` of `product` in the built-in data, if it places there.
fn cycle_of(product: &str, version: &str) -> Option<&'static Cycle> {
    match table().place(product, version) {
        Placement::Cycle(_, cycle) => Some(cycle),
        _ => None,
    }
}

/// The verdict the built-in data implies for `product` `version` today.
fn verdict(product: &str, version: &str) -> Verdict {
    verdict_in(table(), product, version)
}

/// The verdict `table` implies for `product` `version` today.
fn verdict_in(table: &Table, product: &str, version: &str) -> Verdict {
    let Placement::Cycle(_, cycle) = table.place(product, version) else {
        return Verdict::Pass;
    };
    let today = today();
    if cycle.past_eol(today) {
        Verdict::Past
    } else if cycle
        .eol
        .is_some_and(|eol| (eol - today).num_days() < SOON_DAYS)
    {
        Verdict::EndsSoon
    } else {
        Verdict::Pass
    }
}

/// One product a server (or a fake) is expected to announce.
#[derive(Debug, Clone)]
struct Expect {
    product: &'static str,
    version: String,
    /// Whether it carries a distribution's mark.
    distro: bool,
}

fn expect(product: &'static str, version: impl Into<String>) -> Expect {
    Expect {
        product,
        version: version.into(),
        distro: false,
    }
}

fn expect_distro(product: &'static str, version: impl Into<String>) -> Expect {
    Expect {
        distro: true,
        ..expect(product, version)
    }
}

/// Checks a result row of a probe with the shipped pair of checks (`supported: true` and
/// `supported_for_at_least: 90d`) against what the data implies for `expected`; `skip_distro`
/// for a probe whose checks say `distro: skip`.
#[track_caller]
fn check_row(row: &Value, expected: &[Expect], skip_distro: bool) {
    check_row_in(table(), row, expected, skip_distro);
}

/// [`check_row`] by the verdicts of `table`.
#[track_caller]
fn check_row_in(table: &Table, row: &Value, expected: &[Expect], skip_distro: bool) {
    let mut findings: Vec<Value> = row["findings"].as_array().cloned().unwrap_or_default();
    let mut want = 0;
    for e in expected {
        if skip_distro && e.distro {
            continue;
        }
        let n = match verdict_in(table, e.product, &e.version) {
            // `supported` and `supported_for_at_least` both fail it, with the same
            // observation: one finding, the graver.
            Verdict::Past => 1,
            Verdict::EndsSoon => 1,
            Verdict::Pass => 0,
        };
        want += n;
        if n == 0 {
            continue;
        }
        let Placement::Cycle(_, cycle) = table.place(e.product, &e.version) else {
            unreachable!("a verdict other than pass comes from a cycle")
        };
        let eol = cycle.eol.map(|d| d.to_string());
        // This product's findings: they name its version and its release cycle.
        let label = &table.product(e.product).unwrap().label;
        let named = format!("{label} {}", e.version);
        let release = format!("release {} ", cycle.name);
        let (mine, rest): (Vec<Value>, Vec<Value>) = findings.into_iter().partition(|f| {
            let observed = f["observed"].as_str().unwrap_or_default();
            observed.contains(&named) && observed.contains(&release)
        });
        findings = rest;
        assert_eq!(
            mine.len(),
            n,
            "{} {}: {n} finding(s) expected ({:?}), got {mine:#?} in {row:#}",
            e.product,
            e.version,
            verdict_in(table, e.product, &e.version)
        );
        for f in &mine {
            let observed = f["observed"].as_str().unwrap();
            if let Some(eol) = &eol {
                assert!(observed.contains(eol.as_str()), "{observed}");
            }
            let past = verdict_in(table, e.product, &e.version) == Verdict::Past;
            assert_eq!(
                observed.contains("reached end of life") || observed.contains("has reached"),
                past,
                "{observed}"
            );
            let detail = f["detail"].as_str().unwrap_or_default();
            assert_eq!(
                detail.contains("backported"),
                e.distro,
                "a distribution's package and only that is said to maybe carry backports: {f:#}"
            );
            if e.distro {
                assert!(observed.contains("package"), "{observed}");
            }
        }
    }
    assert!(
        findings.is_empty(),
        "findings nothing expected: {findings:#?} in {row:#}"
    );
    let outcome = if want > 0 { "fail" } else { "pass" };
    assert_eq!(row["outcome"], outcome, "{expected:?}: {row:#}");
}

// ---------------------------------------------------------------------------------------------
// Running picket
// ---------------------------------------------------------------------------------------------

/// `picket check -c picket.yaml --probe 'software/*' --format json` in `dir`: its rows.
async fn check_software(dir: &Path) -> Vec<Value> {
    let args = [
        "check",
        "-c",
        "picket.yaml",
        "--probe",
        "software/*",
        "--format",
        "json",
    ];
    let out = run_picket(dir, &args, &[]).await;
    let (stdout, stderr) = texts(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"));
    doc["results"].as_array().unwrap().clone()
}

#[track_caller]
fn row<'a>(rows: &'a [Value], probe: &str, target: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["probe"] == probe && r["target"] == target)
        .unwrap_or_else(|| panic!("no result for {probe} on {target} in {rows:#?}"))
}

/// A shipped probe's text.
fn shipped(file: &str) -> String {
    std::fs::read_to_string(
        crate::helpers::repo_root()
            .join("probes/software")
            .join(file),
    )
    .unwrap()
}

const EOL: &str = "software/end-of-life";
const EOL_BANNER: &str = "software/end-of-life-banner";

/// A tcp probe that asks Redis for `INFO server` (the shipped banner probe sends nothing,
/// and Redis says nothing first).
const REDIS_PROBE: &str = "id: software/test-redis-info\nname: Redis is supported\nseverity: high\n\
     tcp:\n  ports: \"{{vars.redis_ports}}\"\n  send: \"INFO server\\r\\n\"\n\
     checks:\n  - software: { supported: true }\n    severity: high\n\
     \x20 - software: { supported_for_at_least: 90d }\n    severity: medium\n";

/// What one in-process run of `probe_yaml` on `url` identified: (name, version) pairs, and
/// the span attributes `software.name` / `software.version`.
async fn identified(url: &str, target_extra: &str, probe_yaml: &str) -> Vec<(String, String)> {
    let result = crate::helpers::run_probe_with(url, target_extra, probe_yaml).await;
    let seen: Vec<(String, String)> = result
        .software
        .iter()
        .map(|s| (s.name.clone(), s.version.clone()))
        .collect();
    let attr = |key: &str| {
        result
            .attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    if !seen.is_empty() {
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        let versions: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(attr("software.name"), Some(names.join(", ")), "{result:?}");
        assert_eq!(
            attr("software.version"),
            Some(versions.join(", ")),
            "{result:?}"
        );
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Real servers (acceptance 1)
// ---------------------------------------------------------------------------------------------

/// A command's stdout and stderr, for its version line.
fn version_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    let (stdout, stderr) = texts(&out);
    format!("{stdout}{stderr}")
}

/// The first version (`\d+(\.\d+)*`) in `text` after `marker`.
fn version_after(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {text}"))
        + marker.len();
    let version: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(
        version.starts_with(|c: char| c.is_ascii_digit()),
        "{marker}: {text}"
    );
    version.trim_end_matches('.').to_string()
}

/// Apache httpd (`apache2 -X`: one process, in the foreground) with a minimal config:
/// `ServerTokens Full`, listening on 127.0.0.1, everything it writes in its own directory.
async fn apache() -> Server {
    let home = workspace(&[("site/index.html", "<!doctype html><title>it works</title>")]);
    let start = |port: u16, home: &Path| {
        let modules = "/usr/lib/apache2/modules";
        // As root, Apache serves as `nobody` (it refuses to as root); the 404 of a page it
        // cannot read carries the same Server header as the page.
        let user = if crate::real_servers::is_root() {
            "User nobody\nGroup nogroup\n"
        } else {
            ""
        };
        let conf = format!(
            "ServerRoot {home}\nPidFile {home}/httpd.pid\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule dir_module {modules}/mod_dir.so\n\
             ServerName 127.0.0.1\nServerTokens Full\n{user}ErrorLog /dev/stderr\n\
             DocumentRoot {home}/site\n",
            home = home.display()
        );
        std::fs::write(home.join("httpd.conf"), conf).unwrap();
        let mut command = Command::new("/usr/sbin/apache2");
        command.arg("-X").arg("-f").arg(home.join("httpd.conf"));
        command
    };
    Server::start("apache2", home, start, None).await
}

/// OpenSSH's server in the foreground on 127.0.0.1, with a throwaway host key and no
/// config file.
async fn sshd() -> Server {
    let home = workspace(&[]);
    let key = home.path().join("host_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let start = move |port: u16, _: &Path| {
        let mut command = Command::new("/usr/sbin/sshd");
        command
            .args(["-D", "-e", "-f", "/dev/null", "-p"])
            .arg(port.to_string())
            .arg("-h")
            .arg(&key)
            .args(["-o", "ListenAddress=127.0.0.1", "-o", "PidFile=none"]);
        command
    };
    Server::start("sshd", home, start, None).await
}

/// Redis on 127.0.0.1 without persistence, its files in its own directory.
async fn redis() -> Server {
    let start = |port: u16, home: &Path| {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(home);
        command
    };
    Server::start("redis-server", workspace(&[]), start, None).await
}

/// Debian's nginx (`server_tokens on`), Apache httpd, Python's `http.server`, OpenSSH and
/// Redis, each identified with the version it really runs, and judged as the built-in data
/// says of that version today. OpenSSH has no release data: identified, never a finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_servers_are_identified_and_judged_as_the_release_data_says() {
    // The versions installed, as their own binaries say.
    let nginx_version = version_after(
        &version_output(
            &crate::real_servers::nginx_binary().display().to_string(),
            &["-v"],
        ),
        "nginx/",
    );
    let apache_version = version_after(&version_output("/usr/sbin/apache2", &["-v"]), "Apache/");
    let python_version = version_after(&version_output("python3", &["--version"]), "Python ");
    // OpenSSH portable's `9.2p1` is the OpenBSD release `9.2`.
    let ssh_version = version_after(&version_output("ssh", &["-V"]), "OpenSSH_");
    let redis_version = version_after(&version_output("redis-server", &["--version"]), "v=");

    let nginx = nginx(Site {
        files: &[("index.html", "<!doctype html><title>shop</title>")],
        directives: "server_tokens on;",
        tls: None,
    })
    .await;
    let apache = apache().await;
    let served = workspace(&[("index.html", "<!doctype html><title>notes</title>")]);
    let python = python_http_server(served.path()).await;
    let sshd = sshd().await;
    let redis = redis().await;

    let ws = workspace(&[("probes/redis.yaml", REDIS_PROBE)]);
    let config = format!(
        "probes: [probes/]\ntargets:\n\
         \x20 - {{ name: nginx, url: \"{}\" }}\n\
         \x20 - {{ name: apache, url: \"{}\" }}\n\
         \x20 - {{ name: python, url: \"{}\" }}\n\
         \x20 - {{ name: ssh, url: \"tcp://127.0.0.1:{ssh}\", vars: {{ service_ports: [{ssh}] }} }}\n\
         \x20 - {{ name: redis, url: \"tcp://127.0.0.1:{redis}\", vars: {{ redis_ports: [{redis}] }} }}\n\
         limits: {{ per_target_rps: 100 }}\n",
        nginx.url("http"),
        apache.url("http"),
        python.url("http"),
        ssh = sshd.port,
        redis = redis.port,
    );
    std::fs::write(ws.path().join("picket.yaml"), config).unwrap();
    let rows = check_software(ws.path()).await;

    check_row(
        row(&rows, EOL, "nginx"),
        &[expect("nginx", &nginx_version)],
        false,
    );
    // Debian's Apache says `Apache/2.4.x (Debian)`: a distribution's package.
    check_row(
        row(&rows, EOL, "apache"),
        &[expect_distro("apache-http-server", &apache_version)],
        false,
    );
    check_row(
        row(&rows, EOL, "python"),
        &[expect("python", &python_version)],
        false,
    );
    check_row(
        row(&rows, EOL_BANNER, "ssh"),
        &[expect_distro("openssh", &ssh_version)],
        false,
    );
    assert_eq!(row(&rows, EOL_BANNER, "ssh")["outcome"], "pass");
    check_row(
        row(&rows, "software/test-redis-info", "redis"),
        &[expect("redis", &redis_version)],
        false,
    );

    // Each was identified, with the version it runs (the run's span attributes say so too).
    let eol = shipped("end-of-life.yaml");
    let banner = shipped("end-of-life-banner.yaml");
    for (server, product, version) in [
        (&nginx, "nginx", &nginx_version),
        (&apache, "apache-http-server", &apache_version),
        (&python, "python", &python_version),
    ] {
        let seen = identified(&server.url("http"), "", &eol).await;
        assert!(
            seen.contains(&(product.to_string(), version.clone())),
            "{product} {version}: identified {seen:?}"
        );
    }
    let ssh_vars = format!("    vars: {{ service_ports: [{}] }}\n", sshd.port);
    let seen = identified("tcp://127.0.0.1:1", &ssh_vars, &banner).await;
    assert_eq!(seen, [("openssh".to_string(), ssh_version.clone())]);
    let redis_vars = format!("    vars: {{ redis_ports: [{}] }}\n", redis.port);
    let seen = identified("tcp://127.0.0.1:1", &redis_vars, REDIS_PROBE).await;
    assert_eq!(seen, [("redis".to_string(), redis_version.clone())]);

    // OpenSSH has no release data, but a team's floor judges it: one above the version it
    // runs fails, naming it; the version itself passes.
    let major: u64 = ssh_version.split('.').next().unwrap().parse().unwrap();
    for (floor, fails) in [
        (format!("{}.0", major + 1), true),
        (ssh_version.clone(), false),
    ] {
        let probe = format!(
            "id: team/ssh-floor\nname: OpenSSH is recent\nseverity: medium\n\
             tcp:\n  ports: \"{{{{vars.service_ports}}}}\"\n\
             checks:\n  - software: {{ not_below: {{ openssh: \"{floor}\" }} }}\n"
        );
        let result = crate::helpers::run_probe_with("tcp://127.0.0.1:1", &ssh_vars, &probe).await;
        match &result.outcome {
            picket::outcome::Outcome::Fail(findings) if fails => {
                assert_eq!(findings.len(), 1, "{findings:?}");
                assert!(
                    findings[0]
                        .observed
                        .contains(&format!("OpenSSH {ssh_version}"))
                        || findings[0]
                            .observed
                            .contains(&format!("openssh {ssh_version}")),
                    "{findings:?}"
                );
                assert!(findings[0].check.contains(&floor), "{findings:?}");
            }
            picket::outcome::Outcome::Pass if !fails => {}
            other => panic!("not_below {floor} on OpenSSH {ssh_version}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fake servers: a table of headers and banners (acceptance 2)
// ---------------------------------------------------------------------------------------------

/// What a fake server presents.
#[derive(Debug, Clone)]
enum Show {
    /// An HTTP response to `GET /`: headers and body.
    Http(Vec<(String, String)>, String),
    /// What a tcp port says at once (then it closes).
    Banner(Vec<u8>),
}

/// One row of the table: what is shown, and what must be identified from it.
#[derive(Debug, Clone)]
struct Case {
    what: String,
    show: Show,
    expected: Vec<Expect>,
}

fn header(name: &str, value: &str) -> Show {
    Show::Http(
        vec![(name.into(), value.into())],
        "<!doctype html><title>x</title>".into(),
    )
}

fn page(content_type: &str, body: &str) -> Show {
    Show::Http(
        vec![("content-type".into(), content_type.into())],
        body.into(),
    )
}

fn banner(text: &str) -> Show {
    Show::Banner(text.as_bytes().to_vec())
}

/// The MySQL protocol 10 greeting of a server that says `version`.
fn mysql_greeting(version: &str) -> Show {
    let mut payload = vec![0x0a];
    payload.extend_from_slice(version.as_bytes());
    payload.push(0);
    payload.extend_from_slice(&7u32.to_le_bytes()); // connection id
    payload.extend_from_slice(b"abcdefgh"); // scramble, part 1
    payload.push(0); // filler
    payload.extend_from_slice(&[0xff, 0xf7, 0x21, 0x02, 0x00, 0xff, 0x81, 0x15]);
    payload.extend_from_slice(&[0; 10]);
    payload.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    let len = u32::try_from(payload.len()).unwrap().to_le_bytes();
    let mut packet = vec![len[0], len[1], len[2], 0];
    packet.extend_from_slice(&payload);
    Show::Banner(packet)
}

/// How a product shows version `v`, for every product the identifier knows that the
/// built-in data has (the others are in [`unplaced_cases`]).
fn show(product: &str, v: &str) -> Option<Show> {
    Some(match product {
        "nginx" => header("server", &format!("nginx/{v}")),
        "apache-http-server" => header("server", &format!("Apache/{v}")),
        "openssl" => header("server", &format!("OpenSSL/{v}")),
        "php" => header("x-powered-by", &format!("PHP/{v}")),
        "python" => header("server", &format!("SimpleHTTP/0.6 Python/{v}")),
        "nodejs" => header("x-powered-by", &format!("Node.js/v{v}")),
        "tomcat" => page(
            "text/html",
            &format!(
                "<!doctype html><html><head><title>HTTP Status 404 – Not Found</title></head>\
                 <body><h1>HTTP Status 404 – Not Found</h1><hr/><h3>Apache Tomcat/{v}</h3></body></html>"
            ),
        ),
        "eclipse-jetty" => header("server", &format!("Jetty({v})")),
        "caddy" => header("server", &format!("Caddy/{v}")),
        "envoy" => header("server", &format!("envoy/{v}")),
        "vinyl-cache" => header("via", &format!("1.1 varnish (Varnish/{v})")),
        "squid" => header("server", &format!("squid/{v}")),
        "redis" => banner(&format!(
            "# Server\r\nredis_version:{v}\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n"
        )),
        "mysql" => mysql_greeting(v),
        "mariadb" => mysql_greeting(&format!("{v}-MariaDB")),
        "wordpress" => page(
            "text/html",
            &format!(
                "<!doctype html><html><head><meta name=\"generator\" content=\"WordPress {v}\" />\
                 </head><body>blog</body></html>"
            ),
        ),
        "drupal" => header(
            "x-generator",
            &format!("Drupal {v} (https://www.drupal.org)"),
        ),
        "joomla" => page(
            "text/html",
            &format!(
                "<html><head><meta name=\"generator\" content=\"Joomla! {v} - Open Source Content Management\">\
                 </head></html>"
            ),
        ),
        "jenkins" => header("x-jenkins", v),
        "grafana" => page(
            "application/json",
            &format!("{{\"commit\":\"0123abc\",\"database\":\"ok\",\"version\":\"{v}\"}}"),
        ),
        "elasticsearch" => page(
            "application/json",
            &format!(
                "{{\"name\":\"node-1\",\"cluster_name\":\"search\",\"version\":{{\"number\":\"{v}\",\
                 \"build_flavor\":\"default\"}},\"tagline\":\"You Know, for Search\"}}"
            ),
        ),
        "postfix" => banner(&format!("220 mail.test ESMTP Postfix {v}\r\n")),
        "exim" => banner(&format!(
            "220 mail.test ESMTP Exim {v} Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        )),
        "proftpd" => banner(&format!("220 ProFTPD {v} Server (files) [127.0.0.1]\r\n")),
        _ => return None,
    })
}

/// A version of `cycle`: its latest, else the cycle itself with `.0` (`1.18` → `1.18.0`).
fn version_in(cycle: &Cycle) -> String {
    cycle
        .latest
        .clone()
        .unwrap_or_else(|| format!("{}.0", cycle.name))
}

/// Per product the data has: a cycle past its end of life, one ending within 90 days, one
/// supported for longer, and one with no end-of-life date, where the data has such cycles.
fn placed_cases() -> Vec<Case> {
    let today = today();
    let mut cases = Vec::new();
    for product in table().products.values() {
        let pick = |f: &dyn Fn(&Cycle) -> bool| {
            product
                .cycles
                .iter()
                .filter(|c| version_in(c).starts_with(|ch: char| ch.is_ascii_digit()))
                .find(|c| f(c))
        };
        let past = pick(&|c| c.past_eol(today));
        let soon = pick(&|c| {
            !c.past_eol(today)
                && c.eol
                    .is_some_and(|eol| (eol - today).num_days() < SOON_DAYS)
        });
        let later = pick(&|c| {
            c.eol
                .is_some_and(|eol| (eol - today).num_days() >= SOON_DAYS)
        });
        let open = pick(&|c| c.eol.is_none() && !c.is_eol);
        for (when, cycle) in [
            ("past", past),
            ("soon", soon),
            ("later", later),
            ("open", open),
        ] {
            let Some(cycle) = cycle else { continue };
            let v = version_in(cycle);
            let Some(show) = show(&product.id, &v) else {
                continue;
            };
            let id: &'static str = product.id.as_str();
            cases.push(Case {
                what: format!("{} {v} ({when})", product.id),
                show,
                expected: vec![expect(id, v)],
            });
        }
    }
    cases
}

/// A past-end-of-life and a supported release of `product` in the data.
fn past_and_supported(product: &str) -> (String, String) {
    let today = today();
    let p = table().product(product).unwrap();
    let past = p.cycles.iter().find(|c| c.past_eol(today)).unwrap();
    let supported = p
        .cycles
        .iter()
        .find(|c| {
            !c.past_eol(today)
                && c.eol
                    .is_none_or(|eol| (eol - today).num_days() >= SOON_DAYS)
        })
        .unwrap();
    (version_in(past), version_in(supported))
}

/// Distribution packages, several products in one header, products the data has not, and
/// what must never be a finding.
fn other_cases() -> Vec<Case> {
    let (nginx_past, nginx_ok) = past_and_supported("nginx");
    let (php_past, _) = past_and_supported("php");
    let (openssl_past, _) = past_and_supported("openssl");
    let (apache_past, apache_ok) = past_and_supported("apache-http-server");
    let (mariadb_past, _) = past_and_supported("mariadb");
    let case = |what: &str, show: Show, expected: Vec<Expect>| Case {
        what: what.into(),
        show,
        expected,
    };
    vec![
        // Distribution packages: judged by the upstream version, the finding says backports.
        case(
            "nginx (Ubuntu) past",
            header("server", &format!("nginx/{nginx_past} (Ubuntu)")),
            vec![expect_distro("nginx", &nginx_past)],
        ),
        case(
            "Apache (Debian) with OpenSSL and PHP",
            header(
                "server",
                &format!("Apache/{apache_ok} (Debian) OpenSSL/{openssl_past} PHP/{php_past}"),
            ),
            vec![
                expect_distro("apache-http-server", &apache_ok),
                expect_distro("openssl", &openssl_past),
                expect_distro("php", &php_past),
            ],
        ),
        case(
            "PHP Ubuntu suffix",
            header("x-powered-by", &format!("PHP/{php_past}-4ubuntu2.19")),
            vec![expect_distro("php", &php_past)],
        ),
        case(
            "MariaDB Debian greeting",
            mysql_greeting(&format!("5.5.5-{mariadb_past}-MariaDB-0+deb12u1")),
            vec![expect_distro("mariadb", &mariadb_past)],
        ),
        case(
            "Apache 2.2 past",
            header("server", &format!("Apache/{apache_past}")),
            vec![expect("apache-http-server", &apache_past)],
        ),
        case(
            "nginx supported",
            header("server", &format!("nginx/{nginx_ok}")),
            vec![expect("nginx", &nginx_ok)],
        ),
        // Products without release data: identified, never a finding.
        case(
            "OpenSSH Debian banner",
            banner("SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7\r\n"),
            vec![expect_distro("openssh", "7.4")],
        ),
        case(
            "vsftpd",
            banner("220 (vsFTPd 2.3.4)\r\n"),
            vec![expect("vsftpd", "2.3.4")],
        ),
        case(
            "IIS and ASP.NET MVC",
            Show::Http(
                vec![
                    ("server".into(), "Microsoft-IIS/7.5".into()),
                    ("x-aspnetmvc-version".into(), "3.0".into()),
                ],
                String::new(),
            ),
            vec![expect("iis", "7.5"), expect("aspnet-mvc", "3.0")],
        ),
        case(
            "lighttpd",
            header("server", "lighttpd/1.4.19"),
            vec![expect("lighttpd", "1.4.19")],
        ),
        case(
            "Werkzeug",
            header("server", "Werkzeug/0.9.6"),
            vec![expect("werkzeug", "0.9.6")],
        ),
        case(
            "gunicorn",
            header("server", "gunicorn/19.0.0"),
            vec![expect("gunicorn", "19.0.0")],
        ),
        case(
            "OpenResty",
            header("server", "openresty/1.9.7.1"),
            vec![expect("openresty", "1.9.7.1")],
        ),
        // .NET Framework 4.x as a whole: never a finding.
        case(
            "X-AspNet-Version 4.0.30319",
            header("x-aspnet-version", "4.0.30319"),
            vec![],
        ),
        // Unknown products and garbled versions: never a finding.
        case("unknown product", header("server", "Foo/1.0"), vec![]),
        case("no version", header("server", "nginx"), vec![]),
        case("garbled nginx", header("server", "nginx/abc"), vec![]),
        case("garbled PHP", header("x-powered-by", "PHP/7.x"), vec![]),
        case(
            "version out of any cycle",
            header("server", "nginx/0.0.1"),
            vec![expect("nginx", "0.0.1")],
        ),
        case(
            "binary banner",
            Show::Banner(vec![0xff, 0xfe, 0x00, 0x01, b'S', b'S', b'H', 0x80]),
            vec![],
        ),
    ]
}

/// A loopback HTTP server answering every request with `headers` and `body`.
async fn http_fake(headers: Vec<(String, String)>, body: String) -> TestServer {
    TestServer::start(move |_| {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        respond(200, &pairs, body.clone())
    })
    .await
}

/// A loopback tcp server that says `bytes` to each connection and closes it.
async fn banner_fake(bytes: Vec<u8>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes = Arc::new(bytes);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let _ = sock.write_all(&bytes).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}

/// A probe judging every version but distribution packages (`distro: skip`).
const SKIP_DISTRO: &str = "id: software/test-skip-distro\nname: upstream releases are supported\n\
     severity: high\nhttp:\n  path: /\nchecks:\n\
     \x20 - software: { supported: true, distro: skip }\n    severity: high\n\
     \x20 - software: { supported_for_at_least: 90d, distro: skip }\n    severity: medium\n";

/// Every product the identifier knows, before, near and after its end of life, and the
/// cases around them, through `picket check`: exactly the verdicts the data implies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_headers_and_banners_gets_exactly_the_verdicts_the_data_implies() {
    let mut cases = placed_cases();
    // Every product the identifier returns that the data has is in the table, and at least
    // one case passes and one fails per verdict.
    for product in picket::software::identify::PRODUCTS {
        if table().products.contains_key(*product) && *product != "dotnetfx" {
            assert!(
                cases
                    .iter()
                    .any(|c| c.expected.iter().any(|e| e.product == *product)),
                "no case shows {product}: add it to `show`"
            );
        }
    }
    let verdicts: Vec<Verdict> = cases
        .iter()
        .flat_map(|c| c.expected.iter().map(|e| verdict(e.product, &e.version)))
        .collect();
    assert!(verdicts.contains(&Verdict::Past) && verdicts.contains(&Verdict::Pass));
    cases.extend(other_cases());

    let mut servers = Vec::new();
    let mut targets = String::new();
    for (i, case) in cases.iter().enumerate() {
        let name = format!("case-{i}");
        match &case.show {
            Show::Http(headers, body) => {
                let server = http_fake(headers.clone(), body.clone()).await;
                targets.push_str(&format!(
                    "  - {{ name: {name}, url: \"{}\" }}\n",
                    server.url()
                ));
                servers.push(server);
            }
            Show::Banner(bytes) => {
                let port = banner_fake(bytes.clone()).await;
                targets.push_str(&format!(
                    "  - {{ name: {name}, url: \"tcp://127.0.0.1:{port}\", vars: {{ service_ports: [{port}] }} }}\n"
                ));
            }
        }
    }
    let ws = workspace(&[("probes/skip.yaml", SKIP_DISTRO)]);
    std::fs::write(
        ws.path().join("picket.yaml"),
        format!(
            "probes: [probes/]\ntargets:\n{targets}\
             limits: {{ per_target_rps: 1000, per_target_concurrency: 4 }}\n"
        ),
    )
    .unwrap();
    let rows = check_software(ws.path()).await;
    for (i, case) in cases.iter().enumerate() {
        let target = format!("case-{i}");
        let (probe, skip_probe) = match case.show {
            Show::Http(..) => (EOL, Some("software/test-skip-distro")),
            Show::Banner(_) => (EOL_BANNER, None),
        };
        eprintln!("{}: {:?}", case.what, case.expected);
        check_row(row(&rows, probe, &target), &case.expected, false);
        if let Some(skip) = skip_probe {
            check_row(row(&rows, skip, &target), &case.expected, true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A series that is downgraded regresses (acceptance 1)
// ---------------------------------------------------------------------------------------------

/// A target whose `Server` header names one version or another.
struct Switch {
    server: TestServer,
    shown: Arc<Mutex<String>>,
}

impl Switch {
    async fn start(server_header: String) -> Switch {
        let shown = Arc::new(Mutex::new(server_header));
        let now = shown.clone();
        let server = TestServer::start(move |_| {
            let value = now.lock().unwrap().clone();
            respond(200, &[("server", value.as_str())], "<!doctype html>")
        })
        .await;
        Switch { server, shown }
    }

    fn show(&self, server_header: String) {
        *self.shown.lock().unwrap() = server_header;
    }
}

/// A `picket run` workspace: the shipped `software/end-of-life` probe, every second,
/// `confirm: 2`, targets as given; `telemetry` an extra YAML block.
fn run_workspace(targets: &str, telemetry: &str) -> tempfile::TempDir {
    let ws = workspace(&[("probes/end-of-life.yaml", &shipped("end-of-life.yaml"))]);
    let root = ws.path();
    let config = format!(
        "library: false\nprobes: [probes/]\ntargets:\n{targets}\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  recover: 1\n  timeout: 5s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{telemetry}",
        state = root.join("state").display(),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_regresses_when_its_target_is_downgraded_past_end_of_life() {
    use picket::state::State;
    let (past, supported) = past_and_supported("nginx");
    assert_eq!(verdict("nginx", &supported), Verdict::Pass);
    assert_eq!(verdict("nginx", &past), Verdict::Past);
    let target = Switch::start(format!("nginx/{supported}")).await;
    let ws = run_workspace(
        &format!("  - name: web\n    url: {}\n", target.server.url()),
        "",
    );
    let service = crate::service::spawn_service(ws.path(), &[]);
    let long = Duration::from_secs(30);
    let never_early = crate::service::never_early;
    let passing = crate::service::watch(service.api, long, never_early, |r| {
        r.state == State::Passing && !r.history.is_empty()
    })
    .await;
    assert_eq!(passing.probe, EOL);
    target.show(format!("nginx/{past}"));
    let regressed = crate::service::watch(service.api, long, never_early, |r| {
        r.state == State::Regressed
    })
    .await;
    assert!(
        regressed
            .findings
            .iter()
            .any(|f| f.observed.contains(&format!("nginx {past}"))),
        "{regressed:?}"
    );
    let status = service.terminate().await;
    assert_eq!(status.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// picket.software.eol at a real OTLP receiver (acceptance 4)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eol_gauge_and_span_attributes_arrive_at_the_collector() {
    let receiver = crate::otlp::Receiver::grpc().await;
    let (past, _) = past_and_supported("nginx");
    // A supported release with an end-of-life date (nginx's current cycles have none).
    let today = today();
    let python = table().product("python").unwrap();
    let dated = python
        .cycles
        .iter()
        .find(|c| {
            c.eol
                .is_some_and(|eol| (eol - today).num_days() >= SOON_DAYS)
        })
        .unwrap();
    let supported = version_in(dated);
    let old = Switch::start(format!("nginx/{past}")).await;
    let new = Switch::start(format!("SimpleHTTP/0.6 Python/{supported}")).await;
    let ws = run_workspace(
        &format!(
            "  - name: old\n    url: {}\n  - name: new\n    url: {}\n",
            old.server.url(),
            new.server.url()
        ),
        &crate::e2e::telemetry_block(&receiver, "grpc"),
    );
    let service = crate::service::spawn_service(ws.path(), &[]);
    let gauge = "picket.software.eol";
    let want = |target: &str, name: &str, version: &str| -> BTreeMap<String, String> {
        [
            ("target.name", target),
            ("software.name", name),
            ("software.version", version),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let old_attrs = want("old", "nginx", &past);
    let new_attrs = want("new", "python", &supported);
    let arrived = receiver
        .wait_until(
            |r| {
                let points = r.metric_points(gauge);
                points.iter().any(|(a, _)| *a == old_attrs)
                    && points.iter().any(|(a, _)| *a == new_attrs)
            },
            Duration::from_secs(30),
        )
        .await;
    let status = service.terminate().await;
    assert_eq!(status.code(), Some(0));
    assert!(arrived, "{gauge} did not arrive: {}", receiver.dump());

    let metric = receiver.metric(gauge).unwrap();
    assert_eq!(metric.unit, "s");
    let points = receiver.metric_points(gauge);
    let value = |attrs: &BTreeMap<String, String>| {
        points
            .iter()
            .find(|(a, _)| a == attrs)
            .map(|(_, v)| *v)
            .unwrap()
    };
    let days = |seconds: f64| seconds / 86_400.0;
    let past_eol = cycle_of("nginx", &past).unwrap().eol.unwrap();
    let old_days = days(value(&old_attrs));
    assert!(old_days < 0.0, "past end of life is negative: {old_days}");
    let expected_old = (past_eol - today).num_days() as f64;
    assert!(
        (old_days - expected_old).abs() <= 1.0,
        "{old_days} days, expected {expected_old} ± 1"
    );
    let new_days = days(value(&new_attrs));
    let expected_new = (dated.eol.unwrap() - today).num_days() as f64;
    assert!(new_days > 0.0, "{new_days}");
    assert!(
        (new_days - expected_new).abs() <= 1.0,
        "{new_days} days, expected {expected_new} ± 1"
    );
    // Only these two: nothing else was identified.
    assert_eq!(points.len(), 2, "{points:?}");

    // The runs' spans name what they identified.
    let spans = receiver.spans();
    for (target, name, version) in [("old", "nginx", &past), ("new", "python", &supported)] {
        let span = spans
            .iter()
            .find(|s| {
                s.name == format!("probe {EOL}")
                    && s.attrs.get("target.name").map(String::as_str) == Some(target)
            })
            .unwrap_or_else(|| panic!("no span of {target}: {spans:#?}"));
        assert_eq!(
            span.attrs.get("software.name"),
            Some(&name.to_string()),
            "{span:#?}"
        );
        assert_eq!(span.attrs.get("software.version"), Some(version));
    }
}

// ---------------------------------------------------------------------------------------------
// End-of-life dates at the edges, through `software.data` (acceptance 2)
// ---------------------------------------------------------------------------------------------

/// Release data (endoflife.date's API v1 shape) whose nginx cycles end around today:
/// `(cycle, end of life in days from today or None, isEol)`.
fn edge_data(today: NaiveDate, cycles: &[(&str, Option<i64>, bool)]) -> String {
    let releases: Vec<Value> = cycles
        .iter()
        .map(|(name, days, is_eol)| {
            serde_json::json!({
                "name": name,
                "releaseDate": "2020-01-01",
                "isEol": is_eol,
                "eolFrom": days.map(|d| (today + chrono::TimeDelta::days(d)).to_string()),
                "latest": { "name": format!("{name}.3") },
            })
        })
        .collect();
    serde_json::json!({
        "generated_at": today.to_string(),
        "result": [{ "name": "nginx", "label": "nginx", "releases": releases }],
    })
    .to_string()
}

/// A day before, on, a day after and 89/90 days after an end-of-life date, no date, and
/// ended without a date: the verdicts of `check` are the ones the data implies, and those are
/// the documented ones (past on and after the date; `supported_for_at_least: 90d` fails
/// under 90 days left).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_life_dates_at_the_edges_are_judged_as_documented() {
    let today = today();
    let cycles: [(&str, Option<i64>, bool, Verdict); 7] = [
        ("1.90", Some(-1), true, Verdict::Past),
        ("1.91", Some(0), true, Verdict::Past),
        ("1.92", Some(1), false, Verdict::EndsSoon),
        ("1.93", Some(89), false, Verdict::EndsSoon),
        ("1.94", Some(90), false, Verdict::Pass),
        ("1.95", None, false, Verdict::Pass),
        ("1.96", None, true, Verdict::Past),
    ];
    let spec: Vec<(&str, Option<i64>, bool)> =
        cycles.iter().map(|(n, d, e, _)| (*n, *d, *e)).collect();
    let text = edge_data(today, &spec);
    let table = data::parse_v1(Path::new("eol.json"), &text).unwrap_or_else(|e| panic!("{e}"));
    let mut servers = Vec::new();
    let mut targets = String::new();
    for (name, _, _, want) in &cycles {
        let version = format!("{name}.3");
        assert_eq!(verdict_in(&table, "nginx", &version), *want, "{version}");
        let server = http_fake(
            vec![("server".into(), format!("nginx/{version}"))],
            String::new(),
        )
        .await;
        targets.push_str(&format!(
            "  - {{ name: \"v{}\", url: \"{}\" }}\n",
            name.replace('.', "-"),
            server.url()
        ));
        servers.push(server);
    }
    let ws = workspace(&[("eol.json", &text)]);
    std::fs::write(
        ws.path().join("picket.yaml"),
        format!(
            "library: false\nprobes: [probes/]\nsoftware: {{ data: eol.json }}\n\
             targets:\n{targets}limits: {{ per_target_rps: 1000 }}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(ws.path().join("probes")).unwrap();
    std::fs::write(
        ws.path().join("probes/end-of-life.yaml"),
        shipped("end-of-life.yaml"),
    )
    .unwrap();
    let rows = check_software(ws.path()).await;
    for (name, _, _, _) in &cycles {
        let target = format!("v{}", name.replace('.', "-"));
        check_row_in(
            &table,
            row(&rows, EOL, &target),
            &[expect("nginx", format!("{name}.3"))],
            false,
        );
    }
}
