//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): a page-aligned array of buffer
//! descriptors the kernel takes buffers from, with a tail lio advances as it returns them.

use io_uring::types::BufRingEntry;
use std::alloc::Layout;
use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// One buffer ring, registered with one io_uring under a buffer group id.
pub(crate) struct BufRing {
    entries: NonNull<BufRingEntry>,
    layout: Layout,
    mask: u16,
    /// The tail as lio has written it; the kernel sees it after [`publish`](Self::publish).
    tail: Cell<u16>,
    group: u16,
    incremental: bool,
}

impl BufRing {
    /// Allocates a zeroed ring with room for `count` buffers (rounded up to a power of two).
    pub(super) fn allocate(count: u16, group: u16) -> io::Result<BufRing> {
        let slots = count.next_power_of_two();
        let layout = Layout::array::<BufRingEntry>(usize::from(slots))
            .and_then(|layout| layout.align_to(4096))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: the layout is non-zero (at least one 16-byte entry).
        let entries = unsafe { std::alloc::alloc_zeroed(layout) };
        let entries = NonNull::new(entries.cast::<BufRingEntry>()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "lio: cannot allocate a buffer ring",
            )
        })?;
        Ok(BufRing {
            entries,
            layout,
            mask: slots - 1,
            tail: Cell::new(0),
            group,
            incremental: false,
        })
    }

    /// The ring's address and size, for registration.
    pub(super) fn registration(&self) -> (u64, u16) {
        (self.entries.as_ptr() as u64, self.mask + 1)
    }

    /// Records that the kernel consumes this ring's buffers incrementally.
    pub(super) fn set_incremental(&mut self) {
        self.incremental = true;
    }

    /// The buffer group id the ring is registered under.
    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// Whether the kernel consumes buffers incrementally (`IOU_PBUF_RING_INC`).
    pub(crate) fn incremental(&self) -> bool {
        self.incremental
    }

    /// Writes buffer `id` (`len` bytes at `addr`) at the tail; the kernel sees it after
    /// [`publish`](Self::publish). The caller never has more buffers out than the ring holds.
    pub(crate) fn push(&self, addr: *mut u8, len: u32, id: u16) {
        let tail = self.tail.get();
        let index = usize::from(tail & self.mask);
        // SAFETY: `index` is within the ring's `mask + 1` entries; the kernel only reads
        // entries between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        entry.set_addr(addr as u64);
        entry.set_len(len);
        entry.set_bid(id);
        self.tail.set(tail.wrapping_add(1));
    }

    /// Makes the pushed buffers visible to the kernel.
    pub(crate) fn publish(&self) {
        let base = self.entries.as_ptr();
        // SAFETY: the tail field overlays the reserved field of entry 0, inside the live ring,
        // aligned for a u16, and only ever accessed atomically (by the kernel too); the
        // kernel reads it with acquire ordering, so a release store orders the entries
        // written before it.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(base).cast_mut()) };
        tail.store(self.tail.get(), Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `allocate` with this layout. The pool drops the ring once no
        // operation names its buffer group any more, so the kernel no longer reads it.
        unsafe { std::alloc::dealloc(self.entries.as_ptr().cast(), self.layout) };
    }
}
