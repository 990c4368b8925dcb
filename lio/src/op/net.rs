//! Socket operations: socket, connect, accept, send, recv, shutdown, and the traits that
//! let typed sockets come out of connect and accept. The message operations (sendto,
//! recvfrom, sendmsg, recvmsg) are in `msg.rs`.
//!
//! lio changes nothing on a socket that the caller did not ask for: it never sets
//! `O_NONBLOCK` or any option (sockets it creates get `SOCK_CLOEXEC` only, accepted ones and
//! descriptors received with `SCM_RIGHTS` too), and every send adds `MSG_NOSIGNAL`: lio
//! never raises `SIGPIPE`; a send to a closed peer fails with `EPIPE` or `ECONNRESET`.

use super::{Op, MAX_RW};
use crate::buf::filled::{mark_filled, transferred};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::pal::SockAddr;
use crate::Resource;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub(crate) mod sealed {
    /// Keeps [`FromSocket`](super::FromSocket) and [`FromSockAddr`](super::FromSockAddr)
    /// to lio's own types.
    pub trait Sealed {}
}

/// What a connected or accepted socket becomes in an operation's output: a plain
/// [`Resource`], or one of the typed sockets of [`crate::net`] (`()` for a
/// [`Connect`] on a socket the caller keeps). Sealed.
pub trait FromSocket: sealed::Sealed + Sized + 'static {
    /// The peer address in an [`Accept`]'s output: [`SockAddr`], or
    /// [`std::net::SocketAddr`] for TCP.
    type Addr: FromSockAddr;

    /// Wraps the descriptor.
    #[doc(hidden)]
    fn from_socket(fd: Resource) -> Self;
}

/// A socket address type an operation can report: [`SockAddr`] (any family) or
/// [`std::net::SocketAddr`] (IPv4 and IPv6). Sealed.
pub trait FromSockAddr: sealed::Sealed + Sized + 'static {
    /// Converts the address the kernel reported.
    #[doc(hidden)]
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self>;
}

impl sealed::Sealed for Resource {}
impl FromSocket for Resource {
    type Addr = SockAddr;
    fn from_socket(fd: Resource) -> Self {
        fd
    }
}

impl sealed::Sealed for () {}
impl FromSocket for () {
    type Addr = SockAddr;
    fn from_socket(_fd: Resource) {}
}

impl sealed::Sealed for SockAddr {}
impl FromSockAddr for SockAddr {
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self> {
        Ok(addr)
    }
}

impl sealed::Sealed for SocketAddr {}
impl FromSockAddr for SocketAddr {
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self> {
        addr.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("lio: expected an IPv4 or IPv6 address, got {addr:?}"),
            )
        })
    }
}

/// The value, or the error found when the operation was made, handed out once (the
/// operation then fails with it, its raw OS error preserved).
pub(crate) fn checked<T>(value: &mut io::Result<T>) -> io::Result<&mut T> {
    value
        .as_mut()
        .map_err(|e| mem::replace(e, io::Error::other("lio: error already reported")))
}

/// Wraps a descriptor the kernel just created for us.
pub(crate) fn new_resource(fd: u32) -> Resource {
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Resource::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Creates a socket (`socket(2)`). Output: `io::Result<Resource>`.
///
/// The socket gets `SOCK_CLOEXEC` and whatever `ty` asks for, nothing else: it is blocking
/// unless `ty` includes `SOCK_NONBLOCK`. lio's operations work on blocking sockets.
pub struct Socket {
    pub(crate) domain: i32,
    pub(crate) ty: i32,
    pub(crate) protocol: i32,
}

impl Socket {
    /// A socket of `domain` (`libc::AF_INET`, `AF_INET6`, `AF_UNIX`, ...), type `ty`
    /// (`SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`, optionally or-ed with
    /// `SOCK_NONBLOCK`) and `protocol` (usually 0).
    pub fn new(domain: i32, ty: i32, protocol: i32) -> Socket {
        Socket {
            domain,
            ty,
            protocol,
        }
    }

    /// The type with `SOCK_CLOEXEC` added.
    pub(crate) fn ty(&self) -> i32 {
        self.ty | libc::SOCK_CLOEXEC
    }
}

impl Op for Socket {
    type Output = io::Result<Resource>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(new_resource)
    }
}

/// Connects a socket to an address (`connect(2)`). Output: `io::Result<()>` (the typed
/// sockets of [`crate::net`] get the connected socket instead).
///
/// Works on blocking sockets and leaves their flags as they were. On the epoll backend a
/// TCP connect is started with `O_NONBLOCK` set for the duration of the `connect` call only,
/// then waits for the socket to become writable and reads `SO_ERROR`. A Unix stream connect
/// to a listener whose backlog is full waits on lio's blocking pool there (the kernel
/// signals no readiness for it): it cannot be cancelled, and its deadline only applies once
/// it has returned.
pub struct Connect<S = ()> {
    pub(crate) fd: io::Result<Resource>,
    pub(crate) addr: io::Result<SockAddr>,
    /// Readiness backend: the connect was started and is waiting for writability.
    pub(crate) in_progress: bool,
    socket: PhantomData<fn() -> S>,
}

impl Connect {
    /// Connects `fd` to `addr`.
    pub fn new(fd: &Resource, addr: impl Into<SockAddr>) -> Connect {
        Connect::socket(Ok(fd.clone()), Ok(addr.into()))
    }
}

impl<S: FromSocket> Connect<S> {
    /// Connects a socket whose creation (or address) may have failed: the failure becomes
    /// the operation's result.
    pub(crate) fn socket(fd: io::Result<Resource>, addr: io::Result<SockAddr>) -> Self {
        Connect {
            fd,
            addr,
            in_progress: false,
            socket: PhantomData,
        }
    }

    /// The descriptor, the address and its length, or the error found when the operation
    /// was made.
    pub(crate) fn target(&mut self) -> io::Result<(RawFd, *const libc::sockaddr, libc::socklen_t)> {
        let fd = checked(&mut self.fd)?.raw();
        let addr = checked(&mut self.addr)?;
        Ok((fd, addr.storage_ptr(), addr.len()))
    }
}

impl<S: FromSocket> Op for Connect<S> {
    type Output = io::Result<S>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.and(self.fd).map(S::from_socket)
    }
}

/// Accepts a connection on a listening socket (`accept4(2)` with `SOCK_CLOEXEC`).
/// Output: `io::Result<(Resource, SockAddr)>` (the typed listeners of [`crate::net`] get
/// their stream type and address type instead).
///
/// The accepted socket is blocking, whatever the listener is. If the handle is dropped
/// while the accept is in flight, a connection it accepts later is closed.
///
/// On the epoll backend a blocking listener is first checked with a zero-timeout `poll`, so
/// the driver never blocks in `accept` (unless another thread or process takes the
/// connection between the two calls).
pub struct Accept<S = Resource> {
    pub(crate) fd: Resource,
    pub(crate) addr: SockAddr,
    socket: PhantomData<fn() -> S>,
}

impl Accept {
    /// Accepts the next connection on `fd`.
    pub fn new(fd: &Resource) -> Accept {
        Accept::typed(fd)
    }
}

impl<S: FromSocket> Accept<S> {
    pub(crate) fn typed(fd: &Resource) -> Self {
        Accept {
            fd: fd.clone(),
            addr: SockAddr::empty(),
            socket: PhantomData,
        }
    }
}

impl<S: FromSocket> Op for Accept<S> {
    type Output = io::Result<(S, S::Addr)>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let fd = new_resource(result?);
        let addr = S::Addr::from_sock_addr(self.addr)?;
        Ok((S::from_socket(fd), addr))
    }
}

/// Sends a buffer's initialised bytes on a connected socket (`send(2)`).
/// Output: `BufResult<usize, B>`.
///
/// `MSG_NOSIGNAL` is always added. A stream socket may take fewer bytes than offered.
///
/// With [`zero_copy`](Send::zero_copy), io_uring sends from the buffer itself instead of
/// copying it into the kernel (`SEND_ZC`, Linux 6.0) and hands the buffer back only after
/// the kernel's notification that it no longer reads it; that pays off for large buffers.
pub struct Send<B> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) flags: i32,
    pub(crate) zero_copy: bool,
}

impl<B: IoBuf> Send<B> {
    /// Sends `buf` on `fd`.
    pub fn new(fd: &Resource, buf: B) -> Self {
        Send {
            fd: fd.clone(),
            buf,
            flags: 0,
            zero_copy: false,
        }
    }

    /// `send(2)` flags such as `MSG_MORE` or `MSG_EOR` (`MSG_NOSIGNAL` is always added).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// Asks for a zero-copy send: `SEND_ZC` on io_uring for TCP sockets, where the kernel
    /// has it; a plain send elsewhere (other sockets, other backends, older kernels), with
    /// the same result. The output arrives once the kernel has let go of the buffer.
    pub fn zero_copy(mut self, on: bool) -> Self {
        self.zero_copy = on;
        self
    }

    pub(crate) fn len(&self) -> u32 {
        self.buf.buf_len().min(MAX_RW) as u32
    }

    pub(crate) fn send_flags(&self) -> i32 {
        self.flags | libc::MSG_NOSIGNAL
    }
}

impl<B: IoBuf> Op for Send<B> {
    type Output = BufResult<usize, B>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let offered = self.len() as usize;
        (result.map(|n| transferred(n, offered)), self.buf)
    }
}

/// Receives into a buffer from a socket (`recv(2)`). Output: `BufResult<usize, B>`.
///
/// Fills up to the buffer's capacity from its start and sets its initialised length, like
/// [`Read`](super::Read). 0 means the peer shut down its side (stream sockets) or an empty
/// datagram.
///
/// With `MSG_TRUNC` in [`flags`](Recv::flags), the count is the datagram's full length, as
/// `recv(2)` reports it, and may exceed what the buffer holds: the buffer's length is
/// always the bytes actually stored, never more than its capacity.
pub struct Recv<B> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) flags: i32,
}

impl<B: IoBufMut> Recv<B> {
    /// Receives from `fd` into `buf`.
    pub fn new(fd: &Resource, buf: B) -> Self {
        Recv {
            fd: fd.clone(),
            buf,
            flags: 0,
        }
    }

    /// `recv(2)` flags such as `MSG_PEEK` or `MSG_WAITALL`.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    pub(crate) fn len(&self) -> u32 {
        self.buf.buf_capacity().min(MAX_RW) as u32
    }
}

impl<B: IoBufMut> Op for Recv<B> {
    type Output = BufResult<usize, B>;
    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        let offered = self.len() as usize;
        let result = result.map(|n| {
            // SAFETY: the kernel was handed the first `len() <= capacity` bytes of the
            // buffer and wrote at most that many from the start (with `MSG_TRUNC`, `n` is
            // the datagram's full length, which may be more than it stored).
            unsafe { mark_filled(&mut self.buf, n, offered) };
            n as usize
        });
        (result, self.buf)
    }
}

/// Shuts down one or both directions of a connection (`shutdown(2)`).
/// Output: `io::Result<()>`.
pub struct Shutdown {
    pub(crate) fd: Resource,
    pub(crate) how: i32,
}

impl Shutdown {
    /// Shuts down `how` (reads, writes or both) on `fd`.
    pub fn new(fd: &Resource, how: std::net::Shutdown) -> Shutdown {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        Shutdown {
            fd: fd.clone(),
            how,
        }
    }
}

impl Op for Shutdown {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}
