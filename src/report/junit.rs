//! JUnit XML: one test suite per campaign, one test case per checker and per key with a
//! violation; a failure carries the counterexample as text. The subset that GitHub Actions,
//! GitLab and Jenkins all read.

use std::fmt::Write;

use super::checks::{counterexample_text, CheckerResult};
use checkers::Validity;

pub struct Suite<'a> {
    pub name: &'a str,
    pub seed: Option<u64>,
    pub timestamp: &'a str,
    pub duration_s: f64,
    pub checkers: &'a [CheckerResult],
}

pub fn render(suite: &Suite<'_>) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let classname = format!("faultline.{}", suite.name);
    for c in suite.checkers {
        tests += 1;
        case(
            &mut cases,
            &classname,
            &c.name,
            c.time_s,
            c.verdict,
            &body(c, None),
        );
        match c.verdict {
            Validity::Invalid => failures += 1,
            Validity::Unknown => errors += 1,
            Validity::Valid => {}
        }
        for (key, verdict, cex) in &c.bad_keys {
            tests += 1;
            let text = cex.as_ref().map(counterexample_text).unwrap_or_default();
            let name = format!("{}[key={key}]", c.name);
            case(&mut cases, &classname, &name, 0.0, *verdict, &text);
            match verdict {
                Validity::Invalid => failures += 1,
                Validity::Unknown => errors += 1,
                Validity::Valid => {}
            }
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
        suite.duration_s
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
        esc(suite.name),
        suite.duration_s,
        esc(suite.timestamp)
    );
    if let Some(seed) = suite.seed {
        let _ = writeln!(
            out,
            "    <properties><property name=\"seed\" value=\"{seed}\"/></properties>"
        );
    }
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn body(c: &CheckerResult, _key: Option<&str>) -> String {
    let mut text = c
        .counterexample
        .as_ref()
        .map(counterexample_text)
        .unwrap_or_default();
    if !c.summary.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&c.summary);
    }
    text
}

fn case(out: &mut String, classname: &str, name: &str, time_s: f64, verdict: Validity, text: &str) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{time_s:.3}\"",
        esc(classname),
        esc(name)
    );
    match verdict {
        Validity::Valid => out.push_str("/>\n"),
        Validity::Invalid => {
            let _ = writeln!(
                out,
                ">\n      <failure type=\"invalid\" message=\"{} found a violation\">{}</failure>\n    </testcase>",
                esc(name),
                esc(text)
            );
        }
        Validity::Unknown => {
            let _ = writeln!(
                out,
                ">\n      <error type=\"unknown\" message=\"{} gave no verdict\">{}</error>\n    </testcase>",
                esc(name),
                esc(text)
            );
        }
    }
}

/// XML text and attribute escaping; control characters XML 1.0 forbids are dropped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::checks::checker_results;
    use serde_json::json;

    #[test]
    fn failure_carries_the_counterexample() {
        let results = json!({"checkers": {"linearizable": {"valid": false,
            "counterexample": {"explanation": "read 3 <after> write 1", "ops": []}}, "set": {"valid": true}}});
        let checkers = checker_results(&results);
        let xml = render(&Suite {
            name: "smoke",
            seed: Some(7),
            timestamp: "2026-11-23T06:00:00",
            duration_s: 1.5,
            checkers: &checkers,
        });
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
        assert!(xml.contains("<failure type=\"invalid\""));
        assert!(xml.contains("read 3 &lt;after&gt; write 1"));
        assert!(xml.contains("<property name=\"seed\" value=\"7\"/>"));
    }
}
