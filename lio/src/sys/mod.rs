//! Backend selection, in this one place: which engines each target builds (the cfg
//! aliases of `build.rs`), and what every engine gets from the rest of lio. The contract
//! itself is the [`Engine`] trait (`engine.rs`); on Linux the run-time choice between
//! io_uring and epoll is [`Fused`](fused::Fused) (`fused.rs`).
//!
//! What each engine must provide: the [`Engine`] methods, and a backend half of every
//! operation (the traits [`SysOp`] bundles).

mod backend;
mod engine;
pub use backend::Backend;
pub(crate) use engine::Engine;

// Shared by the engines of every target that builds one.
#[cfg(linux)]
mod blocking;
#[cfg(linux)]
mod fd_map;
#[cfg(linux)]
mod inline;
#[cfg(linux)]
mod key_queue;
#[cfg(linux)]
mod notify;
#[cfg(linux)]
mod timers;
#[cfg(linux)]
pub(crate) use notify::Notifier;

// The engines.
#[cfg(readiness)]
mod readiness;
#[cfg(uring)]
mod uring;
#[cfg(uring)]
pub(crate) use uring::{BufRing, Timespec};

// The engine a driver of this target runs.
#[cfg(linux)]
mod fused;
#[cfg(linux)]
pub(crate) use fused::Fused as Platform;

#[cfg(not(linux))]
compile_error!(
    "lio currently supports Linux (io_uring, epoll); kqueue and IOCP backends are planned"
);

use crate::table::Key;

/// Everything a backend of this platform needs from an operation. Sealed: the module is
/// private, so only lio's own operations implement it.
#[cfg(linux)]
pub trait SysOp: uring::UringOp + readiness::ReadinessOp + blocking::BlockingOp {}

#[cfg(linux)]
impl<T: uring::UringOp + readiness::ReadinessOp + blocking::BlockingOp> SysOp for T {}

/// A driver's settings, as `Builder` sets them and the engines read them.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) entries: u32,
    pub(crate) capacity: usize,
    pub(crate) inline_write_max: usize,
    pub(crate) backend: Option<Backend>,
    pub(crate) pool_threads: usize,
}

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
