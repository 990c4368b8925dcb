//! # lio: fast, safe, completion-based asynchronous I/O
//!
//! lio gives one completion-based API over the fastest mechanism the OS has: io_uring on
//! Linux, with epoll (plus a blocking pool for file operations) when io_uring is unavailable.
//! kqueue and IOCP backends will follow the same contract.
//!
//! | OS | backend | fallback |
//! |---|---|---|
//! | Linux | io_uring | epoll, chosen at run time (see [`Lio::fallback_reason`]) |
//!
//! ## The model
//!
//! A [`Lio`] driver (one per thread) owns the OS queue and an in-flight table. An operation
//! ([`op`]) owns its arguments and buffers; binding it to a driver gives an [`Io`], which is
//! consumed in one of four ways with the same result: `.await`, [`Io::when_done`] (callback),
//! [`Io::send_with`]/[`Io::recv`] (channel) or [`Io::wait`] (blocking). Files, paths,
//! timers and sockets are operations alike; [`net`] adds socket addresses and typed sockets
//! ([`net::TcpStream`], [`net::UdpSocket`], ...) on top. A multishot operation
//! ([`op::AcceptMulti`], [`op::RecvMulti`] with a [`buf::BufPool`]) yields many results from
//! one submission as a [`Multishot`] stream, consumed in the same four ways.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use lio::{Lio, Resource, op::OpenOptions};
//! let lio = Lio::new()?;
//! let path = std::env::temp_dir().join(format!("lio-doc-{}", std::process::id()));
//! let file = lio.open(&path, &OpenOptions::new().read(true).write(true).create(true)).wait()?;
//! let (written, _buf) = lio.write_at(&file, b"hello".to_vec(), 0).wait();
//! assert_eq!(written?, 5);
//! let (read, buf) = lio.read_at(&file, Vec::with_capacity(16), 0).wait();
//! assert_eq!((read?, &buf[..]), (5, &b"hello"[..]));
//! lio.unlink(&path).wait()?;
//! # Ok(()) }
//! ```
//!
//! ## The safety model
//!
//! The kernel may write into a buffer until it posts the completion, so the operation and
//! its buffers live in the driver's table, not in the caller's future. Dropping an [`Io`]'s
//! future detaches the operation and requests cancellation; the table frees it when the OS
//! releases it. An open that completes after its handle was dropped closes the descriptor.
//! Dropping the driver cancels everything in flight and waits for the OS before freeing
//! anything; what the OS does not release in time is leaked, never freed. No safe API can
//! make the OS touch memory the caller does not own.
//!
//! ## Errors
//!
//! Every failure is a [`std::io::Error`] with the raw OS error preserved, handed back with the
//! buffer. A full driver (see [`Builder::capacity`]) is a `WouldBlock` error, never a panic.
//!
//! ## Performance notes
//!
//! Submission is batched: operations queued before a `run` reach the kernel in one
//! `io_uring_enter` that also waits. Operations up to 128 bytes are stored inline in the
//! table, so a steady-state `.await` allocates nothing. Small buffered writes to regular
//! files are copied into the page cache inline rather than through io_uring's worker threads
//! (see [`Builder::inline_write_max`]).

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod buf;
pub mod net;
pub mod op;

mod block_on;
mod builder;
mod convenience;
mod convenience_net;
mod driver;
mod io;
mod multishot;
mod pal;
mod resource;
mod sys;
mod table;

pub use block_on::block_on;
pub use buf::BufResult;
pub use builder::Builder;
pub use driver::{Lio, LioWaker};
pub use io::{Io, IoFuture};
pub use multishot::{Multishot, NextFuture};
pub use resource::Resource;
pub use sys::Backend;

/// The README's examples, compiled and run as doc tests so that they cannot drift from the
/// library.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
