//! Reading `history.jsonl` back. A run killed mid-write leaves at most one partial trailing line,
//! which is ignored with a warning; a bad line anywhere else is an error.

use std::path::Path;

use anyhow::Context;
use checkers::history::Event;

/// The events, and a warning when a trailing partial line was dropped.
pub fn read(path: &Path) -> anyhow::Result<(Vec<Event>, Option<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> anyhow::Result<(Vec<Event>, Option<String>)> {
    let mut events = Vec::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut warning = None;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(e) => events.push(e),
            Err(e) if i + 1 == lines.len() && !line.ends_with('\n') => {
                warning = Some(format!(
                    "{}:{}: ignoring a partial last line ({e})",
                    path.display(),
                    i + 1
                ));
            }
            Err(e) => anyhow::bail!("{}:{}: not a history event: {e}", path.display(), i + 1),
        }
    }
    Ok((events, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read","key":"k0","value":null}"#;

    #[test]
    fn a_partial_last_line_is_dropped_with_a_warning() {
        let text = format!("{LINE}\n{}", &LINE[..20]);
        let (events, warning) = parse(&text, Path::new("h.jsonl")).unwrap();
        assert_eq!(events.len(), 1);
        assert!(warning
            .unwrap()
            .starts_with("h.jsonl:2: ignoring a partial last line"));
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error() {
        let text = format!("{}\n{LINE}\n", &LINE[..20]);
        assert!(parse(&text, Path::new("h.jsonl")).is_err());
    }
}
