//! Synchronous socket calls that never block: create, bind, listen, connect a datagram
//! socket, and read a socket's addresses.

use super::sockopt;
use super::SockAddr;
use crate::Resource;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

/// Turns a `-1` return into the OS error.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `socket(2)` with `SOCK_CLOEXEC` and nothing else: a blocking socket.
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<Resource> {
    // SAFETY: a plain syscall with integer arguments.
    let fd = check(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(Resource::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `socketpair(2)` with `SOCK_CLOEXEC`: two connected blocking Unix sockets.
pub(crate) fn socket_pair(ty: i32) -> io::Result<(Resource, Resource)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors the kernel writes.
    check(unsafe {
        libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: the kernel returned two new descriptors that nobody else owns.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Resource::from(a), Resource::from(b)))
}

/// Binds a socket to an address (`bind(2)`).
pub fn bind(fd: impl AsFd, addr: &SockAddr) -> io::Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    // SAFETY: `addr` holds `addr.len()` bytes of socket address.
    check(unsafe { libc::bind(fd, addr.storage_ptr(), addr.len()) }).map(drop)
}

/// Makes a bound socket listen for connections (`listen(2)`), with a queue of `backlog`
/// connections (the kernel caps it at `net.core.somaxconn`).
pub fn listen(fd: impl AsFd, backlog: i32) -> io::Result<()> {
    // SAFETY: a plain syscall on a descriptor.
    check(unsafe { libc::listen(fd.as_fd().as_raw_fd(), backlog) }).map(drop)
}

/// Sets the default peer of a datagram socket (`connect(2)`, which does not block for
/// datagram sockets). For stream sockets use the [`Connect`](crate::op::Connect) operation.
pub(crate) fn connect_datagram(fd: &Resource, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` holds `addr.len()` bytes of socket address.
    check(unsafe { libc::connect(fd.raw(), addr.storage_ptr(), addr.len()) }).map(drop)
}

/// The address a socket is bound to (`getsockname(2)`).
#[doc(alias = "getsockname")]
pub fn local_addr(fd: impl AsFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most the storage size, and the actual length.
    check(unsafe {
        libc::getsockname(fd.as_fd().as_raw_fd(), addr.storage_mut(), addr.len_mut())
    })?;
    Ok(addr)
}

/// The address of a socket's peer (`getpeername(2)`).
#[doc(alias = "getpeername")]
pub fn peer_addr(fd: impl AsFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most the storage size, and the actual length.
    check(unsafe {
        libc::getpeername(fd.as_fd().as_raw_fd(), addr.storage_mut(), addr.len_mut())
    })?;
    Ok(addr)
}

/// How [`TcpListener::bind_with`](super::TcpListener::bind_with) and
/// [`UnixListener::bind_with`](super::UnixListener::bind_with) set up a listening socket.
/// Every option is off unless set: lio sets nothing the caller did not ask for.
///
/// ```
/// let options = lio::net::ListenOptions::new().reuse_address(true).backlog(4096);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ListenOptions {
    backlog: i32,
    reuse_address: bool,
    reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions::new()
    }
}

impl ListenOptions {
    /// A backlog of 1,024 connections, no socket options.
    pub fn new() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: false,
            reuse_port: false,
        }
    }

    /// The length of the queue of connections not yet accepted.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEADDR` before binding (rebind a port with connections in `TIME_WAIT`).
    pub fn reuse_address(mut self, yes: bool) -> Self {
        self.reuse_address = yes;
        self
    }

    /// Sets `SO_REUSEPORT` before binding (several sockets share one port).
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.reuse_port = yes;
        self
    }

    /// A listening socket of `domain` bound to `addr`, with these options.
    pub(crate) fn listener(&self, domain: i32, addr: &SockAddr) -> io::Result<Resource> {
        let fd = socket(domain, libc::SOCK_STREAM)?;
        if self.reuse_address {
            sockopt::set_reuse_address(&fd, true)?;
        }
        if self.reuse_port {
            sockopt::set_reuse_port(&fd, true)?;
        }
        bind(&fd, addr)?;
        listen(&fd, self.backlog)?;
        Ok(fd)
    }
}
