//! [`Multishot`]: the stream of results of one multishot operation, and the four ways to
//! consume it.

use crate::driver::{Lio, Shared};
use crate::op::multishot::MultishotOp;
use crate::op::CancelToken;
use crate::sys::Engine as _;
use crate::table::{table_full, Key, Polled, StreamCallback, Waiter};
use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};

/// A stream of results from one multishot operation ([`AcceptMulti`](crate::op::AcceptMulti),
/// [`RecvMulti`](crate::op::RecvMulti)), submitted on first use.
///
/// Each result is an `io::Result<Item>`; the stream ends with `None` (end of stream, or
/// after the error that stopped it). Consume it in one of four ways:
/// - [`next`](Multishot::next)`.await` (or [`poll_next`](Multishot::poll_next)),
/// - [`when_each`](Multishot::when_each): a callback per result, and once with `None` at
///   the end,
/// - [`send_with`](Multishot::send_with) / [`recv`](Multishot::recv): a channel,
/// - [`wait_next`](Multishot::wait_next): block this thread, driving the driver.
///
/// When the OS stops a stream early for its own reasons (its completion queue overflowed),
/// lio submits it again; a stream stopped by an error ends after that error. Dropping the
/// stream cancels the operation; results that arrive afterwards are dropped (buffers go back
/// to their pool, accepted connections are closed).
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use lio::net::{TcpListener, TcpStream};
/// let lio = lio::Lio::new()?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let mut incoming = listener.accept_multi(&lio);
/// let _a = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let _b = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let first: TcpStream = incoming.wait_next().expect("a result")?;
/// let second = incoming.wait_next().expect("a result")?;
/// assert_eq!(first.peer_addr()?, _a.local_addr()?);
/// assert_eq!(second.peer_addr()?, _b.local_addr()?);
/// # Ok(()) }
/// ```
#[must_use = "a Multishot does nothing until it is polled, waited on, or given a callback or channel"]
pub struct Multishot<T: MultishotOp> {
    driver: Lio,
    state: State<T>,
}

enum State<T> {
    Unsubmitted(T),
    Running(Key),
    Ended,
}

/// A result of the stream, or `None` at its end.
type Next<T> = Option<io::Result<<T as MultishotOp>::Item>>;

impl<T: MultishotOp> Multishot<T> {
    pub(crate) fn new(driver: Lio, op: T) -> Multishot<T> {
        Multishot {
            driver,
            state: State::Unsubmitted(op),
        }
    }

    /// The driver this stream is bound to.
    pub fn driver(&self) -> &Lio {
        &self.driver
    }

    /// A token to stop the stream with [`Lio::cancel`] while it runs: it then yields an
    /// `ECANCELED` error (after the results already in) and ends.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        match self.state {
            State::Running(key) => Some(self.driver.shared.token(key)),
            _ => None,
        }
    }

    /// The next result if one is in, submitting the operation first if needed (with
    /// `waiter`). `Pending` while the operation runs without a result.
    fn step(&mut self, waiter: impl FnOnce() -> Waiter) -> Poll<Next<T>> {
        let mut waiter = Some(waiter);
        loop {
            let key = match std::mem::replace(&mut self.state, State::Ended) {
                State::Unsubmitted(op) => {
                    let waiter = waiter.take().map_or(Waiter::None, |make| make());
                    match self.driver.shared.start_multishot(op, waiter) {
                        Ok(key) => key,
                        Err((error, _)) => return Poll::Ready(Some(Err(error))),
                    }
                }
                State::Running(key) => key,
                State::Ended => return Poll::Ready(None),
            };
            // SAFETY: `key` was inserted by `start_multishot::<T>` for this stream.
            let polled = unsafe {
                self.driver
                    .shared
                    .table_mut()
                    .poll_item::<T, _>(key, T::pop_item)
            };
            match polled {
                Polled::Item(item) => {
                    self.state = State::Running(key);
                    return Poll::Ready(Some(item));
                }
                Polled::Pending => {
                    self.state = State::Running(key);
                    return Poll::Pending;
                }
                Polled::Ended(mut op, old) => {
                    drop(old);
                    if !op.take_resubmit() {
                        return Poll::Ready(None);
                    }
                    self.state = State::Unsubmitted(op);
                }
                Polled::Gone => return Poll::Ready(None),
            }
        }
    }

    /// Polls for the next result: `Ready(None)` once the stream has ended.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next<T>> {
        let driver = self.driver.clone();
        let polled = self.step(|| driver.task_waiter(cx.waker()));
        if polled.is_pending() {
            if let State::Running(key) = self.state {
                self.driver.set_waker(key, cx.waker());
            }
        }
        polled
    }

    /// The next result, or `None` once the stream has ended.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use lio::net::TcpListener;
    /// let lio = lio::Lio::new()?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = listener.local_addr()?;
    /// let mut incoming = listener.accept_multi(&lio);
    /// let _client = std::net::TcpStream::connect(addr)?;
    /// let stream = lio.block_on(async { incoming.next().await })?;
    /// assert!(stream.expect("a connection").is_ok());
    /// # Ok(()) }
    /// ```
    // Named like `StreamExt::next`: it returns a future, so it cannot be `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> NextFuture<'_, T> {
        NextFuture { stream: self }
    }

    /// Blocks this thread, driving the driver, until the next result; `None` once the
    /// stream has ended.
    pub fn wait_next(&mut self) -> Next<T> {
        loop {
            if let Poll::Ready(next) = self.step(|| Waiter::None) {
                return next;
            }
            // A failed wait is retried: the operation is in flight.
            let _ = self.driver.run();
        }
    }

    /// Calls `callback` on the driver thread, from [`Lio::run`], with every result, and
    /// once with `None` when the stream has ended. Returns a token to stop it.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::{cell::RefCell, rc::Rc};
    /// use lio::net::TcpListener;
    /// let lio = lio::Lio::new()?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = listener.local_addr()?;
    /// let accepted = Rc::new(RefCell::new(Vec::new()));
    /// let sink = accepted.clone();
    /// listener.accept_multi(&lio).when_each(move |next| {
    ///     if let Some(Ok(stream)) = next { sink.borrow_mut().push(stream) }
    /// });
    /// let _clients = [std::net::TcpStream::connect(addr)?, std::net::TcpStream::connect(addr)?];
    /// while accepted.borrow().len() < 2 { lio.run()?; }
    /// # Ok(()) }
    /// ```
    pub fn when_each<F>(mut self, mut callback: F) -> CancelToken
    where
        F: FnMut(Next<T>) + 'static,
    {
        let erased: StreamCallback = Box::new(move |next: &mut dyn Any| {
            if let Some(next) = next
                .downcast_mut::<Option<Next<T>>>()
                .and_then(Option::take)
            {
                callback(next);
            }
        });
        let shared = &self.driver.shared;
        match std::mem::replace(&mut self.state, State::Ended) {
            State::Unsubmitted(op) => match shared.start_multishot(op, Waiter::Stream(erased)) {
                Ok(key) => shared.token(key),
                Err((error, waiter)) => {
                    shared.end_stream::<T>(waiter, Some(error));
                    shared.token(Key::none())
                }
            },
            State::Running(key) => {
                // Results may already be queued: let the next dispatch hand them over.
                let old = shared
                    .table_mut()
                    .replace_waiter(key, Waiter::Stream(erased));
                drop(old);
                shared.table_mut().queue(key);
                shared.token(key)
            }
            State::Ended => {
                shared.end_stream::<T>(Waiter::Stream(erased), None);
                shared.token(Key::none())
            }
        }
    }

    /// Sends every result on `sender`, from [`Lio::run`]; the sender is dropped when the
    /// stream ends (so the receiver sees it disconnect). Returns a token to stop it.
    pub fn send_with(self, sender: mpsc::Sender<io::Result<T::Item>>) -> CancelToken {
        let mut sender = Some(sender);
        self.when_each(move |next| match next {
            Some(result) => {
                if let Some(sender) = &sender {
                    let _ = sender.send(result);
                }
            }
            None => sender = None,
        })
    }

    /// Returns a receiver for every result; it disconnects when the stream ends.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use lio::net::TcpListener;
    /// let lio = lio::Lio::new()?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let rx = listener.accept_multi(&lio).recv();
    /// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// while rx.try_recv().is_err() { lio.run()?; }
    /// # Ok(()) }
    /// ```
    pub fn recv(self) -> mpsc::Receiver<io::Result<T::Item>> {
        let (sender, receiver) = mpsc::channel();
        self.send_with(sender);
        receiver
    }
}

impl<T: MultishotOp> Drop for Multishot<T> {
    fn drop(&mut self) {
        if let State::Running(key) = self.state {
            self.driver.shared.detach_multishot::<T>(key);
        }
    }
}

/// The future of [`Multishot::next`].
#[must_use = "futures do nothing unless polled"]
pub struct NextFuture<'a, T: MultishotOp> {
    stream: &'a mut Multishot<T>,
}

impl<T: MultishotOp> Future for NextFuture<'_, T> {
    type Output = Next<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Next<T>> {
        self.get_mut().stream.poll_next(cx)
    }
}

impl Lio {
    /// Binds a multishot operation to this driver. The typed sockets' `accept_multi` and
    /// `recv_multi` are shorthands for it.
    pub fn multishot<T: MultishotOp>(&self, op: T) -> Multishot<T> {
        Multishot::new(self.clone(), op)
    }
}

impl Shared {
    /// Stores and submits a multishot operation. A result the engine reports at once goes
    /// through the table like any other, so that callbacks still run from `run`. Fails,
    /// handing the waiter back, if the driver is full or the operation's buffer pool belongs
    /// to another driver.
    pub(crate) fn start_multishot<T: MultishotOp>(
        &self,
        op: T,
        waiter: Waiter,
    ) -> Result<Key, (io::Error, Waiter)> {
        if let Err(e) = op.validate(self.id()) {
            return Err((e, waiter));
        }
        if op.pool().is_some_and(|pool| !pool.belongs_to(self)) {
            let error = io::Error::new(
                io::ErrorKind::InvalidInput,
                "lio: this buffer pool belongs to another driver",
            );
            return Err((error, waiter));
        }
        let started = self.with_inner(|engine, table| {
            let inserted = match table.insert_stream(op, waiter, on_item::<T>, deliver::<T>) {
                Ok(inserted) => inserted,
                Err((op, waiter)) => return Err((table_full(table.capacity()), waiter, op)),
            };
            let key = inserted.key;
            if let Some(result) = engine.start(table, inserted, None) {
                table.complete_cqe(key, result, 0);
            }
            Ok(key)
        });
        started.map_err(|(error, waiter, op)| {
            drop(op);
            (error, waiter)
        })
    }

    /// Submits a stream callback's operation again (the OS stopped it early); if that
    /// fails, the callback gets the error and the end.
    pub(crate) fn resubmit<T: MultishotOp>(&self, op: T, waiter: Waiter) {
        if let Err((error, waiter)) = self.start_multishot(op, waiter) {
            self.end_stream::<T>(waiter, Some(error));
        }
    }

    /// Tells a stream callback about a last `error`, if any, and the end, from the next
    /// dispatch.
    pub(crate) fn end_stream<T: MultishotOp>(&self, waiter: Waiter, error: Option<io::Error>) {
        let Waiter::Stream(mut callback) = waiter else {
            return;
        };
        self.table_mut().defer(Box::new(move || {
            if let Some(error) = error {
                callback(&mut Some(Some(Err::<T::Item, _>(error))));
            }
            callback(&mut Some(None::<io::Result<T::Item>>));
        }));
    }

    /// Forgets the handle of the multishot operation `key`: drops its queued results, and
    /// cancels it if it still runs (later results are dropped as they arrive).
    pub(crate) fn detach_multishot<T: MultishotOp>(&self, key: Key) {
        loop {
            // SAFETY: `key` was inserted by `start_multishot::<T>`.
            let polled = unsafe { self.table_mut().poll_item::<T, _>(key, T::pop_item) };
            match polled {
                Polled::Item(item) => drop(item),
                Polled::Ended(op, waiter) => return drop((op, waiter)),
                Polled::Gone => return,
                Polled::Pending => break,
            }
        }
        let old = self.with_inner(|engine, table| {
            let (cancel, old) = table.detach(key);
            if cancel {
                engine.cancel(table, key);
            }
            old
        });
        drop(old);
    }
}

/// The table's [`ItemFn`](crate::table::ItemFn) for multishot operations of type `T`.
///
/// # Safety
///
/// `op` must point to a live `T` that nothing else references during the call.
unsafe fn on_item<T: MultishotOp>(op: *mut (), result: io::Result<u32>, flags: u32) {
    // SAFETY: the caller's contract.
    unsafe { (*op.cast::<T>()).on_result(result, flags) }
}

/// Hands the items of a multishot operation to its stream callback (each call outside any
/// borrow of the driver), or drops them if the stream is detached; at the end, submits the
/// operation again if the OS stopped it early, or tells the callback it ended.
///
/// The table's [`FinishFn`](crate::table::FinishFn) for multishot operations of type `T`.
///
/// # Safety
///
/// `ctx` must be a live driver's [`Shared::as_ctx`], and `key` must hold an operation of
/// type `T`.
unsafe fn deliver<T: MultishotOp>(ctx: *const (), key: Key) {
    // SAFETY: forwarded from the caller: the table calls its finish functions with the
    // driver's context.
    let shared = unsafe { Shared::from_ctx(ctx) };
    loop {
        // SAFETY: forwarded from the caller: `key` holds a `T`.
        let polled = unsafe { shared.table_mut().poll_item::<T, _>(key, T::pop_item) };
        match polled {
            Polled::Item(item) => {
                let waiter = shared.table_mut().replace_waiter(key, Waiter::None);
                let Waiter::Stream(mut callback) = waiter else {
                    // Detached (or a future that took over): drop the item outside the
                    // borrow and put the waiter back.
                    let waiter = shared.table_mut().replace_waiter(key, waiter);
                    drop((item, waiter));
                    continue;
                };
                let call = AssertUnwindSafe(|| callback(&mut Some(Some(item))));
                if let Err(panic) = panic::catch_unwind(call) {
                    // The stream ends: nothing will take its items any more. Cancel it and
                    // let the next dispatch release what it holds, then let the panic go on
                    // out of `run`, as a `when_done` callback's does.
                    drop(callback);
                    shared.abandon_stream(key);
                    panic::resume_unwind(panic);
                }
                let old = shared
                    .table_mut()
                    .replace_waiter(key, Waiter::Stream(callback));
                drop(old);
            }
            Polled::Pending | Polled::Gone => return,
            Polled::Ended(mut op, waiter) => {
                let Waiter::Stream(mut callback) = waiter else {
                    drop((op, waiter));
                    return;
                };
                if op.take_resubmit() {
                    shared.resubmit(op, Waiter::Stream(callback));
                } else {
                    callback(&mut Some(None::<io::Result<T::Item>>));
                }
                return;
            }
        }
    }
}
