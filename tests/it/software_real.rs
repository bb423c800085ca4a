//! Identification against what real servers volunteer: nginx, Python's `http.server`,
//! `redis-server` (`INFO server`) and OpenSSH's `sshd`, each started on a free 127.0.0.1 port,
//! read over a plain socket, and the product and version identified compared with what the
//! installed program says of itself (`nginx -v`, `python3 --version`, `redis-server
//! --version`, `ssh -V`). The samples in `software::identify`'s unit tests are written by hand;
//! these are the servers' own words.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use picket::software::identify::{Identified, Seen, identify};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::real_servers::{Site, nginx};

/// How long a server may take to accept connections or answer.
const WITHIN: Duration = Duration::from_secs(10);

/// A process on a loopback port, killed on drop.
struct Process {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command(port, home)` on a free port and waits until it accepts connections.
async fn start(what: &str, command: impl Fn(u16, &Path) -> Command) -> Process {
    let home = tempfile::tempdir().unwrap();
    let port = crate::helpers::closed_port();
    let child = command(port, home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let mut process = Process {
        child,
        port,
        _home: home,
    };
    let deadline = tokio::time::Instant::now() + WITHIN;
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("{what} exited ({status}) before accepting connections");
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not accept connections on 127.0.0.1:{port} within {WITHIN:?}");
}

/// Sends `request` (if any) and reads until `done` says the answer is complete, the server
/// closes, or [`WITHIN`] has passed.
async fn exchange(port: u16, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    if !request.is_empty() {
        stream.write_all(request).await.unwrap();
    }
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WITHIN, async {
        let mut buf = [0u8; 4096];
        while !done(&got) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    got
}

/// The header fields of a raw HTTP response.
fn header_fields(response: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(response);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().as_bytes().to_vec()))
        .collect()
}

/// What one HTTP server's response to `HEAD /` identifies.
async fn identify_http(port: u16) -> Vec<Identified> {
    let response = exchange(port, b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", |got| {
        got.windows(4).any(|w| w == b"\r\n\r\n")
    })
    .await;
    let fields = header_fields(&response);
    identify(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        b"",
        b"",
    )
}

/// What a program prints of its version (stdout and stderr together).
fn says(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The text after `marker` up to the first character `ends` accepts.
fn after(text: &str, marker: &str, ends: impl Fn(char) -> bool) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in {text:?}"));
    let rest = &text[at + marker.len()..];
    rest[..rest.find(ends).unwrap_or(rest.len())].to_string()
}

#[tokio::test]
async fn nginx_server_header_names_the_installed_nginx() {
    let server = nginx(Site {
        files: &[("index.html", "<p>hello</p>")],
        directives: "",
        tls: None,
    })
    .await;
    let found = identify_http(server.port).await;
    let installed = after(
        &says("/usr/sbin/nginx", &["-v"]),
        "nginx/",
        char::is_whitespace,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].product, "nginx");
    assert_eq!(found[0].version, installed);
    assert_eq!(found[0].seen, Seen::Header("server"));
    assert_eq!(found[0].raw, format!("nginx/{installed}"));
}

#[tokio::test]
async fn python_http_server_names_the_installed_python() {
    let server = start("python3 -m http.server", |port, home| {
        let mut command = Command::new("python3");
        command
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(home);
        command
    })
    .await;
    let found = identify_http(server.port).await;
    let installed = after(
        &says("python3", &["--version"]),
        "Python ",
        char::is_whitespace,
    );
    let python: Vec<_> = found.iter().filter(|i| i.product == "python").collect();
    assert_eq!(python.len(), 1, "{found:?}");
    assert_eq!(python[0].version, installed);
    assert!(python[0].raw.starts_with("Python/"), "{}", python[0].raw);
}

#[tokio::test]
async fn redis_info_server_names_the_installed_redis() {
    let server = start("redis-server", |port, home| {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(home);
        command
    })
    .await;
    let info = exchange(server.port, b"INFO server\r\n", |got| {
        String::from_utf8_lossy(got).contains("\r\nos:")
    })
    .await;
    let found = identify(std::iter::empty(), b"", &info);
    let installed = after(
        &says("redis-server", &["--version"]),
        "v=",
        char::is_whitespace,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].product, found[0].version.as_str(), found[0].seen),
        ("redis", installed.as_str(), Seen::Banner)
    );
}

#[tokio::test]
async fn sshd_banner_names_the_installed_openssh_and_its_distribution() {
    // sshd wants its privilege separation directory (Debian's package creates it at boot).
    std::fs::create_dir_all("/run/sshd").expect("sshd needs /run/sshd (run the tests as root)");
    let server = start("sshd", |port, home| {
        let key = home.join("host_key");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success(), "ssh-keygen failed");
        let mut command = Command::new("/usr/sbin/sshd");
        command
            .args([
                "-D",
                "-e",
                "-f",
                "/dev/null",
                "-o",
                "ListenAddress=127.0.0.1",
            ])
            .args(["-p", &port.to_string()])
            .arg("-h")
            .arg(&key);
        command
    })
    .await;
    let banner = exchange(server.port, b"", |got| got.contains(&b'\n')).await;
    let found = identify(std::iter::empty(), b"", &banner);
    // `ssh -V`: `OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 …`; the server is the same
    // package build.
    let client = says("ssh", &["-V"]);
    let token = after(&client, "OpenSSH_", |c| c == ',');
    let (release, comment) = token.split_once(' ').unwrap_or((&token, ""));
    let upstream = release.split('p').next().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].product, "openssh");
    assert_eq!(found[0].version, upstream);
    assert_eq!(found[0].raw, format!("OpenSSH_{token}"));
    assert_eq!(
        found[0].distro.as_deref(),
        (!comment.is_empty()).then_some(comment)
    );
}
