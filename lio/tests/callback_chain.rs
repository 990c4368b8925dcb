//! Callbacks may submit new operations, and chains of such submissions run in constant stack
//! space: a chain of 10,000 no-ops (each callback submits the next) completes, a chain of
//! 10,000 operations that complete inline at submission runs one link per `run` (fairness:
//! a `run` handles what was ready when it started) without recursing, a chain works on a driver with room for one operation (the slot is free before
//! the callback runs), and a callback may itself block on, or run, the driver. Every test
//! runs on each backend.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::backend_tests;
use lio::op::OpenOptions;
use lio::{Backend, Lio, Resource};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

backend_tests!(
    chain_of_10000_nops_each_submitted_from_the_previous_callback,
    chain_of_10000_inline_completions_takes_one_run_per_link_without_recursion,
    chain_on_a_driver_with_capacity_one,
    callback_may_wait_and_run_the_driver,
);

const CHAIN: usize = 10_000;

/// Runs `f` on a thread with a small stack (256 KiB): a chain that recursed once per link
/// would overflow it (and abort the test binary).
fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Shared state of a chain: links done, and the lowest and highest stack address seen in a
/// callback.
#[derive(Default)]
struct Chain {
    done: Cell<usize>,
    low: Cell<usize>,
    high: Cell<usize>,
}

impl Chain {
    fn link(&self) {
        let here = stack_pointer();
        if self.done.get() == 0 || here < self.low.get() {
            self.low.set(here);
        }
        self.high.set(self.high.get().max(here));
        self.done.set(self.done.get() + 1);
    }

    /// How far the stack moved between callbacks: a recursive chain grows it per link.
    fn stack_spread(&self) -> usize {
        self.high.get() - self.low.get()
    }
}

/// The current stack pointer (the address of a local elsewhere: AddressSanitizer may move
/// locals to a heap-allocated "fake stack", so the register is read where possible).
#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer register into a general register; it reads and
        // writes no memory and changes no flags.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer register into a general register; it reads and
        // writes no memory and changes no flags.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        std::hint::black_box(&marker) as *const u8 as usize
    }
}

fn nop_link(lio: &Lio, chain: Rc<Chain>) {
    let next = lio.clone();
    lio.nop().when_done(move |result| {
        result.expect("nop");
        chain.link();
        if chain.done.get() < CHAIN {
            nop_link(&next, chain);
        }
    });
}

fn run_until(lio: &Lio, chain: &Chain, target: usize) -> usize {
    let start = Instant::now();
    let mut runs = 0;
    while chain.done.get() < target {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "chain stalled at {}",
            chain.done.get()
        );
        lio.run().expect("run");
        runs += 1;
    }
    runs
}

fn chain_of_10000_nops_each_submitted_from_the_previous_callback(backend: Backend) {
    on_small_stack(move || {
        let lio = common::driver(backend);
        let chain = Rc::new(Chain::default());
        nop_link(&lio, chain.clone());
        let runs = run_until(&lio, &chain, CHAIN);
        assert_eq!(chain.done.get(), CHAIN);
        assert_eq!(lio.in_flight(), 0);
        assert_eq!(lio.run().unwrap(), 0, "nothing left to do");
        eprintln!(
            "{CHAIN} links in {runs} runs; stack spread {} bytes",
            chain.stack_spread()
        );
        assert!(chain.stack_spread() < 16 * 1024, "callbacks recurse");
    });
}

fn write_link(lio: &Lio, file: Resource, chain: Rc<Chain>) {
    let next = lio.clone();
    let offset = chain.done.get() as u64;
    lio.write_at(&file, vec![b'x'], offset)
        .when_done(move |(result, _buf)| {
            assert_eq!(result.expect("write"), 1);
            chain.link();
            if chain.done.get() < CHAIN {
                write_link(&next, file, chain);
            }
        });
}

/// Small writes to a regular file complete inline at submission, so every link's successor
/// is ready before its callback returns; it waits for the next `run`, so each `run` handles
/// one link, and `run_until_idle` the whole chain.
fn chain_of_10000_inline_completions_takes_one_run_per_link_without_recursion(backend: Backend) {
    on_small_stack(move || {
        let path = std::env::temp_dir().join(format!(
            "lio-callback-chain-{}-{backend}",
            std::process::id()
        ));
        let lio = common::driver(backend);
        let file = lio
            .open(
                &path,
                &OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true),
            )
            .wait()
            .unwrap();
        let chain = Rc::new(Chain::default());
        write_link(&lio, file.clone(), chain.clone());
        assert_eq!(
            lio.run().unwrap(),
            1,
            "one run handles the link ready at its start"
        );
        assert_eq!(chain.done.get(), 1);
        let handled = lio.run_until_idle().unwrap();
        eprintln!(
            "{CHAIN} inline links: run_until_idle handled {handled}; stack spread {} bytes",
            chain.stack_spread()
        );
        assert_eq!(handled, CHAIN - 1);
        assert_eq!(lio.in_flight(), 0);
        assert_eq!(chain.done.get(), CHAIN);
        assert!(chain.stack_spread() < 16 * 1024, "callbacks recurse");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), CHAIN as u64);
        drop(file);
        std::fs::remove_file(&path).unwrap();
    });
}

/// With room for one operation, a callback can only submit its successor if the finished
/// operation's slot was freed before the callback ran.
fn chain_on_a_driver_with_capacity_one(backend: Backend) {
    let lio = common::checked(backend, common::builder(backend).capacity(1).build());
    let chain = Rc::new(Chain::default());
    let errors = Rc::new(Cell::new(0usize));
    fn link(lio: &Lio, chain: Rc<Chain>, errors: Rc<Cell<usize>>, left: usize) {
        let next = lio.clone();
        lio.nop().when_done(move |result| {
            if result.is_err() {
                errors.set(errors.get() + 1);
                return;
            }
            chain.link();
            if left > 1 {
                link(&next, chain, errors, left - 1);
            }
        });
    }
    link(&lio, chain.clone(), errors.clone(), 1000);
    let start = Instant::now();
    while chain.done.get() + errors.get() < 1000 && errors.get() == 0 {
        assert!(start.elapsed() < Duration::from_secs(30));
        lio.run().unwrap();
    }
    assert_eq!(errors.get(), 0, "a callback could not reuse its own slot");
    assert_eq!(chain.done.get(), 1000);
}

/// A callback may wait for another operation and may run the driver: callbacks run outside
/// any borrow of the driver.
fn callback_may_wait_and_run_the_driver(lio: &Lio) {
    let inner_done = Rc::new(Cell::new(0usize));
    let outer = Rc::new(Cell::new(false));
    let (l, i, o) = (lio.clone(), inner_done.clone(), outer.clone());
    lio.nop().when_done(move |result| {
        result.unwrap();
        // Blocking inside a callback.
        l.sleep(Duration::from_millis(1)).wait().unwrap();
        l.nop().wait().unwrap();
        // Running the driver inside a callback dispatches other callbacks.
        let i2 = i.clone();
        l.nop().when_done(move |r| {
            r.unwrap();
            i2.set(i2.get() + 1);
        });
        let start = Instant::now();
        while i.get() == 0 {
            assert!(start.elapsed() < Duration::from_secs(5));
            l.run().unwrap();
        }
        o.set(true);
    });
    let start = Instant::now();
    while !outer.get() {
        assert!(start.elapsed() < Duration::from_secs(5));
        lio.run().unwrap();
    }
    assert_eq!(inner_done.get(), 1);
    assert_eq!(lio.in_flight(), 0);
}
