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
    /// The run's verdict, which can be worse than its checkers' (interrupted, a fault not
    /// observed, nothing to check)...
    pub verdict: Validity,
    /// ...and why (`results.json`'s notes).
    pub notes: &'a [String],
    /// The fault coverage the campaign required, each with what is missing of it (`None`:
    /// covered): a case each, failed when missing.
    pub coverage: &'a [(String, Option<String>)],
}

/// One `<testsuite>` element and its counts, for a document of one run or of many.
pub struct Rendered {
    pub xml: String,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub time_s: f64,
}

/// A `junit.xml` of one suite (a run) or of several (a matrix of runs).
pub fn document(suites: &[Rendered]) -> String {
    let tests: usize = suites.iter().map(|s| s.tests).sum();
    let failures: usize = suites.iter().map(|s| s.failures).sum();
    let errors: usize = suites.iter().map(|s| s.errors).sum();
    let time: f64 = suites.iter().map(|s| s.time_s).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">"
    );
    for s in suites {
        out.push_str(&s.xml);
    }
    out.push_str("</testsuites>\n");
    out
}

/// One run as a `<testsuite>`: a case per checker and per key with a violation, and a `run`
/// case when the run's verdict is worse than its checkers' (an `<error>` naming the reasons of
/// an unknown verdict), so that CI never reads an unknown run as a pass.
pub fn testsuite(suite: &Suite<'_>) -> Rendered {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let mut count = |verdict: Validity| {
        tests += 1;
        match verdict {
            Validity::Invalid => failures += 1,
            Validity::Unknown => errors += 1,
            Validity::Valid => {}
        }
    };
    let classname = format!("faultline.{}", suite.name);
    let mut checkers_verdict = Validity::Valid;
    for c in suite.checkers {
        count(c.verdict);
        checkers_verdict = checkers_verdict.max(c.verdict);
        case(
            &mut cases,
            &classname,
            &c.name,
            c.time_s,
            c.verdict,
            &body(c, None),
        );
        for (key, verdict, cex) in &c.bad_keys {
            count(*verdict);
            let text = cex.as_ref().map(counterexample_text).unwrap_or_default();
            let name = format!("{}[key={key}]", c.name);
            case(&mut cases, &classname, &name, 0.0, *verdict, &text);
        }
    }
    for (mode, missing) in suite.coverage {
        let verdict = if missing.is_some() {
            Validity::Invalid
        } else {
            Validity::Valid
        };
        count(verdict);
        let name = format!("coverage[{mode}]");
        let text = missing
            .as_ref()
            .map(|m| format!("required fault coverage missing: {m}"))
            .unwrap_or_default();
        case(&mut cases, &classname, &name, 0.0, verdict, &text);
    }
    if suite.verdict > checkers_verdict {
        count(suite.verdict);
        let why = if suite.notes.is_empty() {
            "the run gave no verdict".to_string()
        } else {
            suite.notes.join("\n")
        };
        case(&mut cases, &classname, "run", 0.0, suite.verdict, &why);
    }
    let mut xml = String::new();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
        esc(suite.name),
        suite.duration_s,
        esc(suite.timestamp)
    );
    if let Some(seed) = suite.seed {
        let _ = writeln!(
            xml,
            "    <properties><property name=\"seed\" value=\"{seed}\"/></properties>"
        );
    }
    xml.push_str(&cases);
    xml.push_str("  </testsuite>\n");
    Rendered {
        xml,
        tests,
        failures,
        errors,
        time_s: suite.duration_s,
    }
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
        let xml = document(&[testsuite(&Suite {
            name: "smoke",
            seed: Some(7),
            timestamp: "2026-11-23T06:00:00",
            duration_s: 1.5,
            checkers: &checkers,
            verdict: Validity::Invalid,
            notes: &[],
            coverage: &[],
        })]);
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
        assert!(xml.contains("<failure type=\"invalid\""));
        assert!(xml.contains("read 3 &lt;after&gt; write 1"));
        assert!(xml.contains("<property name=\"seed\" value=\"7\"/>"));
        assert!(!xml.contains("name=\"run\""), "{xml}");
    }

    /// A run whose checkers passed but whose verdict is unknown (a fault never observed, an
    /// interruption) is an error in CI, with its reasons; never 0 failures and 0 errors.
    #[test]
    fn an_unknown_verdict_is_an_error_with_its_reasons() {
        let results = json!({"checkers": {"linearizable": {"valid": true}}});
        let checkers = checker_results(&results);
        let notes = ["fault kind pause was never applied".to_string()];
        let suite = Suite {
            name: "smoke",
            seed: None,
            timestamp: "",
            duration_s: 1.0,
            checkers: &checkers,
            verdict: Validity::Unknown,
            notes: &notes,
            coverage: &[],
        };
        let xml = document(&[testsuite(&suite)]);
        assert!(
            xml.contains("tests=\"2\" failures=\"0\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<error type=\"unknown\" message=\"run gave no verdict\">fault kind pause was never applied</error>"), "{xml}");
        // Two runs in one document: the counts add up.
        let both = document(&[testsuite(&suite), testsuite(&suite)]);
        assert!(
            both.contains("<testsuites name=\"faultline\" tests=\"4\" failures=\"0\" errors=\"2\""),
            "{both}"
        );
        assert_eq!(both.matches("<testsuite ").count(), 2);
    }
}
