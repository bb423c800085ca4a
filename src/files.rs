//! Reading files picket is told about (config, probes, targets, CA bundles) without letting
//! the file system wedge or swell the process.
//!
//! Only regular files are read. The type is checked with `stat` (which follows symlinks)
//! before the file is opened, so a FIFO, socket or device (`/dev/zero`) is refused without
//! ever being opened; the file is then opened non-blocking and checked again through the
//! handle, which closes the window where a regular file is swapped for a FIFO between the two
//! steps. The size cap is enforced by the read itself (`take`), not by the size `stat`
//! reports, which is 0 for devices and can change while the file is read.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::diag::{self, Diagnostic, Pos};

use thiserror::Error;

/// Largest file picket reads: config, probe and target files, CA bundles. They are small;
/// anything bigger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a file could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The file could not be found, opened or read.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// The path names something other than a regular file.
    #[error("this is {kind}, not a regular file")]
    NotRegular {
        /// What it is instead: `a FIFO`, `a character device`, ….
        kind: &'static str,
    },
    /// The file holds more than the cap.
    #[error("file is larger than {cap} bytes")]
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
}

impl ReadError {
    /// What to do about it, for diagnostics.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ReadError::Io(_) => None,
            ReadError::NotRegular { .. } => Some(
                "point picket at a regular file (symlinks to regular files are fine); FIFOs, sockets and devices are refused",
            ),
            ReadError::TooLarge { .. } => Some(
                "configuration and probe files are small; split the file or remove what is not needed",
            ),
        }
    }
}

/// A short description of a file type that is not a regular file.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

fn regular(meta: &Metadata) -> Result<(), ReadError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(ReadError::NotRegular {
            kind: kind_of(meta),
        })
    }
}

/// Opens `path` for reading without blocking, even if it turned into a FIFO after it was
/// checked: `O_NONBLOCK` makes opening a FIFO return at once instead of waiting for a writer.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Reads a regular file of at most `cap` bytes. Anything else (a FIFO, socket, device,
/// directory, or a file over the cap) is an error, returned without blocking and after
/// reading at most `cap + 1` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    regular(&std::fs::metadata(path)?)?;
    let file = open_nonblocking(path)?;
    // The path may have been replaced between `stat` and `open`: check what was opened.
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(bytes)
}

/// Reads a file as UTF-8 text, refusing huge, binary or non-regular files (FIFOs, sockets,
/// devices) with a positioned message. Never blocks and never reads past the cap; see
/// [`files::read_regular`].
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let bytes = read_regular(path, MAX_FILE_BYTES).map_err(|e| {
        let d = Diagnostic::new(path, Pos::START, e.to_string());
        match e.hint() {
            Some(hint) => d.with_hint(hint),
            None => d,
        }
    })?;
    decode(path, bytes)
}

/// The bytes of the file shown as `path`, as UTF-8 text, or where they stop being UTF-8.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let pos = diag::utf8_error_pos(e.as_bytes(), &e.utf8_error());
        Diagnostic::new(path, pos, "file is not valid UTF-8")
            .with_hint("save the file as UTF-8 text")
    })
}

/// The YAML files found under a path, and what could not be walked.
#[derive(Debug, Default)]
pub struct Listing {
    /// YAML files, sorted. Entries that are not regular files (a FIFO named `x.yaml`) are
    /// listed too, so that reading them reports them.
    pub files: Vec<PathBuf>,
    /// Entries that could not be followed: symlink loops, unreadable folders, dangling
    /// symlinks named `*.yaml`.
    pub problems: Vec<Diagnostic>,
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The YAML files under `path` ([`yaml_files`]) a config names: the walk's problems join
/// `diags`, and a `path` that cannot be read at all is reported there as `unreadable` says.
pub fn yaml_files_of(
    path: &Path,
    diags: &mut crate::diag::Diagnostics,
    unreadable: impl FnOnce(std::io::Error) -> Diagnostic,
) -> Vec<PathBuf> {
    match yaml_files(path) {
        Ok(listing) => {
            listing.problems.into_iter().for_each(|d| diags.push(d));
            listing.files
        }
        Err(e) => {
            diags.push(unreadable(e));
            Vec::new()
        }
    }
}

/// Lists the YAML files under `path` (itself if it is not a folder), sorted for stable
/// output. Symlinks are followed, to files and to folders (Kubernetes ConfigMap volumes are
/// made of them); a folder reached twice is walked once, and a symlink back to a folder being
/// walked is a reported loop. Entries whose name starts with `.` are skipped: ConfigMap
/// volumes keep every file a second time under `..data/` and `..2026_…/`. Problems with
/// single entries are collected in [`Listing::problems`] and the walk goes on; only a `path`
/// that cannot be read at all is an `Err`. Only `stat` and `readdir` are used: nothing is
/// opened for reading, so a FIFO or device in the tree cannot block or feed the walk.
pub fn yaml_files(path: &Path) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    if !std::fs::metadata(path)?.is_dir() {
        out.files.push(path.to_path_buf());
        return Ok(out);
    }
    let root = std::fs::canonicalize(path)?;
    let mut seen = std::collections::BTreeSet::from([root.clone()]);
    // Each folder to walk, with the canonical folders on the way to it (to tell a loop from
    // a second way into a folder already walked).
    let mut stack = vec![(path.to_path_buf(), vec![root])];
    while let Some((dir, ancestors)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == path => return Err(e),
            Err(e) => {
                out.problems.push(
                    Diagnostic::new(&dir, Pos::START, format!("cannot read folder: {e}"))
                        .with_hint("fix its permissions, or remove it from the probe folder"),
                );
                continue;
            }
        };
        // With the entry's type from the folder itself where it tells (no `stat`): a regular
        // file needs none, only links and folders do.
        let mut names: Vec<(PathBuf, Option<std::fs::FileType>)> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => names.push((entry.path(), entry.file_type().ok())),
                Err(e) => out.problems.push(Diagnostic::new(
                    &dir,
                    Pos::START,
                    format!("cannot list folder: {e}"),
                )),
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (p, kind) in names {
            if is_hidden(&p) {
                continue;
            }
            if kind.is_some_and(|k| k.is_file()) {
                if is_yaml(&p) {
                    out.files.push(p);
                }
                continue;
            }
            // `metadata` follows symlinks: a link is treated as what it points to.
            let meta = match std::fs::metadata(&p) {
                Ok(meta) => meta,
                Err(e) if is_loop(&e) => {
                    out.problems.push(
                        Diagnostic::new(&p, Pos::START, format!("symlink loop: {e}"))
                            .with_hint("make the symlink point at a file or folder"),
                    );
                    continue;
                }
                Err(e) if is_yaml(&p) => {
                    out.problems.push(
                        Diagnostic::new(&p, Pos::START, format!("cannot read file: {e}"))
                            .with_hint("a dangling symlink? point it at an existing file"),
                    );
                    continue;
                }
                // A dangling link or unreadable entry that is not YAML: nothing to load.
                Err(_) => continue,
            };
            if meta.is_dir() {
                let canonical = match std::fs::canonicalize(&p) {
                    Ok(c) => c,
                    Err(e) => {
                        out.problems.push(Diagnostic::new(
                            &p,
                            Pos::START,
                            format!("cannot read folder: {e}"),
                        ));
                        continue;
                    }
                };
                if ancestors.contains(&canonical) {
                    out.problems.push(
                        Diagnostic::new(
                            &p,
                            Pos::START,
                            format!(
                                "symlink loop: this folder leads back to `{}`",
                                canonical.display()
                            ),
                        )
                        .with_hint("make the symlink point outside the folder that holds it"),
                    );
                } else if seen.insert(canonical.clone()) {
                    let mut inner = ancestors.clone();
                    inner.push(canonical);
                    stack.push((p, inner));
                }
            } else if is_yaml(&p) {
                out.files.push(p);
            }
        }
    }
    out.files.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path, files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_configmap_volume_is_read_once_through_its_symlinks() {
        // What Kubernetes mounts: the files live in a hidden timestamped folder, `..data`
        // points at it, and each visible name is a symlink through `..data`.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("..2026_01_01/sub")).unwrap();
        std::fs::write(root.join("..2026_01_01/a.yaml"), "x").unwrap();
        std::fs::write(root.join("..2026_01_01/sub/b.yml"), "x").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/a.yaml", root.join("a.yaml")).unwrap();
        std::os::unix::fs::symlink("..data/sub", root.join("sub")).unwrap();
        std::fs::write(root.join(".hidden.yaml"), "x").unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        let listing = yaml_files(root).unwrap();
        assert!(listing.problems.is_empty(), "{:?}", listing.problems);
        assert_eq!(names(root, &listing.files), ["a.yaml", "sub/b.yml"]);
    }

    #[test]
    fn loops_and_dangling_links_are_reported_and_the_walk_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/p.yaml"), "x").unwrap();
        std::fs::write(root.join("z.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("../..", root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("self.yaml", root.join("self.yaml")).unwrap();
        std::os::unix::fs::symlink("missing.yaml", root.join("gone.yaml")).unwrap();
        std::os::unix::fs::symlink("missing", root.join("gone-dir")).unwrap();
        // A second way into a folder already walked is not a loop, and adds nothing.
        std::os::unix::fs::symlink("a", root.join("again")).unwrap();
        let listing = yaml_files(root).unwrap();
        assert_eq!(names(root, &listing.files), ["a/b/p.yaml", "z.yaml"]);
        let mut problems: Vec<String> = listing
            .problems
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    names(root, std::slice::from_ref(&d.path))[0],
                    d.message
                )
            })
            .collect();
        problems.sort();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("a/b/up symlink loop"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("gone.yaml cannot read file"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("self.yaml symlink loop"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_fifo_is_listed_and_refused_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let listing = yaml_files(dir.path()).unwrap();
        assert_eq!(listing.files, std::slice::from_ref(&fifo));
        let d = read_text(&fifo).unwrap_err();
        assert_eq!(d.message, "this is a FIFO, not a regular file");
        assert_eq!(d.pos, Pos::START);
    }

    #[test]
    fn devices_are_refused_before_reading() {
        let err = read_regular(Path::new("/dev/zero"), 16).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    kind: "a character device"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_cap_is_enforced_by_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_regular(&path, 10).unwrap(), b"0123456789");
        assert!(matches!(
            read_regular(&path, 9),
            Err(ReadError::TooLarge { cap: 9 })
        ));
        assert!(matches!(
            read_regular(dir.path(), 9),
            Err(ReadError::NotRegular {
                kind: "a directory"
            })
        ));
    }
}
