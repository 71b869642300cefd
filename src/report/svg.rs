//! Plots as inline SVG, drawn on the server so the report needs no script to be read (script
//! only adds zooming). Every plot shades the fault windows.

use std::collections::HashMap;
use std::fmt::Write;

use super::junit::esc;
use super::run_data::{FaultWindow, Op, Outcome};

pub const WIDTH: f64 = 1100.0;
const LANE: f64 = 12.0;

pub fn outcome_color(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "#58a55c",
        Outcome::Fail => "#d9534f",
        Outcome::Info => "#f0ad4e",
    }
}

pub fn fault_color(fault: &str) -> &'static str {
    match fault {
        "kill" => "#c0392b",
        "pause" => "#2e86c1",
        "partition" | "start-partition" => "#8e44ad",
        "loss" => "#d68910",
        "slow" => "#17a589",
        "delay" => "#a04000",
        "clock" => "#b7950b",
        "remove" => "#1e8449",
        "replace" => "#6c3483",
        _ => "#7f8c8d",
    }
}

/// Maps time to x over the plot's width.
#[derive(Clone, Copy)]
pub struct TimeScale {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl TimeScale {
    pub fn x(&self, t: u64) -> f64 {
        let span = self.end_ns.saturating_sub(self.start_ns).max(1) as f64;
        (t.saturating_sub(self.start_ns) as f64 / span * WIDTH).clamp(0.0, WIDTH)
    }
}

fn shade_windows(out: &mut String, windows: &[FaultWindow], ts: TimeScale, height: f64) {
    for w in windows {
        let x0 = ts.x(w.start_ns);
        let x1 = ts.x(w.end_ns.unwrap_or(ts.end_ns));
        let _ = write!(
            out,
            "<rect class=\"fault-window\" data-fault=\"{}\" x=\"{x0:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\" fill-opacity=\"0.13\"><title>{} {} ({:.2}s–{})</title></rect>",
            esc(&w.fault),
            (x1 - x0).max(1.0),
            fault_color(&w.fault),
            esc(&w.fault),
            esc(&w.detail),
            w.start_ns as f64 / 1e9,
            w.end_ns.map(|e| format!("{:.2}s", e as f64 / 1e9)).unwrap_or_else(|| "end".into()),
        );
    }
}

/// Assigns processes to lanes so that a retired process's lane is reused by its successor:
/// lanes stay close to the client count however many processes crashed.
pub fn lanes(ops: &[Op]) -> HashMap<u64, usize> {
    let mut span: HashMap<u64, (u64, u64)> = HashMap::new();
    for op in ops {
        let end = op.complete_ns.unwrap_or(u64::MAX);
        let e = span.entry(op.process).or_insert((op.invoke_ns, end));
        e.0 = e.0.min(op.invoke_ns);
        e.1 = e.1.max(end);
    }
    let mut procs: Vec<(u64, (u64, u64))> = span.into_iter().collect();
    procs.sort_by_key(|(p, (start, _))| (*start, *p));
    let mut lane_free_at: Vec<u64> = Vec::new();
    let mut out = HashMap::new();
    for (p, (start, end)) in procs {
        let lane = match lane_free_at.iter().position(|&free| free <= start) {
            Some(l) => l,
            None => {
                lane_free_at.push(0);
                lane_free_at.len() - 1
            }
        };
        lane_free_at[lane] = end;
        out.insert(p, lane);
    }
    out
}

/// The operations timeline: one lane per client slot, a bar from invoke to completion coloured by
/// outcome, indeterminate operations drawn to the end of the run.
pub fn timeline(ops: &[Op], windows: &[FaultWindow], ts: TimeScale, id: &str) -> String {
    let lanes = lanes(ops);
    let n_lanes = lanes.values().max().map(|m| m + 1).unwrap_or(1);
    // A strip on top names the faults in full colour; the shading over the lanes is drawn last so
    // dense bars do not hide it.
    const STRIP: f64 = 10.0;
    let height = n_lanes as f64 * LANE + STRIP + 4.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"{id}\" class=\"timeline zoomable\" viewBox=\"0 0 {WIDTH} {height}\" preserveAspectRatio=\"none\" width=\"100%\" height=\"{height}\">"
    );
    for w in windows {
        let x0 = ts.x(w.start_ns);
        let x1 = ts.x(w.end_ns.unwrap_or(ts.end_ns));
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"0\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{}\"><title>{} {}</title></rect>",
            (x1 - x0).max(1.0),
            STRIP - 3.0,
            fault_color(&w.fault),
            esc(&w.fault),
            esc(&w.detail)
        );
    }
    for op in ops {
        let lane = lanes[&op.process];
        let x0 = ts.x(op.invoke_ns);
        let x1 = ts.x(op.complete_ns.unwrap_or(ts.end_ns));
        let y = lane as f64 * LANE + STRIP;
        let open = if op.complete_ns.is_none() {
            " fill-opacity=\"0.45\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{y:.0}\" width=\"{:.2}\" height=\"{:.0}\" fill=\"{}\"{open}><title>{}</title></rect>",
            (x1 - x0).max(0.6),
            LANE - 3.0,
            outcome_color(op.outcome),
            esc(&describe(op)),
        );
    }
    shade_windows(&mut out, windows, ts, height);
    out.push_str("</svg>");
    out
}

pub fn describe(op: &Op) -> String {
    let key = op
        .key
        .as_deref()
        .map(|k| format!(" {k}"))
        .unwrap_or_default();
    let lat = op
        .latency_ns()
        .map(|l| format!(", {:.1} ms", l as f64 / 1e6))
        .unwrap_or_else(|| ", never completed".into());
    format!(
        "p{} {}{key} {} → {} {} (t={:.3}s{lat})",
        op.process,
        op.f,
        compact(&op.call),
        op.outcome.name(),
        compact(&op.result),
        op.invoke_ns as f64 / 1e9,
    )
}

pub fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "nil".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Latency of completed operations over time, log scale.
pub fn latency(ops: &[Op], windows: &[FaultWindow], ts: TimeScale) -> String {
    let height = 220.0;
    let pts: Vec<(f64, f64, Outcome)> = ops
        .iter()
        .filter_map(|o| {
            o.latency_ns()
                .map(|l| (ts.x(o.invoke_ns), l.max(1) as f64 / 1e6, o.outcome))
        })
        .collect();
    let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (lo, hi) = if pts.is_empty() {
        (0.1, 1000.0)
    } else {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
        )
    };
    let y = |ms: f64| {
        height - 14.0 - (ms.log10() - lo.log10()) / (hi.log10() - lo.log10()) * (height - 24.0)
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"plot\" viewBox=\"-70 0 {} {height}\" width=\"100%\">",
        WIDTH + 80.0
    );
    shade_windows(&mut out, windows, ts, height - 14.0);
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        let yy = y(decade);
        let _ = write!(
            out,
            "<line x1=\"0\" x2=\"{WIDTH}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"-6\" y=\"{:.1}\" text-anchor=\"end\" class=\"axis\">{} ms</text>",
            yy + 4.0,
            fmt_ms(decade)
        );
        decade *= 10.0;
    }
    for (x, ms, o) in &pts {
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{}\"/>",
            y(*ms),
            outcome_color(*o)
        );
    }
    axis_seconds(&mut out, ts, height);
    out.push_str("</svg>");
    out
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 1.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms}")
    }
}

/// Seconds between the time axis' labels: a dozen at most, whatever the span. (A history with
/// one absurd time, found by fuzzing, made a fixed 20-minute step write 15 million labels: a
/// 2.4 GB report.)
fn axis_step(span_s: f64) -> f64 {
    if let Some(step) = [
        1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0,
    ]
    .into_iter()
    .find(|s| span_s / s <= 12.0)
    {
        return step;
    }
    // Past four hours: 1, 2 or 5 times a power of ten.
    let magnitude = 10f64.powf((span_s / 12.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| span_s / s <= 12.0)
        .unwrap_or(10.0 * magnitude)
}

fn axis_seconds(out: &mut String, ts: TimeScale, height: f64) {
    let span_s = ts.end_ns.saturating_sub(ts.start_ns) as f64 / 1e9;
    let step = axis_step(span_s);
    let mut t = 0.0;
    while t <= span_s {
        let x = t / span_s.max(1e-9) * WIDTH;
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"axis\">{t}s</text>",
            height - 2.0
        );
        t += step;
    }
}

/// Completions per time bin, one line per outcome.
pub fn throughput(
    bins: &[(f64, usize, usize, usize)],
    windows: &[FaultWindow],
    ts: TimeScale,
    bin_s: f64,
) -> String {
    let height = 200.0;
    let max = bins
        .iter()
        .map(|b| b.1.max(b.2).max(b.3))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / bin_s;
    let y = |n: usize| height - 14.0 - (n as f64 / bin_s) / max * (height - 24.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"plot\" viewBox=\"-70 0 {} {height}\" width=\"100%\">",
        WIDTH + 80.0
    );
    shade_windows(&mut out, windows, ts, height - 14.0);
    for frac in [0.0, 0.5, 1.0] {
        let v = max * frac;
        let yy = height - 14.0 - frac * (height - 24.0);
        let _ = write!(
            out,
            "<line x1=\"0\" x2=\"{WIDTH}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"-6\" y=\"{:.1}\" text-anchor=\"end\" class=\"axis\">{v:.0}/s</text>",
            yy + 4.0
        );
    }
    for (idx, outcome) in [Outcome::Ok, Outcome::Fail, Outcome::Info]
        .into_iter()
        .enumerate()
    {
        let mut pts = String::new();
        for b in bins {
            let n = [b.1, b.2, b.3][idx];
            let x = ts.x(ts.start_ns.saturating_add((b.0 * 1e9) as u64));
            let _ = write!(pts, "{x:.1},{:.1} ", y(n));
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{pts}\"><title>{}</title></polyline>",
            outcome_color(outcome),
            outcome.name()
        );
    }
    axis_seconds(&mut out, ts, height);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(process: u64, invoke: u64, complete: Option<u64>) -> Op {
        Op {
            index: 0,
            process,
            f: "write".into(),
            key: None,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome: Outcome::Ok,
            call: 1.into(),
            result: 1.into(),
        }
    }

    /// A dozen labels at most for any span, the short runs' steps unchanged.
    #[test]
    fn the_time_axis_has_a_dozen_labels_whatever_the_span() {
        for (span_ns, step) in [
            (10e9, 1.0),
            (60e9, 5.0),
            (3600e9, 300.0),
            (14_400e9, 1200.0),
        ] {
            assert_eq!(axis_step(span_ns / 1e9), step, "{span_ns}");
        }
        for end_ns in [1, 1_000_000_000, 100_000_000_000_000, u64::MAX] {
            let mut out = String::new();
            let ts = TimeScale {
                start_ns: 0,
                end_ns,
            };
            axis_seconds(&mut out, ts, 100.0);
            let labels = out.matches("<text").count();
            assert!((1..=13).contains(&labels), "{end_ns}: {labels} labels");
        }
    }

    #[test]
    fn a_retired_process_lane_is_reused() {
        // p0 crashes at t=10; p2 replaces it from t=20, p1 runs throughout.
        let ops = vec![op(0, 0, Some(10)), op(1, 0, Some(100)), op(2, 20, Some(30))];
        let l = lanes(&ops);
        assert_eq!(l[&0], l[&2]);
        assert_ne!(l[&0], l[&1]);
    }

    #[test]
    fn timeline_shades_windows() {
        let w = FaultWindow {
            fault: "partition".into(),
            detail: "n1 | n2 n3".into(),
            start_ns: 10,
            end_ns: Some(20),
        };
        let s = timeline(
            &[op(0, 0, Some(5))],
            &[w],
            TimeScale {
                start_ns: 0,
                end_ns: 100,
            },
            "t",
        );
        assert!(s.contains("class=\"fault-window\" data-fault=\"partition\""));
        // Each link fault has a colour of its own in the strip.
        let colours: std::collections::BTreeSet<&str> = nemesis::FaultSpec::KINDS
            .iter()
            .map(|f| fault_color(f))
            .collect();
        assert_eq!(colours.len(), nemesis::FaultSpec::KINDS.len());
        assert!(s.contains("x=\"110.0\""), "{s}");
    }
}
