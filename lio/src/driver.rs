//! [`Lio`]: the per-thread driver.

use crate::block_on::OwnTask;
use crate::op::{CancelToken, DriverId, Op};
use crate::sys::{Backend, Config, Engine, Notifier, Platform, Table, WaitMode};
use crate::table::{table_full, Action, Key, Waiter};
use std::cell::{OnceCell, RefCell, RefMut};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// What [`Lio::start`] did with an operation.
pub(crate) enum Start<T: Op> {
    /// Submitted; its completion will come through the table under this key.
    Running(Key),
    /// Already finished: the output, and the waiter that was not needed.
    Done(T::Output, Waiter),
}

/// The driver: owns the OS queue and the table of in-flight operations.
///
/// One per thread; it is `!Send`. Cloning a `Lio` gives another handle to the same driver,
/// which lives until the last handle and the last [`Io`](crate::Io) bound to it are gone. Dropping it
/// with operations in flight cancels them and waits for the OS to release their buffers;
/// their callbacks are dropped without running.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lio = lio::Lio::new()?;
/// lio.nop().wait()?;
/// assert_eq!(lio.run()?, 0); // nothing in flight: returns at once
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lio {
    pub(crate) shared: Rc<Shared>,
}

/// The driver's state behind its handles.
pub(crate) struct Shared {
    inner: RefCell<Inner>,
    /// Who this driver is, for the cancel tokens it hands out.
    id: DriverId,
    /// Buffer groups of pools dropped while the driver was borrowed: unregistered before
    /// the next pool is registered.
    orphan_groups: RefCell<Vec<u16>>,
    /// The waker of this driver's own `block_on` task, created on first use; futures polled
    /// with it are tracked with [`Waiter::OwnTask`] instead of a waker clone each.
    own_task: OnceCell<OwnTask>,
}

struct Inner {
    // Declared first so that the ring closes before the table frees (or leaks) slots.
    engine: Platform,
    table: Table,
    fallback_reason: Option<String>,
}

thread_local! {
    static THREAD_DEFAULT: RefCell<Option<Lio>> = const { RefCell::new(None) };
}

impl Lio {
    pub(crate) fn with_config(config: Config) -> io::Result<Lio> {
        let (engine, fallback_reason) = Platform::new(&config)?;
        let table = Table::new(config.capacity);
        Ok(Lio {
            shared: Rc::new(Shared {
                inner: RefCell::new(Inner {
                    engine,
                    table,
                    fallback_reason,
                }),
                id: DriverId::next(),
                orphan_groups: RefCell::new(Vec::new()),
                own_task: OnceCell::new(),
            }),
        })
    }

    /// This thread's default driver, created with [`Lio::new`] on first use (or the one set
    /// with [`set_thread_default`](Lio::set_thread_default)).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::thread_default()?;
    /// lio.nop().wait()?;
    /// # Ok(()) }
    /// ```
    pub fn thread_default() -> io::Result<Lio> {
        THREAD_DEFAULT.with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(lio) = &*slot {
                return Ok(lio.clone());
            }
            let lio = Lio::new()?;
            *slot = Some(lio.clone());
            Ok(lio)
        })
    }

    /// Makes this driver the thread's default (see [`thread_default`](Lio::thread_default)).
    pub fn set_thread_default(&self) {
        THREAD_DEFAULT.with(|slot| *slot.borrow_mut() = Some(self.clone()));
    }

    /// The OS mechanism this driver uses.
    pub fn backend(&self) -> Backend {
        self.shared.inner.borrow().engine.backend()
    }

    /// Why this driver runs on a fallback backend (e.g. "io_uring unavailable (Operation not
    /// permitted); using epoll"), or `None` if it runs on the first choice or a forced one.
    pub fn fallback_reason(&self) -> Option<String> {
        self.shared.inner.borrow().fallback_reason.clone()
    }

    /// The most operations this driver keeps in flight at once.
    pub fn capacity(&self) -> usize {
        self.shared.inner.borrow().table.capacity()
    }

    /// Operations submitted whose result has not been handed over yet: those the OS still
    /// holds, and those that completed (with the OS or at once) whose callback, waker or
    /// stream the next [`run`](Lio::run) still has to call. An operation stops counting when
    /// its callback has run, its future has been woken, or its [`wait`](crate::Io::wait) returned.
    ///
    /// To drive callback-style operations to the end, call
    /// [`run_until_idle`](Lio::run_until_idle) (or loop on `run` while this is non-zero):
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::new()?;
    /// lio.nop().when_done(|result| result.expect("nop"));
    /// assert_eq!(lio.in_flight(), 1); // submitted, its callback not run yet
    /// while lio.in_flight() > 0 {
    ///     lio.run()?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn in_flight(&self) -> usize {
        self.shared.inner.borrow().table.in_flight()
    }

    /// Runs the driver until nothing is in flight (see [`in_flight`](Lio::in_flight)): every
    /// operation has completed and every callback has run, including those of operations
    /// that callbacks submitted along the way. Returns the completions handled.
    ///
    /// It blocks for as long as any operation waits for the OS (a read of a pipe nobody
    /// writes waits for ever): give such operations a deadline, or cancel them.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// let lio = lio::Lio::new()?;
    /// let done = Rc::new(Cell::new(0));
    /// for _ in 0..3 {
    ///     let done = done.clone();
    ///     lio.nop().when_done(move |_| done.set(done.get() + 1));
    /// }
    /// lio.run_until_idle()?;
    /// assert_eq!((done.get(), lio.in_flight()), (3, 0));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Lio::run): only if the OS rejects the wait itself.
    pub fn run_until_idle(&self) -> io::Result<usize> {
        let mut handled = 0;
        while self.in_flight() > 0 {
            handled += self.run()?;
        }
        Ok(handled)
    }

    /// Submits queued operations and blocks until at least one completes, then runs
    /// callbacks and wakes futures. Returns the number of completions handled: 0 at once
    /// when nothing is in flight, or when a [`LioWaker`] woke it.
    ///
    /// One `run` handles only the completions that were there when it started dispatching:
    /// an operation that a callback submits and that finishes at once (an inline file
    /// write, a nop on epoll) has its callback run by the next `run`, so that an endless
    /// chain of them cannot keep timers and other I/O from their turn. Loop on `run` (or
    /// call [`run_until_idle`](Lio::run_until_idle)) to drive such chains.
    ///
    /// # Errors
    ///
    /// Fails only if the OS rejects the wait itself (never for a failed operation, whose
    /// error goes to its own result).
    pub fn run(&self) -> io::Result<usize> {
        self.run_mode(WaitMode::Block, false)
    }

    /// Like [`run`](Lio::run) but blocks at most `timeout`; returns 0 if nothing completed.
    pub fn run_timeout(&self, timeout: Duration) -> io::Result<usize> {
        self.run_mode(WaitMode::Timeout(timeout), false)
    }

    /// Submits queued operations and handles completions that are already there; never
    /// blocks.
    pub fn try_run(&self) -> io::Result<usize> {
        self.run_mode(WaitMode::NoWait, false)
    }

    /// A `Send + Sync` handle that wakes this driver's blocked [`run`](Lio::run) from any
    /// thread.
    pub fn waker(&self) -> io::Result<LioWaker> {
        let mut inner = self.shared.inner.borrow_mut();
        let Inner { engine, table, .. } = &mut *inner;
        Ok(LioWaker {
            notifier: engine.notifier(table),
        })
    }

    /// Waits per `mode` and dispatches completions. `park` blocks even when no operation is
    /// in flight (for `block_on`, whose future may be woken from another thread).
    pub(crate) fn run_mode(&self, mode: WaitMode, park: bool) -> io::Result<usize> {
        let until = match mode {
            WaitMode::Timeout(d) => Instant::now().checked_add(d),
            _ => None,
        };
        loop {
            let (woke, idle, silent) = {
                let mut inner = self.shared.inner.borrow_mut();
                let Inner { engine, table, .. } = &mut *inner;
                let before = table.silent_completions();
                let idle = table.awaiting_os() == 0 && !park;
                let mode = match mode {
                    _ if table.has_ready() || idle => WaitMode::NoWait,
                    WaitMode::Timeout(_) => match until {
                        Some(until) => {
                            WaitMode::Timeout(until.saturating_duration_since(Instant::now()))
                        }
                        None => WaitMode::Block,
                    },
                    other => other,
                };
                let woke = engine.wait(table, mode)?;
                (woke, idle, table.silent_completions() - before)
            };
            let handled = self.dispatch() + silent as usize;
            let expired = until.is_some_and(|until| Instant::now() >= until);
            if handled > 0 || woke || idle || expired || matches!(mode, WaitMode::NoWait) {
                return Ok(handled);
            }
        }
    }

    /// Tells the waiters of completed operations, outside any borrow of the driver, so that
    /// callbacks may submit new operations. Returns how many completions it handled.
    #[inline]
    fn dispatch(&self) -> usize {
        let mut handled = 0;
        let budget = {
            let mut table = self.shared.table_mut();
            if table.take_own_task_woken() {
                if let Some(own) = self.shared.own_task.get() {
                    own.waker.wake_by_ref();
                }
            }
            table.queued()
        };
        // What callbacks queue meanwhile waits for the next dispatch (fairness).
        for _ in 0..budget {
            let next = self.shared.inner.borrow_mut().table.next_action();
            let Some((key, action)) = next else {
                return handled;
            };
            handled += 1;
            match action {
                Action::Wake(waker) => waker.wake(),
                // SAFETY: the table hands out the finish function monomorphised for the type
                // stored under `key` (`finish::<T>` only once the slot has completed;
                // `deliver::<T>` also while a multishot operation runs).
                Action::Finish(finish) => unsafe { finish(self.shared.as_ctx(), key) },
                Action::Run(callback) => callback(),
                Action::Nothing => {}
            }
        }
        handled
    }

    /// Runs `callback` from the next `run` (see [`Table::defer`]).
    pub(crate) fn defer(&self, callback: Box<dyn FnOnce()>) {
        self.shared.table_mut().defer(callback);
    }

    /// Stores and submits an operation. An operation that finishes at once (inline, with an
    /// argument error, or because the driver is full) is handed back as `Done`; the caller
    /// must not run a callback waiter from there but [`defer`](Lio::defer) it: callbacks
    /// always run from `run`, never on the submitter's stack, so that a chain of callbacks
    /// cannot grow the stack.
    #[inline]
    pub(crate) fn start<T: Op>(
        &self,
        op: T,
        deadline: Option<Duration>,
        waiter: Waiter,
    ) -> Start<T> {
        if let Err(e) = op.validate(self.shared.id()) {
            return Start::Done(op.complete(Err(e)), waiter);
        }
        let mut inner = self.shared.inner.borrow_mut();
        let Inner { engine, table, .. } = &mut *inner;
        let inserted = match table.insert(op, waiter, T::USES_RESERVE, finish::<T>) {
            Ok(inserted) => inserted,
            Err((op, waiter)) => {
                let error = table_full(table.capacity());
                drop(inner);
                return Start::Done(op.complete(Err(error)), waiter);
            }
        };
        let key = inserted.key;
        let Some(result) = engine.start(table, inserted, deadline) else {
            return Start::Running(key);
        };
        if table.has_callback(key) {
            table.complete_now(key, result);
            return Start::Running(key);
        }
        // SAFETY: `key` was inserted just above with a `T` that the engine did not submit.
        let (op, waiter) = unsafe { table.take_unsubmitted::<T>(key) };
        drop(inner);
        Start::Done(op.complete(result), waiter)
    }

    /// Takes the output of `key` if it has completed.
    pub(crate) fn take_if_done<T: Op>(&self, key: Key) -> Option<T::Output> {
        let mut inner = self.shared.inner.borrow_mut();
        // SAFETY: `key` was inserted by `start::<T>` for the same `Io<T>`.
        let (op, result, waiter) = unsafe { inner.table.take_completed::<T>(key) }?;
        drop(inner);
        drop(waiter);
        Some(op.complete(result))
    }

    /// Registers the waker of the future waiting for `key`.
    pub(crate) fn set_waker(&self, key: Key, waker: &Waker) {
        let own = self.is_own_task(waker);
        {
            let mut inner = self.shared.inner.borrow_mut();
            if (own && inner.table.has_own_task(key)) || (!own && inner.table.has_waker(key, waker))
            {
                return;
            }
        }
        // Clone the new waker and drop the old one outside the borrow: both are user code.
        let new = self.task_waiter(waker);
        let old = self.shared.table_mut().replace_waiter(key, new);
        drop(old);
    }

    /// The waiter for a future polled with `waker`.
    #[inline]
    pub(crate) fn task_waiter(&self, waker: &Waker) -> Waiter {
        if self.is_own_task(waker) {
            Waiter::OwnTask
        } else {
            Waiter::Task(waker.clone())
        }
    }

    #[inline]
    fn is_own_task(&self, waker: &Waker) -> bool {
        self.shared
            .own_task
            .get()
            .is_some_and(|own| own.waker.will_wake(waker))
    }

    /// This driver's `block_on` task, created on first use.
    pub(crate) fn own_task(&self) -> io::Result<&OwnTask> {
        if let Some(own) = self.shared.own_task.get() {
            return Ok(own);
        }
        let own = OwnTask::new(self.waker()?);
        Ok(self.shared.own_task.get_or_init(|| own))
    }

    /// Forgets the waiter of `key`: its output is dropped on completion, and the OS is asked
    /// to cancel it.
    pub(crate) fn detach<T: Op>(&self, key: Key) {
        if let Some(output) = self.take_if_done::<T>(key) {
            drop(output);
            return;
        }
        let mut inner = self.shared.inner.borrow_mut();
        let Inner { engine, table, .. } = &mut *inner;
        let (cancel, old) = table.detach(key);
        if cancel {
            engine.cancel(table, key);
        }
        drop(inner);
        drop(old);
    }
}

impl Shared {
    /// The context the table's finish functions get (see [`FinishFn`](crate::table::FinishFn)):
    /// this driver, type-erased.
    #[inline]
    pub(crate) fn as_ctx(&self) -> *const () {
        (self as *const Shared).cast()
    }

    /// The driver behind a finish function's context.
    ///
    /// # Safety
    ///
    /// `ctx` must come from [`as_ctx`](Self::as_ctx) of a driver that is still alive.
    #[inline]
    pub(crate) unsafe fn from_ctx<'a>(ctx: *const ()) -> &'a Shared {
        // SAFETY: the caller's contract.
        unsafe { &*ctx.cast::<Shared>() }
    }

    /// Who this driver is.
    pub(crate) fn id(&self) -> DriverId {
        self.id
    }

    /// A token naming this driver's operation `key`.
    pub(crate) fn token(&self, key: Key) -> CancelToken {
        CancelToken {
            key,
            driver: self.id,
        }
    }

    /// Gives up a running multishot stream whose callback panicked: it becomes detached, the
    /// OS is asked to stop it, and it is queued so that the next dispatch drops the items it
    /// holds (and, once the OS let go, the operation and its slot).
    pub(crate) fn abandon_stream(&self, key: Key) {
        let old = self.with_inner(|engine, table| {
            let (cancel, old) = table.detach(key);
            if cancel {
                engine.cancel(table, key);
            }
            table.queue(key);
            old
        });
        drop(old);
    }

    /// Unregisters buffer group `group` before the next pool is registered (the driver is
    /// borrowed now).
    pub(crate) fn unregister_later(&self, group: u16) {
        self.orphan_groups.borrow_mut().push(group);
    }

    /// Unregisters the groups of [`unregister_later`](Self::unregister_later), freeing their
    /// ids, then registers a ring of `count` buffers (see [`Engine::register_buf_ring`](crate::sys::Engine::register_buf_ring)).
    pub(crate) fn register_buf_ring(&self, count: u16) -> io::Result<Option<crate::sys::BufRing>> {
        let orphans = self.orphan_groups.take();
        self.with_inner(|engine, _| {
            for group in orphans {
                // Best effort: a failure leaves the id unused, never reused.
                let _ = engine.unregister_buf_ring(group);
            }
            engine.register_buf_ring(count)
        })
    }

    /// Runs `step` on the engine and the table, borrowed for a short, non-reentrant step.
    pub(crate) fn with_inner<R>(&self, step: impl FnOnce(&mut Platform, &mut Table) -> R) -> R {
        let mut inner = self.inner.borrow_mut();
        let Inner { engine, table, .. } = &mut *inner;
        step(engine, table)
    }

    /// Like [`with_inner`](Self::with_inner), or `None` if the driver is borrowed already
    /// (for drop code that may run inside a driver step).
    pub(crate) fn try_with_inner<R>(
        &self,
        step: impl FnOnce(&mut Platform, &mut Table) -> R,
    ) -> Option<R> {
        let mut inner = self.inner.try_borrow_mut().ok()?;
        let Inner { engine, table, .. } = &mut *inner;
        Some(step(engine, table))
    }

    /// The table, borrowed for a short, non-reentrant step.
    pub(crate) fn table_mut(&self) -> RefMut<'_, Table> {
        RefMut::map(self.inner.borrow_mut(), |inner| &mut inner.table)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        inner.table.detach_all();
        inner.engine.shutdown(&mut inner.table);
        // Complete what the OS released: drops buffers and closes descriptors opened late.
        loop {
            let next = self.inner.get_mut().table.next_action();
            let Some((key, action)) = next else { break };
            if let Action::Finish(finish) = action {
                // SAFETY: as in `Lio::dispatch`: the function matches the slot's type.
                unsafe { finish(self.as_ctx(), key) };
            }
        }
    }
}

/// Completes a detached or callback operation, outside any borrow of the driver: the table's
/// [`FinishFn`](crate::table::FinishFn) for operations of type `T`.
///
/// # Safety
///
/// `ctx` must be a live driver's [`Shared::as_ctx`], and `key` must be completed and hold an
/// operation of type `T`.
#[inline]
unsafe fn finish<T: Op>(ctx: *const (), key: Key) {
    // SAFETY: forwarded from the caller.
    let shared = unsafe { Shared::from_ctx(ctx) };
    // SAFETY: forwarded from the caller: `key` holds a `T`.
    let taken = unsafe { shared.table_mut().take_completed::<T>(key) };
    let Some((op, result, waiter)) = taken else {
        return;
    };
    let output = op.complete(result);
    if let Waiter::Callback(callback) = waiter {
        callback.call(&mut Some(output));
    }
}

impl fmt::Debug for Lio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lio")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Wakes a blocked [`Lio::run`] from any thread (an eventfd write).
#[derive(Clone)]
pub struct LioWaker {
    notifier: Arc<Notifier>,
}

impl fmt::Debug for LioWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LioWaker").finish_non_exhaustive()
    }
}

impl LioWaker {
    /// Makes the driver's current or next blocking `run` return.
    pub fn wake(&self) {
        self.notifier.wake_user();
    }
}
