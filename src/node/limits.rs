//! Every byte limit on what one node sends another, in one place, so that the body limit a node
//! accepts on its `/raft/*` routes is derived from what its peers send and cannot drift apart.
//!
//! A peer that answers 413 to replication does not just lag: it never hears from the leader, so
//! it stands for election, again and again. Hence these are bounds, not tuning knobs:
//! - a client write is refused (413) when its command's JSON is over [`MAX_COMMAND_BYTES`];
//! - the write batcher packs commands into one entry only up to [`MAX_COMMAND_BYTES`];
//! - one AppendEntries carries at most [`APPEND_BATCH_BYTES`] of entries, or one entry alone;
//! - one InstallSnapshot carries [`SNAPSHOT_CHUNK_BYTES`] of raw snapshot bytes (see `wire`);
//!
//! and [`RAFT_BODY_LIMIT`] is the largest of those plus the RPC's own fields.

/// The most bytes one replicated command (a client write, or a batch of them) takes as JSON.
/// Measured after JSON escaping: a control character is 6 bytes there (`\u0001`), so a value's
/// size in the request body says little about its size in the log.
pub const MAX_COMMAND_BYTES: usize = 1 << 20;

/// A client body may be larger than the command it becomes (whitespace, `\u0041`-style
/// escapes in a txn or cas body), so it gets twice the room; past that it is refused unread.
pub const CLIENT_BODY_LIMIT: usize = 2 * MAX_COMMAND_BYTES;

/// Entry bytes one AppendEntries carries before the log reader stops adding entries (one larger
/// entry still goes, alone). openraft 0.9 gives each AppendEntries RPC the heartbeat interval
/// (100 ms) to complete, including the follower's decode and fsync; a follower far behind was
/// sent `max_payload_entries` (1,000) batched entries, about 0.5 MB of JSON, which a loaded
/// machine cannot take in 100 ms, so every attempt timed out and it never caught up.
pub const APPEND_BATCH_BYTES: usize = 64 << 10;

/// An entry's JSON around its command: log id (term, node, index: up to 20 digits each) and
/// payload tag; 132 bytes at the most.
pub const ENTRY_ENVELOPE_BYTES: usize = 160;

/// Snapshot bytes per InstallSnapshot RPC.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// An RPC's fields besides its entries or snapshot chunk: vote, previous log id, commit index,
/// snapshot metadata. The metadata holds the membership with every member's address; 64 KiB
/// leaves room for hundreds of members.
pub const RPC_FIELDS_BYTES: usize = 64 << 10;

/// The body limit of the `/raft/*` routes: the largest body a peer running this code sends.
pub const RAFT_BODY_LIMIT: usize = RPC_FIELDS_BYTES + max(largest_append(), SNAPSHOT_CHUNK_BYTES);

/// The entries of one AppendEntries: several within [`APPEND_BATCH_BYTES`], or one alone.
const fn largest_append() -> usize {
    max(APPEND_BATCH_BYTES, MAX_COMMAND_BYTES + ENTRY_ENVELOPE_BYTES)
}

// Checked when the node is built: a limit edited out of step fails the build, not a cluster.
const _: () =
    assert!(RAFT_BODY_LIMIT >= RPC_FIELDS_BYTES + MAX_COMMAND_BYTES + ENTRY_ENVELOPE_BYTES);
const _: () = assert!(RAFT_BODY_LIMIT >= RPC_FIELDS_BYTES + APPEND_BATCH_BYTES);
const _: () = assert!(RAFT_BODY_LIMIT >= RPC_FIELDS_BYTES + SNAPSHOT_CHUNK_BYTES);
const _: () = assert!(CLIENT_BODY_LIMIT >= MAX_COMMAND_BYTES);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The length of `s` as a JSON string, quotes included, exactly as serde_json writes it:
/// `"`, `\` and the control characters with a short escape take 2 bytes, the other control
/// characters 6 (`\u001f`), everything else (UTF-8 included) itself.
pub fn json_str_len(s: &str) -> usize {
    let escapes: usize = s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    2 + s.len() + escapes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_str_len_is_what_serde_json_writes() {
        let all_ascii: String = (0u8..=0x7f).map(char::from).collect();
        for s in [
            "",
            "plain",
            "\u{1}\u{1f}",
            "quote\" back\\slash",
            "\n\r\t\u{8}\u{c}",
            "ünïcødé ☃ 🦀",
            all_ascii.as_str(),
        ] {
            assert_eq!(
                json_str_len(s),
                serde_json::to_vec(s).unwrap().len(),
                "{s:?}"
            );
        }
    }
}
