//! The shipped probes against the real servers behind issue 8's side-by-side findings with
//! Mozilla Observatory: Python's `http.server` and nginx (Debian's `nginx-light`), each started
//! by the test on a free 127.0.0.1 port and stopped when it is dropped. Every run goes through
//! the built binary (`picket check … --format json`), as a user would run it.
//!
//! probes.rs replays these servers' pages from an in-process server; here the servers answer
//! themselves, with their own headers, status codes and listing pages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{run_picket, texts, workspace};
use crate::tls_servers::{Files, LeafSpec, Pki};

// ---------------------------------------------------------------------------------------------
// The servers
// ---------------------------------------------------------------------------------------------

/// How long a server may take to accept connections (it usually takes milliseconds).
const START_WITHIN: Duration = Duration::from_secs(10);

/// A server process on a free loopback port, stopped on drop.
pub(crate) struct Server {
    what: &'static str,
    pub(crate) port: u16,
    child: Child,
    /// Its log (stderr); for nginx also its prefix: config, pid file, temp paths and site.
    home: tempfile::TempDir,
    /// A command that stops it gracefully (nginx's master must stop its worker too); else the
    /// process is killed.
    stop: Option<Command>,
}

impl Server {
    /// Spawns `command(port, home)` on a free port and waits until it accepts connections,
    /// with a new port if the one picked was taken meanwhile. Panics with the server's stderr
    /// when it does not start. `stop(home)`, if given, is how the server is stopped.
    pub(crate) async fn start(
        what: &'static str,
        mut home: tempfile::TempDir,
        command: impl Fn(u16, &Path) -> Command,
        stop: Option<&dyn Fn(&Path) -> Command>,
    ) -> Server {
        for _ in 0..5 {
            let port = crate::helpers::closed_port();
            let log = std::fs::File::create(home.path().join("stderr.log")).unwrap();
            let mut command = command(port, home.path());
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("{what} did not start ({e}): {}", install_hint(what)));
            let mut server = Server {
                what,
                port,
                child,
                stop: stop.map(|stop| stop(home.path())),
                home,
            };
            match server.ready().await {
                Ready::Yes => return server,
                Ready::PortTaken => home = server.take_home(),
                Ready::No(why) => {
                    let log = server.log();
                    drop(server);
                    panic!("{what} {why}; its stderr:\n{log}");
                }
            }
        }
        panic!("{what}: five free ports in a row were taken before it could bind them");
    }

    /// Connects until the server accepts, it exits, or [`START_WITHIN`] has passed.
    async fn ready(&mut self) -> Ready {
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return if self.log().contains("in use") {
                    Ready::PortTaken
                } else {
                    Ready::No(format!("exited ({status}) before accepting connections"))
                };
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ready::Yes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ready::No(format!(
            "did not accept connections on 127.0.0.1:{} within {START_WITHIN:?}",
            self.port
        ))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("stderr.log")).unwrap_or_default()
    }

    /// The home of a server that exited, for the next attempt.
    fn take_home(mut self) -> tempfile::TempDir {
        self.stop = None;
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.home, placeholder)
    }

    pub(crate) fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

enum Ready {
    Yes,
    PortTaken,
    No(String),
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = &mut self.stop {
            let stopped = stop
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            // A fast shutdown takes milliseconds; bounded all the same.
            for _ in 0..250 {
                if !stopped || self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A test that failed shows what the server said.
        let log = self.log();
        if std::thread::panicking() && !log.is_empty() {
            eprintln!("{} on port {}, stderr:\n{log}", self.what, self.port);
        }
    }
}

fn install_hint(what: &str) -> &'static str {
    if what.starts_with("nginx") {
        "the nginx tests need Debian's `nginx-light` package (`.ci/run` installs it)"
    } else if what.starts_with("apache2") {
        "the Apache tests need Debian's `apache2` package (`run-tests` installs it)"
    } else if what.starts_with("sshd") {
        "the OpenSSH tests need Debian's `openssh-server` package (`run-tests` installs it)"
    } else if what.starts_with("redis") {
        "the Redis tests need Debian's `redis-server` package (`run-tests` installs it)"
    } else {
        "the Python tests need `python3` (Debian package `python3`)"
    }
}

/// `python3 -m http.server` serving `dir`.
pub(crate) async fn python_http_server(dir: &Path) -> Server {
    let dir = dir.to_path_buf();
    Server::start(
        "python3 -m http.server",
        tempfile::tempdir().unwrap(),
        move |port, _| {
            let mut command = Command::new("python3");
            command
                .args(["-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .arg("--directory")
                .arg(&dir);
            command
        },
        None,
    )
    .await
}

/// Where nginx is: on the PATH, or in `/usr/sbin` (not on a non-root user's PATH on Debian).
pub(crate) fn nginx_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("nginx not found: {}", install_hint("nginx")))
}

/// Whether the tests run as root (CI does): nginx's worker then switches to `nobody`, who
/// cannot read the test's private temporary directories, unless told to stay root.
pub(crate) fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// One nginx site: its files (under `site/`), its `server` directives besides `listen` and
/// `root`, and a certificate to serve TLS with.
pub(crate) struct Site<'a> {
    pub(crate) files: &'a [(&'a str, &'a str)],
    pub(crate) directives: &'a str,
    pub(crate) tls: Option<&'a Files>,
}

impl<'a> Site<'a> {
    fn plain(files: &'a [(&'a str, &'a str)], directives: &'a str) -> Site<'a> {
        Site {
            files,
            directives,
            tls: None,
        }
    }
}

/// nginx serving `site` on 127.0.0.1, in the foreground, with everything it writes in its own
/// temporary directory.
pub(crate) async fn nginx(site: Site<'_>) -> Server {
    let mut files: Vec<(String, &str)> = site
        .files
        .iter()
        .map(|(path, content)| (format!("site/{path}"), *content))
        .collect();
    files.push(("site/.keep".into(), ""));
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let home = workspace(&files);
    let binary = nginx_binary();
    let user = if is_root() { "user root;\n" } else { "" };
    let (ssl, certificate) = match site.tls {
        Some(files) => (
            " ssl",
            format!(
                "ssl_certificate {};\n    ssl_certificate_key {};\n",
                files.cert.display(),
                files.key.display()
            ),
        ),
        None => ("", String::new()),
    };
    let directives = site.directives;
    let start = |port, home: &Path| {
        let home = home.display();
        let conf = format!(
            "{user}daemon off;\nworker_processes 1;\npid {home}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n\
             client_body_temp_path {home}/body;\n  proxy_temp_path {home}/proxy;\n\
             fastcgi_temp_path {home}/fastcgi;\n  uwsgi_temp_path {home}/uwsgi;\n\
             scgi_temp_path {home}/scgi;\n\
             types {{ text/html html; application/pdf pdf; }}\n\
             default_type application/octet-stream;\n\
             server {{\n    listen 127.0.0.1:{port}{ssl};\n    root {home}/site;\n    \
             {certificate}    {directives}\n  }}\n}}\n"
        );
        std::fs::write(format!("{home}/nginx.conf"), conf).unwrap();
        let mut command = Command::new(&binary);
        command.args(nginx_args(home));
        command
    };
    // The master stops its worker on SIGTERM; killed, it would leave the worker behind.
    let stop = |home: &Path| {
        let mut command = Command::new(&binary);
        command
            .args(nginx_args(home.display()))
            .args(["-s", "stop"]);
        command
    };
    Server::start("nginx", home, start, Some(&stop)).await
}

/// The options that point nginx at its home, to start it or to signal it.
fn nginx_args(home: impl std::fmt::Display) -> [String; 4] {
    [
        "-p".into(),
        format!("{home}/"),
        "-c".into(),
        format!("{home}/nginx.conf"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running picket
// ---------------------------------------------------------------------------------------------

/// `picket check --target URL --probe GLOB --format json` (the built-in library, no config):
/// its result rows.
async fn check(url: &str, probe: &str) -> Vec<Value> {
    let dir = workspace(&[]);
    json_rows(
        dir.path(),
        &[
            "check", "--target", url, "--probe", probe, "--format", "json",
        ],
    )
    .await
}

/// `picket check -c picket.yaml --probe GLOB --format json` with `config` (the built-in
/// library with the config's targets): its result rows.
async fn check_config(config: &str, probe: &str) -> Vec<Value> {
    let dir = workspace(&[("picket.yaml", config)]);
    json_rows(
        dir.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--probe",
            probe,
            "--format",
            "json",
        ],
    )
    .await
}

async fn json_rows(dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = run_picket(dir, args, &[]).await;
    let (stdout, stderr) = texts(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "picket {args:?}: exit {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("picket {args:?}: not JSON ({e}):\n{stdout}\n{stderr}"));
    doc["results"].as_array().unwrap().clone()
}

/// The result row of `probe`.
#[track_caller]
fn row<'a>(rows: &'a [Value], probe: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["probe"] == probe)
        .unwrap_or_else(|| panic!("no result for {probe} in {rows:#?}"))
}

#[track_caller]
fn expect_pass(rows: &[Value], probe: &str) {
    let row = row(rows, probe);
    assert_eq!(row["outcome"], "pass", "{probe}: {row:#}");
}

/// The reason of a skipped row.
#[track_caller]
fn expect_skip(rows: &[Value], probe: &str) -> String {
    let row = row(rows, probe);
    assert_eq!(row["outcome"], "skip", "{probe}: {row:#}");
    row["skipped"].as_str().unwrap().to_string()
}

/// The findings of a failed row.
#[track_caller]
fn expect_fail(rows: &[Value], probe: &str) -> Vec<Value> {
    let row = row(rows, probe);
    assert_eq!(row["outcome"], "fail", "{probe}: {row:#}");
    let findings = row["findings"].as_array().unwrap().clone();
    assert!(!findings.is_empty(), "{probe}: {row:#}");
    findings
}

fn text(finding: &Value, field: &str) -> String {
    finding[field].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// exposure/directory-listing
// ---------------------------------------------------------------------------------------------

const LISTING: &str = "exposure/directory-listing";

/// Python's `http.server` lists a directory without `index.html`, and serves the index page
/// of one that has it.
#[tokio::test]
async fn python_http_server_listing_fails_and_its_index_page_passes() {
    let served = workspace(&[
        ("backup.tar.gz", "not really"),
        ("notes/todo.txt", "rotate keys"),
    ]);
    let python = python_http_server(served.path()).await;
    let rows = check(&python.url("http"), LISTING).await;
    // `/`, and `notes/` linked from its listing: Python lists that one too.
    let findings = expect_fail(&rows, LISTING);
    let checks: Vec<String> = findings.iter().map(|f| text(f, "check")).collect();
    assert_eq!(
        checks,
        [
            "GET /: the directory is not listed",
            "GET /notes/: the directory is not listed"
        ],
        "{findings:#?}"
    );
    let observed = text(&findings[0], "observed");
    assert!(
        observed.contains("status 200")
            && observed.contains("text/html")
            && observed.contains("<title>Directory listing for /"),
        "{findings:#?}"
    );
    assert!(
        text(&findings[1], "observed").contains("<title>Directory listing for /notes/"),
        "{findings:#?}"
    );
    drop(python);

    let served = workspace(&[
        (
            "index.html",
            "<!doctype html><html><head><title>Notes</title></head><body>notes</body></html>",
        ),
        ("notes/todo.txt", "rotate keys"),
    ]);
    let python = python_http_server(served.path()).await;
    let rows = check(&python.url("http"), LISTING).await;
    expect_pass(&rows, LISTING);
}

/// A home page linking to a report under `/files/`: nginx lists `/files/` with autoindex on,
/// and picket finds it from the link alone (no `vars.directories`).
const HOME: &str = "<!doctype html><html><head><title>Shop</title></head><body>\
     <a href=\"/files/report.pdf\">Annual report</a></body></html>";

#[tokio::test]
async fn nginx_autoindex_of_a_linked_directory_fails_and_autoindex_off_passes() {
    let files = [("index.html", HOME), ("files/report.pdf", "%PDF-1.4")];
    let on = nginx(Site::plain(&files, "location /files/ { autoindex on; }")).await;
    let rows = check(&on.url("http"), LISTING).await;
    let findings = expect_fail(&rows, LISTING);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert!(
        text(finding, "check").starts_with("GET /files/: "),
        "{finding:#}"
    );
    assert!(
        text(finding, "observed").contains("<title>Index of /files/"),
        "{finding:#}"
    );

    let off = nginx(Site::plain(&files, "location /files/ { autoindex off; }")).await;
    let rows = check(&off.url("http"), LISTING).await;
    expect_pass(&rows, LISTING);
}

// ---------------------------------------------------------------------------------------------
// A plain-HTTP redirector, transport/https-redirect
// ---------------------------------------------------------------------------------------------

const HTTPS_REDIRECT: &str = "transport/https-redirect";

/// The probes that judge the page (or a file of the site) and run on `http://` targets: a
/// redirect to another origin is not the page.
const PAGE_PROBES: &[&str] = &[
    "headers/csp",
    "headers/csp-unsafe-inline",
    "headers/clickjacking",
    "headers/nosniff",
    "headers/referrer-policy",
    "disclosure/security-txt",
];

fn redirect_to(port: u16) -> String {
    format!("return 301 https://127.0.0.1:{port}$request_uri;")
}

/// An nginx port whose only job is to send everyone to HTTPS: the page probes skip it, naming
/// where it redirects, instead of reporting the redirector's missing headers; the redirect
/// itself passes `transport/https-redirect`.
#[tokio::test]
async fn nginx_https_redirector_skips_page_probes_and_passes_https_redirect() {
    let tls_port = crate::helpers::closed_port();
    let redirector = nginx(Site::plain(&[], &redirect_to(tls_port))).await;
    // The whole library: every page probe that runs on http targets is in PAGE_PROBES.
    let rows = check(&redirector.url("http"), "*").await;
    for probe in PAGE_PROBES {
        let reason = expect_skip(&rows, probe);
        let to = if *probe == "disclosure/security-txt" {
            "/.well-known/security.txt"
        } else {
            "/"
        };
        assert_eq!(
            reason,
            format!("redirects to https://127.0.0.1:{tls_port}{to}; probe that target"),
            "{probe}"
        );
    }
    // No other probe skips for the redirect, and every other header probe on an http target
    // is among them but headers/version-disclosure, which judges the redirector's own `Server`
    // header (headers/hsts selects https targets only).
    let mut skipped: Vec<&str> = rows
        .iter()
        .filter(|r| r["outcome"] == "skip")
        .filter(|r| r["skipped"].as_str().unwrap().starts_with("redirects to"))
        .map(|r| r["probe"].as_str().unwrap())
        .collect();
    skipped.sort_unstable();
    let mut expected = PAGE_PROBES.to_vec();
    expected.sort_unstable();
    assert_eq!(skipped, expected);
    let other_headers: Vec<&str> = rows
        .iter()
        .map(|r| r["probe"].as_str().unwrap())
        .filter(|p| p.starts_with("headers/") && !PAGE_PROBES.contains(p))
        .collect();
    assert_eq!(other_headers, ["headers/version-disclosure"]);
    let findings = expect_fail(&rows, "headers/version-disclosure");
    assert!(
        text(&findings[0], "observed").contains("nginx/"),
        "{findings:#?}"
    );
    expect_pass(&rows, HTTPS_REDIRECT);
}

/// nginx serving its page over plain HTTP, without a redirect, fails.
#[tokio::test]
async fn nginx_serving_content_over_plain_http_fails_https_redirect() {
    let content = nginx(Site::plain(&[("index.html", HOME)], "")).await;
    let rows = check(&content.url("http"), HTTPS_REDIRECT).await;
    let findings = expect_fail(&rows, HTTPS_REDIRECT);
    assert!(
        text(&findings[0], "observed").contains("status 200"),
        "{findings:#?}"
    );
}

/// An `https://` target (nginx with TLS) whose `vars.http_port` is nginx redirecting to it
/// passes; one whose plain port serves the page fails. The page probes judge the HTTPS page.
#[tokio::test]
async fn nginx_https_target_is_judged_by_its_http_port() {
    let pki = Pki::new();
    let leaf = pki.leaf("nginx", LeafSpec::default());
    let files = [("index.html", HOME)];
    let tls = nginx(Site {
        files: &files,
        directives: "add_header Strict-Transport-Security \"max-age=31536000\" always;",
        tls: Some(&leaf),
    })
    .await;
    let redirector = nginx(Site::plain(&[], &redirect_to(tls.port))).await;
    let content = nginx(Site::plain(&files, "")).await;
    let config = |http_port: u16| {
        format!(
            "targets:\n  - name: shop\n    url: {url}\n    tls: {{ ca_file: \"{ca}\" }}\n    \
             vars: {{ http_port: \"{http_port}\" }}\n\
             limits: {{ per_target_rps: 1000, per_target_concurrency: 16 }}\n",
            url = tls.url("https"),
            ca = pki.ca_file.display(),
        )
    };
    let probes = "{transport/https-redirect,headers/hsts,headers/nosniff}";

    let rows = check_config(&config(redirector.port), probes).await;
    expect_pass(&rows, HTTPS_REDIRECT);
    expect_pass(&rows, "headers/hsts");
    // The HTTPS page itself is judged, not skipped: this nginx sends no X-Content-Type-Options.
    let findings = expect_fail(&rows, "headers/nosniff");
    assert!(
        text(&findings[0], "observed") == "X-Content-Type-Options not sent",
        "{findings:#?}"
    );

    let rows = check_config(&config(content.port), HTTPS_REDIRECT).await;
    let findings = expect_fail(&rows, HTTPS_REDIRECT);
    assert!(
        text(&findings[0], "observed").contains("status 200"),
        "{findings:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Headers as nginx sends them
// ---------------------------------------------------------------------------------------------

const CLICKJACKING: &str = "headers/clickjacking";

/// `add_header` in two places (a common result of includes) sends the header twice: the same
/// value twice is no conflict; two different values are.
#[tokio::test]
async fn nginx_x_frame_options_deny_twice_passes_clickjacking() {
    let twice = nginx(Site::plain(
        &[("index.html", HOME)],
        "add_header X-Frame-Options DENY;\n    add_header X-Frame-Options DENY;",
    ))
    .await;
    let rows = check(&twice.url("http"), CLICKJACKING).await;
    expect_pass(&rows, CLICKJACKING);

    let conflicting = nginx(Site::plain(
        &[("index.html", HOME)],
        "add_header X-Frame-Options DENY;\n    add_header X-Frame-Options SAMEORIGIN;",
    ))
    .await;
    let rows = check(&conflicting.url("http"), CLICKJACKING).await;
    let findings = expect_fail(&rows, CLICKJACKING);
    assert!(
        findings.iter().any(|f| {
            let observed = text(f, "observed");
            observed.contains("DENY") && observed.contains("SAMEORIGIN")
        }),
        "{findings:#?}"
    );
}

/// `frame-ancestors *` lets any site frame the page.
#[tokio::test]
async fn nginx_frame_ancestors_star_fails_clickjacking() {
    let star = nginx(Site::plain(
        &[("index.html", HOME)],
        "add_header Content-Security-Policy \"frame-ancestors *\";",
    ))
    .await;
    let rows = check(&star.url("http"), CLICKJACKING).await;
    let findings = expect_fail(&rows, CLICKJACKING);
    assert!(
        findings
            .iter()
            .any(|f| text(f, "observed").contains("frame-ancestors *")),
        "{findings:#?}"
    );
}

/// A page whose only policy is a `<meta http-equiv>`, with `'unsafe-inline'` as the fallback
/// for browsers without nonces: CSP2+ browsers ignore it next to a nonce and
/// `'strict-dynamic'`, so it is no finding; without the nonce it is.
#[tokio::test]
async fn nginx_page_with_a_meta_csp_nonce_and_unsafe_inline_passes() {
    fn page(policy: &str) -> String {
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\
             <title>Shop</title></head><body>\
             <script nonce=\"abc\">document.title = 'Shop'</script></body></html>"
        )
    }
    let nonce = page("default-src 'self'; script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline'");
    let bare = page("default-src 'self'; script-src 'self' 'unsafe-inline'");
    let site = nginx(Site::plain(
        &[("index.html", &nonce), ("bare/index.html", &bare)],
        "",
    ))
    .await;
    let probes = "headers/csp*";
    let rows = check(&site.url("http"), probes).await;
    expect_pass(&rows, "headers/csp");
    expect_pass(&rows, "headers/csp-unsafe-inline");

    let rows = check(&format!("{}/bare/", site.url("http")), probes).await;
    expect_pass(&rows, "headers/csp");
    let findings = expect_fail(&rows, "headers/csp-unsafe-inline");
    assert!(
        text(&findings[0], "observed").contains("'unsafe-inline'"),
        "{findings:#?}"
    );
}
