// SPDX-License-Identifier: GPL-2.0

//! `iu-bench`: measures io_uring reads completed inline in the writer's
//! context (`IORING_SETUP_INLINE_READ`) against the stock io_uring paths, a
//! blocking `read(2)` thread and epoll, per file type, in one boot.
//!
//! See `README.md` for what is measured and how; `--help` for the options.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod case;
mod cli;
mod pace;
mod reader;
mod report;
mod ring;
mod run;
mod svg;
mod sys;
mod types;
mod writer;

use std::io::Write as _;
use std::path::Path;

use case::{cases, Settings};
use report::{Pinned, Report, Summary};
use run::{CaseResult, Status};

fn main() {
    std::process::exit(real_main());
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn real_main() -> i32 {
    let opts = match cli::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("iu-bench: {e} (see --help)");
            return 2;
        }
    };
    if opts.help {
        println!("{}", cli::USAGE);
        return 0;
    }
    let all_types = types::all();
    let sel_types: Vec<&'static dyn types::FileType> = all_types
        .into_iter()
        .filter(|t| opts.types.iter().any(|n| n == t.name()))
        .collect();
    let list = cases(&sel_types, &opts.kinds, &opts.modes, &opts.methods);
    if opts.list {
        for c in &list {
            println!("{}", c.label());
        }
        return 0;
    }
    let say = |s: &str| {
        if !opts.quiet {
            eprintln!("iu-bench: {s}");
        }
    };
    if let Err(e) = sys::install_kick_handler() {
        eprintln!("iu-bench: {e}");
        return 1;
    }
    // Before any thread is started: every thread inherits it (signalfd
    // blocks its signals in all of them).
    for t in &sel_types {
        if let Err(e) = t.process_init() {
            eprintln!("iu-bench: {}: {e}", t.name());
            return 1;
        }
    }

    let caps = run::probe();
    let settings: Settings = opts.settings.clone();
    say(&format!("kernel {}", sys::kernel_version()));
    match &caps.io_uring.reason {
        None => say("io_uring: available"),
        // Said even with --quiet: every io_uring case is skipped.
        Some(r) => {
            eprintln!("iu-bench: io_uring is NOT available: {r}; io_uring cases are skipped")
        }
    }
    if caps.io_uring.available {
        match &caps.inline_read.reason {
            None => say("IORING_FEAT_INLINE_READ: present"),
            Some(r) => say(&format!("inline cases are skipped: {r}")),
        }
        if let Some(r) = &caps.defer_taskrun.reason {
            say(&format!("DEFER_TASKRUN cases are skipped: {r}"));
        }
    }
    let pinned = match (settings.pin, caps.cpus.as_slice()) {
        (true, [w, r, ..]) => Some(Pinned {
            writer_cpu: *w,
            reader_cpu: *r,
        }),
        _ => None,
    };

    let mut results: Vec<CaseResult> = Vec::new();
    let n = list.len();
    for (i, c) in list.iter().enumerate() {
        let r = run::run_case(c, &settings, &caps);
        let line = match r.status {
            Status::Ok => {
                let mut l = format!("ok, {} msgs in {:.2} s", r.messages, r.elapsed_s);
                if let Some(lat) = &r.latency {
                    l += &format!(", p50 {:.1} us", lat.p50_ns as f64 / 1000.0);
                }
                if c.kind == case::Kind::Throughput {
                    l += &format!(", {:.0} msgs/s", r.msgs_per_s);
                    if c.ty.coalesces() && r.reads > 0 {
                        l += &format!(", {:.2} msgs/read", r.messages as f64 / r.reads as f64);
                    }
                }
                for note in &r.notes {
                    l += &format!(" (note: {note})");
                }
                l
            }
            Status::Skipped => format!("skipped: {}", r.reason.as_deref().unwrap_or("")),
            Status::Failed => format!("FAILED: {}", r.reason.as_deref().unwrap_or("")),
        };
        if r.status == Status::Failed {
            eprintln!("iu-bench: [{}/{n}] {}: {line}", i + 1, c.label());
        } else {
            say(&format!("[{}/{n}] {}: {line}", i + 1, c.label()));
        }
        let fatal = r.fatal;
        results.push(r);
        if fatal {
            eprintln!("iu-bench: the case's threads are stuck in the kernel; stopping the run");
            break;
        }
    }

    let summary = Summary::of(&results);
    let report = Report {
        tool: "iu-bench",
        version: env!("CARGO_PKG_VERSION"),
        command: std::iter::once("iu-bench".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        kernel: sys::kernel_version(),
        caps: caps.clone(),
        pinned,
        settings,
        summary: summary.clone(),
        cases: results,
    };
    let svgs: Vec<(String, String)> = sel_types
        .iter()
        .filter_map(|t| {
            Some((
                svg::file_name(t.name()),
                svg::latency_cdf(t.name(), &report.cases)?,
            ))
        })
        .collect();

    let mut status = 0;
    let mut out = |r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("iu-bench: {e}");
            status = 1;
        }
    };
    if let Some(p) = &opts.json {
        out(write_file(p, &report.json()));
    }
    if let Some(p) = &opts.markdown {
        out(write_file(p, &report.markdown()));
    }
    if let Some(d) = &opts.svg_dir {
        out(std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display())));
        for (name, text) in &svgs {
            out(write_file(&d.join(name), text));
        }
    }
    if opts.emit_markers {
        let mut so = std::io::stdout().lock();
        out(so
            .write_all(report.markers(&svgs).as_bytes())
            .and_then(|()| so.flush())
            .map_err(|e| format!("stdout: {e}")));
    }

    if summary.failed > 0 {
        status = 1;
    }
    if opts.require_inline && !caps.inline_read.available {
        eprintln!("iu-bench: --require-inline: IORING_FEAT_INLINE_READ is not available");
        status = 1;
    }
    let inline_selected = opts.methods.iter().any(|m| m.is_inline());
    if opts.settings.smoke && inline_selected && !caps.inline_read.available && !opts.quiet {
        eprintln!("iu-bench: note: inline cases were skipped (host kernel without the series)");
    }
    // The closing line test runners count.
    println!(
        "iu-bench: {} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    status
}
