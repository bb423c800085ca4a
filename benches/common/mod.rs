//! What the benchmarks share: their probe files.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// A status and a header comparison: the checks of the side-by-side benchmark.
pub const STATUS_AND_NOSNIFF: &str =
    "  - status: 200\n  - header: x-content-type-options\n    equals: nosniff\n";

/// Writes `n` probe files `bench/pN` (a GET of `/pN` with `checks`, YAML list items) into
/// `dir/probes`; returns that folder.
pub fn write_probes(dir: &Path, n: usize, checks: &str) -> PathBuf {
    let pdir = dir.join("probes");
    std::fs::create_dir_all(&pdir).unwrap();
    for i in 0..n {
        std::fs::write(
            pdir.join(format!("p{i}.yaml")),
            format!("id: bench/p{i}\nname: probe {i}\nseverity: low\nhttp:\n  path: /p{i}\nchecks:\n{checks}"),
        )
        .unwrap();
    }
    pdir
}
