//! [`Backend`]: which OS mechanism a driver runs on, and how a user names one.

use std::fmt;
use std::io;

/// The OS mechanism a driver runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// Linux io_uring.
    IoUring,
    /// Linux epoll, with file operations on lio's blocking pool: the fallback when io_uring
    /// is unavailable (seccomp, `kernel.io_uring_disabled`, old kernels).
    Epoll,
}

impl Backend {
    /// The backend named by `LIO_BACKEND` (`io_uring`/`uring` or `epoll`), if set; an empty
    /// value counts as unset.
    ///
    /// # Errors
    ///
    /// An unknown name (or one that is not UTF-8) is an `InvalidInput` error.
    pub fn from_env() -> io::Result<Option<Backend>> {
        let Some(name) = std::env::var_os("LIO_BACKEND") else {
            return Ok(None);
        };
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "lio: LIO_BACKEND is not UTF-8")
        })?;
        if name.trim().is_empty() {
            return Ok(None);
        }
        name.parse().map(Some)
    }
}

impl std::str::FromStr for Backend {
    type Err = io::Error;

    /// Parses `io_uring` (also `iouring`, `uring`) or `epoll`, case-insensitively.
    fn from_str(name: &str) -> io::Result<Backend> {
        match name.trim().to_ascii_lowercase().as_str() {
            "io_uring" | "iouring" | "io-uring" | "uring" => Ok(Backend::IoUring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("lio: unknown backend {other:?} (expected io_uring or epoll)"),
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}
