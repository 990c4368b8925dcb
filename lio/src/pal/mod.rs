//! Platform primitives (layer 0): what every layer above may use without naming the
//! platform's own types. Today: lio's `io::Error` constructors and tests for the OS error
//! codes the portable layers care about, the one `EINTR` loop, and socket addresses
//! ([`SockAddr`], public as `lio::net::SockAddr`).

mod error;
mod sockaddr;
mod syscall;

pub(crate) use error::{canceled, is_canceled};
pub use sockaddr::SockAddr;
pub(crate) use syscall::{retry_eintr, syscall};
