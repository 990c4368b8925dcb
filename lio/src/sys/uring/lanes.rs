//! Per-descriptor ordering on io_uring.
//!
//! The kernel does not keep concurrent reads (or writes) on one pipe or socket in order:
//! each arms its own wait, and the newest waiter may take the first bytes, which would
//! reorder a stream. So lio submits one read and one write per stream descriptor at a time
//! and queues the rest in submission order, as the readiness engine's per-descriptor queues
//! do. A queued operation's slot records [`Location::Lane`](crate::sys::Location::Lane);
//! cancelling it, or its deadline passing (the engine's timer heap), completes it in the
//! table and leaves a tombstone here ([`KeyQueue`]), so either costs O(1).

use crate::sys::fd_map::FdMap;
use crate::sys::key_queue::{KeyQueue, Keyed};
use crate::sys::readiness::Interest;
use crate::sys::SlotExtra;
use crate::table::Key;
use io_uring::squeue;
use std::os::fd::RawFd;
use std::time::Instant;

/// One direction of one descriptor.
pub(crate) type Lane = (RawFd, Interest);

/// An operation waiting for its lane, with its prepared SQE.
pub(crate) struct Waiting {
    pub(crate) key: Key,
    pub(crate) entry: squeue::Entry,
    pub(crate) deadline: Option<Instant>,
    pub(crate) extra: *mut SlotExtra,
}

impl Keyed for Waiting {
    fn key(&self) -> Key {
        self.key
    }
}

#[derive(Default)]
struct Queue {
    busy: bool,
    waiting: KeyQueue<Waiting>,
}

/// The lanes with an operation in the kernel.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: FdMap<Lane, Queue>,
    /// Lanes whose operation completed in the current drain, to be advanced after it.
    finished: Vec<Lane>,
}

impl Lanes {
    /// Takes `lane` for an operation if it is free; otherwise queues `waiting` behind the
    /// operations already there and returns `None`.
    pub(crate) fn claim(&mut self, lane: Lane, waiting: Waiting) -> Option<Waiting> {
        let queue = self.lanes.entry(lane).or_default();
        if queue.busy {
            queue.waiting.push_back(waiting);
            return None;
        }
        queue.busy = true;
        Some(waiting)
    }

    /// Whether an operation of `lane` is in the kernel (a later one must queue behind it,
    /// and must not overtake it by completing inline).
    pub(crate) fn is_busy(&self, lane: Lane) -> bool {
        self.lanes.get(&lane).is_some_and(|queue| queue.busy)
    }

    /// Notes that the operation in the kernel on `lane` completed.
    pub(crate) fn finished(&mut self, lane: Lane) {
        self.finished.push(lane);
    }

    /// The lanes finished since the last call.
    pub(crate) fn take_finished(&mut self) -> Vec<Lane> {
        std::mem::take(&mut self.finished)
    }

    /// Gives a finished lane's buffer back, for reuse.
    pub(crate) fn restore_finished(&mut self, mut lanes: Vec<Lane>) {
        lanes.clear();
        if self.finished.is_empty() {
            self.finished = lanes;
        }
    }

    /// The next live operation of a lane whose kernel operation finished (the lane stays
    /// taken), or `None` (the lane is free again). `live` tells whether a key still waits
    /// in this lane.
    pub(crate) fn next(&mut self, lane: Lane, live: impl FnMut(Key) -> bool) -> Option<Waiting> {
        let queue = self.lanes.get_mut(&lane)?;
        match queue.waiting.pop_front(live) {
            Some(waiting) => Some(waiting),
            None => {
                self.lanes.remove(&lane);
                None
            }
        }
    }

    /// Notes that one operation queued on `lane` left it (the caller completed it in the
    /// table, so `live` rejects it now).
    pub(crate) fn remove_one(&mut self, lane: Lane, live: impl FnMut(Key) -> bool) {
        if let Some(queue) = self.lanes.get_mut(&lane) {
            queue.waiting.remove_one(live);
        }
    }
}
