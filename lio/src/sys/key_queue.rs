//! [`KeyQueue`]: a FIFO of waiting operations from which any entry leaves in O(1).
//!
//! Operations wait in per-descriptor queues (the readiness engine's parked reads and writes,
//! io_uring's lanes). A cancel or an expired deadline must take one out without scanning
//! the queue: with 100,000 reads queued on one pipe, a scan per cancel is quadratic. So the
//! owner completes the operation in the table (its slot no longer says it waits here) and
//! only tells the queue that one entry died; dead entries are skipped when they reach the
//! front, and swept out in one pass once they are the majority, so the queue's memory stays
//! proportional to the live entries.
//!
//! Whether an entry is live is the table's answer, asked through a closure: the slot of
//! its key is still in flight and records this queue as where it waits. A slot reused by a
//! later operation has a new generation, so a stale key never looks live.

use crate::table::Key;
use std::collections::VecDeque;

/// An entry of a [`KeyQueue`]: anything that names its operation's key.
pub(crate) trait Keyed {
    /// The key of the waiting operation.
    fn key(&self) -> Key;
}

/// Dead entries tolerated before a sweep is considered.
const SWEEP_MIN: usize = 32;

/// A FIFO of waiting operations with O(1) removal by tombstone.
pub(crate) struct KeyQueue<T> {
    entries: VecDeque<T>,
    /// Entries whose operation left the queue (cancelled, timed out) but that are still
    /// stored.
    dead: usize,
}

impl<T> Default for KeyQueue<T> {
    fn default() -> Self {
        KeyQueue {
            entries: VecDeque::new(),
            dead: 0,
        }
    }
}

impl<T: Keyed> KeyQueue<T> {
    /// Appends an operation.
    #[inline]
    pub(crate) fn push_back(&mut self, entry: T) {
        self.entries.push_back(entry);
    }

    /// The first live entry, after dropping the dead ones before it.
    #[inline]
    pub(crate) fn front(&mut self, mut live: impl FnMut(Key) -> bool) -> Option<&T> {
        while let Some(entry) = self.entries.front() {
            if live(entry.key()) {
                return self.entries.front();
            }
            self.entries.pop_front();
            self.dead = self.dead.saturating_sub(1);
        }
        debug_assert_eq!(self.dead, 0, "lio: an empty queue counts dead entries");
        self.dead = 0;
        None
    }

    /// Removes and returns the first live entry.
    #[inline]
    pub(crate) fn pop_front(&mut self, live: impl FnMut(Key) -> bool) -> Option<T> {
        self.front(live)?;
        self.entries.pop_front()
    }

    /// Whether no live entry waits.
    #[inline]
    pub(crate) fn is_empty(&mut self, live: impl FnMut(Key) -> bool) -> bool {
        self.front(live).is_none()
    }

    /// Notes that one entry's operation left the queue (the caller already completed it in
    /// the table, so `live` rejects it). O(1), amortised: a sweep runs only when dead
    /// entries are the majority.
    #[inline]
    pub(crate) fn remove_one(&mut self, mut live: impl FnMut(Key) -> bool) {
        self.dead += 1;
        if self.dead >= SWEEP_MIN && 2 * self.dead > self.entries.len() {
            self.entries.retain(|entry| live(entry.key()));
            self.dead = 0;
        }
    }

    /// Takes every stored entry, live or dead (shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.dead = 0;
        self.entries.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Entry(Key);
    impl Keyed for Entry {
        fn key(&self) -> Key {
            self.0
        }
    }

    fn key(i: u64) -> Key {
        Key::from_user_data(i)
    }

    #[test]
    fn removed_entries_are_skipped_and_order_is_kept() {
        let mut queue = KeyQueue::default();
        let mut dead = HashSet::new();
        for i in 0..10 {
            queue.push_back(Entry(key(i)));
        }
        for i in [0, 3, 4, 9] {
            dead.insert(key(i));
            queue.remove_one(|k| !dead.contains(&k));
        }
        let mut order = Vec::new();
        while let Some(entry) = queue.pop_front(|k| !dead.contains(&k)) {
            order.push(entry.0.to_user_data());
        }
        assert_eq!(order, [1, 2, 5, 6, 7, 8]);
        assert!(queue.is_empty(|_| true));
    }

    #[test]
    fn dead_majority_is_swept_so_memory_follows_live_entries() {
        // Miri interprets every step: a smaller queue shows the same sweeping there.
        let n = if cfg!(miri) { 500 } else { 10_000 };
        let mut queue = KeyQueue::default();
        let mut dead = HashSet::new();
        for i in 0..n {
            queue.push_back(Entry(key(i)));
        }
        for i in 1..n {
            dead.insert(key(i));
            queue.remove_one(|k| !dead.contains(&k));
        }
        assert!(queue.entries.len() < 100, "{} stored", queue.entries.len());
        assert_eq!(
            queue
                .pop_front(|k| !dead.contains(&k))
                .map(|e| e.0.to_user_data()),
            Some(0)
        );
        assert!(queue.is_empty(|k| !dead.contains(&k)));
    }
}
