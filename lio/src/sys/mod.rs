//! Backend selection, in this one place, and the contract every backend keeps.
//!
//! # The backend contract
//!
//! A backend owns the OS's queue (an io_uring today; epoll, kqueue and IOCP later) and talks
//! to the rest of lio only through the in-flight [`Table`](crate::table::Table):
//!
//! - `start(table, inserted, deadline)`: the operation already sits in its table slot, at an
//!   address that will not move until its completion; the backend hands it to the OS and
//!   records how many OS completions it expects, or returns the result at once when the
//!   operation finished without the OS (an inline fast path, an argument error).
//! - `cancel(table, key)`: asks the OS to stop an operation early. The operation still
//!   completes through the table; the slot is freed only then.
//! - `wait(table, mode)`: submits everything queued and waits per `mode` (not at all, until
//!   at least one completion, or with a timeout), retrying `EINTR`, then reports every
//!   completion to the table. It never calls user code.
//! - `shutdown(table)`: cancels every running operation and waits for the OS to release them,
//!   so that the table can free their memory; what the OS does not release in time is
//!   leaked, never freed.
//! - `waker()`: a `Send + Sync` handle that makes a blocked `wait` return from any thread.
//!
//! Each operation's backend half is a trait implemented per operation type in the backend's
//! folder (io_uring: "prepare an SQE"), never a `match` over all operations.

#[cfg(target_os = "linux")]
mod blocking;
#[cfg(target_os = "linux")]
mod fd_map;
#[cfg(target_os = "linux")]
mod inline;
#[cfg(target_os = "linux")]
mod key_queue;
#[cfg(target_os = "linux")]
mod notify;
#[cfg(target_os = "linux")]
mod readiness;
#[cfg(target_os = "linux")]
mod timers;
#[cfg(target_os = "linux")]
mod uring;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "lio currently supports Linux (io_uring, epoll); kqueue and IOCP backends are planned"
);

#[cfg(target_os = "linux")]
pub(crate) use notify::Notifier;
#[cfg(target_os = "linux")]
pub(crate) use uring::{BufRing, Timespec};

use crate::builder::Config;
use crate::table::Key;
use crate::Backend;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Everything a backend of this platform needs from an operation. Sealed: the module is
/// private, so only lio's own operations implement it.
#[cfg(target_os = "linux")]
pub trait SysOp: uring::UringOp + readiness::ReadinessOp + blocking::BlockingOp {}

#[cfg(target_os = "linux")]
impl<T: uring::UringOp + readiness::ReadinessOp + blocking::BlockingOp> SysOp for T {}

/// What an operation's backend half sees when it is prepared: the driver's settings.
pub struct PrepareContext {
    pub(crate) inline_write_max: usize,
    /// io_uring: the kernel has `SEND_ZC`.
    pub(crate) send_zc: bool,
}

/// Where the readiness engine keeps a running operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Location {
    /// Not parked (finished, or run by the OS itself).
    #[default]
    None,
    /// Queued on a descriptor for a direction (readiness engine), or in the kernel on that
    /// lane (io_uring).
    Fd(std::os::fd::RawFd, readiness::Interest),
    /// io_uring: queued in a descriptor's lane behind the operation in the kernel.
    Lane(std::os::fd::RawFd, readiness::Interest),
    /// On the blocking pool.
    Pool,
    /// A sleep on the timer heap.
    Timer,
}

/// Per-slot data a backend needs at a fixed address while the operation runs.
#[derive(Default)]
pub(crate) struct SlotExtra {
    /// io_uring: the linked timeout's timespec, read by the kernel at submission.
    pub(crate) deadline: Timespec,
    /// Readiness engine: where the operation waits.
    pub(crate) location: Location,
}

/// The in-flight table as the engines use it: each slot carries their [`SlotExtra`].
pub(crate) type Table = crate::table::Table<SlotExtra>;
/// A freshly inserted operation of [`Table`].
pub(crate) type Inserted<T> = crate::table::Inserted<T, SlotExtra>;

/// Where an operation waits, as the engines record it in its slot's [`SlotExtra`].
pub(crate) trait Locations {
    /// Where `key` waits, if it still waits for the OS.
    fn location(&mut self, key: Key) -> Option<Location>;
    /// Records where `key` waits.
    fn set_location(&mut self, key: Key, location: Location);
}

impl Locations for Table {
    #[inline]
    fn location(&mut self, key: Key) -> Option<Location> {
        self.waiting_extra(key).map(|extra| extra.location)
    }

    #[inline]
    fn set_location(&mut self, key: Key, location: Location) {
        if let Some(extra) = self.live_extra(key) {
            extra.location = location;
        }
    }
}

/// The engine of a driver: one backend, chosen at run time.
// One engine exists per driver, inside its shared state: boxing the larger variant would
// only add an indirection to every submission.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Engine {
    Uring(uring::Engine),
    Readiness(readiness::Engine),
}

/// Calls the same method on whichever backend runs.
macro_rules! on_backend {
    ($engine:expr, $backend:ident => $call:expr) => {
        match $engine {
            Engine::Uring($backend) => $call,
            Engine::Readiness($backend) => $call,
        }
    };
}

impl Engine {
    /// Starts the backend `config` (or `LIO_BACKEND`) asks for; without a request, io_uring,
    /// falling back to epoll when the kernel refuses io_uring. Returns the engine and the
    /// reason for a fallback.
    pub(crate) fn new(config: &Config) -> io::Result<(Engine, Option<String>)> {
        let wanted = match config.backend {
            Some(backend) => Some(backend),
            None => Backend::from_env()?,
        };
        match wanted {
            Some(Backend::IoUring) => Ok((Engine::Uring(uring::Engine::new(config)?), None)),
            Some(Backend::Epoll) => Ok((Engine::Readiness(readiness::Engine::new(config)?), None)),
            None => match uring::Engine::new(config) {
                Ok(engine) => Ok((Engine::Uring(engine), None)),
                Err(e) if uring::may_fall_back(&e) => {
                    let reason = format!("io_uring unavailable ({e}); using epoll");
                    Ok((
                        Engine::Readiness(readiness::Engine::new(config)?),
                        Some(reason),
                    ))
                }
                Err(e) => Err(e),
            },
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Engine::Uring(_) => Backend::IoUring,
            Engine::Readiness(_) => Backend::Epoll,
        }
    }

    #[inline]
    pub(crate) fn start<T: SysOp>(
        &mut self,
        table: &mut Table,
        inserted: Inserted<T>,
        deadline: Option<Duration>,
    ) -> Option<io::Result<u32>> {
        on_backend!(self, engine => engine.start(table, inserted, deadline))
    }

    pub(crate) fn cancel(&mut self, table: &mut Table, key: Key) {
        on_backend!(self, engine => engine.cancel(table, key))
    }

    pub(crate) fn wait(&mut self, table: &mut Table, mode: WaitMode) -> io::Result<bool> {
        on_backend!(self, engine => engine.wait(table, mode))
    }

    pub(crate) fn notifier(&mut self, table: &mut Table) -> Arc<Notifier> {
        on_backend!(self, engine => engine.notifier(table))
    }

    pub(crate) fn shutdown(&mut self, table: &mut Table) {
        on_backend!(self, engine => engine.shutdown(table))
    }

    /// Registers a provided-buffer ring of `count` buffers with the kernel; `None` on
    /// backends that hand out pool buffers themselves.
    pub(crate) fn register_buf_ring(&mut self, count: u16) -> io::Result<Option<BufRing>> {
        match self {
            Engine::Uring(engine) => engine.register_buf_ring(count).map(Some),
            Engine::Readiness(_) => Ok(None),
        }
    }

    /// Unregisters the ring of `group` from [`register_buf_ring`](Self::register_buf_ring);
    /// its id may then be reused.
    pub(crate) fn unregister_buf_ring(&mut self, group: u16) -> io::Result<()> {
        match self {
            Engine::Uring(engine) => engine.unregister_buf_ring(group),
            Engine::Readiness(_) => Ok(()),
        }
    }
}
/// How long a backend's `wait` may block.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitMode {
    /// Submit and collect what is there.
    NoWait,
    /// Block until at least one completion (or a wake-up).
    Block,
    /// Block at most this long.
    Timeout(std::time::Duration),
}
