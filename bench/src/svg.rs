// SPDX-License-Identifier: GPL-2.0

//! Latency CDF plots, one SVG per file type, written by hand (no plotting
//! or font library: the SVG names a generic font family that the viewer
//! supplies). One panel per measurement and reader mode with latency data;
//! the x axis is logarithmic, one line per method.

use std::fmt::Write as _;

use crate::case::{Kind, Method, Mode};
use crate::run::{CaseResult, Status};

const PANEL_W: f64 = 560.0;
const PANEL_H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 130.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const TITLE_H: f64 = 36.0;

fn color(m: Method) -> &'static str {
    match m {
        Method::Inline => "#d62728",
        Method::Poll => "#1f77b4",
        Method::Defer => "#2ca02c",
        Method::InlineDefer => "#ff7f0e",
        Method::Iowq => "#9467bd",
        Method::Blocking => "#8c564b",
        Method::Epoll => "#7f7f7f",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Microseconds label of `10^d` nanoseconds.
fn decade_label(d: i32) -> String {
    let us = 10f64.powi(d) / 1000.0;
    if us >= 1.0 {
        format!("{us:.0}")
    } else {
        format!("{us}")
    }
}

struct Panel<'a> {
    title: String,
    lines: Vec<(Method, &'a [[f64; 2]])>,
}

/// The file name of `ty`'s plot.
pub fn file_name(ty: &str) -> String {
    format!("{ty}-latency-cdf.svg")
}

/// The CDF plot of `ty`, or `None` if no case of it has latency data.
pub fn latency_cdf(ty: &str, cases: &[CaseResult]) -> Option<String> {
    let mut panels = Vec::new();
    for (kind, what) in [
        (Kind::Latency, "one-way latency"),
        (Kind::Batch, "batch, per message"),
    ] {
        for mode in Mode::ALL {
            let lines: Vec<(Method, &[[f64; 2]])> = cases
                .iter()
                .filter(|c| {
                    c.file_type == ty && c.kind == kind && c.mode == mode && c.status == Status::Ok
                })
                .filter_map(|c| Some((c.method, c.latency.as_ref()?.cdf.as_slice())))
                .filter(|(_, cdf)| !cdf.is_empty())
                .collect();
            if !lines.is_empty() {
                let reader = match mode {
                    Mode::Busy => "reader busy-polling",
                    Mode::Sleep => "reader sleeping",
                };
                panels.push(Panel {
                    title: format!("{what}, {reader}"),
                    lines,
                });
            }
        }
    }
    if panels.is_empty() {
        return None;
    }
    let cols = panels.len().min(2);
    let rows = panels.len().div_ceil(2);
    let w = cols as f64 * PANEL_W;
    let h = TITLE_H + rows as f64 * PANEL_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">{}: latency CDF (under QEMU TCG times are emulated: compare the lines)</text>"#,
        w / 2.0,
        esc(ty)
    );
    for (i, p) in panels.iter().enumerate() {
        let x0 = (i % 2) as f64 * PANEL_W;
        let y0 = TITLE_H + (i / 2) as f64 * PANEL_H;
        panel(&mut s, p, x0, y0);
    }
    s.push_str("</svg>\n");
    Some(s)
}

fn panel(s: &mut String, p: &Panel, x0: f64, y0: f64) {
    let pw = PANEL_W - LEFT - RIGHT;
    let ph = PANEL_H - TOP - BOTTOM;
    let (px, py) = (x0 + LEFT, y0 + TOP);
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for (_, cdf) in &p.lines {
        for pt in cdf.iter() {
            lo = lo.min(pt[0].max(1.0));
            hi = hi.max(pt[0].max(1.0));
        }
    }
    let dlo = lo.log10().floor() as i32;
    let mut dhi = hi.log10().ceil() as i32;
    if dhi <= dlo {
        dhi = dlo + 1;
    }
    let xs = |v: f64| px + (v.max(1.0).log10() - dlo as f64) / (dhi - dlo) as f64 * pw;
    let ys = |q: f64| py + (1.0 - q) * ph;

    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
        px + pw / 2.0,
        py - 12.0,
        esc(&p.title)
    );
    // Grid, ticks and labels.
    for d in dlo..=dhi {
        let x = xs(10f64.powi(d));
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{py:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
            py + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            py + ph + 16.0,
            decade_label(d)
        );
    }
    for q in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
        let y = ys(q);
        let _ = writeln!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            px + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{q}</text>"#,
            px - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency (µs, log scale)</text>"#,
        px + pw / 2.0,
        py + ph + 36.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">fraction of messages ≤ x</text>"#,
        x0 + 16.0,
        py + ph / 2.0
    );
    // One line per method, and the legend.
    for (j, (m, cdf)) in p.lines.iter().enumerate() {
        let pts: Vec<String> = cdf
            .iter()
            .map(|pt| format!("{:.1},{:.1}", xs(pt[0]), ys(pt[1])))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            color(*m),
            pts.join(" ")
        );
        let ly = py + 14.0 + j as f64 * 18.0;
        let lx = px + pw + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="3"/>"#,
            lx + 22.0,
            color(*m)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 28.0,
            ly + 4.0,
            m.name()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_empty() {
        assert_eq!(decade_label(3), "1");
        assert_eq!(decade_label(5), "100");
        assert_eq!(decade_label(2), "0.1");
        assert!(latency_cdf("pipe", &[]).is_none());
        assert_eq!(esc("a<b&c"), "a&lt;b&amp;c");
    }
}
