//! The readiness half of the multishot operations: one non-blocking syscall per result,
//! reported with io_uring's completion flags so that both backends feed the same stream.

use super::super::PrepareContext;
use super::net::{call, cannot_accept, finished, raw_recv, ready_now, would_block};
use super::ops::{poll_stream, short_transfer, Attempt, Interest, Plan, ReadinessOp, TryNow};
use crate::op::multishot::flags;
use crate::op::{self, FromSocket};
use crate::resource::FileKind;
use crate::Resource;
use std::io;

/// Polls a multishot operation on a socket; anything else fails with `ENOTSOCK`.
fn on_socket<T: TryNow>(fd: &Resource) -> Plan {
    match fd.kind() {
        FileKind::Stream | FileKind::Datagram => poll_stream::<T>(fd, Interest::Read),
        FileKind::BufferedFile | FileKind::Other => {
            Plan::Done(Err(io::Error::from_raw_os_error(libc::ENOTSOCK)))
        }
    }
}

/// One result of a stream that goes on.
fn more(n: u32, drained: bool, extra_flags: u32) -> Attempt {
    Attempt {
        result: Ok(n),
        drained,
        flags: flags::MORE | extra_flags,
    }
}

impl<S: FromSocket> TryNow for op::AcceptMulti<S> {
    fn try_now(&mut self) -> Attempt {
        let fd = self.fd.raw();
        if !ready_now(fd, libc::POLLIN) {
            return would_block();
        }
        let (addr, len) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: no address is asked for; `accept4` only reads its plain arguments.
        match call(|| unsafe { libc::accept4(fd, addr, len, libc::SOCK_CLOEXEC) as isize }) {
            Ok(accepted) => more(accepted, false, 0),
            Err(e) => finished(Err(e)),
        }
    }
}

impl<S: FromSocket> ReadinessOp for op::AcceptMulti<S> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        match cannot_accept(&self.fd) {
            Some(e) => Plan::Done(Err(e)),
            None => on_socket::<Self>(&self.fd),
        }
    }
}

impl op::RecvMulti {
    /// No free buffer: the stream fails with `ENOBUFS` once something arrives (as io_uring's
    /// does), and the data stays queued in the socket.
    fn out_of_buffers(&self) -> Attempt {
        let mut byte = 0u8;
        let peek = libc::MSG_PEEK | libc::MSG_DONTWAIT;
        // SAFETY: one byte of stack memory, valid for the call.
        let peeked = call(|| unsafe { libc::recv(self.fd.raw(), (&raw mut byte).cast(), 1, peek) });
        match peeked {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block(),
            Ok(_) => finished(Err(io::Error::from_raw_os_error(libc::ENOBUFS))),
            Err(e) => finished(Err(e)),
        }
    }
}

impl TryNow for op::RecvMulti {
    fn try_now(&mut self) -> Attempt {
        let Some((id, ptr)) = self.pool.take_free() else {
            return self.out_of_buffers();
        };
        let size = self.pool.buf_size();
        let flags = self.flags | libc::MSG_DONTWAIT;
        // SAFETY: `ptr` is a free pool buffer of `size` bytes, taken for this call; the pool
        // memory lives as long as the operation holds the pool.
        let received = call(|| unsafe { raw_recv(self.fd.raw(), ptr, size, flags) });
        match received {
            Ok(n) if n > 0 => {
                let buffer = flags::BUFFER | u32::from(id) << flags::BUFFER_SHIFT;
                more(n, short_transfer(&self.fd, n as usize, size), buffer)
            }
            other => {
                self.pool.put_back(id);
                match other {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block(),
                    other => finished(other),
                }
            }
        }
    }
}

impl ReadinessOp for op::RecvMulti {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        on_socket::<Self>(&self.fd)
    }
}
