//! Operations, each defined once and backend-neutral: its arguments, its owned buffers and
//! its output. Each backend implements its half in `sys/<backend>/`.
//!
//! Build an operation with `new` (required arguments) and setters (options), then hand it to
//! a driver with [`Lio::submit`](crate::Lio::submit), or use the driver's convenience
//! methods such as [`Lio::read_at`](crate::Lio::read_at).

mod fs;
mod misc;
mod msg;
pub(crate) mod multishot;
mod net;
mod path;
mod time;

pub(crate) use fs::{iovecs, position_fd};
pub use fs::{Fallocate, Fsync, Ftruncate, Read, Readv, Write, Writev};
pub(crate) use misc::DriverId;
pub use misc::{Cancel, CancelToken, Nop};
pub use msg::{RecvFrom, RecvMsg, RecvMsgOutput, SendMsg, SendTo};
pub use multishot::{AcceptMulti, MultishotOp, RecvMulti};
pub(crate) use net::sealed;
pub use net::{Accept, Connect, FromSockAddr, FromSocket, Recv, Send, Shutdown, Socket};
pub(crate) use path::{dir_fd, path_ptr};
pub use path::{
    Close, FileStat, LinkAt, MkdirAt, OpenAt, OpenOptions, RenameAt, Statx, SymlinkAt, UnlinkAt,
};
pub use time::Sleep;

use std::io;

/// An operation lio can submit.
///
/// Implemented by the operation types in this module; the trait is sealed because every
/// backend must know how to run each operation.
pub trait Op: crate::sys::SysOp + Sized + 'static {
    /// What the operation yields: usually `io::Result<T>`, or a
    /// [`BufResult`](crate::buf::BufResult) for operations that own buffers.
    type Output: 'static;

    /// Whether the operation may use the driver's small reserve of slots beyond its
    /// capacity: cancellations do, so that a full driver can still cancel what fills it.
    #[doc(hidden)]
    const USES_RESERVE: bool = false;

    /// Checks the operation once, at submission and before any backend sees it: its
    /// arguments are in range (offsets, `iovec` counts, flags) and, for a cancel, it names
    /// an operation of the driver `driver`. An error completes the operation at once, with
    /// the same result on every backend; the backend halves rely on it.
    #[doc(hidden)]
    #[inline]
    fn validate(&self, _driver: misc::DriverId) -> io::Result<()> {
        Ok(())
    }

    /// Turns the OS's result (a non-negative count or value, or an error) into the output,
    /// handing buffers back.
    fn complete(self, result: io::Result<u32>) -> Self::Output;
}

/// The largest byte count one read or write asks for: Linux's own per-call limit.
pub(crate) const MAX_RW: usize = 0x7fff_f000;

/// Converts a user offset into the kernel's, rejecting offsets the kernel would read as
/// "current position" or as negative.
pub(crate) fn checked_offset(offset: Option<u64>) -> io::Result<u64> {
    match offset {
        None => Ok(u64::MAX),
        Some(off) if off <= i64::MAX as u64 => Ok(off),
        Some(off) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("lio: offset {off} exceeds the largest file offset (i64::MAX)"),
        )),
    }
}

/// The kernel's offset for a validated user offset (see [`checked_offset`]): the offset, or
/// `u64::MAX` ("the file position") for none.
#[inline]
pub(crate) fn kernel_offset(offset: Option<u64>) -> u64 {
    debug_assert!(
        checked_offset(offset).is_ok(),
        "lio: an offset escaped validation"
    );
    offset.unwrap_or(u64::MAX)
}

/// The `iovec` count as the kernel takes it, at most `IOV_MAX` (1024).
pub(crate) fn iovec_count(n: usize) -> io::Result<u32> {
    if n > 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("lio: {n} buffers exceed the vectored I/O limit of 1024"),
        ));
    }
    Ok(n as u32)
}
