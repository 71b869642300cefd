//! Templates in a `kind: http` system: text with `{placeholder}`s, filled in per node (the
//! command line) or per operation (paths, queries and bodies). An unknown placeholder is found
//! when the campaign is validated, never at run time.

use std::collections::BTreeMap;

/// The placeholders a node's command line and peer entry may use.
pub const NODE: &[&str] = &["id", "name", "ip", "port", "data_dir", "peers", "cluster"];
/// The placeholders a peer entry may use (one per member, joined into `{peers}`).
pub const PEER: &[&str] = &["id", "name", "ip", "port"];
/// The placeholders an operation's request may use.
pub const OPERATION: &[&str] = &["key", "value", "from", "to"];

/// Every placeholder `text` names, or an error naming an unclosed brace. `{{` and `}}` are
/// literal braces.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.as_bytes().first() == Some(&c) {
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(format!(
                "a lone `}}` in {text:?} (write `}}}}` for a brace)"
            ));
        }
        let Some(end) = after.find('}') else {
            return Err(format!("an unclosed `{{` in {text:?}"));
        };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Checks that `text` only names placeholders in `allowed`.
pub fn check(text: &str, allowed: &[&str]) -> Result<(), String> {
    for p in placeholders(text)? {
        if !allowed.contains(&p) {
            return Err(format!(
                "unknown placeholder {{{p}}} in {text:?}; this field may use {}",
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// Fills `text` in; each value passes through `encode` (URL-encoding for paths, nothing for a
/// command line). Placeholders were checked at validation; one without a value stays as written.
pub fn render(
    text: &str,
    values: &BTreeMap<&str, String>,
    encode: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.as_bytes().first() == Some(&c) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        match (c, after.find('}')) {
            (b'{', Some(end)) => {
                let name = &after[..end];
                match values.get(name) {
                    Some(v) => out.push_str(&encode(v)),
                    None => out.push_str(&rest[i..i + end + 2]),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push(c as char);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encoding for a URL path segment or query value: everything but unreserved characters.
pub fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_checked_and_filled() {
        assert_eq!(
            placeholders("{id}={ip}:{port}").unwrap(),
            ["id", "ip", "port"]
        );
        assert_eq!(placeholders("a {{literal}} b").unwrap(), Vec::<&str>::new());
        assert!(placeholders("a {oops").is_err());
        assert!(check("/kv/{key}?v={value}", OPERATION).is_ok());
        let e = check("/kv/{kye}", OPERATION).unwrap_err();
        assert!(e.contains("{kye}") && e.contains("{key}"), "{e}");
        let values = BTreeMap::from([("key", "a/b c".to_string()), ("value", "1".to_string())]);
        assert_eq!(
            render("/kv/{key}?v={value}", &values, url_encode),
            "/kv/a%2Fb%20c?v=1"
        );
        assert_eq!(
            render("{{x}} {key}", &values, |v| v.to_string()),
            "{x} a/b c"
        );
    }
}
