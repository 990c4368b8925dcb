//! [`block_on`]: run a future on the current thread while driving the driver.

use crate::driver::{Lio, LioWaker};
use crate::sys::WaitMode;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Runs `future` to completion on this thread's default driver
/// ([`Lio::thread_default`]).
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lio = lio::Lio::thread_default()?;
/// let result = lio::block_on(async move { lio.nop().await })?;
/// assert!(result.is_ok());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Fails if the default driver cannot be created or the OS rejects a wait.
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    Lio::thread_default()?.block_on(future)
}

impl Lio {
    /// Runs `future` to completion on this thread, driving this driver whenever the future
    /// waits. Wakes from other threads reach it through a [`LioWaker`].
    ///
    /// # Errors
    ///
    /// Fails if the OS rejects a wait.
    pub fn block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        let own = self.own_task()?;
        let mut cx = Context::from_waker(&own.waker);
        let mut future = pin!(future);
        own.signal.woken.store(true, Ordering::Relaxed);
        let result = loop {
            if own.signal.woken.swap(false, Ordering::Acquire) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    break Ok(output);
                }
                continue;
            }
            if let Err(e) = self.run_mode(WaitMode::Block, true) {
                break Err(e);
            }
        };
        // An enclosing `block_on` on this driver shares the signal: make it poll again in
        // case this loop consumed its wake-up.
        own.signal.woken.store(true, Ordering::Release);
        result
    }
}

/// A driver's own `block_on` task: one signal and one waker for the driver's lifetime, so
/// that futures polled by it are recognised ([`Waiter::OwnTask`](crate::table::Waiter)) and
/// need no waker clone per operation.
pub(crate) struct OwnTask {
    signal: Arc<Signal>,
    pub(crate) waker: Waker,
}

impl OwnTask {
    pub(crate) fn new(remote: LioWaker) -> OwnTask {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(true),
            owner: thread_mark(),
            remote,
        });
        OwnTask {
            waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

/// The waker of a `block_on` loop: a flag, plus an eventfd write when woken from another
/// thread (a wake on the driver's own thread happens inside `run` and needs no syscall).
struct Signal {
    woken: AtomicBool,
    owner: usize,
    remote: LioWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: whatever the waker's caller wrote is visible to the loop's next poll.
        self.woken.store(true, Ordering::Release);
        if thread_mark() != self.owner {
            self.remote.wake();
        }
    }
}

/// A cheap per-thread identity: the address of a thread-local.
fn thread_mark() -> usize {
    thread_local!(static MARK: u8 = const { 0 });
    MARK.with(|mark| mark as *const u8 as usize)
}
