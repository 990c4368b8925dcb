//! [`Notifier`]: the descriptor that wakes a blocked driver, from a [`LioWaker`] on another
//! thread or from the blocking pool.
//!
//! [`LioWaker`]: crate::LioWaker

use rustix::event::{eventfd, EventfdFlags};
use rustix::pipe::{pipe_with, PipeFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// An eventfd (or, where eventfd is missing, a non-blocking pipe) plus a flag that tells a
/// user's wake-up apart from the pool's completion notices.
pub(crate) struct Notifier {
    read: OwnedFd,
    /// The pipe's write end; `None` for an eventfd, which is read and written on one fd.
    write: Option<OwnedFd>,
    user_woken: AtomicBool,
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        let (read, write) = match eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK) {
            Ok(fd) => (fd, None),
            Err(_) => {
                let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
                (read, Some(write))
            }
        };
        Ok(Notifier {
            read,
            write,
            user_woken: AtomicBool::new(false),
        })
    }

    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// A user's wake-up: the driver's `run` returns.
    pub(crate) fn wake_user(&self) {
        // Release: pairs with the Acquire swap in `reset`, so the driver sees the flag once it
        // sees the descriptor readable.
        self.user_woken.store(true, Ordering::Release);
        self.signal();
    }

    /// Makes the descriptor readable. A full counter or pipe means a notice is already
    /// pending, which is all this needs.
    pub(crate) fn signal(&self) {
        match &self.write {
            None => drop(rustix::io::write(&self.read, &1u64.to_ne_bytes())),
            Some(write) => drop(rustix::io::write(write, &[1])),
        }
    }

    /// Drains the descriptor; returns whether a user's wake-up was among the notices.
    pub(crate) fn reset(&self) -> bool {
        let mut scratch = [0u8; 64];
        while let Ok(n) = rustix::io::read(&self.read, &mut scratch) {
            if n == 0 || self.write.is_none() {
                break;
            }
        }
        self.user_woken.swap(false, Ordering::Acquire)
    }
}
