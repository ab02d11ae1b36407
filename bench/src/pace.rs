// SPDX-License-Identifier: GPL-2.0

//! State shared by the reader and the writer of one case: pacing (the
//! reader tells the writer its reads are armed), the stop round, the abort
//! flag, and the send times of messages that cannot carry them.
//!
//! Pacing costs the same for every method: in busy mode the writer spins on
//! an atomic (no system call on either side); in sleep mode it sleeps on a
//! futex and the reader wakes it (one `futex(FUTEX_WAKE)` per round on the
//! reader's side, one voluntary switch per round on the writer's side).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::sys::{futex_wait, futex_wake};

/// Send times are kept for this many rounds per channel (paced kinds have
/// one round in flight).
const TS_SLOTS: usize = 4096;

/// The error of an operation cut short by [`Shared::abort`].
pub const ABORTED: &str = "aborted";

/// See the module documentation.
pub struct Shared {
    abort: AtomicBool,
    stop_round: AtomicU64,
    armed: AtomicU32,
    writer_waiting: AtomicU32,
    spin: bool,
    sent_ts: Vec<AtomicU64>,
}

impl Shared {
    /// State for `channels` channels; `spin`: the writer busy-waits.
    pub fn new(channels: usize, spin: bool) -> Shared {
        Shared {
            abort: AtomicBool::new(false),
            stop_round: AtomicU64::new(u64::MAX),
            armed: AtomicU32::new(0),
            writer_waiting: AtomicU32::new(0),
            spin,
            sent_ts: (0..channels * TS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Asks both sides to stop (they return [`ABORTED`]).
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        futex_wake(&self.armed);
    }

    /// Whether [`Shared::abort`] was called.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Reader: one more round is armed.
    pub fn ack(&self) {
        self.armed.fetch_add(1, Ordering::SeqCst);
        // Dekker with the writer: it sets `writer_waiting` then re-reads
        // `armed`; we bump `armed` then read `writer_waiting`. SeqCst makes
        // sure at least one side sees the other.
        if !self.spin && self.writer_waiting.load(Ordering::SeqCst) != 0 {
            futex_wake(&self.armed);
        }
    }

    /// Writer: waits until `rounds` rounds have been armed.
    pub fn wait_armed(&self, rounds: u32) -> Result<(), String> {
        let reached = |v: u32| v.wrapping_sub(rounds) as i32 >= 0;
        loop {
            if reached(self.armed.load(Ordering::Acquire)) {
                return Ok(());
            }
            if self.aborted() {
                return Err(ABORTED.into());
            }
            if self.spin {
                std::hint::spin_loop();
                continue;
            }
            self.writer_waiting.store(1, Ordering::SeqCst);
            let v = self.armed.load(Ordering::SeqCst);
            if !reached(v) && !self.aborted() {
                // Bounded so that an abort is noticed even without a wake.
                futex_wait(&self.armed, v, 100_000_000);
            }
            self.writer_waiting.store(0, Ordering::Relaxed);
        }
    }

    /// Writer: `round` is the last one (its messages are terminators).
    /// Stored before the terminators are sent, so a reader that reads one
    /// sees it.
    pub fn set_stop(&self, round: u64) {
        self.stop_round.store(round, Ordering::SeqCst);
    }

    /// The last round, or `u64::MAX` while the writer goes on.
    pub fn stop_round(&self) -> u64 {
        self.stop_round.load(Ordering::SeqCst)
    }

    /// Writer: records the send time of message `seq` of channel `ch`.
    pub fn record_ts(&self, ch: usize, seq: u64, ts: u64) {
        self.sent_ts[ch * TS_SLOTS + seq as usize % TS_SLOTS].store(ts, Ordering::Release);
    }

    /// Reader: the send time of message `seq` of channel `ch` (valid while
    /// fewer than 4096 messages are in flight).
    pub fn sent_ts(&self, ch: usize, seq: u64) -> u64 {
        self.sent_ts[ch * TS_SLOTS + seq as usize % TS_SLOTS].load(Ordering::Acquire)
    }
}
