//! The readiness engine, shared by every poller (epoll today, kqueue later): try the
//! syscall now; on `WouldBlock` park the operation on its descriptor's read or write queue
//! and retry when the poller reports readiness. Each descriptor is registered once,
//! edge-triggered, and stays registered: no `epoll_ctl` per operation. A descriptor known to
//! be drained is not tried again before its next edge, so the steady path makes no
//! speculative syscall that finds nothing. Operations with no readiness path go to the
//! blocking pool; sleeps and deadlines live in one timer heap whose nearest entry bounds the
//! wait.

mod epoll;
mod multishot;
mod net;
mod ops;

pub use ops::{Plan, ReadinessOp};

use super::blocking::Pool;
use super::fd_map::FdMap;
use super::key_queue::{KeyQueue, Keyed};
use super::notify::Notifier;
use super::timers::{TimerKind, Timers};
use super::{Location, PrepareContext, SysOp, WaitMode};
use crate::op::multishot::flags;
use crate::pal::canceled;
use crate::resource::{FileKind, WeakResource};
use crate::sys::Config;
use crate::sys::{Inserted, Locations, Table};
use crate::table::{timed_out, Key};
use crate::Resource;
use epoll::Epoll;
use ops::AttemptFn;
pub(crate) use ops::Interest;
use std::io;
use std::os::fd::{AsFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The poller token of the notifier (descriptor numbers are the other tokens).
const NOTIFIER: u64 = u64::MAX;

/// An operation waiting for its descriptor.
struct Parked {
    key: Key,
    op: *mut (),
    attempt: AttemptFn,
}

impl Keyed for Parked {
    fn key(&self) -> Key {
        self.key
    }
}

/// Whether `key` still waits on `fd` for `interest` (a cancelled or expired operation left
/// a tombstone in the queue; see [`KeyQueue`]).
#[inline]
fn parked_on(table: &mut Table, key: Key, fd: RawFd, interest: Interest) -> bool {
    table.location(key) == Some(Location::Fd(fd, interest))
}

/// One direction (reads or writes) of a registered descriptor.
struct Direction {
    /// Operations waiting, in submission order.
    queue: KeyQueue<Parked>,
    /// The descriptor may be ready: worth a syscall without waiting for an edge.
    ready: bool,
    /// The poller reported a hang-up or error for this direction. That state lasts (reads
    /// return 0 or the error for ever) and no further edge will announce it, so the
    /// direction never counts as drained again.
    closed: bool,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            queue: KeyQueue::default(),
            ready: true,
            closed: false,
        }
    }

    /// A transfer came up short: wait for the next edge, unless the direction is closed.
    fn drained(&mut self) {
        self.ready = self.closed;
    }

    /// Retries the queued operations of `fd`'s `interest` side in order, until one would
    /// block or shows the descriptor drained.
    #[inline]
    fn run(&mut self, table: &mut Table, fd: RawFd, interest: Interest) {
        loop {
            let Some(parked) = self.queue.front(|k| parked_on(table, k, fd, interest)) else {
                return;
            };
            let (key, op, attempt) = (parked.key, parked.op, parked.attempt);
            // SAFETY: the operation sits in its table slot and nothing else touches it.
            let attempt = unsafe { attempt(op) };
            if would_block(&attempt.result) {
                self.ready = false;
                return;
            }
            if attempt.flags & flags::MORE == 0 {
                self.queue.pop_front(|_| true);
                table.set_location(key, Location::None);
            }
            table.complete_cqe(key, attempt.result, attempt.flags);
            if attempt.drained {
                self.drained();
                if !self.ready {
                    return;
                }
            }
        }
    }
}

/// What the engine knows about one registered descriptor.
struct FdState {
    owner: WeakResource,
    read: Direction,
    write: Direction,
    registered: bool,
}

impl FdState {
    fn side(&mut self, interest: Interest) -> &mut Direction {
        match interest {
            Interest::Read => &mut self.read,
            Interest::Write => &mut self.write,
        }
    }
}

/// The readiness engine over epoll.
pub(crate) struct Readiness {
    poller: Epoll,
    notifier: Arc<Notifier>,
    fds: FdMap<RawFd, FdState>,
    timers: Timers,
    pool: Pool,
    ctx: PrepareContext,
    events: Vec<epoll::Readiness>,
}

/// Whether an error says the descriptor cannot be driven by readiness at all.
fn refuses_polling(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EPERM))
}

fn would_block(result: &io::Result<u32>) -> bool {
    matches!(result, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Readiness {
    pub(crate) fn new(config: &Config) -> io::Result<Self> {
        let poller = Epoll::new()?;
        let notifier = Arc::new(Notifier::new()?);
        poller.register(notifier.fd(), NOTIFIER)?;
        Ok(Readiness {
            poller,
            pool: Pool::new(config.pool_threads, notifier.clone()),
            notifier,
            fds: FdMap::default(),
            timers: Timers::default(),
            ctx: PrepareContext {
                inline_write_max: config.inline_write_max,
                send_zc: false,
            },
            events: Vec::new(),
        })
    }

    /// Tries a pollable operation now if its descriptor may be ready and nothing is queued
    /// before it; otherwise (or on `WouldBlock`) queues it. `Ok(Some)`: finished now.
    #[inline]
    fn park(
        &mut self,
        table: &mut Table,
        fd: &Resource,
        interest: Interest,
        parked: Parked,
        now: bool,
    ) -> Result<Option<io::Result<u32>>, io::Result<u32>> {
        let raw = fd.raw();
        let state = self.state_of(fd).map_err(Err)?;
        let direction = state.side(interest);
        let first = direction
            .queue
            .is_empty(|k| parked_on(table, k, raw, interest));
        if first && (direction.ready || now) {
            // SAFETY: the operation sits in its table slot and nothing else touches it.
            let attempt = unsafe { (parked.attempt)(parked.op) };
            if !would_block(&attempt.result) {
                if attempt.drained {
                    direction.drained();
                }
                return Ok(Some(attempt.result));
            }
            direction.ready = false;
        }
        direction.queue.push_back(parked);
        Ok(None)
    }

    /// Queues a multishot operation on `fd` and runs the queue at once if the descriptor
    /// may be ready: its results go through the table as they come.
    fn park_stream(
        &mut self,
        table: &mut Table,
        fd: &Resource,
        interest: Interest,
        parked: Parked,
    ) -> io::Result<()> {
        let key = parked.key;
        // Every socket can be polled: a descriptor epoll refuses is not one.
        let state = self.state_of(fd).map_err(|e| match refuses_polling(&e) {
            true => io::Error::from_raw_os_error(libc::ENOTSOCK),
            false => e,
        })?;
        let direction = state.side(interest);
        let raw = fd.raw();
        let first = direction
            .queue
            .is_empty(|k| parked_on(table, k, raw, interest));
        direction.queue.push_back(parked);
        table.set_location(key, Location::Fd(raw, interest));
        if direction.ready && first {
            direction.run(table, raw, interest);
        }
        Ok(())
    }

    /// The state of `fd`, registering it with the poller the first time this `Resource`
    /// is seen (or when its number now belongs to a different `Resource`).
    #[inline]
    fn state_of(&mut self, fd: &Resource) -> io::Result<&mut FdState> {
        let raw = fd.raw();
        let poller = &self.poller;
        let state = self.fds.entry(raw).or_insert_with(|| FdState {
            owner: fd.downgrade(),
            read: Direction::new(),
            write: Direction::new(),
            registered: false,
        });
        if !state.registered || !fd.same_as(&state.owner) {
            // A new `Resource` (or a number reused by one): register it. Operations queued
            // under the old owner, if any, keep their places.
            poller.register(fd.as_fd(), raw as u64)?;
            state.owner = fd.downgrade();
            state.registered = true;
            for direction in [&mut state.read, &mut state.write] {
                direction.ready = true;
                direction.closed = false;
            }
        }
        Ok(state)
    }

    /// Cancels `target` with `ECANCELED`, as io_uring's `ASYNC_CANCEL` would: `Ok` if it was
    /// stopped, `EALREADY` if it is running on a pool thread, `ENOENT` if it is not in flight.
    fn cancel_target(&mut self, table: &mut Table, target: Key) -> io::Result<u32> {
        match self.unpark(table, target) {
            Some(Location::Pool) if !self.pool.cancel(target) => {
                table.set_location(target, Location::Pool);
                Err(io::Error::from_raw_os_error(libc::EALREADY))
            }
            Some(_) => {
                table.complete(target, Err(canceled()));
                Ok(0)
            }
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    /// Takes `key` out of wherever it waits (not out of a running pool job) and returns
    /// where that was; `None` if it is not in flight here.
    fn unpark(&mut self, table: &mut Table, key: Key) -> Option<Location> {
        let location = table.location(key)?;
        table.set_location(key, Location::None);
        match location {
            Location::Fd(raw, interest) => {
                // O(1): the slot no longer says it waits there, so the queue skips it.
                if let Some(state) = self.fds.get_mut(&raw) {
                    let queue = &mut state.side(interest).queue;
                    queue.remove_one(|k| parked_on(table, k, raw, interest));
                }
            }
            Location::Timer | Location::Pool | Location::Lane(..) | Location::None => {}
        }
        (location != Location::None).then_some(location)
    }

    /// Completes the sleeps and enforces the deadlines that are due.
    fn fire_timers(&mut self, table: &mut Table) {
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some((key, kind)) = self.timers.pop_due(now) {
            let Some(location) = table.location(key) else {
                continue;
            };
            match (kind, location) {
                (TimerKind::Sleep, Location::Timer) => {
                    self.unpark(table, key);
                    table.complete(key, Err(io::Error::from_raw_os_error(libc::ETIME)));
                }
                (TimerKind::Deadline, Location::Pool) if !self.pool.cancel(key) => {}
                (TimerKind::Deadline, _) => {
                    self.unpark(table, key);
                    table.complete(key, Err(timed_out()));
                }
                (TimerKind::Sleep, _) => {}
            }
        }
        // Each running operation has at most two timers (a sleep and a deadline).
        let bound = 2 * table.awaiting_os();
        self.timers
            .compact(bound, |key| table.location(key).is_some());
    }
}

impl super::Engine for Readiness {
    fn backend(&self) -> crate::sys::Backend {
        crate::sys::Backend::Epoll
    }

    /// Runs an inserted operation now, or parks it (on its descriptor, on the pool, or on a
    /// timer). Returns its result if it finished at once.
    #[inline]
    fn start<T: SysOp>(
        &mut self,
        table: &mut Table,
        inserted: Inserted<T>,
        deadline: Option<Duration>,
    ) -> Option<io::Result<u32>> {
        let key = inserted.key;
        let op_ptr = inserted.op;
        // SAFETY: the table just stored the operation at this address; it stays there, and
        // nothing else references it, until its completion is taken.
        let op = unsafe { &mut *op_ptr };
        let position = op.position_fd();
        let plan = match position {
            // An earlier operation on this file position is on the pool: queue behind it
            // (no inline write, no cached read may overtake it).
            Some(fd) if self.pool.orders(fd) => match op.job() {
                Ok(job) => Plan::Blocking(job),
                Err(e) => Plan::Done(Err(e)),
            },
            _ => op.plan(&self.ctx),
        };
        let location = match plan {
            Plan::Done(result) => return Some(result),
            Plan::Cancel(target) => return Some(self.cancel_target(table, target)),
            Plan::Blocking(mut job) => {
                job.order = position;
                match self.pool.submit(key, job) {
                    Ok(()) => Location::Pool,
                    Err(e) => return Some(Err(e)),
                }
            }
            Plan::Timer(after) => {
                // A sleep too long for the clock never fires: it waits for a cancel.
                if let Some(at) = Instant::now().checked_add(after) {
                    self.timers.add(at, key, TimerKind::Sleep);
                }
                Location::Timer
            }
            Plan::Poll {
                fd,
                interest,
                attempt,
                stream: true,
                ..
            } => {
                let parked = Parked {
                    key,
                    op: op_ptr.cast(),
                    attempt,
                };
                if let Err(e) = self.park_stream(table, &fd, interest, parked) {
                    return Some(Err(e));
                }
                return None;
            }
            Plan::Poll {
                fd,
                interest,
                attempt,
                now,
                stream: false,
            } => {
                let parked = Parked {
                    key,
                    op: op_ptr.cast(),
                    attempt,
                };
                match self.park(table, &fd, interest, parked, now) {
                    Ok(None) => Location::Fd(fd.raw(), interest),
                    Ok(Some(Err(e))) | Err(Err(e)) if refuses_polling(&e) => {
                        // epoll cannot watch this descriptor (EPERM), or the kernel cannot do
                        // RWF_NOWAIT on it (EOPNOTSUPP): use the pool for it from now on. An
                        // operation with no blocking form (a socket operation) failed for its
                        // own reasons: that is its result.
                        // SAFETY: as above; the failed attempt has returned.
                        let job = match unsafe { &mut *op_ptr }.job() {
                            Ok(job) => job,
                            Err(_) => return Some(Err(e)),
                        };
                        fd.set_kind(FileKind::Other);
                        match self.pool.submit(key, job) {
                            Ok(()) => Location::Pool,
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    Ok(Some(result)) | Err(result) => return Some(result),
                }
            }
        };
        table.set_location(key, location);
        if let Some(at) = deadline.and_then(|d| Instant::now().checked_add(d)) {
            self.timers.add(at, key, TimerKind::Deadline);
        }
        None
    }

    /// Cancels `key` for a detached handle; the cancel's own result is not needed.
    fn cancel(&mut self, table: &mut Table, key: Key) {
        let _ = self.cancel_target(table, key);
    }

    /// Submits nothing (operations start at once) and waits per `mode` for readiness,
    /// timers and pool completions. Returns whether a user's wake-up arrived.
    fn wait(&mut self, table: &mut Table, mode: WaitMode) -> io::Result<bool> {
        let mut timeout = match mode {
            WaitMode::NoWait => Some(Duration::ZERO),
            WaitMode::Block => None,
            WaitMode::Timeout(d) => Some(d),
        };
        if table.has_ready() {
            timeout = Some(Duration::ZERO);
        }
        if let Some(next) = self.timers.next() {
            let until = next.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        let mut events = std::mem::take(&mut self.events);
        let waited = self.poller.wait(timeout, |event| events.push(event));
        let mut woke = false;
        for event in events.drain(..) {
            if event.token == NOTIFIER {
                woke |= self.notifier.reset();
                self.pool.drain(table);
                continue;
            }
            let raw = event.token as RawFd;
            let Some(state) = self.fds.get_mut(&raw) else {
                continue;
            };
            if event.readable {
                state.read.ready = true;
                state.read.closed |= event.read_closed;
                state.read.run(table, raw, Interest::Read);
            }
            if event.writable {
                state.write.ready = true;
                state.write.closed |= event.write_closed;
                state.write.run(table, raw, Interest::Write);
            }
        }
        self.events = events;
        self.fire_timers(table);
        waited.map(|()| woke)
    }

    /// The notifier that wakes `wait` (a [`LioWaker`](crate::LioWaker) uses it).
    fn notifier(&mut self, _table: &mut Table) -> Arc<Notifier> {
        self.notifier.clone()
    }

    /// Cancels everything: parked operations and sleeps complete with `ECANCELED`; the pool
    /// drops queued jobs and waits (bounded) for running ones.
    fn shutdown(&mut self, table: &mut Table) {
        for (raw, mut state) in self.fds.drain() {
            for (interest, queue) in [
                (Interest::Read, &mut state.read.queue),
                (Interest::Write, &mut state.write.queue),
            ] {
                for parked in queue.drain() {
                    if parked_on(table, parked.key, raw, interest) {
                        table.set_location(parked.key, Location::None);
                        table.complete(parked.key, Err(canceled()));
                    }
                }
            }
        }
        while let Some((key, _)) = self.timers.pop_any() {
            if table.location(key) == Some(Location::Timer) {
                table.set_location(key, Location::None);
                table.complete(key, Err(canceled()));
            }
        }
        self.pool.shutdown(table, canceled);
    }
}
