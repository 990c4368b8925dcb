//! [`Builder`]: driver settings.

use crate::sys::Config;
use crate::{Backend, Lio};
use std::io;

/// Settings for a [`Lio`] driver.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lio = lio::Lio::builder().entries(512).capacity(8192).build()?;
/// # drop(lio); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config {
                entries: 256,
                capacity: 4096,
                inline_write_max: 64 * 1024,
                backend: None,
                pool_threads: 16,
            },
        }
    }
}

impl Builder {
    /// Default settings: 256 submission entries, 4,096 operations in flight, inline buffered
    /// writes up to 64 KiB.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Size of the submission queue (io_uring SQ entries, at least 2; rounded up to a power of two and
    /// clamped by the kernel). More operations than this may be queued between two `run`
    /// calls: a full queue is flushed to the kernel and submission goes on.
    pub fn entries(mut self, entries: u32) -> Self {
        self.config.entries = entries.max(2);
        self
    }

    /// The most operations in flight at once. Submitting beyond it completes the new
    /// operation with a `WouldBlock` error (buffer handed back); run the driver and retry.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity.clamp(1, 1 << 24);
        self
    }

    /// Buffered writes to regular files up to this many bytes are done inline on the
    /// driver thread (a page-cache copy) instead of through a kernel worker; 0 disables it.
    /// See the crate docs on performance.
    pub fn inline_write_max(mut self, bytes: usize) -> Self {
        self.config.inline_write_max = bytes;
        self
    }

    /// Forces a backend instead of choosing one. Without this, `LIO_BACKEND` (`io_uring` or
    /// `epoll`) decides, and without that lio uses io_uring and falls back to epoll when the
    /// kernel refuses io_uring (see [`Lio::fallback_reason`]). A forced backend never falls
    /// back: if it cannot start, `build` fails.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.config.backend = Some(backend);
        self
    }

    /// The most threads of the blocking pool, which runs operations that have no
    /// asynchronous path on the chosen backend (file I/O on epoll, opcodes an old kernel's
    /// io_uring lacks). Threads start on demand. Default 16; at least 1.
    pub fn pool_threads(mut self, threads: usize) -> Self {
        self.config.pool_threads = threads.max(1);
        self
    }

    /// Creates the driver.
    ///
    /// # Errors
    ///
    /// Fails if the forced backend (or, when none is forced, both io_uring and epoll) cannot
    /// start, or if `LIO_BACKEND` names an unknown backend.
    pub fn build(self) -> io::Result<Lio> {
        Lio::with_config(self.config)
    }
}

impl Lio {
    /// Creates a driver with default settings (see [`Builder`]): io_uring, or epoll when
    /// the kernel refuses io_uring (see [`fallback_reason`](Lio::fallback_reason)), unless
    /// `LIO_BACKEND` forces one.
    ///
    /// # Errors
    ///
    /// Fails if `LIO_BACKEND` names an unknown backend, if a forced backend cannot start,
    /// or if neither backend can (e.g. out of file descriptors).
    pub fn new() -> io::Result<Lio> {
        Builder::new().build()
    }

    /// Starts configuring a driver.
    pub fn builder() -> Builder {
        Builder::new()
    }
}
