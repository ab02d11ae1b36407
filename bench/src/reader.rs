// SPDX-License-Identifier: GPL-2.0

//! The reader's side of a case, one loop per reading method family:
//! io_uring (every ring method), a blocking `read(2)`, and epoll.
//!
//! Every loop works in rounds. At the top of a round the reader's reads are
//! armed (and, in paced kinds, the writer is told so); then it waits until
//! each of its K channels has delivered one read, checks every message and
//! records the latency of each (the time it saw the completion minus the
//! writer's timestamp). The round in which the messages are the writer's
//! terminators is the last.
//!
//! A read that a type sets aside as housekeeping ([`Channel::housekeeping`]:
//! a request of the kernel's own on a FUSE connection, which the type has
//! answered) is no message: the reader re-arms that channel's read at once
//! and goes on waiting for the message of the round.

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};

use hdrhistogram::Histogram;

use crate::case::{Method, Mode};
use crate::pace::{Shared, ABORTED};
use crate::ring::{PageBuffers, Ring, ENTER_GETEVENTS, FEAT_INLINE_READ};
use crate::sys::{errno, inline_counters, iowq_worker_tids, now_ns, os_err, Usage};
use crate::types::Channel;

/// What the reader is given.
pub struct ReaderCtx<'a> {
    /// The channels, one per file (K).
    pub chans: &'a [Box<dyn Channel>],
    /// Pacing and stop state.
    pub shared: &'a Shared,
    /// How to read.
    pub method: Method,
    /// How to wait.
    pub mode: Mode,
    /// Whether the writer waits for each round to be armed.
    pub paced: bool,
    /// Messages per channel left out of the figures: rounds in paced kinds
    /// (one message per channel each), messages in throughput, where a
    /// counter type's read may deliver several.
    pub warm_rounds: u64,
}

/// What the reader measured.
pub struct ReaderOut {
    /// Per-message latency (paced kinds).
    pub lat: Option<Histogram<u64>>,
    /// First send of a round to the last completion seen (batch).
    pub round_lat: Option<Histogram<u64>>,
    /// Resource usage over the measured interval.
    pub usage: Usage,
    /// Messages in that interval, terminators included (the divisor of the
    /// per-message costs).
    pub interval_msgs: u64,
    /// Messages after the warm-up, terminators excluded.
    pub measured_msgs: u64,
    /// The reads that delivered them (fewer when a counter type's reads
    /// coalesce).
    pub measured_reads: u64,
    /// Every message received, terminators excluded (must equal the sent).
    pub total_msgs: u64,
    /// Start of the measured interval to the last measured message.
    pub elapsed_ns: u64,
    /// The ring's `InlineRead*` fdinfo counters.
    pub counters: BTreeMap<String, u64>,
    /// io-wq workers alive at the end (before the ring is closed).
    pub iowq_tids: Vec<u32>,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// What one read was, for the loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivered {
    /// Housekeeping the type answered itself: read that channel again.
    Aside,
    /// The channel's next message(s).
    Message,
    /// The channel's terminator: the last read of the case on it.
    Terminator,
}

/// Checks and records what the reads deliver (shared by every method).
struct Recorder<'a> {
    cx: &'a ReaderCtx<'a>,
    /// Whether the current round is past the warm-up.
    measuring: bool,
    next_seq: Vec<u64>,
    terms: usize,
    lat: Histogram<u64>,
    round_lat: Histogram<u64>,
    round_first_ts: u64,
    round_last_seen: u64,
    start: Option<(Usage, u64)>,
    interval_msgs: u64,
    measured_msgs: u64,
    measured_reads: u64,
    total_msgs: u64,
    last_seen: u64,
}

impl<'a> Recorder<'a> {
    fn new(cx: &'a ReaderCtx<'a>) -> Recorder<'a> {
        Recorder {
            cx,
            measuring: false,
            next_seq: vec![0; cx.chans.len()],
            terms: 0,
            lat: new_hist(),
            round_lat: new_hist(),
            round_first_ts: u64::MAX,
            round_last_seen: 0,
            start: None,
            interval_msgs: 0,
            measured_msgs: 0,
            measured_reads: 0,
            total_msgs: 0,
            last_seen: 0,
        }
    }

    /// Top of a round, before its reads are armed. The warm-up ends with
    /// the first round that starts once every channel has delivered
    /// `warm_rounds` messages (for one message per read: round
    /// `warm_rounds`).
    fn begin_round(&mut self) {
        let done = self.next_seq.iter().copied().min().unwrap_or(0);
        self.measuring = done >= self.cx.warm_rounds;
        if self.start.is_none() && self.measuring {
            self.start = Some((Usage::now(), now_ns()));
        }
        self.round_first_ts = u64::MAX;
        self.round_last_seen = 0;
    }

    /// A read of channel `ch` returned `data`, seen at `seen`. Returns what
    /// it was: housekeeping set aside, a message, or the terminator.
    fn on_data(&mut self, ch: usize, data: &[u8], seen: u64) -> Result<Delivered, String> {
        let chan = &self.cx.chans[ch];
        if chan
            .housekeeping(data)
            .map_err(|e| format!("channel {ch}: {e}"))?
        {
            return Ok(Delivered::Aside);
        }
        let seq = self.next_seq[ch];
        let got = chan
            .check(data, seq)
            .map_err(|e| format!("channel {ch}: {e}"))?;
        chan.reply(data).map_err(|e| format!("channel {ch}: {e}"))?;
        if got.msgs == 0 {
            return Err(format!("channel {ch}: a read delivered no message"));
        }
        if self.cx.paced && got.msgs != 1 {
            return Err(format!(
                "channel {ch}: a read delivered {} messages from {seq} on, with one in flight",
                got.msgs
            ));
        }
        let end = seq + got.msgs;
        self.next_seq[ch] = end;
        let stop = self.cx.shared.stop_round();
        let mut msgs = got.msgs;
        let term = (seq..end).contains(&stop);
        if term {
            if end != stop + 1 {
                return Err(format!("channel {ch}: data after the terminator"));
            }
            self.terms += 1;
            msgs -= 1;
        }
        self.total_msgs += msgs;
        if self.measuring {
            self.interval_msgs += got.msgs;
            if msgs > 0 {
                self.measured_msgs += msgs;
                self.measured_reads += 1;
                self.last_seen = seen;
                if self.cx.paced {
                    let ts = got.ts_ns.unwrap_or_else(|| self.cx.shared.sent_ts(ch, seq));
                    self.lat.saturating_record(seen.saturating_sub(ts).max(1));
                    self.round_first_ts = self.round_first_ts.min(ts);
                    self.round_last_seen = seen;
                }
            }
        }
        Ok(if term {
            Delivered::Terminator
        } else {
            Delivered::Message
        })
    }

    /// Bottom of a round: returns whether it was the last.
    fn end_round(&mut self) -> Result<bool, String> {
        let k = self.cx.chans.len();
        if self.terms > 0 {
            if self.terms != k {
                return Err(format!("{} of {k} channels ended", self.terms));
            }
            return Ok(true);
        }
        if self.measuring && k > 1 && self.round_last_seen != 0 {
            let d = self.round_last_seen.saturating_sub(self.round_first_ts);
            self.round_lat.saturating_record(d.max(1));
        }
        Ok(false)
    }

    fn finish(self) -> ReaderOut {
        let (u0, t0) = self.start.unwrap_or((Usage::now(), now_ns()));
        let paced = self.cx.paced;
        ReaderOut {
            usage: Usage::now().since(&u0),
            elapsed_ns: self.last_seen.saturating_sub(t0),
            lat: paced.then_some(self.lat),
            round_lat: (paced && self.cx.chans.len() > 1).then_some(self.round_lat),
            interval_msgs: self.interval_msgs,
            measured_msgs: self.measured_msgs,
            measured_reads: self.measured_reads,
            total_msgs: self.total_msgs,
            counters: BTreeMap::new(),
            iowq_tids: Vec::new(),
        }
    }
}

/// Runs the reader of a case.
pub fn run(cx: &ReaderCtx) -> Result<ReaderOut, String> {
    for ch in cx.chans {
        ch.reader_init()?;
    }
    let out = match cx.method {
        Method::Blocking => run_blocking(cx),
        Method::Epoll => run_epoll(cx),
        _ => run_uring(cx),
    }
    .map_err(|e| after_abort(cx.shared, e))?;
    for ch in cx.chans {
        ch.reader_end();
    }
    Ok(out)
}

/// An error met once the case was being aborted is a consequence of the
/// abort (a FUSE connection the harness aborted fails the reads with
/// `ENODEV`), not the case's failure: it is marked so, and the harness
/// reports the cause instead (ending in [`ABORTED`]).
fn after_abort(shared: &Shared, e: String) -> String {
    if shared.aborted() && !e.ends_with(ABORTED) {
        format!("{e}, after the case was {ABORTED}")
    } else {
        e
    }
}

/// The longest read of any of the channels.
fn max_read_len(chans: &[Box<dyn Channel>]) -> usize {
    chans.iter().map(|c| c.read_len()).max().unwrap_or(0)
}

/// `io_uring_enter`, retried on `EINTR` unless the case was aborted.
fn enter(
    ring: &mut Ring,
    shared: &Shared,
    to_submit: u32,
    min: u32,
    flags: u32,
) -> Result<(), String> {
    loop {
        match ring.enter(to_submit, min, flags) {
            Ok(_) => return Ok(()),
            Err(libc::EINTR) if !shared.aborted() => continue,
            Err(libc::EINTR) => return Err(ABORTED.into()),
            Err(e) => return Err(os_err("io_uring_enter", e)),
        }
    }
}

fn run_uring(cx: &ReaderCtx) -> Result<ReaderOut, String> {
    let k = cx.chans.len();
    let mut bufs = PageBuffers::new(k, max_read_len(cx.chans))?;
    let entries = (2 * k as u32).next_power_of_two().max(4);
    let mut ring = Ring::new(entries, cx.method.setup_flags()).map_err(|(_, m)| m)?;
    if cx.method.is_inline() && ring.features() & FEAT_INLINE_READ == 0 {
        return Err("the ring was created but lacks IORING_FEAT_INLINE_READ".into());
    }
    let res = uring_loop(cx, &mut ring, &mut bufs);
    let counters = inline_counters(ring.fd());
    let iowq_tids = iowq_worker_tids();
    drop(ring);
    match res {
        Ok(mut out) => {
            out.counters = counters;
            out.iowq_tids = iowq_tids;
            Ok(out)
        }
        Err(e) => {
            // Reads may still be in flight until the thread exits: keep
            // their buffers mapped.
            std::mem::forget(bufs);
            Err(e)
        }
    }
}

fn uring_loop(
    cx: &ReaderCtx,
    ring: &mut Ring,
    bufs: &mut PageBuffers,
) -> Result<ReaderOut, String> {
    let k = cx.chans.len();
    let busy = cx.mode == Mode::Busy;
    let defer = ring.is_defer();
    let sqe_flags = cx.method.sqe_flags();
    let arm = |ring: &mut Ring, bufs: &mut PageBuffers, i: usize| -> Result<(), String> {
        let ch = &cx.chans[i];
        let len = ch.read_len();
        bufs.clear(i, len);
        // SAFETY: slot `i` is a page of `bufs`, which outlives the ring (the
        // caller drops the ring first, or leaks `bufs` on error), and no
        // other read into it is in flight: it is re-armed only after its
        // completion was reaped.
        unsafe { ring.queue_read(ch.read_fd(), bufs.ptr(i), len as u32, i as u64, sqe_flags) }
    };
    for i in 0..k {
        arm(ring, bufs, i)?;
    }
    let mut rec = Recorder::new(cx);
    let mut first = true;
    loop {
        rec.begin_round();
        // Submit now unless the sleep below both submits and waits
        // (unpaced, sleeping): the writer must learn the reads are armed.
        if cx.paced || busy || first {
            let n = ring.unsubmitted();
            enter(ring, cx.shared, n, 0, 0)?;
        }
        if cx.paced || first {
            cx.shared.ack();
        }
        first = false;
        let mut seen = 0;
        while seen < k {
            if let Some(cqe) = ring.pop_cqe() {
                let now = now_ns();
                let i = cqe.user_data as usize;
                if i >= k {
                    return Err(format!("completion with unknown tag {}", cqe.user_data));
                }
                if cqe.res < 0 {
                    return Err(os_err(&format!("read on channel {i}"), -cqe.res));
                }
                if cqe.res as usize > cx.chans[i].read_len() {
                    return Err(format!("channel {i}: read returned {} bytes", cqe.res));
                }
                let data = bufs.slot(i, cqe.res as usize);
                match rec.on_data(i, data, now)? {
                    Delivered::Aside => {
                        // Not this round's message: read again, submitted
                        // now (a busy or paced reader submits nothing else
                        // until the next round).
                        arm(ring, bufs, i)?;
                        let n = ring.unsubmitted();
                        enter(ring, cx.shared, n, 0, 0)?;
                    }
                    Delivered::Message => {
                        arm(ring, bufs, i)?;
                        seen += 1;
                    }
                    Delivered::Terminator => seen += 1,
                }
                continue;
            }
            if cx.shared.aborted() {
                return Err(ABORTED.into());
            }
            if busy {
                if defer {
                    // The only way to see completions on a DEFER_TASKRUN
                    // ring is to run its work: enter without waiting.
                    enter(ring, cx.shared, 0, 0, ENTER_GETEVENTS)?;
                } else {
                    std::hint::spin_loop();
                }
            } else {
                // Unpaced: submit the re-armed read and wait in one call.
                // Paced: reads are submitted at the top of the round only.
                let n = if cx.paced { 0 } else { ring.unsubmitted() };
                enter(ring, cx.shared, n, (k - seen) as u32, ENTER_GETEVENTS)?;
            }
        }
        if rec.end_round()? {
            break;
        }
    }
    if let Some(c) = ring.pop_cqe() {
        return Err(format!("unexpected completion after the end: {c:?}"));
    }
    Ok(rec.finish())
}

/// `read(2)` into `buf`, retried on `EINTR` unless aborted. `Ok(None)` on
/// `EAGAIN`.
fn read_fd(fd: i32, buf: &mut [u8], shared: &Shared) -> Result<Option<usize>, String> {
    loop {
        // SAFETY: `buf` is a valid, writable buffer of the length passed.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match errno() {
            libc::EINTR if !shared.aborted() => continue,
            libc::EINTR => return Err(ABORTED.into()),
            libc::EAGAIN => return Ok(None),
            e => return Err(os_err("read", e)),
        }
    }
}

fn run_blocking(cx: &ReaderCtx) -> Result<ReaderOut, String> {
    if cx.chans.len() != 1 {
        return Err("a blocking reader reads one file".into());
    }
    let ch = &cx.chans[0];
    let mut buf = vec![0u8; ch.read_len()];
    let mut rec = Recorder::new(cx);
    let mut first = true;
    loop {
        rec.begin_round();
        if cx.paced || first {
            cx.shared.ack();
        }
        first = false;
        loop {
            let n = read_fd(ch.read_fd(), &mut buf, cx.shared)?
                .ok_or("blocking read returned EAGAIN")?;
            let now = now_ns();
            if rec.on_data(0, &buf[..n], now)? != Delivered::Aside {
                break;
            }
        }
        if rec.end_round()? {
            break;
        }
    }
    Ok(rec.finish())
}

fn run_epoll(cx: &ReaderCtx) -> Result<ReaderOut, String> {
    let k = cx.chans.len();
    // SAFETY: plain system call without pointers.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(os_err("epoll_create1", errno()));
    }
    // SAFETY: a new fd that nothing else owns.
    let _ep_owner = unsafe { OwnedFd::from_raw_fd(ep) };
    for (i, ch) in cx.chans.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is a valid epoll_event; both fds are open.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ch.read_fd(), &mut ev) } != 0 {
            return Err(os_err("epoll_ctl", errno()));
        }
    }
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; k];
    let mut buf = vec![0u8; max_read_len(cx.chans)];
    let mut rec = Recorder::new(cx);
    let mut first = true;
    loop {
        rec.begin_round();
        if cx.paced || first {
            cx.shared.ack();
        }
        first = false;
        let mut done = vec![false; k];
        let mut seen = 0;
        while seen < k {
            // SAFETY: `evs` has room for `k` events.
            let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), k as i32, -1) };
            if n < 0 {
                match errno() {
                    libc::EINTR if !cx.shared.aborted() => continue,
                    libc::EINTR => return Err(ABORTED.into()),
                    e => return Err(os_err("epoll_wait", e)),
                }
            }
            for ev in &evs[..n as usize] {
                let i = ev.u64 as usize;
                if i >= k || done[i] {
                    continue;
                }
                let ch = &cx.chans[i];
                let len = ch.read_len();
                let Some(got) = read_fd(ch.read_fd(), &mut buf[..len], cx.shared)? else {
                    continue;
                };
                let now = now_ns();
                if rec.on_data(i, &buf[..got], now)? == Delivered::Aside {
                    // Level-triggered: the channel is reported again if
                    // its message is already there.
                    continue;
                }
                done[i] = true;
                seen += 1;
            }
        }
        if rec.end_round()? {
            break;
        }
    }
    Ok(rec.finish())
}
