//! The engines' timers: one min-heap for sleeps and per-operation deadlines (the readiness
//! engine's sleeps and deadlines; io_uring's deadlines of operations queued in a lane).
//!
//! Arming is a heap push (O(log n), tens of nanoseconds); cancelling is free: a timer whose
//! operation has moved on is skipped when it expires, and the heap is compacted when such
//! stale entries outnumber the live ones.

use crate::table::Key;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What an expiring timer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// A [`Sleep`](crate::op::Sleep) operation is due.
    Sleep,
    /// An operation's deadline passed.
    Deadline,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    seq: u64,
    key: u64,
    kind: TimerKind,
}

/// The timer heap.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Timers {
    /// Arms a timer for `key` at `at`.
    pub(crate) fn add(&mut self, at: Instant, key: Key, kind: TimerKind) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            key: key.to_user_data(),
            kind,
        }));
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest armed time, stale entries included (an early wake-up is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// Pops one timer that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Key, TimerKind)> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        Some((Key::from_user_data(entry.key), entry.kind))
    }

    /// Pops every timer, due or not (shutdown).
    pub(crate) fn pop_any(&mut self) -> Option<(Key, TimerKind)> {
        let Reverse(entry) = self.heap.pop()?;
        Some((Key::from_user_data(entry.key), entry.kind))
    }

    /// Drops the entries `live` rejects, once the heap is large and mostly stale.
    pub(crate) fn compact(&mut self, live_bound: usize, mut live: impl FnMut(Key) -> bool) {
        if self.heap.len() < 1024 || self.heap.len() < 2 * live_bound {
            return;
        }
        self.heap
            .retain(|Reverse(entry)| live(Key::from_user_data(entry.key)));
    }
}
