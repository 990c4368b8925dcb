//! Operations that wait outside the kernel: queued in a lane behind the operation the kernel
//! has, or on the blocking pool. Their deadlines live on the engine's timer heap (the kernel's
//! linked timeouts only cover what reached it); a lane's next operation is submitted when
//! the one in the kernel completes; a cancel of a queued operation never reaches the kernel.

use super::Uring;
use crate::pal;
use crate::sys::timers::TimerKind;
use crate::sys::{Location, Locations, Table};
use crate::table::{timed_out, Key};
use std::io;
use std::time::{Duration, Instant};

impl Uring {
    /// Arms the timer-heap deadline of an operation that waits outside the kernel.
    pub(super) fn arm_deadline(&mut self, key: Key, deadline: Option<Duration>) {
        if let Some(at) = deadline.and_then(|d| Instant::now().checked_add(d)) {
            self.timers.add(at, key, TimerKind::Deadline);
        }
    }

    /// Fails with `TimedOut` the operations whose deadline passed while they waited in a
    /// lane or in the pool's queue (a pool job already running finishes first, as on the
    /// readiness engine).
    pub(super) fn fire_timers(&mut self, table: &mut Table) {
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some((key, _)) = self.timers.pop_due(now) {
            match table.location(key) {
                Some(Location::Lane(fd, interest)) => {
                    table.complete(key, Err(timed_out()));
                    self.lanes.remove_one((fd, interest), |k| {
                        table.location(k) == Some(Location::Lane(fd, interest))
                    });
                }
                Some(Location::Pool) if self.pool.cancel(key) => {
                    table.complete(key, Err(timed_out()));
                }
                _ => {}
            }
        }
        let bound = table.awaiting_os();
        self.timers.compact(bound, |key| {
            matches!(
                table.location(key),
                Some(Location::Lane(..) | Location::Pool)
            )
        });
    }

    /// Submits the next queued operation of each lane whose kernel operation finished; an
    /// operation whose deadline passed while it queued fails with `TimedOut` instead.
    pub(super) fn advance_lanes(&mut self, table: &mut Table) {
        let finished = self.lanes.take_finished();
        for &lane in &finished {
            let queued = Some(Location::Lane(lane.0, lane.1));
            while let Some(waiting) = self.lanes.next(lane, |k| table.location(k) == queued) {
                table.set_location(waiting.key, Location::Fd(lane.0, lane.1));
                let after = match waiting.deadline {
                    None => None,
                    Some(at) => match at.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => Some(left),
                        _ => {
                            table.complete(waiting.key, Err(timed_out()));
                            continue;
                        }
                    },
                };
                self.submit(table, waiting, after);
                break;
            }
        }
        self.lanes.restore_finished(finished);
    }

    /// Cancels `target` if it waits in a lane (it never reached the kernel), in O(1).
    /// `Some(Ok(0))` if it did; `None` if it is not queued.
    pub(super) fn cancel_queued(
        &mut self,
        table: &mut Table,
        target: Key,
    ) -> Option<io::Result<u32>> {
        let Some(Location::Lane(fd, interest)) = table.location(target) else {
            return None;
        };
        table.complete(target, Err(pal::canceled()));
        let queued = Some(Location::Lane(fd, interest));
        self.lanes
            .remove_one((fd, interest), |k| table.location(k) == queued);
        Some(Ok(0))
    }
}
