//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].
//!
//! Addresses are filesystem paths, or a [`SockAddr`] for Linux's abstract namespace
//! ([`SockAddr::unix_abstract`]). To pass descriptors, use the [`SendMsg`](crate::op::SendMsg)
//! and [`RecvMsg`](crate::op::RecvMsg) operations on [`resource`](UnixStream::resource).

use super::{
    bind, connect_datagram, local_addr, peer_addr, socket, socket_pair, typed_socket,
    ListenOptions, SockAddr,
};
use crate::buf::{BufPool, IoBuf, IoBufMut};
use crate::op::{
    self, sealed, Accept, AcceptMulti, Connect, FromSocket, Recv, RecvFrom, RecvMulti, Send, SendTo,
};
use crate::{Io, Lio, Multishot, Resource};
use std::io;
use std::net::Shutdown;
use std::path::Path;

typed_socket! {
    /// A Unix stream socket listening for connections.
    UnixListener, std::os::unix::net::UnixListener
}

impl UnixListener {
    /// Creates a socket, binds it to the path `path` and listens with a backlog of 1,024.
    /// Fails with `AddrInUse` if the path exists (remove a stale socket file first).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_with(&SockAddr::unix(path)?, &ListenOptions::new())
    }

    /// Binds to any Unix address (a path or an abstract name) with `options`.
    pub fn bind_with(addr: &SockAddr, options: &ListenOptions) -> io::Result<UnixListener> {
        let fd = options.listener(libc::AF_UNIX, addr)?;
        Ok(UnixListener { fd })
    }

    /// Accepts the next connection: the stream and the peer's address, usually unnamed
    /// ([`Accept`]).
    pub fn accept(&self, lio: &Lio) -> Io<Accept<UnixStream>> {
        lio.submit(Accept::typed(&self.fd))
    }

    /// Accepts every connection as it arrives, from one submission ([`AcceptMulti`]),
    /// until the stream is dropped or cancelled.
    pub fn accept_multi(&self, lio: &Lio) -> Multishot<AcceptMulti<UnixStream>> {
        lio.multishot(AcceptMulti::typed(&self.fd))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        local_addr(&self.fd)
    }
}

typed_socket! {
    /// A connected Unix stream socket.
    UnixStream, std::os::unix::net::UnixStream
}

impl sealed::Sealed for UnixStream {}
impl FromSocket for UnixStream {
    type Addr = SockAddr;
    fn from_socket(fd: Resource) -> Self {
        UnixStream { fd }
    }
}

impl UnixStream {
    /// Connects to the socket at `path`: a new blocking socket, then the [`Connect`]
    /// operation, which yields the stream. An invalid path is the operation's result.
    pub fn connect(lio: &Lio, path: impl AsRef<Path>) -> Io<Connect<UnixStream>> {
        let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM);
        lio.submit(Connect::socket(fd, SockAddr::unix(path)))
    }

    /// Connects to any Unix address (a path or an abstract name).
    pub fn connect_addr(lio: &Lio, addr: &SockAddr) -> Io<Connect<UnixStream>> {
        let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM);
        lio.submit(Connect::socket(fd, Ok(*addr)))
    }

    /// Two connected streams (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket_pair(libc::SOCK_STREAM)?;
        Ok((UnixStream { fd: a }, UnixStream { fd: b }))
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

    /// Shuts down reads, writes or both ([`op::Shutdown`]).
    pub fn shutdown(&self, lio: &Lio, how: Shutdown) -> Io<op::Shutdown> {
        lio.submit(op::Shutdown::new(&self.fd, how))
    }

    /// The local address (usually unnamed for a connecting socket).
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        local_addr(&self.fd)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        peer_addr(&self.fd)
    }
}

typed_socket! {
    /// A Unix datagram socket.
    UnixDatagram, std::os::unix::net::UnixDatagram
}

impl UnixDatagram {
    /// Creates a socket bound to the path `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_addr(&SockAddr::unix(path)?)
    }

    /// Creates a socket bound to any Unix address (a path or an abstract name).
    pub fn bind_addr(addr: &SockAddr) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        bind(&socket.fd, addr)?;
        Ok(socket)
    }

    /// Creates a socket bound to no address (it can send, and receive replies only once
    /// connected or bound).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: socket(libc::AF_UNIX, libc::SOCK_DGRAM)?,
        })
    }

    /// Two connected datagram sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket_pair(libc::SOCK_DGRAM)?;
        Ok((UnixDatagram { fd: a }, UnixDatagram { fd: b }))
    }

    /// Sets the default destination to the socket at `path` (`connect`, which does not
    /// block for datagram sockets).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.connect_addr(&SockAddr::unix(path)?)
    }

    /// Sets the default destination to any Unix address.
    pub fn connect_addr(&self, addr: &SockAddr) -> io::Result<()> {
        connect_datagram(&self.fd, addr)
    }

    /// Sends one datagram to the connected peer ([`Send`]).
    pub fn send<B: IoBuf>(&self, lio: &Lio, buf: B) -> Io<Send<B>> {
        lio.submit(Send::new(&self.fd, buf))
    }

    /// Receives one datagram, up to `buf`'s capacity ([`Recv`]).
    pub fn recv<B: IoBufMut>(&self, lio: &Lio, buf: B) -> Io<Recv<B>> {
        lio.submit(Recv::new(&self.fd, buf))
    }

    /// Sends one datagram to the socket at `path` ([`SendTo`]); an invalid path is the
    /// operation's result.
    pub fn send_to<B: IoBuf>(&self, lio: &Lio, buf: B, path: impl AsRef<Path>) -> Io<SendTo<B>> {
        lio.submit(SendTo::with_addr(&self.fd, buf, SockAddr::unix(path)))
    }

    /// Sends one datagram to any Unix address.
    pub fn send_to_addr<B: IoBuf>(&self, lio: &Lio, buf: B, addr: &SockAddr) -> Io<SendTo<B>> {
        lio.submit(SendTo::new(&self.fd, buf, *addr))
    }

    /// Receives one datagram and its sender's address ([`RecvFrom`]); the address of an
    /// unbound sender is empty ([`SockAddr::is_empty`]).
    pub fn recv_from<B: IoBufMut>(&self, lio: &Lio, buf: B) -> Io<RecvFrom<B>> {
        lio.submit(RecvFrom::new(&self.fd, buf))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        local_addr(&self.fd)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        peer_addr(&self.fd)
    }
}
