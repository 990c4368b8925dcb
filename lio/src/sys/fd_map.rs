//! [`FdMap`]: a hash map keyed by descriptor numbers (with a direction, for the lanes) or
//! operation keys, hashed with one multiplication per word instead of SipHash.
//!
//! Descriptors and keys are small, dense and chosen by the kernel or the table, not by an
//! attacker, so SipHash's flood resistance buys nothing on these per-operation paths.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FdHasher`].
pub(crate) type FdMap<K, V> = HashMap<K, V, BuildHasherDefault<FdHasher>>;

/// Multiplicative (Fibonacci) hashing, folding each word into the state.
#[derive(Default)]
pub(crate) struct FdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl FdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.add(u64::from(byte));
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.add(u64::from(n as u32));
    }

    fn write_isize(&mut self, n: isize) {
        self.add(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
