//! `report.html`: one self-contained page (inline CSS, SVG and a little script; no network).

use std::fmt::Write;

use serde_json::Value;

use super::checks::{counterexample_ops, counterexample_text, CheckerResult};
use super::junit::esc;
use super::run_data::{Op, Outcome, RunData};
use super::stats::{self, Stats};
use super::svg::{self, TimeScale};
use checkers::Validity;

/// Past this many operations the timeline shows an even sample, and says so: a 100k-op run must
/// still give a page of a few megabytes.
pub const MAX_TIMELINE_OPS: usize = 20_000;
const MAX_LATENCY_POINTS: usize = 12_000;

pub fn render(run: &RunData, stats: &Stats, checkers: &[CheckerResult]) -> String {
    let verdict = run.valid();
    let name = run.campaign_name();
    // The earliest invocation, not the first listed: a hand-edited or damaged history need not
    // be in time order (found by fuzzing: a subtraction below overflowed).
    let start_ns = run.ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0).min(
        run.windows
            .iter()
            .map(|w| w.start_ns)
            .min()
            .unwrap_or(u64::MAX),
    );
    let ts = TimeScale {
        start_ns,
        end_ns: run.end_ns.max(start_ns.saturating_add(1)),
    };
    let mut page = String::with_capacity(1 << 20);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline: {} — {}</title><style>{CSS}</style></head><body>",
        esc(&name),
        verdict.label()
    );
    header(&mut page, run, &name, verdict, stats);
    if verdict == Validity::Unknown {
        why_unknown(&mut page, run, checkers);
    }
    checkers_section(&mut page, checkers);
    counterexample_section(&mut page, run, checkers);
    super::anomalies::section(&mut page, checkers);
    timeline_section(&mut page, run, ts);
    plots_section(&mut page, run, ts);
    faults_section(&mut page, run, stats);
    logs_section(&mut page, run);
    let _ = writeln!(page, "<script>{SCRIPT}</script></body></html>");
    page
}

fn header(page: &mut String, run: &RunData, name: &str, verdict: Validity, stats: &Stats) {
    let seed = run
        .results
        .get("seed")
        .or_else(|| run.results.pointer("/campaign/seed"))
        .map(svg::compact)
        .unwrap_or_else(|| "–".into());
    let started = run
        .results
        .get("started_at")
        .or_else(|| run.results.get("timestamp"))
        .map(svg::compact)
        .unwrap_or_default();
    let headline = match verdict {
        Validity::Valid => "VALID: no violation found",
        Validity::Invalid => "INVALID: a violation was found",
        Validity::Unknown => "UNKNOWN: no verdict",
    };
    let _ = write!(
        page,
        "<header class=\"verdict {cls}\"><h1>{headline}</h1><p>campaign <b>{}</b> · seed <b>{}</b> {} · {} ops in {:.1} s ({:.0} ok/s)</p></header>",
        esc(name),
        esc(&seed),
        if started.is_empty() { String::new() } else { format!("· {}", esc(&started)) },
        stats.ops,
        stats.duration_s,
        stats.throughput_ops_s,
        cls = verdict.label(),
    );
    if let Some(v) = run.results.get("first_violation") {
        first_violation(page, v);
    }
    page.push_str("<section><h2>Operations</h2><table><tr><th>f</th><th>ok</th><th>fail</th><th>info</th></tr>");
    for (f, counts) in &stats.by_f {
        let c = |k: &str| counts.get(k).copied().unwrap_or(0);
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(f),
            c("ok"),
            c("fail"),
            c("info")
        );
    }
    let l = &stats.latency;
    let _ = write!(
        page,
        "</table><p>Latency of ok operations: p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms · max {:.1} ms</p>",
        l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
    );
    for w in &run.warnings {
        let _ = write!(
            page,
            "<p class=\"warn\">history.jsonl could not be read whole: {}</p>",
            esc(w)
        );
    }
    page.push_str("</section>");
}

/// What the online checker found while the run went (`results.json`'s `first_violation`).
fn first_violation(page: &mut String, v: &serde_json::Value) {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("?");
    let secs = |k: &str| v.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
    let op = v.pointer("/op/op").and_then(|x| x.as_str()).unwrap_or("?");
    let who = v
        .pointer("/op/process")
        .and_then(|x| x.as_i64())
        .map(|p| format!(" by p{p}"))
        .unwrap_or_default();
    let stopped = if v.get("stopped_run").and_then(|x| x.as_bool()) == Some(true) {
        "; the run stopped there"
    } else {
        ""
    };
    let _ = write!(
        page,
        "<p class=\"warn\">Found while the run went: key <b>{}</b> is not linearizable from {:.3} s ({}{}), found at {:.3} s{}. {}</p>",
        esc(text("key")),
        secs("at_s"),
        esc(op),
        esc(&who),
        secs("found_s"),
        stopped,
        esc(text("explanation")),
    );
}

fn checkers_section(page: &mut String, checkers: &[CheckerResult]) {
    page.push_str("<section><h2>Checkers</h2>");
    if checkers.is_empty() {
        page.push_str("<p>No results.json: this history has not been checked. Run <code>faultline check</code> on the directory.</p></section>");
        return;
    }
    page.push_str(
        "<table><tr><th>checker</th><th>verdict</th><th>keys not valid</th><th>notes</th></tr>",
    );
    for c in checkers {
        let keys: Vec<&str> = c.bad_keys.iter().map(|(k, _, _)| k.as_str()).collect();
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            c.verdict.label(),
            c.verdict.label(),
            esc(&keys.join(", ")),
            esc(&c.summary)
        );
    }
    page.push_str("</table></section>");
}

fn counterexample_section(page: &mut String, run: &RunData, checkers: &[CheckerResult]) {
    for c in checkers {
        let Some(cex) = &c.counterexample else {
            continue;
        };
        let _ = write!(
            page,
            "<section id=\"counterexample\"><h2>Counterexample ({})</h2><pre class=\"cex\">{}</pre>",
            esc(&c.name),
            esc(&counterexample_text(cex))
        );
        let ops = counterexample_history_ops(run, cex);
        if !ops.is_empty() {
            page.push_str(&counterexample_timeline(&ops));
        }
        page.push_str("</section>");
    }
}

/// The counterexample's operations as history operations, found by their invoke index (or by
/// process and call when the index is missing), so they can be drawn on real time.
fn counterexample_history_ops(run: &RunData, cex: &Value) -> Vec<Op> {
    counterexample_ops(cex)
        .iter()
        .filter_map(|c| {
            let index = c
                .get("index")
                .or_else(|| c.get("invoke_index"))
                .and_then(Value::as_u64);
            let process = c.get("process").and_then(Value::as_u64);
            run.ops
                .iter()
                .find(|o| match index {
                    Some(i) => o.index == i,
                    None => {
                        Some(o.process) == process
                            && c.get("f").and_then(Value::as_str) == Some(&o.f)
                    }
                })
                .cloned()
        })
        .collect()
}

fn counterexample_timeline(ops: &[Op]) -> String {
    let start = ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| o.complete_ns.unwrap_or(o.invoke_ns))
        .max()
        .unwrap_or(start);
    let pad = end.saturating_sub(start).max(1) / 10;
    let ts = TimeScale {
        start_ns: start.saturating_sub(pad),
        end_ns: end.saturating_add(pad),
    };
    let row = 26.0;
    let height = ops.len() as f64 * row + 8.0;
    let mut out = format!(
        "<svg class=\"cex-timeline\" viewBox=\"0 0 {} {height}\" width=\"100%\">",
        svg::WIDTH
    );
    for (i, op) in ops.iter().enumerate() {
        let x0 = ts.x(op.invoke_ns);
        let x1 = ts.x(op.complete_ns.unwrap_or(ts.end_ns));
        let y = i as f64 * row + 4.0;
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{y:.0}\" width=\"{:.1}\" height=\"16\" fill=\"{}\" rx=\"3\"/><text x=\"{:.1}\" y=\"{:.0}\" class=\"label\">{}</text>",
            (x1 - x0).max(2.0),
            svg::outcome_color(op.outcome),
            (x0 + 4.0).min(svg::WIDTH - 300.0),
            y + 12.0,
            esc(&svg::describe(op))
        );
    }
    out.push_str("</svg>");
    out
}

fn timeline_section(page: &mut String, run: &RunData, ts: TimeScale) {
    let shown = sample(&run.ops, MAX_TIMELINE_OPS);
    page.push_str("<section><h2>Timeline</h2><p class=\"hint\">One lane per client slot; bars from invoke to completion: ");
    legend(page);
    page.push_str("; shaded and on the top strip: ");
    fault_legend(page);
    page.push_str(". Scroll to zoom, drag to pan, double-click to reset.</p>");
    if shown.len() < run.ops.len() {
        let _ = write!(
            page,
            "<p class=\"warn\">Showing an even sample of {} of {} operations.</p>",
            shown.len(),
            run.ops.len()
        );
    }
    page.push_str(&svg::timeline(&shown, &run.windows, ts, "timeline"));
    page.push_str("</section>");
}

fn plots_section(page: &mut String, run: &RunData, ts: TimeScale) {
    let points = sample(&run.ops, MAX_LATENCY_POINTS);
    page.push_str("<section><h2>Latency</h2>");
    if points.len() < run.ops.len() {
        let _ = write!(
            page,
            "<p class=\"warn\">Showing an even sample of {} of {} operations.</p>",
            points.len(),
            run.ops.len()
        );
    }
    page.push_str("<p class=\"hint\">Each point an operation at its invocation, by outcome: ");
    legend(page);
    page.push_str("; shaded: ");
    fault_legend(page);
    page.push_str("</p>");
    page.push_str(&svg::latency(&points, &run.windows, ts));
    let span_s = ts.end_ns.saturating_sub(ts.start_ns) as f64 / 1e9;
    let bin_s = if span_s > 600.0 {
        (span_s / 300.0).ceil()
    } else {
        1.0
    };
    let bins = stats::throughput(
        &run.ops
            .iter()
            .map(|o| Op {
                invoke_ns: o.invoke_ns.saturating_sub(ts.start_ns),
                complete_ns: o.complete_ns.map(|c| c.saturating_sub(ts.start_ns)),
                ..o.clone()
            })
            .collect::<Vec<_>>(),
        ts.end_ns.saturating_sub(ts.start_ns),
        (bin_s * 1e9) as u64,
    );
    let _ = write!(
        page,
        "</section><section><h2>Throughput (completions per second, {bin_s:.0} s bins)</h2>"
    );
    page.push_str(&svg::throughput(&bins, &run.windows, ts, bin_s));
    page.push_str("</section>");
}

fn faults_section(page: &mut String, run: &RunData, stats: &Stats) {
    page.push_str("<section><h2>Faults</h2>");
    if stats.windows.is_empty() {
        page.push_str("<p>No faults were injected.</p>");
    } else {
        page.push_str("<table><tr><th>fault</th><th>targets</th><th>from</th><th>to</th><th>ops</th><th>ok/fail/info</th><th>p99 ms</th></tr>");
        for w in &stats.windows {
            let c = |k: &str| w.by_outcome.get(k).copied().unwrap_or(0);
            let _ = write!(
                page,
                "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td>{:.2}s</td><td>{}</td><td>{}</td><td>{}/{}/{}</td><td>{:.1}</td></tr>",
                svg::fault_color(&w.fault),
                esc(&w.fault),
                esc(&w.detail),
                w.start_s,
                w.end_s.map(|e| format!("{e:.2}s")).unwrap_or_else(|| "end".into()),
                w.ops,
                c("ok"),
                c("fail"),
                c("info"),
                w.latency.p99_ms
            );
        }
        page.push_str("</table>");
    }
    if let Some(coverage) = run
        .results
        .get("coverage")
        .or_else(|| run.results.get("fault_coverage"))
    {
        coverage_table(page, coverage);
    }
    if let Some(modes) = run.results.get("modes").and_then(|m| m.as_object()) {
        let required: Vec<&str> = run
            .results
            .get("required_coverage")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        page.push_str("<h3>Coverage by mode</h3><table><tr><th>mode</th><th>applied</th><th>observed</th><th>required</th></tr>");
        let mut names: Vec<&str> = modes.keys().map(String::as_str).collect();
        names.extend(
            required
                .iter()
                .filter(|r| r.contains('-') && !modes.contains_key(**r)),
        );
        for name in names {
            let m = modes.get(name);
            let n = |k: &str| {
                m.and_then(|m| m.get(k))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
            };
            let is_required = required.contains(&name);
            let short = is_required && (n("applied") == 0 || n("observed") == 0);
            let _ = write!(
                page,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if short { " class=\"short\"" } else { "" },
                esc(name),
                n("applied"),
                n("observed"),
                if is_required { "yes" } else { "" }
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</section>");
}

/// Fault coverage as a table: each kind, how many windows were scheduled, applied, observed in
/// effect, skipped and failed; a kind applied but not (all) observed is marked.
fn coverage_table(page: &mut String, coverage: &serde_json::Value) {
    let Some(kinds) = coverage.as_object() else {
        let _ = write!(
            page,
            "<h3>Coverage</h3><pre>{}</pre>",
            esc(&serde_json::to_string_pretty(coverage).unwrap_or_default())
        );
        return;
    };
    page.push_str("<h3>Coverage</h3><table><tr><th>fault</th><th>scheduled</th><th>applied</th><th>observed</th><th>skipped</th><th>failed</th></tr>");
    for (kind, c) in kinds {
        let n = |k: &str| c.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let short = n("observed") < n("applied") || n("failed") > 0 || n("applied") == 0;
        let _ = write!(
            page,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if short { " class=\"short\"" } else { "" },
            esc(kind),
            n("scheduled"),
            n("applied"),
            n("observed"),
            n("skipped"),
            n("failed")
        );
    }
    page.push_str("</table>");
}

/// Under an unknown verdict's headline: the real reasons, from the run's notes and the
/// checkers that gave no verdict.
fn why_unknown(page: &mut String, run: &RunData, checkers: &[CheckerResult]) {
    let mut reasons: Vec<String> = run
        .results
        .get("notes")
        .and_then(|n| n.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    reasons.extend(
        checkers
            .iter()
            .filter(|c| c.verdict == Validity::Unknown)
            .map(|c| {
                if c.summary.is_empty() {
                    format!("{}: gave no verdict", c.name)
                } else {
                    format!("{}: {}", c.name, c.summary)
                }
            }),
    );
    if reasons.is_empty() {
        reasons.push("no results were recorded".into());
    }
    page.push_str("<section class=\"why\"><h2>Why there is no verdict</h2><ul>");
    for r in &reasons {
        let _ = write!(page, "<li>{}</li>", esc(r));
    }
    page.push_str("</ul></section>");
}

fn logs_section(page: &mut String, run: &RunData) {
    page.push_str("<section><h2>Node logs</h2>");
    if run.logs.is_empty() {
        page.push_str("<p>No node logs in this directory.</p>");
    } else {
        page.push_str("<ul>");
        for l in &run.logs {
            let p = l.to_string_lossy();
            let _ = write!(page, "<li><a href=\"{}\">{}</a></li>", esc(&p), esc(&p));
        }
        page.push_str("</ul>");
    }
    page.push_str("</section>");
}

fn legend(page: &mut String) {
    for o in [Outcome::Ok, Outcome::Fail, Outcome::Info] {
        let _ = write!(
            page,
            "<span class=\"swatch\" style=\"background:{}\"></span>{} ",
            svg::outcome_color(o),
            o.name()
        );
    }
}

fn fault_legend(page: &mut String) {
    for f in nemesis::FaultSpec::KINDS {
        let _ = write!(
            page,
            "<span class=\"swatch\" style=\"background:{}\"></span>{f} ",
            svg::fault_color(f)
        );
    }
}

/// An even sample that keeps order (every k-th operation).
fn sample(ops: &[Op], max: usize) -> Vec<Op> {
    if ops.len() <= max {
        return ops.to_vec();
    }
    let step = ops.len().div_ceil(max);
    ops.iter().step_by(step).cloned().collect()
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
section{margin:12px 24px;padding:8px 16px;background:#fff;border:1px solid #e3e3e3;border-radius:6px}\
header.verdict{padding:14px 24px;color:#fff}header.valid{background:#2e7d32}header.invalid{background:#c62828}header.unknown{background:#ef8f00}\
header h1{margin:0 0 4px;font-size:22px}header p{margin:0}\
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}\
td.valid{color:#2e7d32;font-weight:600}td.invalid{color:#c62828;font-weight:600}td.unknown{color:#ef8f00;font-weight:600}\
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 8px;border-radius:2px}\
.warn{color:#a15c00}.hint{color:#555}pre.cex{background:#fff4f4;border-left:4px solid #c62828;padding:8px;white-space:pre-wrap}\
svg text.axis{font-size:10px;fill:#666}svg text.label{font-size:11px;fill:#111}\
svg.timeline{border:1px solid #eee;cursor:grab;background:#fff}\
div.anomaly{margin:8px 0 16px}div.anomaly svg{float:right;margin:0 0 8px 16px}div.anomaly ol{margin:4px 0}\
div.anomaly::after{content:'';display:block;clear:both}.allowed{color:#555}\
section.why{border-left:4px solid #ef8f00}tr.short td{color:#a15c00;font-weight:600}";

/// Zoom and pan for the timeline: changes the SVG viewBox horizontally only.
const SCRIPT: &str = "document.querySelectorAll('svg.zoomable').forEach(function(s){\
var vb=s.viewBox.baseVal,W=vb.width,x=0,w=W,drag=null;\
function set(){w=Math.min(W,Math.max(W/2000,w));x=Math.min(W-w,Math.max(0,x));s.setAttribute('viewBox',x+' 0 '+w+' '+vb.height);}\
s.addEventListener('wheel',function(e){e.preventDefault();var r=s.getBoundingClientRect(),f=(e.clientX-r.left)/r.width,at=x+f*w;w*=e.deltaY<0?0.8:1.25;x=at-f*w;set();});\
s.addEventListener('mousedown',function(e){drag={cx:e.clientX,x:x};});\
window.addEventListener('mouseup',function(){drag=null;});\
s.addEventListener('mousemove',function(e){if(!drag)return;var r=s.getBoundingClientRect();x=drag.x-(e.clientX-drag.cx)/r.width*w;set();});\
s.addEventListener('dblclick',function(){x=0;w=W;set();});});";
