//! The one `EINTR` loop, and the conversion of a raw system-call return into a result.

use std::io;

/// A raw system call's return as a result: a non-negative count or value, or the OS error
/// (`errno`) when it returned a negative value.
#[inline]
pub(crate) fn cvt(ret: isize) -> io::Result<u32> {
    if ret >= 0 {
        // Counts are at most MAX_RW and values (descriptors) fit in 32 bits.
        Ok(ret as u32)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs `call` until it does not fail with `EINTR` (`ErrorKind::Interrupted`).
#[inline]
pub(crate) fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A raw system call, retried on `EINTR`: [`retry_eintr`] over [`cvt`].
#[inline]
pub(crate) fn syscall(mut call: impl FnMut() -> isize) -> io::Result<u32> {
    retry_eintr(|| cvt(call()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_calls_are_retried_and_other_errors_returned() {
        let mut attempts = 0;
        let result = retry_eintr(|| {
            attempts += 1;
            match attempts {
                1 | 2 => Err(io::Error::from(io::ErrorKind::Interrupted)),
                _ => Ok(attempts),
            }
        });
        assert_eq!(result.unwrap(), 3);
        let failed: io::Result<()> = retry_eintr(|| Err(io::Error::from_raw_os_error(9)));
        assert_eq!(failed.unwrap_err().raw_os_error(), Some(9));
        assert_eq!(cvt(7).unwrap(), 7);
    }
}
