//! The OS errors the portable layers construct or recognise, without naming `libc`.

use std::io;

/// The error of an operation that was cancelled (`ECANCELED`).
pub(crate) fn canceled() -> io::Error {
    io::Error::from_raw_os_error(libc::ECANCELED)
}

/// Whether `error` says the operation was cancelled (`ECANCELED`).
#[inline]
pub(crate) fn is_canceled(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ECANCELED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canceled_is_recognised() {
        assert!(is_canceled(&canceled()));
        assert!(!is_canceled(&io::Error::from_raw_os_error(libc::EINTR)));
        assert!(!is_canceled(&io::Error::other("not an OS error")));
    }
}
