//! Multishot operations: one submission, a stream of results. [`AcceptMulti`] yields every
//! connection a listener accepts; [`RecvMulti`] yields the data a socket receives, each
//! piece in a buffer the kernel picked from a [`BufPool`].
//!
//! Submit them with [`Lio::multishot`](crate::Lio::multishot) (or the typed sockets'
//! `accept_multi` and `recv_multi`) and consume the resulting
//! [`Multishot`](crate::Multishot) stream.
//!
//! Both backends report each result the way io_uring does: a result plus completion flags
//! (whether more follow, which buffer holds the data). io_uring produces them natively; the
//! readiness engine emulates them with one non-blocking syscall per result.

use super::net::new_resource;
use super::{FromSocket, Op};
use crate::buf::{BufPool, PooledBuf};
use crate::Resource;
use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;

pub(crate) use crate::table::flags;

/// An operation that yields a stream of items from one submission.
///
/// Implemented by [`AcceptMulti`] and [`RecvMulti`]; sealed like [`Op`].
pub trait MultishotOp: Op<Output = ()> {
    /// What each result of the stream carries.
    type Item: 'static;

    /// Records one OS result with its completion flags (see [`flags`]).
    #[doc(hidden)]
    fn on_result(&mut self, result: io::Result<u32>, flags: u32);

    /// The oldest result not handed out yet.
    #[doc(hidden)]
    fn pop_item(&mut self) -> Option<io::Result<Self::Item>>;

    /// Whether the OS stopped the stream for its own reasons after a success (its queue
    /// overflowed), so that it must be submitted again to go on; clears the flag.
    #[doc(hidden)]
    fn take_resubmit(&mut self) -> bool;

    /// The buffer pool the operation receives into, if any.
    #[doc(hidden)]
    fn pool(&self) -> Option<&BufPool> {
        None
    }
}

/// Accepts connections on a listening socket until cancelled (multishot `accept4(2)` with
/// `SOCK_CLOEXEC`). Items: the accepted socket, as a [`Resource`] or one of the typed
/// streams of [`crate::net`].
///
/// io_uring: one `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT` (Linux 5.19). epoll:
/// `accept4` whenever the listener is readable, until it would block. Accepted sockets are
/// blocking, like [`Accept`](super::Accept)'s; connections accepted after the stream was
/// dropped are closed.
pub struct AcceptMulti<S = Resource> {
    pub(crate) fd: Resource,
    items: VecDeque<io::Result<S>>,
    resubmit: bool,
    socket: PhantomData<fn() -> S>,
}

impl AcceptMulti {
    /// Accepts connections on `fd`.
    pub fn new(fd: &Resource) -> AcceptMulti {
        AcceptMulti::typed(fd)
    }
}

impl<S: FromSocket> AcceptMulti<S> {
    pub(crate) fn typed(fd: &Resource) -> Self {
        AcceptMulti {
            fd: fd.clone(),
            items: VecDeque::new(),
            resubmit: false,
            socket: PhantomData,
        }
    }
}

impl<S: FromSocket> Op for AcceptMulti<S> {
    type Output = ();
    fn complete(self, _result: io::Result<u32>) {}
}

impl<S: FromSocket> MultishotOp for AcceptMulti<S> {
    type Item = S;

    fn on_result(&mut self, result: io::Result<u32>, flags: u32) {
        match result {
            Ok(fd) => {
                self.items.push_back(Ok(S::from_socket(new_resource(fd))));
                self.resubmit |= flags & flags::MORE == 0;
            }
            Err(e) => self.items.push_back(Err(e)),
        }
    }

    fn pop_item(&mut self) -> Option<io::Result<S>> {
        self.items.pop_front()
    }

    fn take_resubmit(&mut self) -> bool {
        std::mem::take(&mut self.resubmit)
    }
}

/// Receives from a socket until end of stream, an error or a cancel (multishot `recv(2)`),
/// each piece of data in a buffer taken from a [`BufPool`]. Items: [`PooledBuf`]s, which
/// return to the pool when dropped.
///
/// The stream ends (yields `None`) at end of stream. When the pool has no free buffer for
/// arriving data the stream yields an `ENOBUFS` error and ends; the data stays queued in
/// the socket, so nothing is lost: drop buffers and submit a new `RecvMulti` to go on.
///
/// io_uring: one `IORING_OP_RECV` with `IORING_RECV_MULTISHOT` and buffer selection from
/// the pool's registered buffer ring (Linux 6.0), consumed incrementally where the kernel
/// supports it (Linux 6.12). epoll: `recv` into a free pool buffer whenever the socket is
/// readable, until it would block.
pub struct RecvMulti {
    pub(crate) fd: Resource,
    pub(crate) pool: BufPool,
    pub(crate) flags: i32,
    items: VecDeque<io::Result<PooledBuf>>,
    resubmit: bool,
}

impl RecvMulti {
    /// Receives from `fd` into buffers from `pool`.
    pub fn new(fd: &Resource, pool: &BufPool) -> RecvMulti {
        RecvMulti {
            fd: fd.clone(),
            pool: pool.clone(),
            flags: 0,
            items: VecDeque::new(),
            resubmit: false,
        }
    }

    /// `recv(2)` flags. `MSG_PEEK`, `MSG_WAITALL` and `MSG_TRUNC` make no sense for a
    /// stream of buffers (a peek never consumes, a wait for all cannot span buffers, and a
    /// truncated datagram's full length would name bytes no buffer holds): with any of them
    /// the operation fails with `InvalidInput`.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// The flags, or `InvalidInput` for the ones a multishot receive cannot honour.
    pub(crate) fn checked_flags(&self) -> io::Result<i32> {
        if self.flags & (libc::MSG_PEEK | libc::MSG_WAITALL | libc::MSG_TRUNC) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "lio: a multishot receive cannot peek, wait for all or report truncated lengths (MSG_PEEK, MSG_WAITALL, MSG_TRUNC)",
            ));
        }
        Ok(self.flags)
    }
}

impl Op for RecvMulti {
    type Output = ();

    fn validate(&self, _driver: super::DriverId) -> io::Result<()> {
        self.checked_flags().map(drop)
    }

    fn complete(self, _result: io::Result<u32>) {}
}

impl MultishotOp for RecvMulti {
    type Item = PooledBuf;

    fn on_result(&mut self, result: io::Result<u32>, flags: u32) {
        let buf = flags::buffer(flags).map(|id| {
            let len = result.as_ref().map_or(0, |&n| n);
            self.pool.take(id, len, flags & flags::BUF_MORE != 0)
        });
        match (result, buf) {
            // End of stream (an empty piece, if any, goes straight back to the pool).
            (Ok(0), _) => {}
            (Ok(_), Some(buf)) => {
                self.items.push_back(buf);
                self.resubmit |= flags & flags::MORE == 0;
            }
            (Ok(n), None) => self.items.push_back(Err(io::Error::other(format!(
                "lio: the kernel reported {n} bytes received without naming a buffer"
            )))),
            (Err(e), _) => self.items.push_back(Err(e)),
        }
    }

    fn pop_item(&mut self) -> Option<io::Result<PooledBuf>> {
        self.items.pop_front()
    }

    fn pool(&self) -> Option<&BufPool> {
        Some(&self.pool)
    }

    fn take_resubmit(&mut self) -> bool {
        std::mem::take(&mut self.resubmit)
    }
}
