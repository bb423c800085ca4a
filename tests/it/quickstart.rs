//! The README's quick start runs as written: its `sh` blocks, in order, in one shell, in an
//! empty folder, on free ports, with the real `picket` binary on the PATH and a real OTLP
//! receiver where the README says the collector listens.
//!
//! Only `cargo install` (the test already runs the binary it would build) and `docker` (no
//! container runtime or image registry here) lines are left out. Between commands the test
//! waits where a person would: for the site to listen, for the service to be ready, for
//! `exposure/git` to pass before the careless deploy, and for the regression and the recovery.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver as Lines, channel};
use std::time::{Duration, Instant};

use crate::helpers::repo_root;
use crate::otlp::Receiver;

/// The `sh` blocks of the README's "Quick start" section, each split into commands (a line,
/// or a heredoc with its body).
fn quick_start_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find("## Quick start")
        .expect("README has a Quick start section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut commands = Vec::new();
    for block in section.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let mut lines = block.lines();
        while let Some(line) = lines.next() {
            let mut command = line.to_string();
            if let Some(pos) = line.find("<<'") {
                let tag = line[pos + 3..].trim_end_matches('\'').to_string();
                for body in lines.by_ref() {
                    command.push('\n');
                    command.push_str(body);
                    if body == tag {
                        break;
                    }
                }
            }
            if !command.trim().is_empty() {
                commands.push(command);
            }
        }
    }
    commands
}

/// `GET path` on 127.0.0.1:port; the body, or None when nothing answers 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The state of `probe` in `GET /api/v1/series`.
fn series_state(api: u16, probe: &str) -> Option<String> {
    let body = get(api, "/api/v1/series")?;
    let rows: serde_json::Value = serde_json::from_str(&body).ok()?;
    rows.as_array()?
        .iter()
        .find(|r| r["probe"] == probe)
        .and_then(|r| r["state"].as_str())
        .map(str::to_string)
}

/// One shell that keeps its working directory and background jobs between commands; the
/// whole process group is ended on drop.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    /// The shell's standard output, line by line (read on a thread, so a wait can time out).
    stdout: Lines<String>,
}

impl Shell {
    fn start(dir: &Path, stderr: std::fs::File) -> Shell {
        use std::os::unix::process::CommandExt;
        let bin = Path::new(env!("CARGO_BIN_EXE_picket")).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("PICKET_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, stdout) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Shell {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `command`; its standard output and exit code. The marker starts a line of its
    /// own, as output need not end with a newline (`curl`'s does not).
    fn run(&mut self, command: &str) -> (String, i32) {
        writeln!(self.stdin, "{command}\nprintf '\\n__rc=%d\\n' $?").unwrap();
        self.stdin.flush().unwrap();
        let mut output = String::new();
        loop {
            let line = self
                .stdout
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("`{command}` did not finish ({e}):\n{output}"));
            if let Some(rc) = line.strip_prefix("__rc=") {
                return (output, rc.parse().unwrap());
            }
            output.push_str(&line);
            output.push('\n');
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let commands = quick_start_commands(&readme);
    assert!(commands.len() >= 10, "{commands:#?}");

    let receiver = Receiver::grpc().await;
    let receiver_port = receiver.endpoint().rsplit(':').next().unwrap().to_string();
    let (site, api) = (crate::helpers::closed_port(), crate::helpers::closed_port());
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("shell-stderr.log");
    let mut shell = Shell::start(dir.path(), std::fs::File::create(&log_path).unwrap());
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let mut ran = 0;
    for command in &commands {
        let first = command.trim_start();
        if first.starts_with("cargo ") || first.starts_with("docker ") {
            continue;
        }
        let command = command
            .replace("8080", &site.to_string())
            .replace("4317", &receiver_port)
            .replace("9750", &api.to_string());
        if command.contains(".git/config") {
            // A person deploys the mistake once the service has seen the site pass.
            wait_for("exposure/git to pass", Duration::from_secs(90), || {
                series_state(api, "exposure/git").as_deref() == Some("passing")
            });
        }
        let (output, rc) = tokio::task::block_in_place(|| shell.run(&command));
        ran += 1;
        let expected: &[i32] = if first.starts_with("picket check") {
            &[0, 1] // 1: findings, which the quick start's site has
        } else {
            &[0]
        };
        assert!(
            expected.contains(&rc),
            "`{command}` exited {rc}:\n{output}\n{}",
            log()
        );

        if command.contains("http.server") {
            wait_for("the site to listen", Duration::from_secs(20), || {
                TcpStream::connect(("127.0.0.1", site)).is_ok()
            });
        } else if first.starts_with("picket check --target") && !command.contains("--probe") {
            assert!(
                output.contains("FAIL  exposure/directory-listing"),
                "{output}"
            );
            assert!(output.contains("series:"), "{output}");
        } else if command.contains("--probe 'team/*'") {
            assert!(output.contains("FAIL  team/server-banner"), "{output}");
        } else if first.starts_with("picket run") {
            wait_for("the service to be ready", Duration::from_secs(30), || {
                get(api, "/readyz").is_some()
            });
        } else if command.contains(".git/config") {
            wait_for("the regression", Duration::from_secs(90), || {
                series_state(api, "exposure/git").as_deref() == Some("regressed")
            });
            assert!(log().contains("security regression"), "{}", log());
            assert!(
                receiver
                    .wait_until(
                        |r| r.logs().iter().any(|l| l.event_name == "picket.regression"),
                        Duration::from_secs(30),
                    )
                    .await,
                "no picket.regression log record reached the receiver"
            );
        } else if first.starts_with("curl") {
            assert!(output.contains("exposure/git"), "{output}");
        } else if first.starts_with("rm -r .git") {
            wait_for("the recovery", Duration::from_secs(90), || {
                series_state(api, "exposure/git").as_deref() == Some("passing")
            });
        }
    }
    assert!(ran >= 10, "ran {ran} commands");
}

/// The README's `picket list` sample is the real output for the example config.
#[tokio::test]
async fn the_readme_list_sample_is_the_real_output() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let after = readme
        .split("(`picket list -c config/picket.yaml`")
        .nth(1)
        .expect("README names the list sample's command");
    let sample = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block follows");
    let out =
        crate::helpers::run_picket(&repo_root(), &["list", "-c", "config/picket.yaml"], &[]).await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(sample),
        "README sample:\n{sample}\nis not in the real output:\n{stdout}"
    );
}
