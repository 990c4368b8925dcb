//! Operations that touch no file: no-op and cancellation.

use super::Op;
use crate::table::Key;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Does nothing, through the whole submission and completion path. Output: `io::Result<()>`.
pub struct Nop {
    _private: (),
}

impl Nop {
    /// A no-op.
    pub fn new() -> Self {
        Nop { _private: () }
    }
}

impl Default for Nop {
    fn default() -> Self {
        Nop::new()
    }
}

impl Op for Nop {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Names a submitted operation so that it can be cancelled with [`Cancel`].
///
/// Returned by [`Io::when_done`](crate::Io::when_done), [`Io::send_with`](crate::Io::send_with)
/// and [`IoFuture::cancel_token`](crate::IoFuture::cancel_token). A token of an operation that
/// has finished cancels nothing (the cancel reports `NotFound`).
///
/// A token belongs to the driver that made it: cancelling it on another driver fails with
/// `InvalidInput` and touches nothing there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelToken {
    pub(crate) key: Key,
    /// The driver whose operation `key` names ([`DriverId`]).
    pub(crate) driver: DriverId,
}

/// A driver's identity, unique in the process for its whole life (never reused, unlike the
/// address of a dropped driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub struct DriverId(u64);

impl DriverId {
    /// A new, never used identity.
    pub(crate) fn next() -> DriverId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        DriverId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Asks the OS to cancel an in-flight operation. Output: `io::Result<()>`.
///
/// The cancelled operation completes with an error (`ECANCELED`, or `Interrupted` for some
/// kinds). The cancel itself fails with `NotFound` if the operation had already finished and
/// `EALREADY` if it is running and cannot be interrupted.
pub struct Cancel {
    pub(crate) target: CancelToken,
}

impl Cancel {
    /// Cancels the operation named by `target`.
    pub fn new(target: CancelToken) -> Self {
        Cancel { target }
    }
}

impl Op for Cancel {
    type Output = io::Result<()>;
    const USES_RESERVE: bool = true;

    fn validate(&self, driver: DriverId) -> io::Result<()> {
        if self.target.driver != driver {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "lio: this cancel token belongs to another driver",
            ));
        }
        Ok(())
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}
