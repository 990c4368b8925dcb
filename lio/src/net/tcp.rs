//! [`TcpListener`] and [`TcpStream`].

use super::{local_addr, peer_addr, socket, sockopt, typed_socket, ListenOptions, SockAddr};
use crate::buf::{BufPool, IoBuf, IoBufMut};
use crate::op::{
    self, sealed, Accept, AcceptMulti, Connect, FromSockAddr, FromSocket, Recv, RecvMulti, Send,
};
use crate::{Io, Lio, Multishot, Resource};
use std::io;
use std::net::{Shutdown, SocketAddr};

/// The address family of `addr`.
fn family(addr: &SocketAddr) -> i32 {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// Reads an address back as IPv4 or IPv6.
fn inet(addr: io::Result<SockAddr>) -> io::Result<SocketAddr> {
    SocketAddr::from_sock_addr(addr?)
}

typed_socket! {
    /// A TCP socket listening for connections.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let listener = lio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    TcpListener, std::net::TcpListener
}

impl TcpListener {
    /// Creates a socket, binds it to `addr` and listens with a backlog of 1,024 (`socket`,
    /// `bind`, `listen`: none of them blocks). No socket option is set; see
    /// [`bind_with`](TcpListener::bind_with). Port 0 picks a free port.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, &ListenOptions::new())
    }

    /// As [`bind`](TcpListener::bind), with the backlog and options of `options`.
    pub fn bind_with(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        let fd = options.listener(family(&addr), &addr.into())?;
        Ok(TcpListener { fd })
    }

    /// Accepts the next connection: the stream and the peer's address ([`Accept`]).
    pub fn accept(&self, lio: &Lio) -> Io<Accept<TcpStream>> {
        lio.submit(Accept::typed(&self.fd))
    }

    /// Accepts every connection as it arrives, from one submission ([`AcceptMulti`]),
    /// until the stream is dropped or cancelled.
    pub fn accept_multi(&self, lio: &Lio) -> Multishot<AcceptMulti<TcpStream>> {
        lio.multishot(AcceptMulti::typed(&self.fd))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(local_addr(&self.fd))
    }
}

typed_socket! {
    /// A connected TCP socket.
    ///
    /// Reads and writes are [`Recv`] and [`Send`] operations: a write may take fewer bytes
    /// than offered (loop on the count), a read of 0 bytes means the peer shut down its
    /// side, and a write to a closed peer fails with `EPIPE` or `ECONNRESET`, never with
    /// `SIGPIPE`.
    TcpStream, std::net::TcpStream
}

impl sealed::Sealed for TcpStream {}
impl FromSocket for TcpStream {
    type Addr = SocketAddr;
    fn from_socket(fd: Resource) -> Self {
        TcpStream { fd }
    }
}

impl TcpStream {
    /// Connects to `addr`: a new blocking socket (`socket` with `SOCK_CLOEXEC`, at once),
    /// then the [`Connect`] operation, which yields the stream. A failure to create the
    /// socket is the operation's result. Add a deadline with
    /// [`Io::timeout`](crate::Io::timeout).
    pub fn connect(lio: &Lio, addr: SocketAddr) -> Io<Connect<TcpStream>> {
        let fd = socket(family(&addr), libc::SOCK_STREAM);
        lio.submit(Connect::socket(fd, Ok(addr.into())))
    }

    /// Receives into `buf`, up to its capacity ([`Recv`]); 0 at end of stream.
    pub fn read<B: IoBufMut>(&self, lio: &Lio, buf: B) -> Io<Recv<B>> {
        lio.submit(Recv::new(&self.fd, buf))
    }

    /// Sends `buf`'s initialised bytes, or the first part of them ([`Send`]).
    pub fn write<B: IoBuf>(&self, lio: &Lio, buf: B) -> Io<Send<B>> {
        lio.submit(Send::new(&self.fd, buf))
    }

    /// Receives everything that arrives, each piece in a buffer from `pool`, from one
    /// submission ([`RecvMulti`]), until end of stream, an error (`ENOBUFS` when the pool
    /// runs dry) or a cancel.
    pub fn recv_multi(&self, lio: &Lio, pool: &BufPool) -> Multishot<RecvMulti> {
        lio.multishot(RecvMulti::new(&self.fd, pool))
    }

    /// Sends `buf`'s initialised bytes, or the first part of them, without copying them
    /// into the kernel where it can ([`Send::zero_copy`]): worth it for large buffers.
    pub fn write_zero_copy<B: IoBuf>(&self, lio: &Lio, buf: B) -> Io<Send<B>> {
        lio.submit(Send::new(&self.fd, buf).zero_copy(true))
    }

    /// Shuts down reads, writes or both ([`op::Shutdown`]); after `Shutdown::Write` the
    /// peer reads end of stream.
    pub fn shutdown(&self, lio: &Lio, how: Shutdown) -> Io<op::Shutdown> {
        lio.submit(op::Shutdown::new(&self.fd, how))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(local_addr(&self.fd))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(peer_addr(&self.fd))
    }

    /// Sets `TCP_NODELAY` (see [`sockopt::set_nodelay`]).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sockopt::set_nodelay(&self.fd, on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        sockopt::nodelay(&self.fd)
    }
}
