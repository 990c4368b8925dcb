//! The epoll poller: every descriptor is registered once, edge-triggered, for both
//! directions, and stays registered (epoll drops it when the file is closed).

use rustix::event::epoll;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

/// Readiness reported for one registered descriptor.
pub(crate) struct Readiness {
    pub(crate) token: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer shut down its writing side, or the descriptor hung up or failed.
    pub(crate) read_closed: bool,
    /// The descriptor hung up or failed: writes will fail at once.
    pub(crate) write_closed: bool,
}

/// An epoll instance and its event buffer.
pub(crate) struct Epoll {
    fd: OwnedFd,
    events: Vec<epoll::Event>,
}

/// Longest single wait: epoll_wait's millisecond argument is a C int.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> io::Result<Epoll> {
        Ok(Epoll {
            fd: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(256),
        })
    }

    /// `epoll_ctl(ADD)` for reads and writes, edge-triggered, with `token` as the data;
    /// a descriptor number epoll still has registered (a stale registration of a closed
    /// `Resource` whose file lives on elsewhere) is updated with `MOD` instead.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        let data = epoll::EventData::new_u64(token);
        match epoll::add(&self.fd, fd, data, flags) {
            Err(rustix::io::Errno::EXIST) => Ok(epoll::modify(&self.fd, fd, data, flags)?),
            other => Ok(other?),
        }
    }

    /// `epoll_wait` for at most `timeout` (`None`: until an event), calling `each` per
    /// event. `EINTR` returns with no events.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        mut each: impl FnMut(Readiness),
    ) -> io::Result<()> {
        let timespec = timeout.map(|d| {
            let d = d.min(MAX_WAIT);
            rustix::event::Timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: i64::from(d.subsec_nanos()),
            }
        });
        self.events.clear();
        let spare = rustix::buffer::spare_capacity(&mut self.events);
        match epoll::wait(&self.fd, spare, timespec.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for event in &self.events {
            let flags = event.flags;
            let error = flags.intersects(epoll::EventFlags::ERR | epoll::EventFlags::HUP);
            each(Readiness {
                token: event.data.u64(),
                readable: error
                    || flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::RDHUP),
                writable: error || flags.contains(epoll::EventFlags::OUT),
                read_closed: error || flags.contains(epoll::EventFlags::RDHUP),
                write_closed: error,
            });
        }
        Ok(())
    }
}
