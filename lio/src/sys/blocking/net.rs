//! The blocking half of the socket operations. Only three ever reach the pool: `socket` and
//! `shutdown` (on kernels whose io_uring lacks their opcodes; epoll runs these jobs inline,
//! as they never block), and a Unix stream `connect` that epoll found the listener's backlog
//! full for (the kernel signals no readiness when room appears, so a blocking `connect`
//! waits for it). Every other socket operation has a readiness path on epoll and a required
//! opcode on io_uring.

use super::ops::{job, no_job, retry};
use super::{BlockingOp, Job, JobArgs};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, FromSockAddr, FromSocket};
use std::io;

/// # Safety
///
/// No pointers are used: `len` is the domain, `flags` the type, `mode` the protocol.
unsafe fn run_socket(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: a plain syscall with integer arguments.
    retry(|| unsafe { libc::socket(a.len as i32, a.flags, a.mode as i32) as isize })
}

impl BlockingOp for op::Socket {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            len: self.domain as usize,
            flags: self.ty(),
            mode: self.protocol as u32,
            ..JobArgs::default()
        };
        job(run_socket, args)
    }
}

/// # Safety
///
/// No pointers are used: `flags` is how to shut down.
unsafe fn run_shutdown(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: a plain syscall on a descriptor number.
    retry(|| unsafe { libc::shutdown(a.fd, a.flags) as isize })
}

impl BlockingOp for op::Shutdown {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: self.fd.raw(),
            flags: self.how,
            ..JobArgs::default()
        };
        job(run_shutdown, args)
    }
}

/// # Safety
///
/// `ptr2` must point to a socket address of `len` bytes.
unsafe fn run_connect(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: the address belongs to the operation (caller's contract). Only Unix stream
    // sockets connect here, and an interrupted Unix connect has not connected: retrying is
    // right (a TCP connect would go on in the background).
    retry(|| unsafe { libc::connect(a.fd, a.ptr2.cast(), a.len as libc::socklen_t) as isize })
}

impl<S: FromSocket> BlockingOp for op::Connect<S> {
    fn job(&mut self) -> io::Result<Job> {
        if self.in_progress {
            // A connect already under way must not be started again.
            return no_job("a connect in progress");
        }
        let (fd, addr, len) = self.target()?;
        let args = JobArgs {
            fd,
            ptr2: addr.cast(),
            len: len as usize,
            ..JobArgs::default()
        };
        job(run_connect, args)
    }
}

/// Socket operations that never run on the pool (see the module docs).
macro_rules! never_on_pool {
    ($($what:literal: [$($generics:tt)*] $op:ty),+ $(,)?) => {$(
        impl<$($generics)*> BlockingOp for $op {
            fn job(&mut self) -> io::Result<Job> {
                no_job($what)
            }
        }
    )+};
}

never_on_pool!(
    "accept": [S: FromSocket] op::Accept<S>,
    "send": [B: IoBuf] op::Send<B>,
    "recv": [B: IoBufMut] op::Recv<B>,
    "sendto": [B: IoBuf] op::SendTo<B>,
    "recvfrom": [B: IoBufMut, A: FromSockAddr] op::RecvFrom<B, A>,
    "sendmsg": [B: IoBuf] op::SendMsg<B>,
    "recvmsg": [B: IoBufMut] op::RecvMsg<B>,
    "multishot accept": [S: FromSocket] op::AcceptMulti<S>,
    "multishot recv": [] op::RecvMulti,
);
