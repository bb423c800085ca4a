//! The shipped probe library, built into the binary.
//!
//! Every file under the repository's `probes/` folder is embedded at build time
//! (`include_dir`), so an installed `picket` has its library wherever it runs. The embedded
//! files are loaded by the same loader and validator as files on disk ([`crate::load`]), under
//! a display path such as `library:headers/hsts.yaml`, so their errors read
//! `library:headers/hsts.yaml:3:1: …` like any other. `picket probes --export DIR` writes them
//! out as files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};
use thiserror::Error;

/// The repository's `probes/` folder, as it was when picket was built. `build.rs` makes a
/// file added to or removed from the folder rebuild this (`include_dir` alone tracks only the
/// contents of files it already embeds).
static PROBES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/probes");

/// What display paths of embedded files start with: `library:headers/hsts.yaml`.
pub const SCHEME: &str = "library:";

/// One embedded probe file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    /// The path inside the library, with `/` separators: `headers/hsts.yaml`.
    pub path: &'static str,
    /// The file's bytes, exactly as in `probes/`.
    pub bytes: &'static [u8],
}

impl File {
    /// The path errors and `picket list` show for it: `library:headers/hsts.yaml`.
    pub fn display_path(&self) -> PathBuf {
        PathBuf::from(format!("{SCHEME}{}", self.path))
    }
}

/// Every probe file of the library (`*.yaml` and `*.yml`, not hidden, as a folder on disk is
/// read), sorted by path.
pub fn files() -> Vec<File> {
    let mut out = Vec::new();
    collect(&PROBES, &mut out);
    out.sort_by_key(|f| f.path);
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<File>) {
    for entry in dir.entries() {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match entry {
            DirEntry::Dir(d) => collect(d, out),
            DirEntry::File(f) => {
                let yaml = matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                );
                // `include_dir` names files relative to `probes/`, in UTF-8 with `/`.
                if let (true, Some(p)) = (yaml, f.path().to_str()) {
                    out.push(File {
                        path: p,
                        bytes: f.contents(),
                    });
                }
            }
        }
    }
}

/// The embedded file shown as `display` (`library:headers/hsts.yaml`), if there is one.
pub fn file_at(display: &Path) -> Option<File> {
    let rel = display.to_str()?.strip_prefix(SCHEME)?;
    files().into_iter().find(|f| f.path == rel)
}

/// Why `picket probes --export` wrote nothing, or stopped.
#[derive(Debug, Error)]
pub enum ExportError {
    /// Files of the library already exist in the folder, and `--force` was not given.
    #[error("{} file(s) already exist in `{}`, e.g. `{}`; nothing was written", .existing.len(), .dir.display(), .existing[0].display())]
    Exists {
        /// The folder.
        dir: PathBuf,
        /// The files that exist (at least one).
        existing: Vec<PathBuf>,
    },
    /// A folder could not be made or a file written.
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Writes every library file under `dir` (`dir/headers/hsts.yaml`, …), creating folders.
/// Unless `force`, nothing is written when any of the files already exists (a symlink
/// counts, dangling or not). Returns how many files were written.
pub fn export(dir: &Path, force: bool) -> Result<usize, ExportError> {
    let files = files();
    let target = |f: &File| dir.join(f.path);
    if !force {
        let existing: Vec<PathBuf> = files
            .iter()
            .map(target)
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        if !existing.is_empty() {
            return Err(ExportError::Exists {
                dir: dir.to_path_buf(),
                existing,
            });
        }
    }
    for f in &files {
        let path = target(f);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ExportError::Io { path, source }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // A symlink in the way is replaced, not followed: `--force` overwrites what is in
        // the export folder, never a file elsewhere.
        if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        std::fs::File::create(&path)
            .and_then(|mut w| w.write_all(f.bytes))
            .map_err(io(&path))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library on disk, as the loader would list it.
    fn on_disk() -> Vec<(String, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes");
        let listing = crate::files::yaml_files(&root).unwrap();
        assert!(listing.problems.is_empty(), "{:?}", listing.problems);
        listing
            .files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix(&root).unwrap().to_str().unwrap();
                (rel.replace('\\', "/"), std::fs::read(f).unwrap())
            })
            .collect()
    }

    #[test]
    fn every_embedded_file_equals_the_file_in_probes() {
        let embedded: Vec<(String, Vec<u8>)> = files()
            .iter()
            .map(|f| (f.path.to_string(), f.bytes.to_vec()))
            .collect();
        let disk = on_disk();
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&embedded),
            names(&disk),
            "the embedded library lists other files than probes/ (a stale build? `touch build.rs`)"
        );
        for ((name, e), (_, d)) in embedded.iter().zip(&disk) {
            assert!(e == d, "library:{name} differs from probes/{name}");
        }
        assert!(embedded.len() > 30, "{}", embedded.len());
    }

    #[test]
    fn display_paths_name_the_library() {
        let f = files()
            .into_iter()
            .find(|f| f.path == "headers/hsts.yaml")
            .unwrap();
        assert_eq!(f.display_path(), Path::new("library:headers/hsts.yaml"));
        assert_eq!(file_at(&f.display_path()), Some(f));
        assert_eq!(file_at(Path::new("headers/hsts.yaml")), None);
    }

    #[test]
    fn export_writes_every_file_and_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lib");
        let n = export(&out, false).unwrap();
        assert_eq!(n, files().len());
        let hsts = std::fs::read(out.join("headers/hsts.yaml")).unwrap();
        assert_eq!(
            hsts,
            file_at(Path::new("library:headers/hsts.yaml"))
                .unwrap()
                .bytes
        );

        std::fs::write(out.join("headers/hsts.yaml"), "mine").unwrap();
        let err = export(&out, false).unwrap_err();
        assert!(
            matches!(&err, ExportError::Exists { existing, .. } if existing.len() == n),
            "{err}"
        );
        assert_eq!(
            std::fs::read(out.join("headers/hsts.yaml")).unwrap(),
            b"mine"
        );

        assert_eq!(export(&out, true).unwrap(), n);
        assert_eq!(std::fs::read(out.join("headers/hsts.yaml")).unwrap(), hsts);
    }

    #[test]
    fn forced_export_replaces_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.yaml");
        std::fs::write(&outside, "keep").unwrap();
        let out = dir.path().join("lib");
        std::fs::create_dir_all(out.join("headers")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("headers/hsts.yaml")).unwrap();
        assert!(export(&out, false).is_err());
        export(&out, true).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert!(!out.join("headers/hsts.yaml").is_symlink());
    }
}
