//! [`Key`]: the name of one submitted operation, safe against slot reuse.

/// Names no slot (a key made with it finds nothing).
pub(super) const NO_SLOT: u32 = u32::MAX;
/// The bits of a slot's generation (bit 63 of a key stays free for backend tags).
pub(super) const GENERATION_MASK: u32 = 0x7fff_ffff;

/// Identifies one submitted operation: slot index in the low 32 bits, generation above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u64);

impl Key {
    /// A key that names no slot (cancelling it finds nothing).
    pub(crate) fn none() -> Key {
        Key::new(NO_SLOT, 0)
    }

    #[inline]
    pub(super) fn new(index: u32, generation: u32) -> Key {
        Key(u64::from(generation) << 32 | u64::from(index))
    }
    #[inline]
    pub(super) fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    #[inline]
    pub(super) fn generation(self) -> u32 {
        (self.0 >> 32) as u32 & GENERATION_MASK
    }
    /// The key as the kernel's `user_data` (bit 63 is free for the backend's tags).
    #[inline]
    pub(crate) fn to_user_data(self) -> u64 {
        self.0
    }
    /// Reads a key back from `user_data`, ignoring the backend's tag bits.
    #[inline]
    pub(crate) fn from_user_data(data: u64) -> Key {
        Key(data & !(1 << 63))
    }
}
