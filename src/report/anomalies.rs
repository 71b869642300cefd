//! The transactional checker's anomalies in `report.html`: each with its explanation step by
//! step, the models it rules out, and its cycle drawn as an inline SVG (transactions on a
//! circle, each dependency an arrow coloured and labelled by kind).

use std::fmt::Write;

use serde_json::Value;

use super::checks::CheckerResult;
use super::junit::esc;

/// Anomalies drawn per checker: the report stays small however many were found.
const MAX_SHOWN: usize = 12;

pub fn section(page: &mut String, checkers: &[CheckerResult]) {
    for c in checkers.iter().filter(|c| !c.anomalies.is_empty()) {
        let _ = write!(
            page,
            "<section id=\"anomalies\"><h2>Anomalies ({})</h2><p>{}</p>",
            esc(&c.name),
            esc(&c.summary)
        );
        for (i, a) in c.anomalies.iter().take(MAX_SHOWN).enumerate() {
            anomaly(page, c, a, i);
        }
        if c.anomalies.len() > MAX_SHOWN {
            let _ = write!(
                page,
                "<p class=\"hint\">{} more in results.json.</p>",
                c.anomalies.len() - MAX_SHOWN
            );
        }
        page.push_str("</section>");
    }
}

fn anomaly(page: &mut String, c: &CheckerResult, a: &Value, i: usize) {
    let text = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let name = text(a, "name");
    let allowed = if c.violations.contains(&name) {
        ""
    } else {
        " <span class=\"allowed\">(allowed by the model checked)</span>"
    };
    let _ = write!(
        page,
        "<div class=\"anomaly\"><h3>{}{allowed}</h3>",
        esc(&name)
    );
    let steps: Vec<(String, String, String, String)> = a
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            (
                text(s, "from"),
                text(s, "to"),
                text(s, "kind"),
                text(s, "text"),
            )
        })
        .collect();
    if steps.is_empty() {
        let _ = write!(page, "<p>{}</p>", esc(&text(a, "explanation")));
    } else {
        page.push_str(&cycle_svg(&steps, i));
        page.push_str("<ol>");
        for (_, _, _, t) in &steps {
            let _ = write!(page, "<li>{}</li>", esc(t));
        }
        let mut order: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
        order.extend(steps.first().map(|s| s.0.as_str()));
        let _ = write!(page, "</ol><p>{}</p>", esc(&order.join(" < ")));
    }
    let ops: Vec<String> = a
        .get("txns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let ops: Vec<&str> = t
                .get("ops")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "{} (process {}, {}): {}",
                text(t, "id"),
                t.get("process").map(|p| p.to_string()).unwrap_or_default(),
                text(t, "outcome"),
                ops.join(", ")
            )
        })
        .collect();
    if !ops.is_empty() {
        let _ = write!(page, "<pre>{}</pre>", esc(&ops.join("\n")));
    }
    let ruled: Vec<&str> = a
        .get("ruled_out")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !ruled.is_empty() {
        let _ = write!(
            page,
            "<p class=\"hint\">Rules out: {}</p>",
            esc(&ruled.join(", "))
        );
    }
    page.push_str("</div>");
}

/// The colour of a dependency kind.
fn kind_color(kind: &str) -> &'static str {
    match kind {
        "ww" => "#c62828",
        "wr" => "#1565c0",
        "rw" => "#ef6c00",
        "process" => "#2e7d32",
        _ => "#757575",
    }
}

/// A cycle `(from, to, kind, text)` drawn on a circle; `uid` keeps marker ids unique on the page.
pub fn cycle_svg(steps: &[(String, String, String, String)], uid: usize) -> String {
    let n = steps.len().max(1);
    let r = (40.0 + 22.0 * n as f64).min(160.0);
    let size = 2.0 * r + 120.0;
    let c = size / 2.0;
    let at = |i: usize| {
        let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n as f64;
        (c + r * a.cos(), c + r * a.sin())
    };
    // Arrowheads are drawn as triangles, not markers: the page refers to nothing, not even
    // to its own fragments.
    let mut s = format!(
        "<svg class=\"cycle\" width=\"{size:.0}\" height=\"{size:.0}\" viewBox=\"0 0 {size:.0} {size:.0}\" role=\"img\" data-cycle=\"{uid}\">"
    );
    const NODE: f64 = 22.0;
    for (i, (_, _, kind, text)) in steps.iter().enumerate() {
        let ((x0, y0), (x1, y1)) = (at(i), at((i + 1) % n));
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Bend each arrow outward, so the two arrows of a two-transaction cycle do not overlap.
        let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let (ox, oy) = (mx - c, my - c);
        let olen = (ox * ox + oy * oy).sqrt();
        let bend = 0.25 * len;
        let (nx, ny) = if olen > 1.0 {
            (ox / olen, oy / olen)
        } else {
            (uy, -ux)
        };
        let (qx, qy) = (mx + nx * bend, my + ny * bend);
        let (sx, sy) = (x0 + ux * NODE, y0 + uy * NODE);
        let (ex, ey) = (x1 - ux * NODE, y1 - uy * NODE);
        let color = kind_color(kind);
        let _ = write!(
            s,
            "<path d=\"M{sx:.1},{sy:.1} Q{qx:.1},{qy:.1} {ex:.1},{ey:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}</title></path>\
             <polygon points=\"{}\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"label\" fill=\"{color}\">{}</text>",
            esc(text),
            arrowhead((qx, qy), (ex, ey)),
            mx + nx * (bend + 12.0),
            my + ny * (bend + 12.0) + 4.0,
            esc(kind)
        );
    }
    for (i, (from, _, _, _)) in steps.iter().enumerate() {
        let (x, y) = at(i);
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{NODE}\" fill=\"#fff\" stroke=\"#333\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"label\">{}</text>",
            y + 4.0,
            esc(from)
        );
    }
    s.push_str("</svg>");
    s
}

/// A triangle at `tip`, pointing away from `from`.
fn arrowhead(from: (f64, f64), tip: (f64, f64)) -> String {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (tip.0 - ux * 10.0, tip.1 - uy * 10.0);
    format!(
        "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
        tip.0,
        tip.1,
        bx - uy * 5.0,
        by + ux * 5.0,
        bx + uy * 5.0,
        by - ux * 5.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_draws_a_node_and_a_labelled_arrow_per_step() {
        let steps = vec![
            (
                "T1".into(),
                "T2".into(),
                "rw".into(),
                "T1 read x = [] <without> 3".into(),
            ),
            (
                "T2".into(),
                "T1".into(),
                "wr".into(),
                "T2 appended 4 to y".into(),
            ),
        ];
        let svg = cycle_svg(&steps, 7);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("<path d=\"M").count(), 2);
        assert_eq!(svg.matches("<polygon").count(), 2, "an arrowhead per step");
        assert!(svg.contains("data-cycle=\"7\"") && !svg.contains("url("));
        assert!(svg.contains(">T1</text>") && svg.contains(">wr</text>"));
        // Text is escaped.
        assert!(svg.contains("&lt;without&gt;") && !svg.contains("<without>"));
    }
}
