// SPDX-License-Identifier: GPL-2.0

//! The run's results: the JSON document, the Markdown table of ratios
//! against the stock poll path, and the marker-delimited form for the VM.

use std::fmt::Write as _;

use serde::Serialize;

use crate::case::{Kind, Method, Mode, Settings};
use crate::run::{Caps, CaseResult, Status};

/// Where the two threads ran.
#[derive(Clone, Debug, Serialize)]
pub struct Pinned {
    /// The writer's CPU.
    pub writer_cpu: usize,
    /// The reader's CPU.
    pub reader_cpu: usize,
}

/// Case counts by outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Ran and checked.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Not run here.
    pub skipped: usize,
}

impl Summary {
    /// Counts `cases`.
    pub fn of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.status {
                Status::Ok => s.passed += 1,
                Status::Failed => s.failed += 1,
                Status::Skipped => s.skipped += 1,
            }
        }
        s
    }
}

/// The whole run (the JSON document).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "iu-bench".
    pub tool: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// The command line.
    pub command: String,
    /// `uname -r` and `-v`.
    pub kernel: String,
    /// What the kernel offers.
    pub caps: Caps,
    /// Thread placement, if pinned.
    pub pinned: Option<Pinned>,
    /// Settings of every case.
    pub settings: Settings,
    /// Outcome counts.
    pub summary: Summary,
    /// Every case.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// The JSON document: one top-level field per line and one case per
    /// line (long arrays pretty-printed would be thousands of lines on the
    /// VM's serial console; one huge line would be cut up by kernel
    /// messages more easily).
    pub fn json(&self) -> String {
        let mut o = String::from("{\n");
        let fields: [(&str, String); 9] = [
            ("tool", v(&self.tool)),
            ("version", v(&self.version)),
            ("command", v(&self.command)),
            ("kernel", v(&self.kernel)),
            ("caps", v(&self.caps)),
            ("pinned", v(&self.pinned)),
            ("settings", v(&self.settings)),
            ("summary", v(&self.summary)),
            ("cases", String::new()),
        ];
        for (name, val) in &fields[..fields.len() - 1] {
            let _ = writeln!(o, "  \"{name}\": {val},");
        }
        o.push_str("  \"cases\": [\n");
        for (i, c) in self.cases.iter().enumerate() {
            let sep = if i + 1 < self.cases.len() { "," } else { "" };
            let _ = writeln!(o, "    {}{sep}", v(c));
        }
        o.push_str("  ]\n}\n");
        o
    }

    /// The stock poll result this case is compared with: same type, kind
    /// and reader mode (blocking and epoll readers sleep).
    fn baseline(&self, c: &CaseResult) -> Option<&CaseResult> {
        self.cases.iter().find(|b| {
            b.status == Status::Ok
                && b.method == Method::Poll
                && b.file_type == c.file_type
                && b.kind == c.kind
                && b.mode == c.mode
        })
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let s = &self.settings;
        let avail = |a: &crate::run::Avail| match &a.reason {
            None => "available".to_string(),
            Some(r) => format!("**not available** ({r})"),
        };
        let _ = writeln!(
            m,
            "# iu-bench: io_uring inline reads against the stock paths\n"
        );
        let _ = writeln!(
            m,
            "> **Times measured under QEMU TCG are emulated**: absolute microseconds and \
             messages per second are not hardware figures. The ratios against the stock \
             poll path and the context-switch counts are the figures that carry over.\n"
        );
        let _ = writeln!(m, "- kernel: `{}`", self.kernel);
        let _ = writeln!(m, "- command: `{}`", self.command);
        let _ = writeln!(
            m,
            "- io_uring: {}; `IORING_FEAT_INLINE_READ`: {}; `DEFER_TASKRUN`: {}",
            avail(&self.caps.io_uring),
            avail(&self.caps.inline_read),
            avail(&self.caps.defer_taskrun)
        );
        let _ = writeln!(
            m,
            "- CPUs: {}; {}",
            self.caps.cpus.len(),
            match &self.pinned {
                Some(p) => format!(
                    "writer pinned to CPU {}, reader to CPU {}",
                    p.writer_cpu, p.reader_cpu
                ),
                None => "threads not pinned".into(),
            }
        );
        let _ = writeln!(
            m,
            "- per case: at most {} measured messages or {} s of writing, after {} warm-up \
             messages; batch K = {}; pipe message {} bytes{}",
            s.messages,
            s.time_s,
            s.warmup,
            s.batch,
            s.msg_size,
            if s.smoke {
                "; **smoke run**: correctness only, figures meaningless"
            } else {
                ""
            }
        );
        let sm = &self.summary;
        let _ = writeln!(
            m,
            "- cases: {} passed, {} failed, {} skipped\n",
            sm.passed, sm.failed, sm.skipped
        );

        let mut types: Vec<&str> = Vec::new();
        for c in &self.cases {
            if !types.contains(&c.file_type.as_str()) {
                types.push(&c.file_type);
            }
        }
        for ty in types {
            let _ = writeln!(m, "## {ty}\n");
            let ft = crate::types::by_name(ty);
            if let Some(note) = ft.and_then(|t| t.note()) {
                let _ = writeln!(m, "{note}\n");
            }
            let coalesces = ft.is_some_and(|t| t.coalesces());
            for kind in Kind::ALL {
                let rows: Vec<&CaseResult> = self
                    .cases
                    .iter()
                    .filter(|c| c.file_type == ty && c.kind == kind)
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                self.kind_table(&mut m, kind, &rows, coalesces);
            }
        }
        self.legend(&mut m);
        let odd: Vec<&CaseResult> = self
            .cases
            .iter()
            .filter(|c| c.status != Status::Ok || !c.notes.is_empty())
            .collect();
        if !odd.is_empty() {
            let _ = writeln!(m, "## Skipped, failed and noted cases\n");
            for c in odd {
                let mut what = match c.status {
                    Status::Ok => "ok".to_string(),
                    Status::Skipped => "skipped".to_string(),
                    Status::Failed => "**FAILED**".to_string(),
                };
                if let Some(r) = &c.reason {
                    let _ = write!(what, ": {r}");
                }
                for n in &c.notes {
                    let _ = write!(what, "; note: {n}");
                }
                let _ = writeln!(
                    m,
                    "- {} {} {} {}: {what}",
                    c.file_type,
                    c.kind.name(),
                    c.mode.name(),
                    c.method.name()
                );
            }
            m.push('\n');
        }
        m
    }

    /// One table; `coalesces`: the type's reads may deliver several
    /// messages (the throughput table then shows msgs/read).
    fn kind_table(&self, m: &mut String, kind: Kind, rows: &[&CaseResult], coalesces: bool) {
        let k = rows.first().map_or(1, |c| c.channels);
        let per_read = coalesces && kind == Kind::Throughput;
        let (title, head) = match kind {
            Kind::Latency => (
                "One-way latency: writer's system call to the reader seeing the completion".to_string(),
                "| reader | method | p50 µs | p99 µs | p99.9 µs | p50 ×poll | p99 ×poll | reader csw/msg | reader CPU µs/msg | ×poll | reader sys µs/msg | writer CPU µs/msg | ×poll | send CPU µs/msg | ×poll | io-wq | inline done/armed/fallback |",
            ),
            Kind::Throughput => (
                "Throughput: unpaced writer, the reader re-arms at once".to_string(),
                if per_read {
                    "| reader | method | msgs/s | ×poll | msgs/read | reader csw/msg | writer csw/msg | reader CPU µs/msg | ×poll | writer CPU µs/msg | ×poll | io-wq | inline done/armed/fallback |"
                } else {
                    "| reader | method | msgs/s | ×poll | reader csw/msg | writer csw/msg | reader CPU µs/msg | ×poll | writer CPU µs/msg | ×poll | io-wq | inline done/armed/fallback |"
                },
            ),
            Kind::Batch => (
                format!("Batch: {k} files, one message each per round, the reader waits for all {k}"),
                "| reader | method | msg p50 µs | msg p99 µs | round p50 µs | round p99 µs | round p50 ×poll | reader csw/round | ×poll | reader CPU µs/msg | ×poll | send CPU µs/msg | ×poll | inline done/armed/fallback |",
            ),
        };
        let _ = writeln!(m, "### {title}\n");
        let _ = writeln!(m, "{head}");
        let cols = head.matches('|').count() - 1;
        let _ = writeln!(m, "|{}", "---|".repeat(cols));
        for c in rows {
            let mut cells = vec![reader_label(c), c.method.name().to_string()];
            if c.status != Status::Ok {
                cells.push(match c.status {
                    Status::Skipped => "skipped".into(),
                    _ => "**FAILED**".into(),
                });
                cells.resize(cols, "–".into());
                let _ = writeln!(m, "| {} |", cells.join(" | "));
                continue;
            }
            let b = self.baseline(c);
            let rd = c.reader.as_ref();
            let wr = c.writer.as_ref();
            let bl = b.and_then(|b| b.latency.as_ref());
            let brd = b.and_then(|b| b.reader.as_ref());
            let bwr = b.and_then(|b| b.writer.as_ref());
            let lat = c.latency.as_ref();
            let rcpu = rd.map(|s| s.cpu_ns_per_msg);
            let wcpu = wr.map(|s| s.cpu_ns_per_msg);
            let send = wr.and_then(|s| s.send_cpu_ns_per_msg);
            let bsend = bwr.and_then(|s| s.send_cpu_ns_per_msg);
            match kind {
                Kind::Latency => cells.extend([
                    us(lat.map(|l| l.p50_ns as f64)),
                    us(lat.map(|l| l.p99_ns as f64)),
                    us(lat.map(|l| l.p999_ns as f64)),
                    ratio(lat.map(|l| l.p50_ns as f64), bl.map(|l| l.p50_ns as f64)),
                    ratio(lat.map(|l| l.p99_ns as f64), bl.map(|l| l.p99_ns as f64)),
                    num(rd.map(|s| s.switches_per_msg)),
                    us(rcpu),
                    ratio(rcpu, brd.map(|s| s.cpu_ns_per_msg)),
                    us(rd.map(|s| s.sys_ns_per_msg)),
                    us(wcpu),
                    ratio(wcpu, bwr.map(|s| s.cpu_ns_per_msg)),
                    us(send),
                    ratio(send, bsend),
                    iowq(c),
                    inline(c),
                ]),
                Kind::Throughput => {
                    cells.extend([
                        format!("{:.0}", c.msgs_per_s),
                        ratio(Some(c.msgs_per_s), b.map(|b| b.msgs_per_s)),
                    ]);
                    if per_read {
                        cells.push(num(
                            (c.reads > 0).then(|| c.messages as f64 / c.reads as f64)
                        ));
                    }
                    cells.extend([
                        num(rd.map(|s| s.switches_per_msg)),
                        num(wr.map(|s| s.switches_per_msg)),
                        us(rcpu),
                        ratio(rcpu, brd.map(|s| s.cpu_ns_per_msg)),
                        us(wcpu),
                        ratio(wcpu, bwr.map(|s| s.cpu_ns_per_msg)),
                        iowq(c),
                        inline(c),
                    ]);
                }
                Kind::Batch => {
                    let rl = c.round_latency.as_ref();
                    let brl = b.and_then(|b| b.round_latency.as_ref());
                    let kk = c.channels as f64;
                    let csw = rd.map(|s| s.switches_per_msg * kk);
                    cells.extend([
                        us(lat.map(|l| l.p50_ns as f64)),
                        us(lat.map(|l| l.p99_ns as f64)),
                        us(rl.map(|l| l.p50_ns as f64)),
                        us(rl.map(|l| l.p99_ns as f64)),
                        ratio(rl.map(|l| l.p50_ns as f64), brl.map(|l| l.p50_ns as f64)),
                        num(csw),
                        ratio(
                            csw,
                            brd.map(|s| s.switches_per_msg * kk).filter(|&b| b >= 0.05),
                        ),
                        us(rcpu),
                        ratio(rcpu, brd.map(|s| s.cpu_ns_per_msg)),
                        us(send),
                        ratio(send, bsend),
                        inline(c),
                    ]);
                }
            }
            let _ = writeln!(m, "| {} |", cells.join(" | "));
        }
        m.push('\n');
    }

    fn legend(&self, m: &mut String) {
        let _ = writeln!(m, "## How to read the tables\n");
        let _ = writeln!(m, "Methods:\n");
        for meth in Method::ALL {
            let _ = writeln!(m, "- `{}`: {}", meth.name(), meth.describe());
        }
        let _ = writeln!(
            m,
            "\nReader: `busy` spins on the CQ in user space without system calls (a \
             `DEFER_TASKRUN` ring only posts CQEs when its submitter enters the kernel, so \
             there it spins on `io_uring_enter(GETEVENTS, min_complete=0)`); `sleep` sleeps \
             in `io_uring_enter(GETEVENTS, min_complete=K)`; `sleep (read)` and \
             `sleep (epoll)` sleep in `read(2)` and `epoll_wait(2)`.\n"
        );
        let _ = writeln!(
            m,
            "- latency: the writer stamps `CLOCK_MONOTONIC` into the message just before \
             its `write(2)` (eventfd, uffd, signalfd and fuse, whose messages cannot carry it: \
             into shared memory, indexed by sequence number; uffd: just before the faulting \
             load; signalfd: just before `rt_tgsigqueueinfo(2)`; fuse: just before the \
             `stat(2)` or `pread(2)` on the mount); the reader \
             subtracts it from the time it sees the completion. \
             Latency and batch cases are paced: the writer writes only once the reader's \
             reads are armed (busy: it spins on a shared counter; sleep: it sleeps on a \
             futex the reader wakes: one futex wake per round for the reader, one switch \
             per round for the writer, the same for every method).\n\
             - ×poll: the value divided by the stock `poll` method's for the same file \
             type, measurement and reader mode (blocking and epoll against `poll` with a \
             sleeping reader). Below 1 is less time, fewer switches or less CPU; for \
             msgs/s above 1 is faster.\n\
             - msgs/s, msgs/read (counter types: eventfd): a read takes the whole counter, \
             so one read may deliver several messages (writes of 1); messages are the sum of \
             the values read, msgs/s is increments delivered per second and the per-message \
             costs are per increment; msgs/read is the average coalescing.\n\
             - csw: voluntary + involuntary context switches of the thread \
             (`getrusage(RUSAGE_THREAD)`); CPU: its user + system time, per message \
             (terminator messages included in the divisor); a busy-polling reader's CPU \
             is mostly its spinning, its system time is the kernel work it still does \
             (submissions, task_work reads on the stock path). `getrusage` splits user and \
             system time by tick sampling: read the split over many messages only.\n\
             - send CPU: the writer's CPU time inside its sending system calls alone \
             (`CLOCK_THREAD_CPUTIME_ID` around them, excluding the pacing wait): on the \
             inline path it includes the read and completion done for the reader.\n\
             - io-wq: `iou-wrk-*` threads created during the case (sampled from \
             `/proc/self/task`).\n\
             - inline done/armed/fallback: the ring's fdinfo counters \
             `InlineReadCompleted`, `InlineReadArmed` and `InlineReadFallback`.\n"
        );
    }

    /// Everything, between the markers the VM's output is split on.
    pub fn markers(&self, svgs: &[(String, String)]) -> String {
        let mut o = String::new();
        o.push_str("@@@ BENCH-JSON BEGIN\n");
        o.push_str(&self.json());
        o.push_str("@@@ BENCH-JSON END\n");
        o.push_str("@@@ BENCH-MD BEGIN\n");
        o.push_str(&self.markdown());
        o.push_str("@@@ BENCH-MD END\n");
        for (name, svg) in svgs {
            let _ = writeln!(o, "@@@ BENCH-SVG BEGIN {name}");
            o.push_str(svg);
            if !svg.ends_with('\n') {
                o.push('\n');
            }
            let _ = writeln!(o, "@@@ BENCH-SVG END {name}");
        }
        o
    }
}

/// Compact JSON of `x`.
fn v<T: Serialize + ?Sized>(x: &T) -> String {
    serde_json::to_string(x).expect("the report serializes")
}

fn reader_label(c: &CaseResult) -> String {
    match (c.method, c.mode) {
        (Method::Blocking, _) => "sleep (read)".into(),
        (Method::Epoll, _) => "sleep (epoll)".into(),
        (_, Mode::Busy) => "busy".into(),
        (_, Mode::Sleep) => "sleep".into(),
    }
}

/// Nanoseconds as microseconds with about three significant digits.
fn us(ns: Option<f64>) -> String {
    match ns {
        None => "–".into(),
        Some(ns) => {
            let v = ns / 1000.0;
            if v >= 100.0 {
                format!("{v:.0}")
            } else if v >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        }
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 && v.is_finite() => format!("{:.2}x", v / b),
        _ => "–".into(),
    }
}

fn iowq(c: &CaseResult) -> String {
    c.iowq_workers
        .as_ref()
        .map_or("–".into(), |w| w.created.to_string())
}

fn inline(c: &CaseResult) -> String {
    let g = |k: &str| c.inline_counters.get(k).copied();
    match (
        g("InlineReadCompleted"),
        g("InlineReadArmed"),
        g("InlineReadFallback"),
    ) {
        (Some(d), Some(a), Some(f)) => format!("{d}/{a}/{f}"),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(us(Some(1234.0)), "1.23");
        assert_eq!(us(Some(12345.0)), "12.3");
        assert_eq!(us(Some(123456.0)), "123");
        assert_eq!(us(None), "–");
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25x");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
    }
}
