//! [`Waiter`]: who waits for an operation, and the table's queries and changes of it.

use super::{ErasedCallback, Key, Slot, State, StreamCallback, Table, CHUNK};
use std::mem;
use std::task::Waker;

/// Who is waiting for an operation.
pub(crate) enum Waiter {
    /// Nobody yet (`.await` before its first poll after submission, or `.wait()`).
    None,
    /// A future, woken on completion.
    Task(Waker),
    /// A future of the driver's own `block_on` task: completions only raise a flag, and the
    /// task is woken once per dispatch round (no waker clone or wake per operation).
    OwnTask,
    /// A callback: receives `&mut Option<T::Output>` as `dyn Any`.
    Callback(ErasedCallback),
    /// A multishot stream's callback, run for every item and once more at the end.
    Stream(StreamCallback),
    /// The handle was dropped: complete and drop the output (closing any created fd).
    Detached,
}

impl<X: Default> Table<X> {
    /// Whether an operation of the driver's own task completed since the last call.
    #[inline]
    pub(crate) fn take_own_task_woken(&mut self) -> bool {
        mem::take(&mut self.own_task_woken)
    }

    /// Whether `key`'s waiter is the driver's own task.
    #[inline]
    pub(crate) fn has_own_task(&mut self, key: Key) -> bool {
        matches!(
            self.live(key),
            Some(Slot {
                waiter: Waiter::OwnTask,
                ..
            })
        )
    }

    /// Whether `key`'s waiter is a callback.
    #[inline]
    pub(crate) fn has_callback(&mut self, key: Key) -> bool {
        matches!(
            self.live(key),
            Some(Slot {
                waiter: Waiter::Callback(_),
                ..
            })
        )
    }

    /// Whether `key` already holds a waker that wakes the same task as `waker`.
    #[inline]
    pub(crate) fn has_waker(&mut self, key: Key, waker: &Waker) -> bool {
        matches!(self.live(key), Some(Slot { waiter: Waiter::Task(old), .. }) if old.will_wake(waker))
    }

    /// Replaces the waiter of `key`, returning the old one for the caller to drop outside
    /// any borrow of the driver (a waker's drop is user code).
    pub(crate) fn replace_waiter(&mut self, key: Key, waiter: Waiter) -> Waiter {
        match self.live(key) {
            Some(slot) => mem::replace(&mut slot.waiter, waiter),
            None => waiter,
        }
    }

    /// Marks `key` detached. Returns whether a cancel should be sent to the OS (the
    /// operation is still running and no cancel was sent yet), and the old waiter for the
    /// caller to drop outside any borrow of the driver.
    pub(crate) fn detach(&mut self, key: Key) -> (bool, Waiter) {
        let Some(slot) = self.live(key) else {
            return (false, Waiter::None);
        };
        let old = mem::replace(&mut slot.waiter, Waiter::Detached);
        let cancel = slot.state == State::InFlight && !slot.cancel_requested;
        slot.cancel_requested |= cancel;
        (cancel, old)
    }

    /// Detaches every occupied slot (driver shutdown): callbacks are dropped unrun, and
    /// every completed slot is queued once more so that it gets finished.
    pub(crate) fn detach_all(&mut self) {
        for index in 0..self.chunks.len() * CHUNK {
            let slot = self.slot_mut(index);
            if slot.state == State::Free {
                continue;
            }
            slot.waiter = Waiter::Detached;
            if slot.state == State::Completed {
                let key = Key::new(index as u32, slot.generation);
                self.ready.push_back(key);
            }
        }
    }
}
