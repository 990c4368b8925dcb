//! Networking: socket addresses, typed sockets, and the few socket options a server needs.
//!
//! The operations themselves ([`Socket`](crate::op::Socket), [`Connect`](crate::op::Connect),
//! [`Accept`](crate::op::Accept), [`Send`](crate::op::Send), [`Recv`](crate::op::Recv),
//! [`SendTo`](crate::op::SendTo), [`RecvFrom`](crate::op::RecvFrom),
//! [`SendMsg`](crate::op::SendMsg), [`RecvMsg`](crate::op::RecvMsg),
//! [`Shutdown`](crate::op::Shutdown)) live in [`crate::op`] and work on any socket
//! [`Resource`](crate::Resource). This module adds:
//!
//! - [`SockAddr`]: an address of any family (IPv4, IPv6, Unix path, Unix abstract name);
//! - typed sockets: [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//!   [`UnixStream`], [`UnixDatagram`];
//! - the synchronous calls that never block: [`bind`], [`listen`], [`local_addr`],
//!   [`peer_addr`] and the options in [`sockopt`].
//!
//! # Typed sockets
//!
//! Each typed socket owns a [`Resource`](crate::Resource) and no driver, so it can be moved
//! between threads and used with any driver. Steps that never block (binding, listening,
//! options, addresses, connecting a datagram socket) are plain methods. Steps that may wait
//! take the driver and return an [`Io`](crate::Io), so all four completion styles work and
//! each step can have a deadline ([`Io::timeout`](crate::Io::timeout), failing with
//! `ErrorKind::TimedOut`):
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use lio::net::{TcpListener, TcpStream};
//! use std::time::Duration;
//!
//! let lio = lio::Lio::new()?;
//! let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//! let addr = listener.local_addr()?;
//! let accepted = listener.accept(&lio).recv(); // channel style
//! let client = TcpStream::connect(&lio, addr)
//!     .timeout(Duration::from_secs(5))
//!     .wait()?; // blocking style
//! let (server, peer) = loop {
//!     if let Ok(accepted) = accepted.try_recv() {
//!         break accepted?;
//!     }
//!     lio.run()?;
//! };
//! assert_eq!(peer, client.local_addr()?);
//!
//! let (sent, _) = client.write(&lio, b"ping".to_vec()).wait();
//! assert_eq!(sent?, 4);
//! let (n, buf) = lio.block_on(async { server.read(&lio, Vec::with_capacity(16)).await })?;
//! assert_eq!((n?, &buf[..]), (4, &b"ping"[..]));
//! # Ok(()) }
//! ```
//!
//! # What lio does to a socket
//!
//! Nothing the caller did not ask for: sockets lio creates get `SOCK_CLOEXEC` and are
//! blocking; lio never sets `O_NONBLOCK` (the epoll backend uses `MSG_DONTWAIT` per call,
//! and sets `O_NONBLOCK` only around the `connect` call itself, restoring the flags at
//! once), nor any option; listeners get `SO_REUSEADDR`/`SO_REUSEPORT` only through
//! [`ListenOptions`]. Every send adds `MSG_NOSIGNAL`: lio never raises `SIGPIPE`.

pub mod sockopt;

mod socket;
mod tcp;
mod udp;
mod unix;

pub use crate::pal::SockAddr;
pub use socket::{bind, listen, local_addr, peer_addr, ListenOptions};
pub(crate) use socket::{connect_datagram, socket, socket_pair};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// Declares a typed socket: a struct owning a [`Resource`](crate::Resource), with the
/// conversions every typed socket has (from and to the `std` type and `Resource`, `AsFd`,
/// `AsRawFd`).
macro_rules! typed_socket {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        ///
        /// Cloning gives another handle to the same socket (not a `dup`).
        #[derive(Clone, Debug)]
        pub struct $name {
            fd: $crate::Resource,
        }

        impl $name {
            /// The socket as a [`Resource`](crate::Resource), for the operations of
            /// [`crate::op`].
            pub fn resource(&self) -> &$crate::Resource {
                &self.fd
            }

            #[doc = concat!("Converts into a [`", stringify!($std), "`], if no other handle")]
            /// to the socket is alive (a clone, an operation in flight); otherwise gives
            /// `self` back. The socket is handed over as it is (lio changed no flags).
            pub fn into_std(self) -> Result<$std, Self> {
                match self.fd.try_into_owned() {
                    Ok(fd) => Ok(<$std>::from(fd)),
                    Err(fd) => Err($name { fd }),
                }
            }
        }

        impl From<$std> for $name {
            fn from(socket: $std) -> Self {
                $name {
                    fd: $crate::Resource::from(std::os::fd::OwnedFd::from(socket)),
                }
            }
        }

        impl From<$crate::Resource> for $name {
            /// Wraps a socket descriptor (its type is not checked: the wrong kind of
            /// socket makes operations fail with the kernel's error).
            fn from(fd: $crate::Resource) -> Self {
                $name { fd }
            }
        }

        impl From<$name> for $crate::Resource {
            fn from(socket: $name) -> Self {
                socket.fd
            }
        }

        impl std::os::fd::AsFd for $name {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $name {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.raw()
            }
        }
    };
}
pub(crate) use typed_socket;
