//! The blocking pool: a small, bounded set of threads that run operations with no
//! asynchronous path on the chosen backend (file I/O on epoll, opcodes an old kernel's
//! io_uring lacks), and hand results back through the driver's normal completion path.
//!
//! A job is plain data ([`Job`]): a syscall function and raw arguments that point into the
//! operation, which stays in its table slot until the completion is delivered. The pool runs
//! no user code. Threads start on demand up to the configured maximum; failing to start one is
//! an error result for the job, never a panic.
//!
//! Cancelling a queued job is O(1): it leaves the map of queued jobs, and a worker that pops
//! it from the queue skips it. Jobs that use a file's position ([`Job::order`]) run one at a
//! time per descriptor, in submission order: the others wait in that descriptor's FIFO, and
//! each finished job lets the next one into the queue.

mod net;
mod ops;

pub use ops::BlockingOp;

use super::fd_map::FdMap;
use super::notify::Notifier;
use crate::sys::Table;
use crate::table::Key;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One blocking syscall: `run(&args)` on a pool thread.
pub struct Job {
    pub(crate) run: unsafe fn(&JobArgs) -> io::Result<u32>,
    pub(crate) args: JobArgs,
    /// The job owns a resource only running it releases (a close owns its descriptor): it
    /// cannot be cancelled, and a shutdown runs it rather than drop it.
    pub(crate) must_run: bool,
    /// The descriptor whose file position the job uses (a read or write without an offset):
    /// such jobs run one at a time per descriptor, in submission order. Set by the engine.
    pub(crate) order: Option<RawFd>,
}

/// Raw arguments of a [`Job`]; each operation's blocking half fills what it needs.
pub(crate) struct JobArgs {
    pub(crate) fd: RawFd,
    pub(crate) ptr: *mut u8,
    pub(crate) ptr2: *const u8,
    pub(crate) len: usize,
    pub(crate) offset: u64,
    pub(crate) flags: i32,
    pub(crate) mode: u32,
}

impl Default for JobArgs {
    fn default() -> Self {
        JobArgs {
            fd: -1,
            ptr: std::ptr::null_mut(),
            ptr2: std::ptr::null(),
            len: 0,
            offset: 0,
            flags: 0,
            mode: 0,
        }
    }
}

// SAFETY: the pointers refer to memory owned by an operation in the driver's table, which
// neither moves nor is touched by the driver thread until the job's completion has been
// delivered; the pool thread is the only user meanwhile.
unsafe impl Send for JobArgs {}

/// What the pool knows of a job not started yet.
#[derive(Clone, Copy)]
struct Queued {
    must_run: bool,
}

struct State {
    /// Jobs any idle worker may start, in order; a job no longer in `queued` was cancelled
    /// and is skipped.
    queue: VecDeque<(Key, Job)>,
    /// The jobs not started yet (queued, or waiting behind an ordered job).
    queued: FdMap<Key, Queued>,
    /// Per descriptor with an ordered job queued or running: the ordered jobs behind it.
    ordered: FdMap<RawFd, VecDeque<(Key, Job)>>,
    done: Vec<(Key, io::Result<u32>)>,
    idle: usize,
    /// A worker was told to wake and has not yet: further submissions need not wake another
    /// (the woken worker wakes the next while work remains), so a batch of jobs does not
    /// wake every idle thread at once.
    waking: bool,
    running: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    finished: Condvar,
    notifier: Arc<Notifier>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A pool thread never panics while holding the lock (it runs only syscalls), so a
        // poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The pool of one driver.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    max_threads: usize,
    spare: Vec<(Key, io::Result<u32>)>,
}

impl Pool {
    pub(crate) fn new(max_threads: usize, notifier: Arc<Notifier>) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    queued: FdMap::default(),
                    ordered: FdMap::default(),
                    done: Vec::new(),
                    idle: 0,
                    waking: false,
                    running: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                finished: Condvar::new(),
                notifier,
            }),
            threads: Vec::new(),
            max_threads,
            spare: Vec::new(),
        }
    }

    /// Queues a job, starting a thread if none is idle and the pool may grow. If no thread
    /// exists and none can be started, the job is handed back with the error.
    pub(crate) fn submit(&mut self, key: Key, job: Job) -> Result<(), io::Error> {
        let mut state = self.shared.lock();
        let must_run = job.must_run;
        let previous = state.queued.insert(key, Queued { must_run });
        debug_assert!(previous.is_none(), "lio: a key submitted to the pool twice");
        if let Some(fd) = job.order {
            if let Some(behind) = state.ordered.get_mut(&fd) {
                // An earlier job on this file position is queued or running: wait for it.
                behind.push_back((key, job));
                return Ok(());
            }
            state.ordered.insert(fd, VecDeque::new());
        }
        state.queue.push_back((key, job));
        if state.idle > 0 {
            if !state.waking {
                state.waking = true;
                drop(state);
                self.shared.work.notify_one();
            }
            return Ok(());
        }
        drop(state);
        if self.threads.len() < self.max_threads {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("lio-pool".into())
                .stack_size(64 * 1024)
                .spawn(move || worker(&shared));
            match spawned {
                Ok(handle) => self.threads.push(handle),
                Err(e) if self.threads.is_empty() => {
                    // No thread ever ran: this job is the only one the pool holds.
                    let mut state = self.shared.lock();
                    state.queued.remove(&key);
                    state.queue.clear();
                    state.ordered.clear();
                    return Err(e);
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Removes `key` from the queue if no thread has started it (and it need not run).
    /// Returns whether it did. O(1): a worker skips the job when it comes to it.
    pub(crate) fn cancel(&mut self, key: Key) -> bool {
        let mut state = self.shared.lock();
        match state.queued.get(&key) {
            Some(queued) if !queued.must_run => {
                state.queued.remove(&key);
                true
            }
            _ => false,
        }
    }

    /// Whether a job using `fd`'s file position is queued or running: an operation on the
    /// position must then wait its turn on the pool rather than run inline.
    pub(crate) fn orders(&self, fd: RawFd) -> bool {
        self.shared.lock().ordered.contains_key(&fd)
    }

    /// Moves finished jobs' results into the table.
    pub(crate) fn drain(&mut self, table: &mut Table) {
        if self.threads.is_empty() {
            return;
        }
        {
            let mut state = self.shared.lock();
            std::mem::swap(&mut state.done, &mut self.spare);
        }
        for (key, result) in self.spare.drain(..) {
            table.complete(key, result);
        }
    }

    /// Stops the pool: queued jobs are returned (their operations never ran), and running
    /// ones are waited for (5 s at most), so that no thread touches the table afterwards.
    /// A job still running then (a syscall that blocks forever, such as opening a FIFO
    /// nobody opens) keeps its slot in flight, and the table leaks it rather than free it.
    pub(crate) fn shutdown(&mut self, table: &mut Table, canceled: impl Fn() -> io::Error) {
        let mut state = self.shared.lock();
        state.shutdown = true;
        let mut queued: Vec<(Key, Job)> = state.queue.drain(..).collect();
        let ordered: Vec<_> = state.ordered.drain().collect();
        queued.extend(ordered.into_iter().flat_map(|(_, behind)| behind));
        // Only jobs still in `queued` are real; the rest were cancelled.
        let mut live = std::mem::take(&mut state.queued);
        queued.retain(|(key, _)| live.remove(key).is_some());
        self.shared.work.notify_all();
        let give_up = Instant::now() + Duration::from_secs(5);
        while state.running > 0 {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match self.shared.finished.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poison) => poison.into_inner().0,
            };
        }
        let all_done = state.running == 0;
        drop(state);
        for (key, job) in queued {
            let result = if job.must_run {
                // SAFETY: as in `worker`: the job's pointers stay valid until its completion
                // is delivered, just below.
                unsafe { (job.run)(&job.args) }
            } else {
                Err(canceled())
            };
            table.complete(key, result);
        }
        self.drain(table);
        if all_done {
            // Every thread is idle or leaving: joining is prompt, and afterwards nothing of
            // the pool is left running.
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

impl State {
    /// The ordered job on `fd` finished (or was cancelled): lets the next live one behind it
    /// into the queue, or forgets `fd` if none waits.
    fn advance(&mut self, fd: RawFd) {
        let Some(behind) = self.ordered.get_mut(&fd) else {
            return;
        };
        while let Some((key, job)) = behind.pop_front() {
            if self.queued.contains_key(&key) {
                self.queue.push_back((key, job));
                return;
            }
        }
        self.ordered.remove(&fd);
    }
}

fn worker(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some((key, job)) = state.queue.pop_front() {
            if state.queued.remove(&key).is_none() {
                // Cancelled while queued: its operation completed without it.
                if let Some(fd) = job.order {
                    state.advance(fd);
                }
                continue;
            }
            if !state.queue.is_empty() && state.idle > 0 && !state.waking {
                state.waking = true;
                shared.work.notify_one();
            }
            state.running += 1;
            drop(state);
            // SAFETY: the job's pointers stay valid until its completion is delivered (see
            // `JobArgs`), which happens only after we push the result below.
            let result = unsafe { (job.run)(&job.args) };
            state = shared.lock();
            state.running -= 1;
            if let Some(fd) = job.order {
                state.advance(fd);
            }
            let first = state.done.is_empty();
            state.done.push((key, result));
            if state.shutdown && state.running == 0 {
                shared.finished.notify_all();
            }
            if first {
                shared.notifier.signal();
            }
            continue;
        }
        if state.shutdown {
            return;
        }
        state.idle += 1;
        state = match shared.work.wait(state) {
            Ok(state) => state,
            Err(poison) => poison.into_inner(),
        };
        state.idle -= 1;
        state.waking = false;
    }
}
