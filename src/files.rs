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
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
