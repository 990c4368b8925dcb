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
mod inline;
#[cfg(target_os = "linux")]
mod uring;

#[cfg(not(target_os = "linux"))]
compile_error!("lio currently supports Linux (io_uring); kqueue and IOCP backends are planned");

#[cfg(target_os = "linux")]
pub(crate) use uring::{Engine, SlotExtra, Timespec};

/// Everything a backend of this platform needs from an operation. Sealed: the module is
/// private, so only lio's own operations implement it.
#[cfg(target_os = "linux")]
pub trait SysOp: uring::UringOp {}

#[cfg(target_os = "linux")]
impl<T: uring::UringOp> SysOp for T {}

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
