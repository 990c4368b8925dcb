//! The socket options a server needs. Each is one `setsockopt`/`getsockopt` call, which
//! never blocks, so these are plain synchronous functions. They take anything with a
//! descriptor: a [`Resource`](crate::Resource), a typed socket, a `std` socket.

use std::io;
use std::os::fd::AsFd;

use rustix::net::sockopt;

/// Sets `SO_REUSEADDR`: binding succeeds while old connections on the port are in
/// `TIME_WAIT`. Set it before [`bind`](super::bind).
#[doc(alias = "SO_REUSEADDR")]
pub fn set_reuse_address(fd: impl AsFd, on: bool) -> io::Result<()> {
    Ok(sockopt::set_socket_reuseaddr(fd, on)?)
}

/// Whether `SO_REUSEADDR` is set.
pub fn reuse_address(fd: impl AsFd) -> io::Result<bool> {
    Ok(sockopt::socket_reuseaddr(fd)?)
}

/// Sets `SO_REUSEPORT`: several sockets may bind the same address and port, and the kernel
/// spreads connections or datagrams over them. Set it before [`bind`](super::bind).
#[doc(alias = "SO_REUSEPORT")]
pub fn set_reuse_port(fd: impl AsFd, on: bool) -> io::Result<()> {
    Ok(sockopt::set_socket_reuseport(fd, on)?)
}

/// Whether `SO_REUSEPORT` is set.
pub fn reuse_port(fd: impl AsFd) -> io::Result<bool> {
    Ok(sockopt::socket_reuseport(fd)?)
}

/// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be coalesced
/// (Nagle's algorithm off).
#[doc(alias = "TCP_NODELAY")]
pub fn set_nodelay(fd: impl AsFd, on: bool) -> io::Result<()> {
    Ok(sockopt::set_tcp_nodelay(fd, on)?)
}

/// Whether `TCP_NODELAY` is set.
pub fn nodelay(fd: impl AsFd) -> io::Result<bool> {
    Ok(sockopt::tcp_nodelay(fd)?)
}
