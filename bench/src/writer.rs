// SPDX-License-Identifier: GPL-2.0

//! The writer's side of a case: per round, one message to each channel,
//! each stamped with `CLOCK_MONOTONIC` just before its system call. In
//! paced kinds it first waits for the reader to arm the round, and measures
//! the CPU time its sends take (`CLOCK_THREAD_CPUTIME_ID` around them): on
//! the inline path that includes the read and the completion it does for the
//! reader. The last round's messages are terminators.

use crate::pace::{Shared, ABORTED};
use crate::sys::{now_ns, thread_cpu_ns, Usage};
use crate::types::Channel;

/// What the writer is given.
pub struct WriterCtx<'a> {
    /// The channels, one per file (K).
    pub chans: &'a [Box<dyn Channel>],
    /// Pacing and stop state.
    pub shared: &'a Shared,
    /// Whether to wait for each round to be armed.
    pub paced: bool,
    /// Rounds left out of the figures.
    pub warm_rounds: u64,
    /// Rounds after the warm-up, at most.
    pub rounds: u64,
    /// Time budget.
    pub budget_ns: u64,
    /// Leave out this message of channel 0 (harness self-test).
    pub lose: Option<u64>,
}

/// What the writer measured.
pub struct WriterOut {
    /// Resource usage over the measured interval.
    pub usage: Usage,
    /// Messages sent in that interval, terminators included.
    pub interval_msgs: u64,
    /// CPU time spent in the sends of that interval (paced kinds).
    pub send_cpu_ns: Option<u64>,
    /// Every message sent, terminators excluded.
    pub total_msgs: u64,
}

fn send(ch: &dyn Channel, shared: &Shared, seq: u64, ts: u64) -> Result<(), String> {
    loop {
        match ch.send(seq, ts) {
            Ok(()) => return Ok(()),
            Err((libc::EINTR, _)) if !shared.aborted() => continue,
            Err((libc::EINTR, _)) => return Err(ABORTED.into()),
            Err((_, m)) => return Err(m),
        }
    }
}

/// Runs the writer of a case.
pub fn run(cx: &WriterCtx) -> Result<WriterOut, String> {
    let k = cx.chans.len() as u64;
    if !cx.paced {
        // Start once the reader is ready, then never wait again.
        cx.shared.wait_armed(1)?;
    }
    let deadline = now_ns() + cx.budget_ns;
    let last = cx.warm_rounds + cx.rounds;
    let mut start = None;
    let mut send_cpu = 0u64;
    let mut r = 0u64;
    loop {
        if r == cx.warm_rounds {
            start = Some(Usage::now());
        }
        let stop = r >= last || now_ns() >= deadline;
        if stop {
            cx.shared.set_stop(r);
            start.get_or_insert_with(Usage::now);
        }
        if cx.paced {
            cx.shared.wait_armed(r as u32 + 1)?;
        }
        let c0 = if cx.paced { thread_cpu_ns() } else { 0 };
        for (i, ch) in cx.chans.iter().enumerate() {
            if i == 0 && !stop && cx.lose == Some(r) {
                continue;
            }
            let ts = now_ns();
            cx.shared.record_ts(i, r, ts);
            send(ch.as_ref(), cx.shared, r, ts)?;
        }
        if cx.paced && (r >= cx.warm_rounds || stop) {
            send_cpu += thread_cpu_ns() - c0;
        }
        if stop {
            break;
        }
        r += 1;
    }
    let usage = Usage::now().since(&start.unwrap_or_default());
    let interval_rounds = if r >= cx.warm_rounds {
        r - cx.warm_rounds + 1
    } else {
        1
    };
    Ok(WriterOut {
        usage,
        interval_msgs: interval_rounds * k,
        send_cpu_ns: cx.paced.then_some(send_cpu),
        total_msgs: r * k,
    })
}
