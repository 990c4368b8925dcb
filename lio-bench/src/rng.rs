//! A deterministic random number generator for benchmark offsets.

/// Marsaglia's xorshift64: fast and deterministic, so every stack reads the same offsets.
pub struct XorShift(u64);

impl XorShift {
    /// The seed every run starts from, so that all stacks see the same offset sequence.
    pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A generator starting at `seed` (zero, where xorshift would stay, is replaced).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 { Self::SEED } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A random multiple of `block` in `[0, len)`; `len` must be a non-zero multiple of it.
    pub fn aligned_offset(&mut self, len: u64, block: u64) -> u64 {
        self.next_u64() % (len / block) * block
    }
}
