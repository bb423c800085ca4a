//! A real PostgreSQL server for the tests, from Debian's `postgresql` package: `initdb` and
//! `pg_ctl` in a temporary directory, listening on 127.0.0.1 on a free port, trusting local
//! connections, stopped (immediately) when dropped. As root (the CI machines), the server runs
//! as the package's `postgres` user, since PostgreSQL refuses to run as root.
//!
//! It is the database of the replicated state store (issue 22, SPEC §9a); the smoke test here
//! keeps the harness itself working on every machine `./run-tests` prepares.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running PostgreSQL server.
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

/// The directory of the newest PostgreSQL installed (`/usr/lib/postgresql/<version>/bin`).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql package (./run-tests installs it)")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL version under /usr/lib/postgresql")
        .1
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Postgres {
    /// Starts a new, empty server. The superuser is `picket`, with no password (trust on
    /// loopback only).
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let port = crate::helpers::closed_port();
        let pg = Postgres {
            port,
            bin: bin_dir(),
            data,
            as_postgres,
            _dir: dir,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(pg._dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown the database directory to postgres");
        }
        let init = pg.run(
            "initdb",
            &[
                "-D",
                path(&pg.data),
                "-U",
                "picket",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(init.status.success(), "initdb: {}", text(&init));
        pg.pg_ctl_start();
        pg
    }

    /// `pg_ctl start` on the data directory, listening on 127.0.0.1:`port` only; waits until
    /// the server accepts connections.
    fn pg_ctl_start(&self) {
        let started = self.pg_ctl("start", &[]);
        assert!(
            started.status.success(),
            "pg_ctl start: {}\n{}",
            text(&started),
            self.server_log()
        );
    }

    /// `pg_ctl ACTION` with the server's options and log file, waiting (at most 60 s) for it
    /// to finish. The log file matters: without one the server would inherit this command's
    /// output pipes and `output()` would wait for the server to exit.
    fn pg_ctl(&self, action: &str, extra: &[&str]) -> Output {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            path(self._dir.path())
        );
        let log = self._dir.path().join("postgres.log");
        let mut args = vec![
            "-D",
            path(&self.data),
            "-o",
            &options,
            "-l",
            path(&log),
            "-w",
            "-t",
            "60",
        ];
        args.extend_from_slice(extra);
        args.push(action);
        self.run("pg_ctl", &args)
    }

    /// What the server wrote to its log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `pg_ctl restart` (fast shutdown: open connections are cut), on the same port and
    /// data; returns once the server accepts connections again.
    pub fn restart(&self) {
        self.pg_ctl_fast("restart");
    }

    /// Stops the server (fast: open connections are cut); [`Postgres::start_again`] brings
    /// it back with the same data on the same port.
    pub fn stop(&self) {
        self.pg_ctl_fast("stop");
    }

    /// `pg_ctl ACTION -m fast`, which must succeed.
    fn pg_ctl_fast(&self, action: &str) {
        let out = self.pg_ctl(action, &["-m", "fast"]);
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}\n{}",
            text(&out),
            self.server_log()
        );
    }

    /// Starts the stopped server again, same data, same port.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    /// Runs `sql` with `psql` as `picket` on database `postgres`; its output, unaligned.
    pub fn psql(&self, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "picket", "-d", "postgres", "-At", "-c", sql])
            .output()
            .unwrap()
    }

    /// `postgres://picket@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://picket@127.0.0.1:{}/postgres", self.port)
    }

    /// A server program, as the `postgres` user when the tests run as root.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).output().unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", path(&self.data), "-m", "immediate", "stop"],
        );
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_real_postgres_starts_on_loopback_and_answers() {
    let pg = Postgres::start();
    let out = pg.psql("select 40 + 2");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    let out = pg.psql("show listen_addresses");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "127.0.0.1");
    assert!(pg.url().starts_with("postgres://picket@127.0.0.1:"));
    let port = pg.port;
    drop(pg);
    // Stopped with its handle: nothing listens there any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_real_postgres_restarts_and_comes_back_after_a_stop_with_its_data() {
    let kept = |pg: &Postgres| {
        let out = pg.psql("select v from kept");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "7",
            "{}",
            text(&out)
        );
    };
    let pg = Postgres::start();
    let out = pg.psql("create table kept (v int); insert into kept values (7)");
    assert!(out.status.success(), "{}", text(&out));
    pg.restart();
    kept(&pg);
    pg.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg.port)).is_err());
    assert!(!pg.psql("select 1").status.success());
    pg.start_again();
    kept(&pg);
}
