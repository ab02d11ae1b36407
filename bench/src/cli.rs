// SPDX-License-Identifier: GPL-2.0

//! Command-line options.

use std::path::PathBuf;

use crate::case::{Kind, Method, Mode, Settings};
use crate::types;

/// `--help` text.
pub const USAGE: &str = "\
usage: iu-bench [options]

Benchmarks io_uring reads completed inline by the writer (IORING_SETUP_INLINE_READ)
against the stock io_uring paths, a blocking read(2) thread and epoll, per file type.

Selection (comma-separated lists; default: everything):
  --types LIST        file types: pipe,eventfd,uffd,signalfd,fuse,fuse-read
                      (default: all)
  --kinds LIST        latency,throughput,batch
  --modes LIST        reader modes: busy,sleep
  --methods LIST      inline,poll,defer,inline-defer,iowq,blocking,epoll
  --list              print the selected cases and exit

Budgets (per case):
  --messages N        measured messages, at most (default 20000; smoke 40)
  --time SECS         writer's time budget (default 2; smoke 1)
  --warmup N          messages left out of the figures (default 100; smoke 4)
  --batch K           files in the batch case (default 8; smoke 4)
  --msg-size BYTES    pipe message size, 24..=4096 (default 64)
  --case-timeout SECS a case still running after this has hung and fails
                      (default 3 x time + 10)
  --no-pin            do not pin the writer and the reader to two CPUs

Outputs:
  --json PATH         results as JSON
  --markdown PATH     table with ratios against the stock poll path
  --svg-dir DIR       latency CDF plots, <type>-latency-cdf.svg
  --emit-markers      print all of them to stdout between @@@ BENCH-* markers
  -q, --quiet         no progress lines on stderr

Checks:
  --smoke             every case with a tiny budget; exit 1 if any fails
  --require-inline    fail if the kernel lacks IORING_FEAT_INLINE_READ
  --inject-loss N     harness self-test: the writer leaves out message N of
                      one file; every case must then fail (data check or hang)
  -h, --help          this text

Exit status: 0 all selected cases passed or were skipped, 1 a case failed
(or --require-inline was not met), 2 usage error.";

/// Parsed options.
#[derive(Debug)]
pub struct Opts {
    /// Selected types (names).
    pub types: Vec<String>,
    /// Selected kinds.
    pub kinds: Vec<Kind>,
    /// Selected reader modes.
    pub modes: Vec<Mode>,
    /// Selected methods.
    pub methods: Vec<Method>,
    /// Settings of every case.
    pub settings: Settings,
    /// JSON output path.
    pub json: Option<PathBuf>,
    /// Markdown output path.
    pub markdown: Option<PathBuf>,
    /// SVG directory.
    pub svg_dir: Option<PathBuf>,
    /// Print everything between markers.
    pub emit_markers: bool,
    /// Fail without the feature.
    pub require_inline: bool,
    /// Only list the cases.
    pub list: bool,
    /// No progress lines.
    pub quiet: bool,
    /// Print the usage.
    pub help: bool,
}

fn list<T>(v: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(s).ok_or_else(|| format!("unknown {what} '{s}'")))
        .collect()
}

/// Parses the command line.
pub fn parse() -> Result<Opts, String> {
    parse_from(std::env::args_os().skip(1))
}

/// Parses `args` (without the program name).
pub fn parse_from<I>(args: I) -> Result<Opts, String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Opts {
        types: types::all().iter().map(|t| t.name().to_string()).collect(),
        kinds: Kind::ALL.to_vec(),
        modes: Mode::ALL.to_vec(),
        methods: Method::ALL.to_vec(),
        settings: Settings {
            messages: 0,
            time_s: 0.0,
            warmup: 0,
            batch: 0,
            msg_size: 64,
            pin: true,
            case_timeout_s: 0.0,
            smoke: false,
            inject_loss: None,
        },
        json: None,
        markdown: None,
        svg_dir: None,
        emit_markers: false,
        require_inline: false,
        list: false,
        quiet: false,
        help: false,
    };
    let (mut messages, mut time, mut warmup, mut batch, mut timeout) =
        (None, None, None, None, None);
    let e = |e: lexopt::Error| e.to_string();
    while let Some(arg) = p.next().map_err(e)? {
        match arg {
            Long("types") => {
                o.types = list(&p.value().map_err(e)?.string().map_err(e)?, "type", |s| {
                    types::by_name(s).map(|t| t.name().to_string())
                })?;
            }
            Long("kinds") => {
                o.kinds = list(
                    &p.value().map_err(e)?.string().map_err(e)?,
                    "kind",
                    Kind::parse,
                )?
            }
            Long("modes") => {
                o.modes = list(
                    &p.value().map_err(e)?.string().map_err(e)?,
                    "mode",
                    Mode::parse,
                )?
            }
            Long("methods") => {
                o.methods = list(
                    &p.value().map_err(e)?.string().map_err(e)?,
                    "method",
                    Method::parse,
                )?
            }
            Long("list") => o.list = true,
            Long("messages") => messages = Some(p.value().map_err(e)?.parse::<u64>().map_err(e)?),
            Long("time") => time = Some(p.value().map_err(e)?.parse::<f64>().map_err(e)?),
            Long("warmup") => warmup = Some(p.value().map_err(e)?.parse::<u64>().map_err(e)?),
            Long("batch") => batch = Some(p.value().map_err(e)?.parse::<usize>().map_err(e)?),
            Long("msg-size") => o.settings.msg_size = p.value().map_err(e)?.parse().map_err(e)?,
            Long("case-timeout") => {
                timeout = Some(p.value().map_err(e)?.parse::<f64>().map_err(e)?)
            }
            Long("no-pin") => o.settings.pin = false,
            Long("json") => o.json = Some(p.value().map_err(e)?.into()),
            Long("markdown") => o.markdown = Some(p.value().map_err(e)?.into()),
            Long("svg-dir") => o.svg_dir = Some(p.value().map_err(e)?.into()),
            Long("emit-markers") => o.emit_markers = true,
            Short('q') | Long("quiet") => o.quiet = true,
            Long("smoke") => o.settings.smoke = true,
            Long("require-inline") => o.require_inline = true,
            Long("inject-loss") => {
                o.settings.inject_loss = Some(p.value().map_err(e)?.parse().map_err(e)?)
            }
            Short('h') | Long("help") => o.help = true,
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let smoke = o.settings.smoke;
    let s = &mut o.settings;
    s.messages = messages.unwrap_or(if smoke { 40 } else { 20_000 });
    s.time_s = time.unwrap_or(if smoke { 1.0 } else { 2.0 });
    s.warmup = warmup.unwrap_or(if smoke { 4 } else { 100 });
    s.batch = batch.unwrap_or(if smoke { 4 } else { 8 });
    s.case_timeout_s = timeout.unwrap_or(3.0 * s.time_s + 10.0);
    if !(s.time_s > 0.0 && s.time_s.is_finite()) {
        return Err("--time must be positive".into());
    }
    if !(s.case_timeout_s > 0.0 && s.case_timeout_s.is_finite()) {
        return Err("--case-timeout must be positive".into());
    }
    if s.batch == 0 || s.batch > 256 {
        return Err("--batch must be 1..=256".into());
    }
    if s.messages == 0 {
        return Err("--messages must be positive".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_smoke() {
        let o = parse_from(Vec::<String>::new()).unwrap();
        assert_eq!(o.settings.messages, 20_000);
        assert_eq!(o.methods.len(), 7);
        let o = parse_from(["--smoke", "--methods", "poll,epoll", "--time", "0.5"]).unwrap();
        assert!(o.settings.smoke);
        assert_eq!(o.settings.messages, 40);
        assert_eq!(o.settings.time_s, 0.5);
        assert_eq!(o.methods, vec![Method::Poll, Method::Epoll]);
        assert!(parse_from(["--methods", "nope"]).is_err());
        assert!(parse_from(["--types", "fifo"]).is_err());
        assert_eq!(
            o.types,
            vec!["pipe", "eventfd", "uffd", "signalfd", "fuse", "fuse-read"]
        );
        assert!(USAGE.contains("pipe,eventfd,uffd,signalfd,fuse,fuse-read\n"));
        let o = parse_from(["--types", "eventfd"]).unwrap();
        assert_eq!(o.types, vec!["eventfd"]);
        let o = parse_from(["--types", "uffd,pipe"]).unwrap();
        assert_eq!(o.types, vec!["uffd", "pipe"]);
        let o = parse_from(["--types", "signalfd"]).unwrap();
        assert_eq!(o.types, vec!["signalfd"]);
        let o = parse_from(["--types", "fuse-read,fuse"]).unwrap();
        assert_eq!(o.types, vec!["fuse-read", "fuse"]);
    }
}
