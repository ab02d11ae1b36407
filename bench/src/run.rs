// SPDX-License-Identifier: GPL-2.0

//! Running one case: probing what the kernel offers, starting the reader
//! and writer threads, sampling io-wq workers, the watchdog, and turning
//! what the two sides measured into a [`CaseResult`].

use std::collections::{BTreeMap, HashSet};
use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::case::{Case, Kind, Method, Mode, Settings};
use crate::pace::{Shared, ABORTED};
use crate::reader::{self, ReaderCtx, ReaderOut};
use crate::ring::{
    Ring, FEAT_INLINE_READ, SETUP_DEFER_TASKRUN, SETUP_INLINE_READ, SETUP_SINGLE_ISSUER,
};
use crate::sys::{allowed_cpus, iowq_worker_tids, pin_to_cpu, Usage};
use crate::types::{Channel, OpenCfg};
use crate::writer::{self, WriterCtx, WriterOut};

/// Whether something is available, and why not.
#[derive(Clone, Debug, Serialize)]
pub struct Avail {
    /// Available.
    pub available: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Avail {
    fn yes() -> Avail {
        Avail {
            available: true,
            reason: None,
        }
    }

    fn no(reason: String) -> Avail {
        Avail {
            available: false,
            reason: Some(reason),
        }
    }
}

/// What the running kernel and machine offer.
#[derive(Clone, Debug, Serialize)]
pub struct Caps {
    /// io_uring at all.
    pub io_uring: Avail,
    /// `IORING_FEAT_INLINE_READ` / `IORING_SETUP_INLINE_READ`.
    pub inline_read: Avail,
    /// `IORING_SETUP_DEFER_TASKRUN`.
    pub defer_taskrun: Avail,
    /// CPUs the process may use.
    pub cpus: Vec<usize>,
}

/// Probes io_uring, the inline-read feature and `DEFER_TASKRUN`.
pub fn probe() -> Caps {
    let cpus = allowed_cpus();
    let (io_uring, features) = match Ring::new(4, 0) {
        Ok(r) => (Avail::yes(), r.features()),
        Err((e, msg)) => {
            let why = match e {
                libc::EPERM => format!(
                    "{msg}: io_uring is disabled for this process (sysctl kernel.io_uring_disabled, \
                     io_uring_group, or a seccomp filter)"
                ),
                libc::ENOSYS => format!("{msg}: the kernel has no io_uring (CONFIG_IO_URING=n) or a filter hides it"),
                _ => msg,
            };
            return Caps {
                io_uring: Avail::no(why),
                inline_read: Avail::no("io_uring is unavailable".into()),
                defer_taskrun: Avail::no("io_uring is unavailable".into()),
                cpus,
            };
        }
    };
    let inline_read = if features & FEAT_INLINE_READ == 0 {
        Avail::no("the kernel lacks IORING_FEAT_INLINE_READ (not a kernel with this series)".into())
    } else {
        match Ring::new(4, SETUP_INLINE_READ) {
            Ok(_) => Avail::yes(),
            Err((_, m)) => Avail::no(format!("IORING_FEAT_INLINE_READ is set but {m}")),
        }
    };
    let defer_taskrun = match Ring::new(4, SETUP_DEFER_TASKRUN | SETUP_SINGLE_ISSUER) {
        Ok(_) => Avail::yes(),
        Err((_, m)) => Avail::no(m),
    };
    Caps {
        io_uring,
        inline_read,
        defer_taskrun,
        cpus,
    }
}

/// Outcome of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Ran, every message checked.
    Ok,
    /// Not run here.
    Skipped,
    /// Failed (wrong data, error, hang).
    Failed,
}

/// Latency percentiles and CDF.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: f64,
    /// `[latency_ns, fraction at or below]` points of the CDF.
    pub cdf: Vec<[f64; 2]>,
}

impl Latency {
    fn from_hist(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let mut qs: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
        qs.extend([0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0]);
        qs.dedup();
        let cdf = qs
            .iter()
            .map(|&q| {
                let v = if q == 0.0 {
                    h.min()
                } else {
                    h.value_at_quantile(q)
                };
                [v as f64, q]
            })
            .collect();
        Some(Latency {
            count: h.len(),
            min_ns: h.min(),
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean(),
            cdf,
        })
    }
}

/// One side's costs over the measured interval.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// Messages in the interval (the divisor).
    pub msgs: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
    /// User CPU time.
    pub user_ns: u64,
    /// System CPU time.
    pub sys_ns: u64,
    /// (Voluntary + involuntary) switches per message.
    pub switches_per_msg: f64,
    /// User + system CPU per message.
    pub cpu_ns_per_msg: f64,
    /// User CPU per message.
    pub user_ns_per_msg: f64,
    /// System CPU per message.
    pub sys_ns_per_msg: f64,
    /// Writer, paced kinds: CPU time of the sending system calls alone, per
    /// message (`CLOCK_THREAD_CPUTIME_ID`, excludes the pacing wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_cpu_ns_per_msg: Option<f64>,
}

impl Side {
    fn new(u: &Usage, msgs: u64, send_cpu: Option<u64>) -> Side {
        let d = msgs.max(1) as f64;
        Side {
            msgs,
            voluntary_switches: u.vcsw,
            involuntary_switches: u.ivcsw,
            user_ns: u.user_ns,
            sys_ns: u.sys_ns,
            switches_per_msg: (u.vcsw + u.ivcsw) as f64 / d,
            cpu_ns_per_msg: (u.user_ns + u.sys_ns) as f64 / d,
            user_ns_per_msg: u.user_ns as f64 / d,
            sys_ns_per_msg: u.sys_ns as f64 / d,
            send_cpu_ns_per_msg: send_cpu.map(|c| c as f64 / d),
        }
    }
}

/// io-wq workers seen during a case.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IoWq {
    /// Most `iou-wrk-*` threads alive at one sample.
    pub max_alive: usize,
    /// Distinct `iou-wrk-*` threads seen (created during the case).
    pub created: usize,
}

/// The result of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// File type.
    pub file_type: String,
    /// What was measured.
    pub kind: Kind,
    /// How the reader waited.
    pub mode: Mode,
    /// How the reader read.
    pub method: Method,
    /// Files read at once (K).
    pub channels: usize,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Remarks (e.g. the inline path was never taken).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Messages measured (after the warm-up, terminators excluded); for a
    /// counter type (eventfd) the sum of the values read.
    pub messages: u64,
    /// The reads that delivered them (fewer than `messages` when a counter
    /// type's reads coalesce).
    pub reads: u64,
    /// Measured interval, seconds.
    pub elapsed_s: f64,
    /// Messages per second over that interval.
    pub msgs_per_s: f64,
    /// One-way latency per message (paced kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Batch: first send of a round to the last completion seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_latency: Option<Latency>,
    /// Reader's costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader: Option<Side>,
    /// Writer's costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<Side>,
    /// io-wq workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iowq_workers: Option<IoWq>,
    /// The ring's `InlineRead*` fdinfo counters at the end.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_counters: BTreeMap<String, u64>,
    /// The harness could not stop the case's threads: nothing further can
    /// be trusted, the run ends.
    #[serde(skip)]
    pub fatal: bool,
}

impl CaseResult {
    fn new(case: &Case, k: usize, status: Status, reason: Option<String>) -> CaseResult {
        CaseResult {
            file_type: case.ty.name().to_string(),
            kind: case.kind,
            mode: case.mode,
            method: case.method,
            channels: k,
            status,
            reason,
            notes: Vec::new(),
            messages: 0,
            reads: 0,
            elapsed_s: 0.0,
            msgs_per_s: 0.0,
            latency: None,
            round_latency: None,
            reader: None,
            writer: None,
            iowq_workers: None,
            inline_counters: BTreeMap::new(),
            fatal: false,
        }
    }
}

/// Why `case` cannot run here, if it cannot.
pub fn skip_reason(case: &Case, caps: &Caps, s: &Settings) -> Option<String> {
    if let Some(r) = case.ty.unavailable() {
        return Some(r);
    }
    if let Some(r) = case.ty.skip(case.kind, case.mode, case.method) {
        return Some(r);
    }
    if let Some((max, why)) = case.ty.max_channels() {
        if case.kind == Kind::Batch && s.batch > max {
            return Some(format!(
                "--batch {} is more than the {max} files a {} case can have open ({why})",
                s.batch,
                case.ty.name()
            ));
        }
    }
    if case.method.uses_ring() && !caps.io_uring.available {
        return caps.io_uring.reason.clone();
    }
    if case.method.is_inline() && !caps.inline_read.available {
        return caps.inline_read.reason.clone();
    }
    if case.method.is_defer() && !caps.defer_taskrun.available {
        return caps.defer_taskrun.reason.clone();
    }
    if case.mode == Mode::Busy && caps.cpus.len() < 2 {
        return Some("busy-polling needs two CPUs".into());
    }
    if case.kind == Kind::Batch && s.batch < 1 {
        return Some("batch size is 0".into());
    }
    None
}

enum Done {
    Reader(Box<Result<ReaderOut, String>>),
    Writer(Result<WriterOut, String>),
}

/// How often the main thread samples `/proc/self/task` for io-wq workers.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// How long aborted threads get to stop before the run is given up.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// Runs one case.
pub fn run_case(case: &Case, s: &Settings, caps: &Caps) -> CaseResult {
    let k = if case.kind == Kind::Batch { s.batch } else { 1 };
    if let Some(why) = skip_reason(case, caps, s) {
        return CaseResult::new(case, k, Status::Skipped, Some(why));
    }
    let fail = |why: String| CaseResult::new(case, k, Status::Failed, Some(why));
    let cfg = OpenCfg {
        nonblocking_read: case.method == Method::Epoll,
        blocking_read: case.method == Method::Blocking,
        msg_size: s.msg_size,
    };
    let chans: Vec<Box<dyn Channel>> = match (0..k).map(|_| case.ty.open(&cfg)).collect() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let chans = Arc::new(chans);
    let shared = Arc::new(Shared::new(k, case.mode == Mode::Busy));
    let paced = case.kind.paced();
    let (warm_rounds, rounds) = if paced {
        (s.warmup.div_ceil(k as u64), (s.messages / k as u64).max(1))
    } else {
        (s.warmup, s.messages.max(1))
    };
    let (wcpu, rcpu) = match (s.pin, caps.cpus.as_slice()) {
        (true, [w, r, ..]) => (Some(*w), Some(*r)),
        _ => (None, None),
    };
    let before: HashSet<u32> = iowq_worker_tids().into_iter().collect();

    let (tx, rx) = mpsc::channel();
    let reader = {
        let (chans, shared, tx) = (chans.clone(), shared.clone(), tx.clone());
        let (method, mode) = (case.method, case.mode);
        std::thread::Builder::new()
            .name("iub-reader".into())
            .spawn(move || {
                let res = rcpu.map_or(Ok(()), pin_to_cpu).and_then(|()| {
                    reader::run(&ReaderCtx {
                        chans: &chans,
                        shared: &shared,
                        method,
                        mode,
                        paced,
                        warm_rounds,
                    })
                });
                if res.is_err() {
                    shared.abort();
                }
                let _ = tx.send(Done::Reader(Box::new(res)));
            })
    };
    let writer = {
        let (chans, shared) = (chans.clone(), shared.clone());
        let budget_ns = (s.time_s * 1e9) as u64;
        let lose = s.inject_loss;
        std::thread::Builder::new()
            .name("iub-writer".into())
            .spawn(move || {
                let res = wcpu.map_or(Ok(()), pin_to_cpu).and_then(|()| {
                    writer::run(&WriterCtx {
                        chans: &chans,
                        shared: &shared,
                        paced,
                        warm_rounds,
                        rounds,
                        budget_ns,
                        lose,
                    })
                });
                if res.is_err() {
                    shared.abort();
                }
                let _ = tx.send(Done::Writer(res));
            })
    };
    let (reader, writer) = match (reader, writer) {
        (Ok(r), Ok(w)) => (r, w),
        (r, w) => {
            shared.abort();
            for h in [r, w].into_iter().flatten() {
                sys_kick_join(h);
            }
            return fail("cannot start the case's threads".into());
        }
    };
    let threads = [reader.as_pthread_t(), writer.as_pthread_t()];

    let mut r_out: Option<Result<ReaderOut, String>> = None;
    let mut w_out: Option<Result<WriterOut, String>> = None;
    let mut seen: HashSet<u32> = HashSet::new();
    let mut max_alive = 0;
    // Why the harness stopped the case (hang, panic), if it did.
    let mut stopped: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs_f64(s.case_timeout_s);
    let mut aborted_at: Option<Instant> = None;
    let take = |d: Done, r: &mut Option<_>, w: &mut Option<_>| match d {
        Done::Reader(x) => *r = Some(*x),
        Done::Writer(x) => *w = Some(x),
    };
    while r_out.is_none() || w_out.is_none() {
        match rx.recv_timeout(SAMPLE_EVERY) {
            Ok(d) => take(d, &mut r_out, &mut w_out),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now: HashSet<u32> = iowq_worker_tids()
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        max_alive = max_alive.max(now.len());
        seen.extend(now);
        if thread_error(&r_out, &w_out).is_some() {
            shared.abort();
        }
        // A thread that finished without a result panicked, unless its
        // result is still in the channel.
        while let Ok(d) = rx.try_recv() {
            take(d, &mut r_out, &mut w_out);
        }
        if (reader.is_finished() && r_out.is_none()) || (writer.is_finished() && w_out.is_none()) {
            stopped.get_or_insert_with(|| "a thread panicked".into());
            shared.abort();
        }
        if !shared.aborted() && Instant::now() > deadline {
            stopped = Some(format!(
                "timed out after {:.0} s: a completion never arrived (hung)",
                s.case_timeout_s
            ));
            shared.abort();
        }
        if shared.aborted() {
            // Interrupt whichever side is still blocked in a system call;
            // release a writer waiting for a reply that will not come (a
            // userfaultfd fault, which a signal does not end).
            if aborted_at.is_none() {
                for ch in chans.iter() {
                    ch.abort();
                }
            }
            let t = *aborted_at.get_or_insert_with(Instant::now);
            if r_out.is_none() && !reader.is_finished() {
                crate::sys::kick(threads[0]);
            }
            if w_out.is_none() && !writer.is_finished() {
                crate::sys::kick(threads[1]);
            }
            if t.elapsed() > ABORT_GRACE {
                let why = thread_error(&r_out, &w_out)
                    .or(stopped)
                    .unwrap_or_else(|| "aborted".into());
                let mut r = fail(format!("{why}; its threads did not stop"));
                r.fatal = true;
                return r;
            }
        }
    }
    let _ = reader.join();
    let _ = writer.join();
    let failure = thread_error(&r_out, &w_out)
        .filter(|e| !e.ends_with(ABORTED))
        .or(stopped)
        .or_else(|| thread_error(&r_out, &w_out))
        .or_else(|| shared.aborted().then(|| ABORTED.to_string()));
    let (rd, wr) = match (r_out, w_out, failure) {
        (Some(Ok(rd)), Some(Ok(wr)), None) => (rd, wr),
        (_, _, Some(f)) => return fail(f),
        _ => return fail("a thread ended without a result".into()),
    };

    // Exactly what was sent was received, and nothing is left behind.
    if rd.total_msgs != wr.total_msgs {
        return fail(format!(
            "writer sent {} messages, reader received {}",
            wr.total_msgs, rd.total_msgs
        ));
    }
    for (i, ch) in chans.iter().enumerate() {
        match ch.leftover() {
            Ok(0) => {}
            Ok(n) if case.ty.coalesces() => {
                return fail(format!("channel {i}: counter {n} left unread"))
            }
            Ok(n) => return fail(format!("channel {i}: {n} bytes left unread")),
            Err(e) => return fail(format!("channel {i}: {e}")),
        }
    }

    seen.extend(rd.iowq_tids.iter().filter(|t| !before.contains(t)));
    let mut res = CaseResult::new(case, k, Status::Ok, None);
    res.messages = rd.measured_msgs;
    res.reads = rd.measured_reads;
    res.elapsed_s = rd.elapsed_ns as f64 / 1e9;
    res.msgs_per_s = if rd.elapsed_ns > 0 {
        rd.measured_msgs as f64 * 1e9 / rd.elapsed_ns as f64
    } else {
        0.0
    };
    res.latency = rd.lat.as_ref().and_then(Latency::from_hist);
    res.round_latency = rd.round_lat.as_ref().and_then(Latency::from_hist);
    res.reader = Some(Side::new(&rd.usage, rd.interval_msgs, None));
    res.writer = Some(Side::new(&wr.usage, wr.interval_msgs, wr.send_cpu_ns));
    res.iowq_workers = Some(IoWq {
        max_alive,
        created: seen.len(),
    });
    if case.method.is_inline() && paced && res.messages > 0 {
        let done = rd.counters.get("InlineReadCompleted").copied();
        match done {
            None => res
                .notes
                .push("the ring's fdinfo has no InlineReadCompleted counter".into()),
            Some(0) => res
                .notes
                .push("no read was completed inline (InlineReadCompleted = 0)".into()),
            Some(_) => {}
        }
    }
    res.inline_counters = rd.counters;
    res
}

/// The first error either side reported, preferring a real one over
/// [`ABORTED`] (which only says the other side gave up).
fn thread_error(
    r: &Option<Result<ReaderOut, String>>,
    w: &Option<Result<WriterOut, String>>,
) -> Option<String> {
    let errs: Vec<String> = [
        r.as_ref()
            .and_then(|r| r.as_ref().err())
            .map(|e| format!("reader: {e}")),
        w.as_ref()
            .and_then(|w| w.as_ref().err())
            .map(|e| format!("writer: {e}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    errs.iter()
        .find(|e| !e.ends_with(ABORTED))
        .or(errs.first())
        .cloned()
}

/// Joins a thread of a case that could not start fully (its partner never
/// ran, so it sees the abort flag at its first wait).
fn sys_kick_join(h: std::thread::JoinHandle<()>) {
    crate::sys::kick(h.as_pthread_t());
    let _ = h.join();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FileType;

    fn settings(inject_loss: Option<u64>, case_timeout_s: f64) -> Settings {
        Settings {
            messages: 300,
            time_s: 5.0,
            warmup: 4,
            batch: 2,
            msg_size: 64,
            pin: false,
            case_timeout_s,
            smoke: true,
            inject_loss,
        }
    }

    /// The userfaultfd type through the whole harness, on the stock paths
    /// the host kernel has (sleeping readers only: nothing spins): every
    /// case passes, across a re-arm of the region (300 > 256 pages); with a
    /// fault left out, unpaced cases fail the data check and a paced one
    /// hangs (the writer waits for a round the reader never arms) and is
    /// stopped; the batch kind is skipped.
    #[test]
    fn uffd_cases_on_the_stock_paths() {
        let ty: &'static dyn FileType = &crate::types::uffd::Uffd;
        if let Some(why) = ty.unavailable() {
            eprintln!("userfaultfd harness test skipped: {why}");
            return;
        }
        request_reply_cases(&[ty], |_| "fault on page 11, expected page 10");
    }

    /// The methods the host kernel has (no inline ones), for the harness
    /// tests that run types through every case.
    const STOCK_METHODS: [Method; 5] = [
        Method::Poll,
        Method::Defer,
        Method::Iowq,
        Method::Blocking,
        Method::Epoll,
    ];

    /// Runs request/reply types (userfaultfd, fuse) through the whole
    /// harness on the stock paths, sleeping readers only: every case
    /// passes with 300 messages; the batch kind is skipped; with message 10
    /// left out, unpaced cases fail with `unpaced_loss(case)` in their
    /// reason and paced ones time out (the writer waits for a reply the
    /// reader never sends, and the case is stopped).
    fn request_reply_cases(
        types: &[&'static dyn FileType],
        unpaced_loss: impl Fn(&crate::case::Case) -> &'static str,
    ) {
        crate::sys::install_kick_handler().unwrap();
        let caps = probe();
        for case in crate::case::cases(types, &Kind::ALL, &[Mode::Sleep], &STOCK_METHODS) {
            let r = run_case(&case, &settings(None, 10.0), &caps);
            if case.kind == Kind::Batch {
                assert_eq!(r.status, Status::Skipped, "{}", case.label());
                continue;
            }
            if r.status == Status::Skipped {
                eprintln!("{}: skipped: {:?}", case.label(), r.reason);
                continue;
            }
            assert_eq!(r.status, Status::Ok, "{}: {:?}", case.label(), r.reason);
            assert_eq!(r.messages, 300, "{}", case.label());
            if case.kind == Kind::Latency && case.method != Method::Blocking {
                continue; // each takes the whole (short) case timeout
            }
            let lost = run_case(&case, &settings(Some(10), 0.5), &caps);
            assert_eq!(lost.status, Status::Failed, "{}", case.label());
            let why = lost.reason.unwrap_or_default();
            let expect = if case.kind.paced() {
                "timed out"
            } else {
                unpaced_loss(&case)
            };
            assert!(why.contains(expect), "{}: {why}", case.label());
        }
    }

    /// A pipe whose every message is preceded by a housekeeping message
    /// (all 0xff), which [`Channel::housekeeping`] sets aside: the reader
    /// loops must read again and count only the real messages.
    struct Chatty;

    struct ChattyChannel {
        rd: std::os::fd::OwnedFd,
        wr: std::os::fd::OwnedFd,
    }

    const CHATTY: usize = 16;

    impl FileType for Chatty {
        fn name(&self) -> &'static str {
            "chatty"
        }

        fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
            use std::os::fd::FromRawFd;
            let mut fds = [0; 2];
            let flags = libc::O_CLOEXEC;
            // SAFETY: `fds` has room for the two fds pipe2 writes.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }, 0);
            if cfg.nonblocking_read {
                // SAFETY: a valid fd; F_SETFL takes an int flag set.
                let r = unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
                assert_eq!(r, 0);
            }
            // SAFETY: pipe2 succeeded: both fds are new and ours.
            let (rd, wr) = unsafe {
                (
                    std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                    std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                )
            };
            Ok(Box::new(ChattyChannel { rd, wr }))
        }
    }

    impl Channel for ChattyChannel {
        fn read_fd(&self) -> std::os::fd::RawFd {
            std::os::fd::AsRawFd::as_raw_fd(&self.rd)
        }

        fn read_len(&self) -> usize {
            CHATTY
        }

        fn send(&self, seq: u64, _ts_ns: u64) -> Result<(), (i32, String)> {
            let mut m = [0u8; CHATTY];
            m[..8].copy_from_slice(&seq.to_ne_bytes());
            m[8..].copy_from_slice(&(!seq).to_ne_bytes());
            for b in [[0xff; CHATTY], m] {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&self.wr);
                // SAFETY: `b` is a valid buffer of the length passed.
                let n = unsafe { libc::write(fd, b.as_ptr().cast(), CHATTY) };
                if n != CHATTY as isize {
                    let e = crate::sys::errno();
                    return Err((e, crate::sys::os_err("write", e)));
                }
            }
            Ok(())
        }

        fn housekeeping(&self, data: &[u8]) -> Result<bool, String> {
            Ok(data.iter().all(|&b| b == 0xff))
        }

        fn check(&self, data: &[u8], seq: u64) -> Result<crate::types::Received, String> {
            let mut m = [0u8; CHATTY];
            m[..8].copy_from_slice(&seq.to_ne_bytes());
            m[8..].copy_from_slice(&(!seq).to_ne_bytes());
            if data != m {
                return Err(format!("expected message {seq}, read {data:02x?}"));
            }
            Ok(crate::types::Received {
                msgs: 1,
                ts_ns: None,
            })
        }
    }

    /// Reads a type sets aside as housekeeping are read again and not
    /// counted, by every method, in every kind.
    #[test]
    fn housekeeping_reads_are_set_aside() {
        crate::sys::install_kick_handler().unwrap();
        let caps = probe();
        let ty: &'static dyn FileType = &Chatty;
        for case in crate::case::cases(&[ty], &Kind::ALL, &Mode::ALL, &STOCK_METHODS) {
            let r = run_case(&case, &settings(None, 10.0), &caps);
            if r.status == Status::Skipped {
                eprintln!("{}: skipped: {:?}", case.label(), r.reason);
                continue;
            }
            assert_eq!(r.status, Status::Ok, "{}: {:?}", case.label(), r.reason);
            assert_eq!(r.messages, 300, "{}", case.label());
            assert_eq!(r.reads, 300, "{}", case.label());
        }
    }

    /// The two FUSE types through the whole harness on the stock paths
    /// (sleeping readers only): every case passes; with a request left out,
    /// unpaced cases fail the check of the next request (and the aborted
    /// connection releases the writer, blocked in a request the reader will
    /// not answer) and a paced one hangs and is stopped with that reason,
    /// not with the reads the abort fails; the batch kind is skipped; no
    /// mount is left behind.
    #[test]
    fn fuse_cases_on_the_stock_paths() {
        let types: [&'static dyn FileType; 2] =
            [&crate::types::fuse::Fuse, &crate::types::fuse::FuseRead];
        if let Some(why) = types[0].unavailable() {
            eprintln!("fuse harness test skipped: {why}");
            return;
        }
        request_reply_cases(&types, |case| match case.ty.name() {
            "fuse" => "LOOKUP of \"m11\", expected \"m10\"",
            _ => "READ at offset 704 (message 11), expected 640",
        });
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        assert!(
            !mounts.contains("iub-fuse."),
            "a FUSE mount was left: {mounts}"
        );
    }

    /// The signalfd type through the whole harness on the stock paths
    /// (sleeping readers only): every case passes, throughput across the
    /// writer's window (2000 signals > 256); with a signal left out,
    /// unpaced cases fail the sequence check and a paced one hangs and is
    /// stopped; io-wq is skipped, and so is a batch wider than the
    /// real-time signals.
    #[test]
    fn signalfd_cases_on_the_stock_paths() {
        let ty: &'static dyn FileType = &crate::types::signalfd::Signalfd;
        if let Some(why) = ty.unavailable() {
            eprintln!("signalfd harness test skipped: {why}");
            return;
        }
        crate::sys::install_kick_handler().unwrap();
        let caps = probe();
        for case in crate::case::cases(&[ty], &Kind::ALL, &[Mode::Sleep], &STOCK_METHODS) {
            let mut s = settings(None, 10.0);
            if case.kind == Kind::Throughput {
                s.messages = 2000;
            }
            let r = run_case(&case, &s, &caps);
            if case.method == Method::Iowq {
                assert_eq!(r.status, Status::Skipped, "{}", case.label());
                continue;
            }
            if r.status == Status::Skipped {
                eprintln!("{}: skipped: {:?}", case.label(), r.reason);
                continue;
            }
            assert_eq!(r.status, Status::Ok, "{}: {:?}", case.label(), r.reason);
            assert_eq!(r.messages, s.messages, "{}", case.label());
            if case.kind == Kind::Batch {
                let mut wide = settings(None, 10.0);
                wide.batch = 1000;
                let r = run_case(&case, &wide, &caps);
                assert_eq!(r.status, Status::Skipped, "{}", case.label());
                continue;
            }
            if case.kind == Kind::Latency && case.method != Method::Blocking {
                continue; // each takes the whole (short) case timeout
            }
            let lost = run_case(&case, &settings(Some(10), 0.5), &caps);
            assert_eq!(lost.status, Status::Failed, "{}", case.label());
            let why = lost.reason.unwrap_or_default();
            let expect = if case.kind.paced() {
                "timed out"
            } else {
                "expected message 10, read message 11"
            };
            assert!(why.contains(expect), "{}: {why}", case.label());
        }
    }
}
