//! [`BufPool`]: provided buffers for multishot receives, and [`PooledBuf`], one piece of
//! received data that returns its buffer to the pool when dropped.
//!
//! On io_uring the pool is a registered buffer ring: the kernel picks a free buffer when
//! data arrives, and lio puts buffers back on the ring as their last [`PooledBuf`] is
//! dropped. Where the kernel supports incremental consumption (Linux 6.12) a buffer holds
//! several consecutive pieces, so small messages do not each use up a whole buffer. On epoll
//! the pool is a free list the engine takes a buffer from for each `recv`.

use crate::driver::{Lio, Shared};
use crate::sys::BufRing;
use crate::sys::Engine as _;
use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};

/// The largest number of buffers in a pool (the kernel's buffer ring limit).
pub const MAX_BUFFERS: u16 = 1 << 15;

/// A pool of equally sized buffers that multishot receives fill
/// ([`RecvMulti`](crate::op::RecvMulti)).
///
/// Cloning gives another handle to the same pool. The memory lives until the last handle,
/// the last [`PooledBuf`] and the last operation using it are gone. A pool belongs to the
/// driver it was made for; using it with another driver is an `InvalidInput` error.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lio = lio::Lio::new()?;
/// let pool = lio::buf::BufPool::new(&lio, 64, 4096)?;
/// assert_eq!((pool.len(), pool.available(), pool.buf_size()), (64, 64, 4096));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BufPool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    memory: NonNull<u8>,
    layout: Layout,
    size: u32,
    count: u16,
    states: Box<[Cell<BufState>]>,
    /// Buffers neither free nor selectable by the kernel: held by the user, or fully
    /// consumed by the kernel and not returned yet.
    out: Cell<usize>,
    /// The driver this pool belongs to (only its address is compared).
    driver: Weak<Shared>,
    provider: Provider,
}

/// Where free buffers wait.
enum Provider {
    /// io_uring: a registered ring the kernel takes buffers from.
    Ring(BufRing),
    /// The readiness engine: free buffer ids, taken by its `recv`.
    List(RefCell<Vec<u16>>),
}

#[derive(Clone, Copy, Default)]
struct BufState {
    /// Live [`PooledBuf`]s on this buffer.
    users: u32,
    /// The kernel (or the engine) has let go of the buffer: it returns to the pool once
    /// `users` drops to 0.
    released: bool,
    /// Where the next piece starts (incremental consumption).
    offset: u32,
}

impl BufPool {
    /// Makes a pool of `count` buffers of `size` bytes each for `driver` (on io_uring,
    /// registers a buffer ring; Linux 5.19).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `count` is 0 or above [`MAX_BUFFERS`], if `size` is 0 or above
    /// 2 GiB, or if the pool would not fit in memory; the kernel's error if it refuses the
    /// buffer ring.
    pub fn new(driver: &Lio, count: u16, size: u32) -> io::Result<BufPool> {
        if count == 0 || count > MAX_BUFFERS {
            return Err(invalid(format!(
                "lio: a buffer pool holds 1 to {MAX_BUFFERS} buffers, not {count}"
            )));
        }
        if size == 0 || size > 1 << 31 {
            return Err(invalid(format!(
                "lio: pool buffers hold 1 byte to 2 GiB, not {size} bytes"
            )));
        }
        let layout = usize::from(count)
            .checked_mul(size as usize)
            .and_then(|total| Layout::from_size_align(total, 4096).ok())
            .ok_or_else(|| invalid(format!("lio: {count} buffers of {size} bytes are too many")))?;
        // SAFETY: the layout has a non-zero size (count and size are at least 1).
        let memory = NonNull::new(unsafe { std::alloc::alloc(layout) }).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "lio: cannot allocate a buffer pool",
            )
        })?;
        let ring = driver.shared.register_buf_ring(count);
        let provider = match ring {
            Ok(Some(ring)) => Provider::Ring(ring),
            Ok(None) => Provider::List(RefCell::new((0..count).rev().collect())),
            Err(e) => {
                // SAFETY: allocated above with this layout and not shared yet.
                unsafe { std::alloc::dealloc(memory.as_ptr(), layout) };
                return Err(e);
            }
        };
        let pool = PoolInner {
            memory,
            layout,
            size,
            count,
            states: (0..count).map(|_| Cell::default()).collect(),
            out: Cell::new(0),
            driver: Rc::downgrade(&driver.shared),
            provider,
        };
        if let Provider::Ring(ring) = &pool.provider {
            for id in 0..count {
                ring.push(pool.addr(id), size, id);
            }
            ring.publish();
        }
        Ok(BufPool {
            inner: Rc::new(pool),
        })
    }

    /// How many buffers the pool has.
    pub fn len(&self) -> usize {
        usize::from(self.inner.count)
    }

    /// Always `false`: a pool has at least one buffer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.inner.size as usize
    }

    /// How many buffers are free for arriving data (not held by [`PooledBuf`]s). With
    /// incremental consumption, a partly filled buffer the kernel still uses counts as free.
    pub fn available(&self) -> usize {
        self.len() - self.inner.out.get()
    }

    /// Whether the kernel consumes buffers incrementally (io_uring on Linux 6.12 and later),
    /// packing consecutive pieces of data into one buffer.
    pub fn is_incremental(&self) -> bool {
        matches!(&self.inner.provider, Provider::Ring(ring) if ring.incremental())
    }

    /// Whether this pool was made for the driver behind `shared`.
    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        std::ptr::eq(self.inner.driver.as_ptr(), shared)
    }

    /// The buffer group id the pool's ring is registered under (io_uring only).
    pub(crate) fn group(&self) -> Option<u16> {
        match &self.inner.provider {
            Provider::Ring(ring) => Some(ring.group()),
            Provider::List(_) => None,
        }
    }

    /// Takes a free buffer for the readiness engine's `recv`: its id and address.
    pub(crate) fn take_free(&self) -> Option<(u16, *mut u8)> {
        let Provider::List(free) = &self.inner.provider else {
            return None;
        };
        let id = free.borrow_mut().pop()?;
        let pool = &self.inner;
        pool.out.set(pool.out.get() + 1);
        pool.update(id, |state| state.released = true);
        Some((id, pool.addr(id)))
    }

    /// Puts back a buffer from [`take_free`](Self::take_free) that received nothing.
    pub(crate) fn put_back(&self, id: u16) {
        self.inner.recycle(id);
    }

    /// Wraps `len` bytes the OS put in buffer `id` as a [`PooledBuf`]. `more`: the kernel
    /// keeps filling the rest of the buffer (incremental consumption).
    ///
    /// `len` is clamped to the room left in the buffer (a count beyond it, which only a
    /// `MSG_TRUNC`-style report could give, names bytes that were never stored), and the
    /// buffer is accounted for either way, so that it returns to the pool.
    pub(crate) fn take(&self, id: u16, len: u32, more: bool) -> io::Result<PooledBuf> {
        let pool = &self.inner;
        let Some(mut state) = pool.states.get(usize::from(id)).map(Cell::get) else {
            return Err(io::Error::other(format!(
                "lio: the OS named pool buffer {id}, which does not exist (the pool has {})",
                pool.count
            )));
        };
        let room = pool.size.saturating_sub(state.offset);
        debug_assert!(
            len <= room,
            "lio: the OS reported {len} bytes in pool buffer {id}, which has {room} left"
        );
        let len = len.min(room);
        let offset = state.offset;
        state.users += 1;
        if self.is_incremental() {
            state.offset += len;
        }
        if !more && !state.released {
            state.released = true;
            pool.out.set(pool.out.get() + 1);
        }
        pool.states[usize::from(id)].set(state);
        Ok(PooledBuf {
            pool: self.inner.clone(),
            id,
            offset,
            len,
        })
    }
}

impl PoolInner {
    fn addr(&self, id: u16) -> *mut u8 {
        // SAFETY: `id < count`, so the offset stays inside the allocation.
        unsafe {
            self.memory
                .as_ptr()
                .add(usize::from(id) * self.size as usize)
        }
    }

    fn update(&self, id: u16, change: impl FnOnce(&mut BufState)) {
        let cell = &self.states[usize::from(id)];
        let mut state = cell.get();
        change(&mut state);
        cell.set(state);
    }

    /// Returns buffer `id` to the kernel or the free list.
    fn recycle(&self, id: u16) {
        self.states[usize::from(id)].set(BufState::default());
        self.out.set(self.out.get() - 1);
        match &self.provider {
            Provider::Ring(ring) => {
                ring.push(self.addr(id), self.size, id);
                ring.publish();
            }
            Provider::List(free) => free.borrow_mut().push(id),
        }
    }

    /// A [`PooledBuf`] on buffer `id` was dropped.
    fn release(&self, id: u16) {
        let mut state = self.states[usize::from(id)].get();
        state.users -= 1;
        if state.users == 0 && state.released {
            self.recycle(id);
        } else {
            self.states[usize::from(id)].set(state);
        }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Only operations that hold this pool name its buffer group, and the last of them
        // has completed: the kernel no longer takes buffers from the ring, so the memory can
        // go. Unregistering frees the kernel's side and the group id for reuse; if the
        // driver is busy (a pool dropped inside a driver step) the next pool's registration
        // does it first, and if the driver is gone, so is the ring.
        if let Provider::Ring(ring) = &self.provider {
            if let Some(shared) = self.driver.upgrade() {
                let group = ring.group();
                let done = shared.try_with_inner(|engine, _| engine.unregister_buf_ring(group));
                if done.is_none() {
                    shared.unregister_later(group);
                }
            }
        }
        // SAFETY: allocated in `BufPool::new` with this layout; no `PooledBuf` (each holds
        // the pool) and no operation (each holds a `BufPool`) refers to it any more.
        unsafe { std::alloc::dealloc(self.memory.as_ptr(), self.layout) };
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("len", &self.len())
            .field("buf_size", &self.buf_size())
            .field("available", &self.available())
            .field("incremental", &self.is_incremental())
            .finish()
    }
}

/// Received data in a buffer of a [`BufPool`]; dereferences to the bytes. Dropping it
/// returns the buffer to the pool (once every piece sharing the buffer is dropped, with
/// incremental consumption).
///
/// It is an [`IoBuf`](super::IoBuf), so it can be sent on as it is, e.g. echoed back.
///
/// Not `Send`: copy the bytes out to hand them to another thread.
pub struct PooledBuf {
    pool: Rc<PoolInner>,
    id: u16,
    offset: u32,
    len: u32,
}

impl PooledBuf {
    /// The id of the pool buffer holding the data.
    pub fn buffer_id(&self) -> u16 {
        self.id
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the OS wrote `len` bytes at `offset` in buffer `id` (checked against the
        // buffer's size in `BufPool::take`) before reporting them, and nothing writes there
        // until this piece is dropped and the buffer recycled; the pool memory lives while
        // `self.pool` does.
        unsafe {
            std::slice::from_raw_parts(
                self.pool.addr(self.id).add(self.offset as usize),
                self.len as usize,
            )
        }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.release(self.id);
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("buffer_id", &self.id)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the bytes are on the pool's heap allocation, which the `Rc` keeps alive and in
// place while the `PooledBuf` moves, and they do not change until it is dropped.
unsafe impl super::IoBuf for PooledBuf {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len as usize
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
