//! Pinning threads to CPUs, so that the server and the client of a run each have a core.

use std::io;
use std::mem;

/// The CPUs the server and the client run on, or why they are not pinned.
#[derive(Clone, Copy, Debug)]
pub enum Placement {
    /// The server thread runs on the first CPU, the client on the second.
    Pinned {
        /// The server's CPU.
        server: usize,
        /// The client's CPU.
        client: usize,
    },
    /// Both run where the scheduler puts them, for the reason given.
    Unpinned(&'static str),
}

impl Placement {
    /// The first two CPUs this process may run on, or `Unpinned` if there are fewer.
    pub fn choose() -> Placement {
        let allowed = match allowed_cpus() {
            Ok(allowed) => allowed,
            Err(_) => return Placement::Unpinned("sched_getaffinity failed"),
        };
        match allowed[..] {
            [server, client, ..] => Placement::Pinned { server, client },
            _ => Placement::Unpinned("fewer than 2 CPUs allowed"),
        }
    }

    /// Pins the calling thread to the server's CPU, if any.
    pub fn pin_server(&self) -> io::Result<()> {
        match *self {
            Placement::Pinned { server, .. } => pin(server),
            Placement::Unpinned(_) => Ok(()),
        }
    }

    /// Pins the calling thread to the client's CPU, if any.
    pub fn pin_client(&self) -> io::Result<()> {
        match *self {
            Placement::Pinned { client, .. } => pin(client),
            Placement::Unpinned(_) => Ok(()),
        }
    }
}

/// The CPUs the calling thread may run on, in increasing order (`sched_getaffinity`).
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero `cpu_set_t` is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a writable `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// Restricts the calling thread to `cpu` (`sched_setaffinity`).
fn pin(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero `cpu_set_t` is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed_cpus`, so it is below `CPU_SETSIZE`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, mem::size_of_val(&set), &set) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("pinning to CPU {cpu}: {e}"),
        ));
    }
    Ok(())
}
