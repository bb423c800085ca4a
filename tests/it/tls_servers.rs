//! Loopback TLS servers for tests: Debian's `openssl s_server` (OpenSSL 3.0) and
//! `gnutls-serv` on a free port, with certificates made by the test (rcgen; the openssl CLI for what rcgen
//! cannot make: RSA keys with ring, and SHA-1 signatures). Nothing here expires: every
//! certificate is made for the run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use time::OffsetDateTime;

/// Mozilla's intermediate suites for TLS 1.2, as OpenSSL names them.
pub const INTERMEDIATE: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:\
ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

/// A test CA in a temporary directory, and the certificates it makes there.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate, PEM: the `ca_file` of targets whose leaf it signed.
    pub ca_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// The key of a leaf certificate.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    P256,
    /// An RSA key of this many bits, made by `openssl genpkey`.
    Rsa(u32),
}

/// What a leaf certificate should look like.
pub struct LeafSpec {
    pub sans: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key: KeyKind,
}

impl Default for LeafSpec {
    fn default() -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            sans: vec!["localhost".into(), "127.0.0.1".into()],
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(90),
            key: KeyKind::P256,
        }
    }
}

/// A certificate and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// An RSA public key for rcgen, which cannot make RSA keys with ring.
struct RsaPublic(Vec<u8>);

impl PublicKeyData for RsaPublic {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "picket test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        Pki {
            dir,
            ca_file,
            issuer: Issuer::new(params, key),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A leaf signed by the test CA.
    /// `openssl s_server` with `files` and `args`, logging into this CA's directory.
    pub async fn serve(&self, files: &Files, args: &[&str]) -> TlsServer {
        TlsServer::openssl(files, args, self.dir.path()).await
    }

    pub fn leaf(&self, name: &str, spec: LeafSpec) -> Files {
        let params = leaf_params(&spec);
        let files = Files {
            cert: self.path(&format!("{name}.pem")),
            key: self.path(&format!("{name}-key.pem")),
        };
        let cert = match spec.key {
            KeyKind::P256 => {
                let key = KeyPair::generate().unwrap();
                std::fs::write(&files.key, key.serialize_pem()).unwrap();
                params.signed_by(&key, &self.issuer).unwrap()
            }
            KeyKind::Rsa(bits) => {
                let public = rsa_key(&files.key, bits);
                params.signed_by(&public, &self.issuer).unwrap()
            }
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        files
    }

    /// A self-signed certificate marked CA:TRUE, as `openssl req -x509` makes them: the
    /// kind a team pins with `ca_file`.
    pub fn self_signed(&self, name: &str) -> Files {
        self.self_signed_as(name, IsCa::Ca(BasicConstraints::Unconstrained))
    }

    /// A self-signed certificate marked CA:FALSE, as Debian's `ssl-cert` package makes its
    /// `ssl-cert-snakeoil.pem` (and drops it into `/etc/ssl/certs`).
    pub fn snakeoil(&self, name: &str) -> Files {
        self.self_signed_as(name, IsCa::ExplicitNoCa)
    }

    /// A self-signed leaf-shaped certificate with the given CA marking, written as `name`.
    fn self_signed_as(&self, name: &str, is_ca: IsCa) -> Files {
        let mut params = leaf_params(&LeafSpec::default());
        params.is_ca = is_ca;
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let files = Files {
            cert: self.path(&format!("{name}.pem")),
            key: self.path(&format!("{name}-key.pem")),
        };
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        files
    }

    /// An RSA-2048 CA of its own (SHA-256, CA:TRUE) and an RSA-2048 leaf for `localhost` and
    /// 127.0.0.1 that it signs with SHA-1, by the openssl CLI: the leaf's files and the CA's
    /// certificate file.
    pub fn sha1_issued(&self, name: &str) -> (Files, PathBuf) {
        let ca = self.path(&format!("{name}-ca.pem"));
        let ca_key = self.path(&format!("{name}-ca-key.pem"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "30",
            "-subj",
            "/CN=picket SHA-1 test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path_str(&ca_key),
            "-out",
            path_str(&ca),
        ]);
        let files = Files {
            cert: self.path(&format!("{name}.pem")),
            key: self.path(&format!("{name}-key.pem")),
        };
        let csr = self.path(&format!("{name}.csr"));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            path_str(&files.key),
            "-out",
            path_str(&csr),
        ]);
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&ca),
            "-CAkey",
            path_str(&ca_key),
            "-set_serial",
            "7",
            "-sha1",
            "-days",
            "30",
            "-extfile",
            path_str(&ext),
            "-out",
            path_str(&files.cert),
        ]);
        (files, ca)
    }

    /// A self-signed RSA-2048 certificate signed with SHA-1, by the openssl CLI (rcgen
    /// signs with SHA-256 and up only).
    pub fn sha1_self_signed(&self, name: &str) -> Files {
        let files = Files {
            cert: self.path(&format!("{name}.pem")),
            key: self.path(&format!("{name}-key.pem")),
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha1",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            path_str(&files.key),
            "-out",
            path_str(&files.cert),
        ]);
        files
    }
}

fn leaf_params(spec: &LeafSpec) -> CertificateParams {
    let mut params = CertificateParams::new(spec.sans.clone()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        spec.sans.first().map_or("leaf", |s| s.as_str()),
    );
    params.not_before = spec.not_before;
    params.not_after = spec.not_after;
    params
}

/// Makes an RSA key of `bits` bits at `key` (PKCS#8 PEM) and returns its public half.
fn rsa_key(key: &Path, bits: u32) -> RsaPublic {
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        &format!("rsa_keygen_bits:{bits}"),
        "-out",
        path_str(key),
    ]);
    let spki = openssl(&["pkey", "-in", path_str(key), "-pubout", "-outform", "DER"]);
    let (_, parsed) = <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<
        _,
    >>::from_der(&spki)
    .unwrap();
    RsaPublic(parsed.subject_public_key.data.to_vec())
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the openssl CLI and returns its stdout; panics with its stderr on failure.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl CLI is needed for TLS tests (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A TLS server process on a free loopback port, killed on drop: Debian's
/// `openssl s_server` (OpenSSL 3.0, which Debian builds without 3DES and RC4 suites) or
/// `gnutls-serv` (GnuTLS, which still has them behind its priority string).
pub struct TlsServer {
    pub port: u16,
    child: Child,
}

impl TlsServer {
    /// `openssl s_server -www` on 127.0.0.1 with `files` and the extra `args`.
    pub async fn openssl(files: &Files, args: &[&str], log_dir: &Path) -> TlsServer {
        TlsServer::start(log_dir, |port| {
            let mut command = Command::new("openssl");
            command
                .arg("s_server")
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .args(["-cert", path_str(&files.cert), "-key", path_str(&files.key)])
                .args(["-www", "-quiet"])
                .args(args);
            command
        })
        .await
    }

    /// `gnutls-serv` with `files` and a GnuTLS `priority` string. It has no option to bind
    /// one address: it listens on every interface, and the tests connect to 127.0.0.1 only.
    pub async fn gnutls(files: &Files, priority: &str, log_dir: &Path) -> TlsServer {
        TlsServer::gnutls_with(files, priority, &[], log_dir).await
    }

    /// `gnutls-serv` as [`TlsServer::gnutls`], with the extra `args`.
    pub async fn gnutls_with(
        files: &Files,
        priority: &str,
        args: &[&str],
        log_dir: &Path,
    ) -> TlsServer {
        TlsServer::start(log_dir, |port| {
            let mut command = Command::new("gnutls-serv");
            command
                .args(["--port", &port.to_string()])
                .args(["--x509certfile", path_str(&files.cert)])
                .args(["--x509keyfile", path_str(&files.key)])
                .args(["--priority", priority])
                .args(args);
            command
        })
        .await
    }

    /// Spawns `command(port)` on a free port and waits until it accepts connections. The
    /// server's log goes to `server-PORT.log` in `log_dir`.
    async fn start(log_dir: &Path, command: impl Fn(u16) -> Command) -> TlsServer {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(log_dir.join(format!("server-{port}.log"))).unwrap();
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("TLS tests need Debian's `openssl` and `gnutls-bin` packages");
            let mut server = TlsServer { port, child };
            if server.ready().await {
                return server;
            }
        }
        panic!(
            "the TLS server did not start; see its logs in {}",
            log_dir.display()
        );
    }

    /// Connects until the server accepts, or it exits (port taken: the caller retries).
    async fn ready(&mut self) -> bool {
        for _ in 0..250 {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
