//! Reading the small files a configuration points at (kubeconfigs, certificates, keys,
//! token files) safely: only regular files, and no more than [`MAX_FILE_SIZE`].
//!
//! A path that names a FIFO, a socket or a device is refused before it is opened:
//! opening a FIFO without a writer blocks for ever, and a device may never end. A file
//! larger than the cap is refused rather than read whole.

use std::io::Read;
use std::path::Path;

use super::{Error, Result};

/// The largest configuration file read: 16 MiB (a kubeconfig with many embedded
/// certificates is a few hundred kB).
pub const MAX_FILE_SIZE: usize = 16 << 20;

/// Why a file could not be read; [`FileError::into_error`] says what to do.
#[derive(Debug)]
pub(crate) enum FileError {
    NotRegular,
    TooLarge,
    Io(std::io::Error),
}

impl FileError {
    /// The error for reading `what` (for example "the kubeconfig") at `path`; `make`
    /// builds the variant for I/O problems (`Error::Config`, `Error::Auth`).
    pub(crate) fn into_error(self, what: &str, path: &Path, make: fn(String) -> Error) -> Error {
        match self {
            FileError::NotRegular => make(format!(
                "{what} {} is not a regular file (a FIFO, socket, device or directory); \
                 point the configuration at a file",
                path.display()
            )),
            FileError::TooLarge => Error::TooLarge {
                what: format!("{what} {}", path.display()),
                limit: MAX_FILE_SIZE,
                remedy: "check that the path names the right file".to_owned(),
            },
            FileError::Io(e) => make(format!("cannot read {what} {}: {e}", path.display())),
        }
    }
}

/// Reads a regular file of at most [`MAX_FILE_SIZE`] bytes. Blocking: call it where the
/// configuration is built, or through [`read_async`].
pub(crate) fn read(path: &Path) -> std::result::Result<Vec<u8>, FileError> {
    let meta = std::fs::metadata(path).map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    if usize::try_from(meta.len()).map_or(true, |n| n > MAX_FILE_SIZE) {
        return Err(FileError::TooLarge);
    }
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let mut out = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(FileError::Io)?;
    if out.len() > MAX_FILE_SIZE {
        return Err(FileError::TooLarge);
    }
    Ok(out)
}

/// [`read`], as text.
pub(crate) fn read_to_string(path: &Path) -> std::result::Result<String, FileError> {
    String::from_utf8(read(path)?)
        .map_err(|e| FileError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// [`read_to_string`] on a blocking thread, so that the runtime never waits on a disk.
pub(crate) async fn read_to_string_async(path: &Path) -> std::result::Result<String, FileError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_to_string(&path))
        .await
        .unwrap_or_else(|e| Err(FileError::Io(std::io::Error::other(e))))
}

/// Reads `path` as [`read`] does, with the error for `what`.
pub(crate) fn read_config(path: &Path, what: &str) -> Result<Vec<u8>> {
    read(path).map_err(|e| e.into_error(what, path, Error::Config))
}
