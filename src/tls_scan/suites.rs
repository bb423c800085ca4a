//! The cipher suites the engine can offer, named as IANA names them, and their classes.
//!
//! Classes follow PROBES.md (`tls/weak-ciphers`): a TLS 1.2 suite outside Mozilla's
//! "intermediate" profile is weak for one or more reasons, and each reason is a [`Class`].
//! They are derived from the IANA name, which spells out key exchange, cipher and MAC.

use std::fmt;

/// Why a cipher suite is outside Mozilla's intermediate profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// No encryption at all (`WITH_NULL`).
    Null,
    /// No server authentication (`DH_anon`, `ECDH_anon`): any man in the middle wins.
    Anonymous,
    /// 1990s export-grade keys (40 or 56 bits).
    Export,
    /// RC4 stream cipher (RFC 7465 prohibits it).
    Rc4,
    /// Single DES (56-bit key).
    Des,
    /// Triple DES: 64-bit blocks (Sweet32).
    TripleDes,
    /// CBC mode with MAC-then-encrypt (Lucky13, POODLE-style padding oracles).
    Cbc,
    /// Static RSA or static (EC)DH key exchange: a stolen server key decrypts past traffic.
    NoForwardSecrecy,
    /// Forward secret and AEAD but not in Mozilla's list (CCM, ARIA, Camellia, DSS): not
    /// known broken, outside the profile all the same.
    Uncommon,
}

impl Class {
    /// A short lowercase name: `null`, `anonymous`, `export`, `rc4`, `des`, `3des`, `cbc`,
    /// `no-forward-secrecy`, `uncommon`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Null => "null",
            Class::Anonymous => "anonymous",
            Class::Export => "export",
            Class::Rc4 => "rc4",
            Class::Des => "des",
            Class::TripleDes => "3des",
            Class::Cbc => "cbc",
            Class::NoForwardSecrecy => "no-forward-secrecy",
            Class::Uncommon => "uncommon",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One cipher suite: its IANA code point, IANA name and classes (empty for the suites of
/// Mozilla's intermediate profile and for TLS 1.3 suites).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Suite {
    /// The IANA code point, e.g. `0x000a`.
    pub id: u16,
    /// The IANA name, e.g. `TLS_RSA_WITH_3DES_EDE_CBC_SHA`.
    pub name: &'static str,
    /// Why the suite is weak; empty when it is not.
    pub classes: Vec<Class>,
}

impl Suite {
    /// The suite with IANA code point `id`, or `None` for one this table does not know.
    pub fn from_id(id: u16) -> Option<Suite> {
        TABLE
            .iter()
            .find(|&&(known, _)| known == id)
            .map(|&(id, name)| Suite {
                id,
                name,
                classes: classify(name),
            })
    }

    /// True when the suite is outside Mozilla's intermediate profile.
    pub fn is_weak(&self) -> bool {
        !self.classes.is_empty()
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if !self.classes.is_empty() {
            let classes: Vec<&str> = self.classes.iter().map(|c| c.name()).collect();
            write!(f, " ({})", classes.join(", "))?;
        }
        Ok(())
    }
}

/// The TLS 1.2 suites of Mozilla's intermediate profile (server-side TLS guidelines 5.7).
const MOZILLA_INTERMEDIATE: [u16; 9] = [
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009e, 0x009f, 0xccaa,
];

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV: signals secure renegotiation, which some servers want.
pub(crate) const RENEGOTIATION_SCSV: u16 = 0x00ff;

/// The classes of the suite named `name` (an IANA name from [`TABLE`]).
fn classify(name: &str) -> Vec<Class> {
    let Some(rest) = name.strip_prefix("TLS_") else {
        return Vec::new();
    };
    let Some((kx, cipher)) = rest.split_once("_WITH_") else {
        // TLS 1.3 suites name no key exchange: they are all forward secret AEADs.
        return Vec::new();
    };
    let id = TABLE.iter().find(|(_, n)| *n == name).map(|(id, _)| *id);
    if id.is_some_and(|id| MOZILLA_INTERMEDIATE.contains(&id)) {
        return Vec::new();
    }
    let mut classes = Vec::new();
    if cipher.starts_with("NULL") {
        classes.push(Class::Null);
    }
    if kx.contains("anon") {
        classes.push(Class::Anonymous);
    }
    if kx.contains("EXPORT") {
        classes.push(Class::Export);
    }
    if cipher.starts_with("RC4") {
        classes.push(Class::Rc4);
    }
    if cipher.starts_with("DES") {
        classes.push(Class::Des);
    }
    if cipher.starts_with("3DES") {
        classes.push(Class::TripleDes);
    }
    if cipher.contains("_CBC") {
        classes.push(Class::Cbc);
    }
    let ephemeral = kx.starts_with("DHE_") || kx.starts_with("ECDHE_");
    if !ephemeral && !kx.contains("anon") {
        classes.push(Class::NoForwardSecrecy);
    }
    if classes.is_empty() {
        classes.push(Class::Uncommon);
    }
    classes
}

/// True for suites that exist only from TLS 1.2 on (SHA-2 MACs and AEADs): offering them
/// in an older hello is pointless.
fn tls12_only(name: &str) -> bool {
    ["_SHA256", "_SHA384", "GCM", "CCM", "CHACHA20"]
        .iter()
        .any(|part| name.contains(part))
}

/// The code points offered to learn whether a protocol version is accepted: every suite up
/// to TLS 1.2 this table knows (older versions: those that exist there), so that any server
/// speaking the version finds one it likes.
pub(crate) fn all_before_tls13(tls12: bool) -> Vec<u16> {
    TABLE
        .iter()
        .filter(|(id, name)| !is_tls13(*id) && (tls12 || !tls12_only(name)))
        .map(|(id, _)| *id)
        .collect()
}

/// The code points offered when enumerating weak suites: every suite outside Mozilla's
/// intermediate profile (for versions before 1.2, those that exist there).
pub(crate) fn weak_candidates(tls12: bool) -> Vec<u16> {
    TABLE
        .iter()
        .filter(|(id, name)| {
            !is_tls13(*id) && !MOZILLA_INTERMEDIATE.contains(id) && (tls12 || !tls12_only(name))
        })
        .map(|(id, _)| *id)
        .collect()
}

/// The TLS 1.3 suites.
pub(crate) fn tls13() -> Vec<u16> {
    TABLE
        .iter()
        .filter(|(id, _)| is_tls13(*id))
        .map(|(id, _)| *id)
        .collect()
}

fn is_tls13(id: u16) -> bool {
    (0x1301..=0x1305).contains(&id)
}

/// Every suite the engine knows, by IANA code point and name: the suites a server may still
/// pick. Left out are the suites that need something a scanner has not got (PSK, SRP,
/// Kerberos, GOST) and those never deployed (FORTEZZA).
#[rustfmt::skip]
pub(crate) const TABLE: &[(u16, &str)] = &[
    // TLS 1.3
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    // Mozilla intermediate first, the most common of the rest next: servers that honour the
    // client's order then answer with a likely suite.
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    // The old SSL/TLS 1.0 registry.
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA"),
    (0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"),
    (0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA"),
    (0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003b, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003e, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256"),
    (0x003f, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"),
    // Export suites of a 1999 draft that OpenSSL 0.9.x shipped; testssl.sh still offers them.
    (0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA"),
    (0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256"),
    (0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0096, "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA"),
    (0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA"),
    (0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA"),
    (0x009a, "TLS_DHE_RSA_WITH_SEED_CBC_SHA"),
    (0x009b, "TLS_DH_anon_WITH_SEED_CBC_SHA"),
    (0x00a0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256"),
    (0x00a1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00a4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00bb, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00bc, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00bd, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00bf, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c1, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c2, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256"),
    // Elliptic curves (RFC 4492 and 5289).
    (0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
    (0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA"),
    (0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xc015, "TLS_ECDH_anon_WITH_NULL_SHA"),
    (0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
    (0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xc025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc02a, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc02d, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02e, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    // ARIA (RFC 6209), Camellia (RFC 6367) and CCM (RFC 6655, 7251).
    (0xc03c, "TLS_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xc03d, "TLS_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xc044, "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xc045, "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xc048, "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256"),
    (0xc049, "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384"),
    (0xc04c, "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256"),
    (0xc04d, "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384"),
    (0xc050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xc051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xc052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xc053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xc056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256"),
    (0xc057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384"),
    (0xc05c, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256"),
    (0xc05d, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384"),
    (0xc060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xc061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xc07a, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xc07b, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xc07c, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xc07d, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xc086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xc087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xc08a, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (0xc08b, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384"),
    (0xc09c, "TLS_RSA_WITH_AES_128_CCM"),
    (0xc09d, "TLS_RSA_WITH_AES_256_CCM"),
    (0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xc0a2, "TLS_DHE_RSA_WITH_AES_128_CCM_8"),
    (0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(id: u16) -> Vec<Class> {
        Suite::from_id(id).map(|s| s.classes).unwrap_or_default()
    }

    #[test]
    fn classes_follow_the_iana_name() {
        use Class::*;
        assert_eq!(classes(0x000a), [TripleDes, Cbc, NoForwardSecrecy]);
        assert_eq!(classes(0x002f), [Cbc, NoForwardSecrecy]);
        assert_eq!(classes(0xc013), [Cbc]);
        assert_eq!(classes(0x0004), [Rc4, NoForwardSecrecy]);
        assert_eq!(classes(0x0003), [Export, Rc4, NoForwardSecrecy]);
        assert_eq!(classes(0x0014), [Export, Des, Cbc]);
        assert_eq!(classes(0x0002), [Null, NoForwardSecrecy]);
        assert_eq!(classes(0xc006), [Null]);
        assert_eq!(classes(0x001b), [Anonymous, TripleDes, Cbc]);
        assert_eq!(classes(0x009c), [NoForwardSecrecy]);
        assert_eq!(classes(0xc0ac), [Uncommon]);
        assert_eq!(classes(0xc02f), []);
        assert_eq!(classes(0x1301), []);
    }

    #[test]
    fn the_table_has_no_duplicates_and_every_weak_suite_is_a_candidate() {
        let mut ids: Vec<u16> = TABLE.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TABLE.len());
        let candidates = weak_candidates(true);
        for (id, _) in TABLE {
            let weak = Suite::from_id(*id).is_some_and(|s| s.is_weak());
            assert_eq!(weak, candidates.contains(id), "{id:#06x}");
        }
        assert!(weak_candidates(false).iter().all(|id| {
            let name = Suite::from_id(*id).map(|s| s.name).unwrap_or_default();
            !name.contains("GCM") && !name.contains("SHA256")
        }));
    }
}
