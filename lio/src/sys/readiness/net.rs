//! The readiness half of the socket operations.
//!
//! Sends and receives are tried with `MSG_DONTWAIT` per call, which never blocks even on a
//! blocking socket and changes no descriptor flags; sends add `MSG_NOSIGNAL`. Accepts wait
//! for readability and check it again with a zero-timeout `poll` before `accept4`, so that a
//! blocking listener never blocks the driver. A connect is started with `O_NONBLOCK` set
//! around the `connect` call only, then waits for writability and reads `SO_ERROR`.
//! `socket` and `shutdown` never block: they run inline.

use super::super::blocking::BlockingOp;
use super::super::PrepareContext;
use super::ops::{blocking, poll, short_transfer, Attempt, Interest, Plan, ReadinessOp, TryNow};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, FromSockAddr, FromSocket};
use crate::pal::SockAddr;
use crate::resource::FileKind;
use crate::Resource;
use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
use std::io;
use std::os::fd::RawFd;

/// Runs a socket call that does not block, retrying `EINTR`.
pub(super) use crate::pal::syscall as call;

/// `send(2)` as the bare system call (`sendto` without an address): glibc's wrapper is a
/// thread-cancellation point, which costs two calls on every send for nothing here.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes.
pub(super) unsafe fn raw_send(fd: RawFd, ptr: *const u8, len: usize, flags: i32) -> isize {
    let null = std::ptr::null::<libc::sockaddr>();
    // SAFETY: the caller's contract; no address is passed.
    unsafe { libc::syscall(libc::SYS_sendto, fd, ptr, len, flags, null, 0) as isize }
}

/// `recv(2)` as the bare system call (`recvfrom` without an address), for the same reason.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub(super) unsafe fn raw_recv(fd: RawFd, ptr: *mut u8, len: usize, flags: i32) -> isize {
    let null = std::ptr::null_mut::<libc::sockaddr>();
    let no_len = std::ptr::null_mut::<libc::socklen_t>();
    // SAFETY: the caller's contract; no address is asked for.
    unsafe { libc::syscall(libc::SYS_recvfrom, fd, ptr, len, flags, null, no_len) as isize }
}

/// An attempt that found nothing to do yet.
pub(super) fn would_block() -> Attempt {
    finished(Err(io::Error::from_raw_os_error(libc::EAGAIN)))
}

/// An attempt that says nothing about what is left on the descriptor.
pub(super) fn finished(result: io::Result<u32>) -> Attempt {
    Attempt {
        result,
        drained: false,
        flags: 0,
    }
}

/// A transfer attempt of `wanted` bytes: drained if a byte stream moved fewer (a peek
/// consumes nothing, so it shows nothing).
fn transfer(result: io::Result<u32>, fd: &Resource, wanted: usize, flags: i32) -> Attempt {
    let drained = match result {
        Ok(n) => flags & libc::MSG_PEEK == 0 && short_transfer(fd, n as usize, wanted),
        Err(_) => false,
    };
    Attempt {
        result,
        drained,
        flags: 0,
    }
}

/// Whether `fd` is ready for `events` right now (a zero-timeout `poll`). An error counts as
/// ready: the operation's own syscall then reports it.
pub(super) fn ready_now(fd: RawFd, events: i16) -> bool {
    let mut pollfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` on the stack; a zero timeout never blocks.
    let polled = call(|| unsafe { libc::poll(&mut pollfd, 1, 0) } as isize);
    // An error other than EINTR counts as ready: the operation's own call reports it.
    !matches!(polled, Ok(0))
}

/// Polls a socket operation on `fd`; a descriptor that cannot be a socket fails with
/// `ENOTSOCK`, as the syscall (and io_uring) would, without being registered.
pub(super) fn on_socket<T: TryNow>(fd: &Resource, interest: Interest) -> Plan {
    match fd.kind() {
        FileKind::Stream | FileKind::Datagram => poll::<T>(fd, interest),
        FileKind::BufferedFile | FileKind::Other => {
            Plan::Done(Err(io::Error::from_raw_os_error(libc::ENOTSOCK)))
        }
    }
}

/// Why `fd` cannot accept, as `accept4(2)` and io_uring say at once: `ENOTSOCK` for a
/// descriptor that is no socket, `EINVAL` for a stream socket that does not listen,
/// `EOPNOTSUPP` for a socket type without connections. `None` for a listening socket.
/// Without this check an accept would wait for a readability that never means a connection.
pub(super) fn cannot_accept(fd: &Resource) -> Option<io::Error> {
    use rustix::net::{sockopt, SocketType};
    let errno = match sockopt::socket_acceptconn(fd) {
        Ok(true) => return None,
        Ok(false) => match sockopt::socket_type(fd) {
            Ok(SocketType::STREAM | SocketType::SEQPACKET) => libc::EINVAL,
            Ok(_) => libc::EOPNOTSUPP,
            Err(e) => e.raw_os_error(),
        },
        Err(e) => e.raw_os_error(),
    };
    Some(io::Error::from_raw_os_error(errno))
}

/// Runs an operation's blocking job on the driver thread: for syscalls that never block.
fn inline<T: BlockingOp>(op: &mut T) -> Plan {
    match op.job() {
        // SAFETY: the job's pointers point into `op`, which stays where it is and is not
        // otherwise used during the call.
        Ok(job) => Plan::Done(unsafe { (job.run)(&job.args) }),
        Err(e) => Plan::Done(Err(e)),
    }
}

impl ReadinessOp for op::Socket {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        inline(self)
    }
}

impl ReadinessOp for op::Shutdown {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        inline(self)
    }
}

/// `connect` with `O_NONBLOCK` set for the duration of the call only (unless the socket
/// already had it), so that it starts the connection without waiting for it.
fn start_connect(
    fd: &Resource,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> io::Result<()> {
    let flags = fcntl_getfl(fd)?;
    let toggle = !flags.contains(OFlags::NONBLOCK);
    if toggle {
        fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    }
    // SAFETY: `addr` points to `len` bytes of socket address owned by the operation.
    let result = match unsafe { libc::connect(fd.raw(), addr, len) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    };
    if toggle {
        fcntl_setfl(fd, flags)?;
    }
    result
}

impl<S: FromSocket> TryNow for op::Connect<S> {
    /// Called once the connect is in progress: done when the socket is writable, with the
    /// result in `SO_ERROR`.
    fn try_now(&mut self) -> Attempt {
        let Some(fd) = self.fd.as_ref().ok() else {
            return finished(Err(io::Error::from_raw_os_error(libc::EBADF)));
        };
        if !ready_now(fd.raw(), libc::POLLOUT) {
            return would_block();
        }
        finished(match rustix::net::sockopt::socket_error(fd) {
            Ok(Ok(())) => Ok(0),
            Ok(Err(errno)) | Err(errno) => Err(errno.into()),
        })
    }
}

impl<S: FromSocket> ReadinessOp for op::Connect<S> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        let (_, addr, len) = match self.target() {
            Ok(target) => target,
            Err(e) => return Plan::Done(Err(e)),
        };
        let Ok(res) = self.fd.as_ref().cloned() else {
            return Plan::Done(Err(io::Error::from_raw_os_error(libc::EBADF)));
        };
        match start_connect(&res, addr, len) {
            Ok(()) => Plan::Done(Ok(0)),
            // In progress (an interrupted connect goes on in the background too).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => {
                self.in_progress = true;
                poll::<Self>(&res, Interest::Write)
            }
            // A Unix listener's backlog is full. No readiness event comes when it has room
            // again, so a blocking connect on the pool waits for that.
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    && self.addr.as_ref().map(SockAddr::family).ok() == Some(libc::AF_UNIX) =>
            {
                blocking(self)
            }
            Err(e) => Plan::Done(Err(e)),
        }
    }
}

impl<S: FromSocket> TryNow for op::Accept<S> {
    fn try_now(&mut self) -> Attempt {
        let fd = self.fd.raw();
        if !ready_now(fd, libc::POLLIN) {
            return would_block();
        }
        self.addr = SockAddr::empty();
        let (addr, len) = (self.addr.storage_mut(), self.addr.len_mut());
        // SAFETY: `addr` and `len` point into the operation, which stays put during the call.
        finished(call(|| unsafe {
            libc::accept4(fd, addr, len, libc::SOCK_CLOEXEC) as isize
        }))
    }
}

impl<S: FromSocket> ReadinessOp for op::Accept<S> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        match cannot_accept(&self.fd) {
            Some(e) => Plan::Done(Err(e)),
            None => on_socket::<Self>(&self.fd, Interest::Read),
        }
    }
}

impl<B: IoBuf> TryNow for op::Send<B> {
    fn try_now(&mut self) -> Attempt {
        let (ptr, len) = (self.buf.buf_ptr(), self.len() as usize);
        let flags = self.send_flags() | libc::MSG_DONTWAIT;
        // SAFETY: `ptr` and `len` describe the operation's initialised bytes.
        let result = call(|| unsafe { raw_send(self.fd.raw(), ptr, len, flags) });
        transfer(result, &self.fd, len, flags)
    }
}

impl<B: IoBuf> ReadinessOp for op::Send<B> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        on_socket::<Self>(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut> TryNow for op::Recv<B> {
    fn try_now(&mut self) -> Attempt {
        let (ptr, len) = (self.buf.buf_mut_ptr(), self.len() as usize);
        let flags = self.flags | libc::MSG_DONTWAIT;
        // SAFETY: `ptr` is valid for writes of `len <= capacity` bytes.
        let result = call(|| unsafe { raw_recv(self.fd.raw(), ptr, len, flags) });
        transfer(result, &self.fd, len, flags)
    }
}

impl<B: IoBufMut> ReadinessOp for op::Recv<B> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        on_socket::<Self>(&self.fd, Interest::Read)
    }
}

/// `sendmsg(2)` with `MSG_DONTWAIT` on a header built by the operation.
fn sendmsg(fd: &Resource, built: io::Result<(*mut libc::msghdr, usize)>, flags: i32) -> Attempt {
    let (msg, wanted) = match built {
        Ok(built) => built,
        Err(e) => return finished(Err(e)),
    };
    let flags = flags | libc::MSG_DONTWAIT;
    // SAFETY: the header and everything it points to belong to the operation, which stays
    // put and untouched during the call.
    let result = call(|| unsafe { libc::sendmsg(fd.raw(), msg, flags) });
    transfer(result, fd, wanted, flags)
}

/// `recvmsg(2)` with `MSG_DONTWAIT` on a header built by the operation.
fn recvmsg(fd: &Resource, built: io::Result<(*mut libc::msghdr, usize)>, flags: i32) -> Attempt {
    let (msg, wanted) = match built {
        Ok(built) => built,
        Err(e) => return finished(Err(e)),
    };
    let flags = flags | libc::MSG_DONTWAIT;
    // SAFETY: as for `sendmsg`; the kernel writes only into buffers the header names.
    let result = call(|| unsafe { libc::recvmsg(fd.raw(), msg, flags) });
    transfer(result, fd, wanted, flags)
}

impl<B: IoBuf> TryNow for op::SendTo<B> {
    fn try_now(&mut self) -> Attempt {
        let built = self.msghdr();
        sendmsg(&self.fd, built, self.send_flags())
    }
}

impl<B: IoBuf> ReadinessOp for op::SendTo<B> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        if let Err(e) = self.msghdr() {
            return Plan::Done(Err(e));
        }
        on_socket::<Self>(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut, A: FromSockAddr> TryNow for op::RecvFrom<B, A> {
    fn try_now(&mut self) -> Attempt {
        let built = self.msghdr();
        recvmsg(&self.fd, Ok(built), self.flags)
    }
}

impl<B: IoBufMut, A: FromSockAddr> ReadinessOp for op::RecvFrom<B, A> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        on_socket::<Self>(&self.fd, Interest::Read)
    }
}

impl<B: IoBuf> TryNow for op::SendMsg<B> {
    fn try_now(&mut self) -> Attempt {
        let built = self.msghdr();
        sendmsg(&self.fd, built, self.send_flags())
    }
}

impl<B: IoBuf> ReadinessOp for op::SendMsg<B> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        if let Err(e) = self.msghdr() {
            return Plan::Done(Err(e));
        }
        on_socket::<Self>(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut> TryNow for op::RecvMsg<B> {
    fn try_now(&mut self) -> Attempt {
        let built = self.msghdr();
        recvmsg(&self.fd, built, self.recv_flags())
    }
}

impl<B: IoBufMut> ReadinessOp for op::RecvMsg<B> {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        if let Err(e) = self.msghdr() {
            return Plan::Done(Err(e));
        }
        on_socket::<Self>(&self.fd, Interest::Read)
    }
}
