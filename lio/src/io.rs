//! [`Io`]: one operation bound to a driver, and the four ways to consume it.

use crate::driver::{Lio, Start};
use crate::op::{Cancel, CancelToken, Op};
use crate::table::{ErasedCallback, Key, Waiter};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One operation bound to a driver, not yet submitted.
///
/// Consume it in exactly one of four ways; each gives the same output:
/// - `.await` it (it implements [`IntoFuture`]; drive the driver with [`Lio::block_on`] or
///   [`crate::block_on`]),
/// - [`when_done`](Io::when_done): a callback run on the driver thread,
/// - [`send_with`](Io::send_with) / [`recv`](Io::recv): a channel,
/// - [`wait`](Io::wait): block this thread, driving the driver, until it completes.
///
/// Dropping it unsubmitted drops the operation (and its buffer). Dropping a submitted
/// operation's future never frees memory the OS may still use: the operation is detached,
/// cancelled, and freed by the driver when the OS releases it.
#[must_use = "an Io does nothing until it is awaited, waited on, or given a callback or channel"]
pub struct Io<T: Op> {
    driver: Lio,
    op: T,
    deadline: Option<Duration>,
}

impl<T: Op> Io<T> {
    pub(crate) fn new(driver: Lio, op: T) -> Io<T> {
        Io {
            driver,
            op,
            deadline: None,
        }
    }

    /// Fails the operation with `io::ErrorKind::TimedOut` if it has not completed `after`
    /// its submission (io_uring: a linked timeout).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let lio = lio::Lio::new()?;
    /// let result = lio.sleep(Duration::from_secs(10)).timeout(Duration::from_millis(5)).wait();
    /// assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, after: Duration) -> Self {
        self.deadline = Some(after);
        self
    }

    /// The driver this operation is bound to.
    pub fn driver(&self) -> &Lio {
        &self.driver
    }

    /// Submits the operation and calls `callback` with its output on the driver thread,
    /// from [`Lio::run`] (after the completion queue was drained, so it may submit new
    /// operations). If the driver is full, the callback gets the `WouldBlock` error, also
    /// from the next `run`.
    ///
    /// A callback that owns a [`Lio`] handle keeps the driver alive until it runs: attached
    /// to an operation that never completes (a read on a pipe nobody writes), that is a
    /// reference cycle. Cancel such operations (see [`Lio::cancel`]) before letting go.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::{cell::Cell, rc::Rc};
    /// let lio = lio::Lio::new()?;
    /// let done = Rc::new(Cell::new(false));
    /// let flag = done.clone();
    /// lio.nop().when_done(move |result| flag.set(result.is_ok()));
    /// lio.run()?;
    /// assert!(done.get());
    /// # Ok(()) }
    /// ```
    pub fn when_done<F: FnOnce(T::Output) + 'static>(self, callback: F) -> CancelToken {
        let erased = ErasedCallback::new(move |output: &mut dyn std::any::Any| {
            if let Some(output) = output
                .downcast_mut::<Option<T::Output>>()
                .and_then(Option::take)
            {
                callback(output);
            }
        });
        match self
            .driver
            .start(self.op, self.deadline, Waiter::Callback(erased))
        {
            Start::Running(key) => self.driver.shared.token(key),
            Start::Done(output, waiter) => {
                if let Waiter::Callback(callback) = waiter {
                    self.driver
                        .defer(Box::new(move || callback.call(&mut Some(output))));
                }
                self.driver.shared.token(Key::none())
            }
        }
    }

    /// Submits the operation and sends its output on `sender` when it completes (the
    /// driver must be run, e.g. with [`Lio::run`]). A disconnected receiver drops it.
    pub fn send_with(self, sender: mpsc::Sender<T::Output>) -> CancelToken {
        self.when_done(move |output| {
            let _ = sender.send(output);
        })
    }

    /// Submits the operation and returns a receiver for its output.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::new()?;
    /// let rx = lio.nop().recv();
    /// lio.run()?;
    /// assert!(rx.try_recv().unwrap().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn recv(self) -> mpsc::Receiver<T::Output> {
        let (sender, receiver) = mpsc::channel();
        self.send_with(sender);
        receiver
    }

    /// Submits the operation and drives the driver until it completes.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::new()?;
    /// lio.nop().wait()?;
    /// # Ok(()) }
    /// ```
    pub fn wait(self) -> T::Output {
        let driver = self.driver;
        let key = match driver.start(self.op, self.deadline, Waiter::None) {
            Start::Running(key) => key,
            Start::Done(output, _) => return output,
        };
        loop {
            if let Some(output) = driver.take_if_done::<T>(key) {
                return output;
            }
            // A failed wait is retried: the operation is in flight and the OS owns its
            // buffer until it completes.
            let _ = driver.run();
        }
    }
}

impl<T: Op> IntoFuture for Io<T> {
    type Output = T::Output;
    type IntoFuture = IoFuture<T>;

    fn into_future(self) -> IoFuture<T> {
        IoFuture {
            driver: self.driver,
            state: State::Unsubmitted(self.op, self.deadline),
        }
    }
}

/// The future of an [`Io`]: submits on first poll, resolves to the operation's output.
///
/// Dropping it while the operation is in flight detaches and cancels the operation; the
/// driver keeps its buffers until the OS releases them.
#[must_use = "futures do nothing unless polled"]
pub struct IoFuture<T: Op> {
    driver: Lio,
    state: State<T>,
}

enum State<T> {
    Unsubmitted(T, Option<Duration>),
    Submitted(Key),
    Done,
}

// The operation is never pinned: it moves into the driver's table on first poll.
impl<T: Op> Unpin for IoFuture<T> {}

impl<T: Op> IoFuture<T> {
    /// A token to cancel the operation with [`Lio::cancel`], once it has been submitted
    /// (after the first poll) and until it completes.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        match self.state {
            State::Submitted(key) => Some(self.driver.shared.token(key)),
            _ => None,
        }
    }
}

impl<T: Op> Future for IoFuture<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let key = match std::mem::replace(&mut this.state, State::Done) {
            State::Unsubmitted(op, deadline) => {
                let waiter = this.driver.task_waiter(cx.waker());
                return match this.driver.start(op, deadline, waiter) {
                    Start::Running(key) => {
                        this.state = State::Submitted(key);
                        Poll::Pending
                    }
                    Start::Done(output, _) => Poll::Ready(output),
                };
            }
            State::Submitted(key) => key,
            State::Done => panic!("lio: IoFuture polled after it completed"),
        };
        if let Some(output) = this.driver.take_if_done::<T>(key) {
            return Poll::Ready(output);
        }
        this.state = State::Submitted(key);
        this.driver.set_waker(key, cx.waker());
        Poll::Pending
    }
}

impl<T: Op> Drop for IoFuture<T> {
    fn drop(&mut self) {
        if let State::Submitted(key) = self.state {
            self.driver.detach::<T>(key);
        }
    }
}

impl Lio {
    /// Binds an operation to this driver. Nothing is submitted until the returned [`Io`] is
    /// consumed (awaited, waited on, or given a callback or channel).
    pub fn submit<T: Op>(&self, op: T) -> Io<T> {
        Io::new(self.clone(), op)
    }

    /// Cancels the operation named by `token` (see [`Cancel`]).
    pub fn cancel(&self, token: CancelToken) -> Io<Cancel> {
        self.submit(Cancel::new(token))
    }
}
