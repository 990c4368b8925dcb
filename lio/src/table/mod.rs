//! The in-flight table: every submitted operation lives here, with its buffers, until the OS
//! has released it.
//!
//! Slots are allocated in fixed chunks that never move, so pointers into an operation (the
//! buffer an SQE names, an `iovec` array, a `timespec`) stay valid for as long as the kernel
//! holds them. Operations up to [`INLINE_BYTES`] are stored inside the slot itself, so a
//! steady-state submission allocates nothing; larger ones are boxed. A key is the slot index
//! plus a generation, so a stale key (a late CQE, a dropped future) can never reach the next
//! occupant of the slot.

mod callback;
mod cells;
pub(crate) mod flags;
mod key;
mod stream;
#[cfg(test)]
mod tests;
mod waiters;

pub(crate) use key::Key;
use key::{GENERATION_MASK, NO_SLOT};
pub(crate) use stream::{ItemFn, Polled, StreamCallback};
pub(crate) use waiters::Waiter;

use cells::Cells;
use std::collections::VecDeque;
use std::io;
use std::mem::{self, MaybeUninit};
use std::task::Waker;

/// Operations up to this size (and alignment 16) are stored inline in their slot.
pub(crate) const INLINE_BYTES: usize = 128;

const CHUNK: usize = 64;
/// Slots beyond the capacity that only cancellations may use.
const RESERVE: usize = 64;

/// A callback with its operation type erased: it receives `&mut Option<T::Output>`.
pub(crate) use callback::Callback as ErasedCallback;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Free,
    InFlight,
    Completed,
}

/// What the driver must do for a completed operation, outside any borrow of the table.
pub(crate) enum Action {
    Wake(Waker),
    Finish(FinishFn),
    /// A callback whose operation never got a slot (the driver was full).
    Run(Box<dyn FnOnce()>),
    Nothing,
}

/// Takes the typed operation out of its (completed) slot, completes it and hands the output
/// to its callback (or drops it, if detached); for a multishot operation, hands over its
/// items. Monomorphised per operation type by the table's owner, which calls it with the
/// context it gave the table (`ctx`, type-erased: the table knows no driver).
pub(crate) type FinishFn = unsafe fn(ctx: *const (), key: Key);

struct Slot {
    generation: u32,
    next_free: u32,
    state: State,
    /// Completions still expected from the OS (2 with a linked deadline).
    pending: u8,
    timed_out: bool,
    cancel_requested: bool,
    boxed: bool,
    /// Completed, with a waiter (callback, task, stream, detached handle) the next dispatch
    /// still has to tell: counted in the table's `undelivered`.
    undelivered: bool,
    result: Option<io::Result<u32>>,
    waiter: Waiter,
    finish: Option<FinishFn>,
    /// Set for multishot operations: each OS result goes to the operation as it arrives.
    on_item: Option<ItemFn>,
    /// The operation: in the slot's inline storage (see [`cells`]) or boxed.
    op: *mut (),
}

impl Slot {
    fn new(next_free: u32) -> Slot {
        Slot {
            generation: 0,
            next_free,
            state: State::Free,
            pending: 0,
            timed_out: false,
            cancel_requested: false,
            boxed: false,
            undelivered: false,
            result: None,
            waiter: Waiter::None,
            finish: None,
            on_item: None,
            op: std::ptr::null_mut(),
        }
    }
}

/// How the waiter of a finished slot learns about it.
enum Tell {
    /// Nobody to tell one by one (the waiter polls, or is the driver's own task).
    Silently { own_task: bool },
    /// Queue the key for the next dispatch.
    Queue,
}

impl Slot {
    /// The OS is done with this slot: marks it completed (a cancel its deadline caused
    /// becomes `TimedOut`) and says how to tell its waiter.
    #[inline]
    fn finish_os(&mut self) -> Tell {
        if self.timed_out {
            if let Some(Err(e)) = &self.result {
                if crate::pal::is_canceled(e) {
                    self.result = Some(Err(timed_out()));
                }
            }
        }
        self.state = State::Completed;
        match self.waiter {
            Waiter::None => Tell::Silently { own_task: false },
            Waiter::OwnTask => Tell::Silently { own_task: true },
            _ => {
                debug_assert!(!self.undelivered, "lio: a slot completed twice");
                self.undelivered = true;
                Tell::Queue
            }
        }
    }
}

/// The slot of `key` in `chunks` if the key is current and the slot is occupied.
#[inline]
fn live_slot(chunks: &mut [Box<[Slot]>], key: Key) -> Option<&mut Slot> {
    let index = key.index();
    let slot = chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)?;
    (slot.generation == key.generation() && slot.state != State::Free).then_some(slot)
}

/// A freshly inserted operation: its key, and stable pointers for the backend.
pub(crate) struct Inserted<T, X> {
    pub(crate) key: Key,
    pub(crate) op: *mut T,
    pub(crate) extra: *mut X,
}

/// The table of in-flight operations and the queue of completed ones.
pub(crate) struct Table<X> {
    chunks: Vec<Box<[Slot]>>,
    /// The slots' memory the OS may touch: inline operations and backend data.
    cells: Cells<X>,
    free_head: u32,
    capacity: usize,
    used: usize,
    /// Slots whose OS completion has not arrived yet.
    awaiting_os: usize,
    /// Completed keys whose waiter (a task, a callback, or a detached handle) still has to
    /// be told.
    ready: VecDeque<Key>,
    /// Completed slots whose waiter has not been told yet (each also queued on `ready`).
    undelivered: usize,
    /// Completions nobody is told about one by one (the waiter polls for them, or is the
    /// driver's own task), counted for `run`.
    silent: u64,
    /// An operation of the driver's own task completed since the last dispatch.
    own_task_woken: bool,
    /// Callbacks of operations refused for lack of a slot, run by the next dispatch.
    deferred: VecDeque<Box<dyn FnOnce()>>,
}

impl<X: Default> Table<X> {
    pub(crate) fn new(capacity: usize) -> Table<X> {
        Table {
            chunks: Vec::new(),
            cells: Cells::new(),
            free_head: NO_SLOT,
            capacity,
            used: 0,
            awaiting_os: 0,
            ready: VecDeque::with_capacity(capacity.min(1024)),
            undelivered: 0,
            silent: 0,
            own_task_woken: false,
            deferred: VecDeque::new(),
        }
    }

    /// The maximum number of operations in flight at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Operations whose OS completion has not arrived yet.
    #[inline]
    pub(crate) fn awaiting_os(&self) -> usize {
        self.awaiting_os
    }

    /// Operations whose result has not been handed over: still with the OS, completed with
    /// a callback, waker or detached handle the next dispatch must tell, or refused for lack
    /// of a slot with a callback still to run.
    #[inline]
    pub(crate) fn in_flight(&self) -> usize {
        self.awaiting_os + self.undelivered + self.deferred.len()
    }

    /// How many entries wait for dispatch now: one dispatch handles at most these, so that
    /// operations which callbacks submit and which finish at once wait for the next `run`.
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.ready.len() + self.deferred.len()
    }

    /// How many completions so far had no waiter to tell (see [`Waiter::None`]).
    #[inline]
    pub(crate) fn silent_completions(&self) -> u64 {
        self.silent
    }

    /// Whether completed operations wait to be dispatched.
    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty() || !self.deferred.is_empty()
    }

    /// Queues `callback` to run from the next dispatch (a callback must never run on the
    /// submitter's stack, or a chain of them could grow it without bound).
    pub(crate) fn defer(&mut self, callback: Box<dyn FnOnce()>) {
        self.deferred.push_back(callback);
    }

    #[inline]
    fn slot(&self, index: usize) -> &Slot {
        &self.chunks[index / CHUNK][index % CHUNK]
    }

    #[inline]
    fn slot_mut(&mut self, index: usize) -> &mut Slot {
        &mut self.chunks[index / CHUNK][index % CHUNK]
    }

    /// The slot of `key` if the key is current and the slot is occupied.
    #[inline]
    fn live(&mut self, key: Key) -> Option<&mut Slot> {
        live_slot(&mut self.chunks, key)
    }

    /// Stores `op` in a free slot, or gives it back if the table is full. `reserve`: the
    /// operation may use the reserve beyond the capacity (a cancel or close, so that a full
    /// driver can always cancel its way out). `finish` completes it once it is done (see
    /// [`FinishFn`]).
    #[inline]
    pub(crate) fn insert<T>(
        &mut self,
        op: T,
        waiter: Waiter,
        reserve: bool,
        finish: FinishFn,
    ) -> Result<Inserted<T, X>, (T, Waiter)> {
        let limit = if reserve {
            self.capacity + RESERVE
        } else {
            self.capacity
        };
        if self.used >= limit {
            return Err((op, waiter));
        }
        if self.free_head == NO_SLOT {
            self.grow();
        }
        let index = self.free_head as usize;
        let (storage, extra) = self.cells.get(index);
        // SAFETY: the slot is free, so neither the OS nor any pointer handed out uses its
        // backend data; it is initialised (every cell starts with a default).
        unsafe { *extra = X::default() };
        let slot = self.slot_mut(index);
        let next_free = slot.next_free;
        let fits = mem::size_of::<T>() <= INLINE_BYTES && mem::align_of::<T>() <= 16;
        let ptr = if fits {
            let ptr = storage.cast::<T>();
            // SAFETY: the storage is free, large enough and aligned for `T` (checked above).
            unsafe { ptr.write(op) };
            ptr
        } else {
            Box::into_raw(Box::new(op))
        };
        slot.op = ptr.cast();
        slot.boxed = !fits;
        slot.state = State::InFlight;
        slot.pending = 1;
        slot.timed_out = false;
        slot.cancel_requested = false;
        slot.result = None;
        slot.waiter = waiter;
        slot.finish = Some(finish);
        slot.on_item = None;
        let key = Key::new(index as u32, slot.generation);
        self.free_head = next_free;
        self.used += 1;
        self.awaiting_os += 1;
        Ok(Inserted {
            key,
            op: ptr,
            extra,
        })
    }

    fn grow(&mut self) {
        let base = self.chunks.len() * CHUNK;
        let chunk: Box<[Slot]> = (0..CHUNK)
            .map(|i| {
                let next = base + i + 1;
                Slot::new(if i + 1 == CHUNK { NO_SLOT } else { next as u32 })
            })
            .collect();
        self.chunks.push(chunk);
        self.cells.grow();
        self.free_head = base as u32;
    }

    /// Sets how many OS completions `key` still expects (2 when a linked deadline follows).
    pub(crate) fn set_pending(&mut self, key: Key, pending: u8) {
        if let Some(slot) = self.live(key) {
            slot.pending = pending;
        }
    }

    /// Records an OS completion for `key`.
    #[inline]
    pub(crate) fn complete(&mut self, key: Key, result: io::Result<u32>) {
        self.complete_cqe(key, result, 0);
    }

    /// Records the completion of the deadline the OS linked to `key`'s operation (a second
    /// expected completion, see [`set_pending`](Self::set_pending)): `fired` if the deadline
    /// passed and cancelled the operation, whose cancellation then reports `TimedOut`.
    #[inline]
    pub(crate) fn complete_deadline(&mut self, key: Key, fired: bool) {
        let Some(slot) = live_slot(&mut self.chunks, key) else {
            return;
        };
        if slot.state != State::InFlight {
            return;
        }
        slot.timed_out |= fired;
        slot.pending = slot.pending.saturating_sub(1);
        if slot.pending == 0 {
            let tell = slot.finish_os();
            self.tell(key, tell);
        }
    }

    /// Records an OS completion for `key` with lio's completion flags (see [`flags`]): a
    /// multishot operation takes each result as an item, and ends with the first result
    /// without `MORE`; a zero-copy send waits for its notification.
    #[inline]
    pub(crate) fn complete_cqe(&mut self, key: Key, mut result: io::Result<u32>, cqe_flags: u32) {
        let Some(slot) = live_slot(&mut self.chunks, key) else {
            return;
        };
        if slot.state != State::InFlight {
            return;
        }
        if let Some(on_item) = slot.on_item {
            // SAFETY: `on_item` was monomorphised for the type stored in this live slot,
            // which nothing else references during the call.
            unsafe { on_item(slot.op, result, cqe_flags) };
            if cqe_flags & flags::MORE != 0 {
                self.notify_item(key);
                return;
            }
            result = Ok(0);
        } else if cqe_flags & flags::MORE != 0 {
            // A zero-copy send: its notification completion follows.
            slot.pending += 1;
        } else if cqe_flags & flags::NOTIF != 0 {
            slot.pending = slot.pending.saturating_sub(1);
            if slot.pending == 0 {
                let tell = slot.finish_os();
                self.tell(key, tell);
            }
            return;
        }
        slot.result = Some(result);
        slot.pending = slot.pending.saturating_sub(1);
        if slot.pending == 0 {
            let tell = slot.finish_os();
            self.tell(key, tell);
        }
    }

    /// Tells the waiter of `key`, whose OS side just finished, per `tell`.
    #[inline]
    fn tell(&mut self, key: Key, tell: Tell) {
        self.awaiting_os -= 1;
        match tell {
            Tell::Silently { own_task } => {
                self.silent += 1;
                self.own_task_woken |= own_task;
            }
            Tell::Queue => {
                self.undelivered += 1;
                self.ready.push_back(key);
            }
        }
    }

    /// Completes `key` without the OS (an operation the engine finished at once, whose
    /// callback must still run from `run`).
    #[inline]
    pub(crate) fn complete_now(&mut self, key: Key, result: io::Result<u32>) {
        if let Some(slot) = self.live(key) {
            slot.pending = 1;
        }
        self.complete_cqe(key, result, 0);
    }

    /// The backend data of `key`, if it still waits for the OS.
    #[inline]
    pub(crate) fn waiting_extra(&mut self, key: Key) -> Option<&mut X> {
        match self.live(key) {
            Some(slot) if slot.state == State::InFlight => Some(self.extra_of(key)),
            _ => None,
        }
    }

    /// The backend data of `key`, if the key is current and its slot occupied.
    #[inline]
    pub(crate) fn live_extra(&mut self, key: Key) -> Option<&mut X> {
        self.live(key)?;
        Some(self.extra_of(key))
    }

    /// The backend data of the occupied slot of `key`.
    #[inline]
    fn extra_of(&mut self, key: Key) -> &mut X {
        // SAFETY: the slot is occupied, so its cell exists and is initialised; the backend
        // only writes it through the pointer it got at insertion while it holds no borrow
        // of the table, and the OS only reads it (a timespec), so for as long as this
        // borrow of the table lasts nothing else writes it.
        unsafe { &mut *self.cells.extra(key.index()) }
    }

    /// Keys of all operations still awaiting the OS.
    pub(crate) fn running_keys(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        for index in 0..self.chunks.len() * CHUNK {
            let slot = self.slot(index);
            if slot.state == State::InFlight {
                keys.push(Key::new(index as u32, slot.generation));
            }
        }
        keys
    }

    /// Pops the next completed key and says what to do about it.
    #[inline]
    pub(crate) fn next_action(&mut self) -> Option<(Key, Action)> {
        let Some(key) = self.ready.pop_front() else {
            let callback = self.deferred.pop_front()?;
            return Some((Key::none(), Action::Run(callback)));
        };
        let Some(slot) = live_slot(&mut self.chunks, key) else {
            return Some((key, Action::Nothing));
        };
        if slot.state != State::Completed && slot.on_item.is_none() {
            return Some((key, Action::Nothing));
        }
        if mem::take(&mut slot.undelivered) {
            self.undelivered -= 1;
        }
        let action = match mem::replace(&mut slot.waiter, Waiter::None) {
            Waiter::None | Waiter::OwnTask => Action::Nothing,
            Waiter::Task(waker) => Action::Wake(waker),
            waiter @ (Waiter::Callback(_) | Waiter::Stream(_) | Waiter::Detached) => {
                slot.waiter = waiter;
                match slot.finish {
                    Some(finish) => Action::Finish(finish),
                    None => Action::Nothing,
                }
            }
        };
        Some((key, action))
    }

    /// Takes the operation out of its slot and frees the slot, if `key` has completed.
    ///
    /// # Safety
    ///
    /// `key` must have been inserted with an operation of type `T`.
    #[inline]
    pub(crate) unsafe fn take_completed<T>(
        &mut self,
        key: Key,
    ) -> Option<(T, io::Result<u32>, Waiter)> {
        if self.live(key)?.state != State::Completed {
            return None;
        }
        // SAFETY: the slot is live and completed, and holds a `T` (caller's contract).
        let (op, result, waiter) = unsafe { self.vacate::<T>(key.index()) };
        Some((op, result.unwrap_or_else(|| Err(lost())), waiter))
    }

    /// Takes back an operation that finished before reaching the OS (see
    /// the backend's `start`), with its waiter, and frees the slot.
    ///
    /// # Safety
    ///
    /// `key` must have just been inserted with an operation of type `T` that the backend did
    /// not hand to the OS.
    pub(crate) unsafe fn take_unsubmitted<T>(&mut self, key: Key) -> (T, Waiter) {
        self.awaiting_os -= 1;
        // SAFETY: the slot was just filled with a `T` the OS never saw.
        let (op, _, waiter) = unsafe { self.vacate::<T>(key.index()) };
        (op, waiter)
    }

    /// Moves the operation out of slot `index` and frees the slot.
    ///
    /// # Safety
    ///
    /// The slot must be occupied by a `T` that the OS no longer (or never) references.
    #[inline]
    unsafe fn vacate<T>(&mut self, index: usize) -> (T, Option<io::Result<u32>>, Waiter) {
        let free_head = self.free_head;
        let slot = self.slot_mut(index);
        let ptr = slot.op.cast::<T>();
        // SAFETY: the slot holds an initialised `T` (caller's contract) which the OS does not
        // reference; we move it out exactly once and mark the slot free below.
        let op = unsafe { ptr.read() };
        if slot.boxed {
            // SAFETY: the pointer came from `Box::into_raw(Box<T>)`; the `T` was moved out
            // above, so free the allocation without dropping its contents again.
            drop(unsafe { Box::from_raw(ptr.cast::<MaybeUninit<T>>()) });
        }
        let result = slot.result.take();
        let waiter = mem::replace(&mut slot.waiter, Waiter::None);
        let undelivered = mem::take(&mut slot.undelivered);
        slot.state = State::Free;
        slot.finish = None;
        slot.op = std::ptr::null_mut();
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        slot.next_free = free_head;
        self.free_head = index as u32;
        self.used -= 1;
        self.undelivered -= usize::from(undelivered);
        debug_assert!(
            self.undelivered + self.awaiting_os <= self.used,
            "lio: table counts exceed its occupied slots"
        );
        (op, result, waiter)
    }

    /// Whether any slot still holds an operation the OS may touch.
    pub(crate) fn has_running(&self) -> bool {
        self.awaiting_os > 0
    }
}

impl<X> Drop for Table<X> {
    fn drop(&mut self) {
        if self.awaiting_os > 0 {
            // The OS may still write into these slots' buffers: leak them rather than free
            // memory it can reach. The driver only gets here if cancelling timed out.
            mem::forget(mem::take(&mut self.chunks));
            self.cells.leak();
        }
    }
}

/// The error an operation reports when its deadline passed first.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "lio: operation deadline passed")
}

fn lost() -> io::Error {
    io::Error::other("lio: completion carried no result")
}

/// The error a submission reports when the in-flight table is full.
pub(crate) fn table_full(capacity: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!("lio: {capacity} operations already in flight (the driver's capacity); run the driver and retry"),
    )
}
