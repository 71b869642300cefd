//! Where a field sits in a YAML text, for semantic errors found after parsing (serde_yaml keeps
//! no positions in the parsed value). A second pass over the block-style text tracks the path
//! of every line; flow-style (`{..}`, `[..]`) content is located at its enclosing key.
//!
//! The pass is made once per text ([`Positions::index`]) and every error looks its field up:
//! a campaign with thousands of bad entries must not rescan the whole text for each of them.

use std::collections::HashMap;

/// One step of a field path: `nemesis.faults[1].kill` is `nemesis`, `faults`, `1`, `kill`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(i));
            }
        }
    }
    segs
}

struct Frame {
    indent: usize,
    seg: Seg,
    is_item: bool,
}

/// The 1-based (line, column) of every field path that the text spells out in block style.
#[derive(Debug, Default)]
pub struct Positions {
    /// Each path's first occurrence, as the text is read top to bottom.
    first: HashMap<Vec<Seg>, (usize, usize)>,
}

impl Positions {
    /// Reads the text once, recording where each field path first appears.
    pub fn index(text: &str) -> Positions {
        let mut first = HashMap::new();
        walk(text, |stack, lineno, indent| {
            let path: Vec<Seg> = stack.iter().map(|f| f.seg.clone()).collect();
            first.entry(path).or_insert((lineno + 1, indent + 1));
        });
        Positions { first }
    }

    /// The position of the field at `path` (as in `nemesis.faults[1].kill`), or of its closest
    /// enclosing field that the text spells out in block style.
    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let want = parse_path(path);
        (1..=want.len())
            .rev()
            .find_map(|depth| self.first.get(&want[..depth]).copied())
    }
}

/// The 1-based (line, column) of the field at `path` in `text`; see [`Positions::locate`].
/// Indexes the whole text: for more than one field, index once with [`Positions::index`].
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    Positions::index(text).locate(path)
}

/// Tracks the path of every block-style line, calling `visit(stack, line, indent)` (0-based)
/// each time a sequence item or a mapping key is entered.
fn walk(text: &str, mut visit: impl FnMut(&[Frame], usize, usize)) {
    let mut stack: Vec<Frame> = Vec::new();
    for (lineno, raw) in text.lines().enumerate() {
        let body = raw.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') || body.starts_with("---") {
            continue;
        }
        let mut indent = raw.len() - body.len();
        let mut rest = body;
        // A sequence item, possibly with its first key on the same line ("- kill: leader").
        if rest == "-" || rest.starts_with("- ") {
            // Deeper content of the previous item ends here. A key at this same indent is the
            // sequence's parent in the compact "key:\n- item" style, so it stays.
            while stack.last().is_some_and(|f| f.indent > indent) {
                stack.pop();
            }
            let index = match stack.last() {
                Some(Frame {
                    indent: i,
                    seg: Seg::Index(prev),
                    is_item: true,
                }) if *i == indent => {
                    let next = prev + 1;
                    stack.pop();
                    next
                }
                _ => 0,
            };
            stack.push(Frame {
                indent,
                seg: Seg::Index(index),
                is_item: true,
            });
            visit(&stack, lineno, indent);
            let after = rest[1..].trim_start_matches(' ');
            indent += rest.len() - after.len();
            rest = after;
            if rest.is_empty() {
                continue;
            }
        }
        let Some(key) = mapping_key(rest) else {
            continue;
        };
        while stack.last().is_some_and(|f| f.indent >= indent) {
            stack.pop();
        }
        stack.push(Frame {
            indent,
            seg: Seg::Key(key),
            is_item: false,
        });
        visit(&stack, lineno, indent);
    }
}

/// The key of a `key: value` or `key:` line (plain or quoted scalars).
fn mapping_key(s: &str) -> Option<String> {
    let (key, _) = if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        (q[..end].to_string(), &q[end + 1..])
    } else {
        let colon = s
            .find(": ")
            .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
        (s[..colon].trim_end().to_string(), &s[colon..])
    };
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: demo # a comment
workload:
  kind: register
  keys: 3
nemesis:
  faults:
    - kill: random-node
    - partition: halfs
  schedule:
  - at: 5s
    duration: 1s
    pause: leader
  - at: 9s
    kill: nobody
concurrency: 4
";

    #[test]
    fn finds_nested_keys_and_items() {
        assert_eq!(locate(TEXT, "workload.keys"), Some((4, 3)));
        assert_eq!(locate(TEXT, "nemesis.faults[1].partition"), Some((8, 7)));
        assert_eq!(locate(TEXT, "nemesis.faults[0]"), Some((7, 5)));
        assert_eq!(locate(TEXT, "nemesis.schedule[1].kill"), Some((14, 5)));
        assert_eq!(locate(TEXT, "nemesis.schedule[0].pause"), Some((12, 5)));
        assert_eq!(locate(TEXT, "concurrency"), Some((15, 1)));
    }

    #[test]
    fn missing_fields_fall_back_to_their_parent() {
        assert_eq!(locate(TEXT, "workload.cas"), Some((2, 1)));
        assert_eq!(locate(TEXT, "cluster.nodes"), None);
    }

    #[test]
    fn one_index_answers_every_field_at_its_first_occurrence() {
        let positions = Positions::index(TEXT);
        assert_eq!(positions.locate("nemesis.schedule[1]"), Some((13, 3)));
        assert_eq!(positions.locate("nemesis.schedule[1].at"), Some((13, 5)));
        assert_eq!(positions.locate("workload.keys"), Some((4, 3)));
        // A repeated key (refused by the parser, but the index must not panic on it) is found
        // where it first appears, as a top-to-bottom search would.
        let twice = Positions::index("a:\n  b: 1\na:\n  b: 2\n");
        assert_eq!(twice.locate("a.b"), Some((2, 3)));
        assert_eq!(Positions::index("").locate("a"), None);
    }

    #[test]
    fn flow_style_is_located_at_its_key() {
        let text = "workload: {kind: register, keys: 0}\n";
        assert_eq!(locate(text, "workload.keys"), Some((1, 1)));
    }
}
