//! InstallSnapshot on the wire. As JSON, a chunk (`data: Vec<u8>`) is an array of numbers, about
//! 3.5 bytes per byte: a 1 MiB chunk was a 3.5 MB body, over the follower's limit, so a follower
//! behind a state of more than ~0.55 MB could never catch up. The chunk travels as raw bytes
//! after a small JSON header instead:
//!
//! `[header length: u32 big-endian][header: JSON {vote, meta, offset, done}][chunk bytes]`

use openraft::raft::InstallSnapshotRequest;
use serde::{Deserialize, Serialize};

use super::types::{SnapshotMeta, TypeConfig, Vote};

/// The `Content-Type` of an encoded InstallSnapshot body.
pub const SNAPSHOT_CONTENT_TYPE: &str = "application/x-faultline-snapshot-chunk";

const LENGTH_BYTES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the body is {0} bytes, too short to hold the header's length")]
    NoLength(usize),
    #[error("the header is said to be {len} bytes, but only {left} follow")]
    ShortHeader { len: usize, left: usize },
    #[error("the header is not the expected JSON: {0}")]
    Header(#[from] serde_json::Error),
    #[error("the header is {0} bytes, more than a u32 length can say")]
    HugeHeader(usize),
}

/// Everything in an InstallSnapshot request but the chunk.
#[derive(Serialize, Deserialize)]
struct Header {
    vote: Vote,
    meta: SnapshotMeta,
    offset: u64,
    done: bool,
}

pub fn encode_snapshot(req: InstallSnapshotRequest<TypeConfig>) -> Result<Vec<u8>, WireError> {
    let header = serde_json::to_vec(&Header {
        vote: req.vote,
        meta: req.meta,
        offset: req.offset,
        done: req.done,
    })?;
    let len = u32::try_from(header.len()).map_err(|_| WireError::HugeHeader(header.len()))?;
    let mut body = Vec::with_capacity(LENGTH_BYTES + header.len() + req.data.len());
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(&req.data);
    Ok(body)
}

pub fn decode_snapshot(body: &[u8]) -> Result<InstallSnapshotRequest<TypeConfig>, WireError> {
    let (len, rest) = body
        .split_first_chunk::<LENGTH_BYTES>()
        .ok_or(WireError::NoLength(body.len()))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(WireError::ShortHeader {
            len,
            left: rest.len(),
        });
    }
    let (header, data) = rest.split_at(len);
    let h: Header = serde_json::from_slice(header)?;
    Ok(InstallSnapshotRequest {
        vote: h.vote,
        meta: h.meta,
        offset: h.offset,
        data: data.to_vec(),
        done: h.done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::limits::{RPC_FIELDS_BYTES, SNAPSHOT_CHUNK_BYTES};
    use openraft::{BasicNode, CommittedLeaderId, LogId, Membership, StoredMembership};

    fn chunk(data: Vec<u8>) -> InstallSnapshotRequest<TypeConfig> {
        let nodes: std::collections::BTreeMap<u64, BasicNode> = (1..=3)
            .map(|i| (i, BasicNode::new(format!("10.0.0.{i}:7000"))))
            .collect();
        let ids = nodes.keys().copied().collect();
        let log_id = LogId::new(CommittedLeaderId::new(7, 2), 4242);
        InstallSnapshotRequest {
            vote: Vote::new_committed(7, 2),
            meta: SnapshotMeta {
                last_log_id: Some(log_id),
                last_membership: StoredMembership::new(
                    Some(log_id),
                    Membership::new(vec![ids], nodes),
                ),
                snapshot_id: "7-4242-3".into(),
            },
            offset: 3 << 20,
            data,
            done: true,
        }
    }

    #[test]
    fn a_chunk_round_trips_at_its_own_size_plus_a_small_header() {
        let data: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES).map(|i| (i * 7) as u8).collect();
        let body = encode_snapshot(chunk(data.clone())).unwrap();
        assert!(
            body.len() <= SNAPSHOT_CHUNK_BYTES + RPC_FIELDS_BYTES,
            "{} bytes",
            body.len()
        );
        let back = decode_snapshot(&body).unwrap();
        let want = chunk(data);
        assert_eq!(
            (back.vote, back.meta, back.offset, back.done),
            (want.vote, want.meta, want.offset, want.done)
        );
        assert!(back.data == want.data, "the chunk's bytes survive");
    }

    #[test]
    fn damaged_bodies_are_refused_not_misread() {
        let body = encode_snapshot(chunk(b"abc".to_vec())).unwrap();
        assert!(matches!(
            decode_snapshot(&body[..3]),
            Err(WireError::NoLength(3))
        ));
        assert!(matches!(
            decode_snapshot(&body[..20]),
            Err(WireError::ShortHeader { left: 16, .. })
        ));
        let mut bad = body.clone();
        bad[4] = b'[';
        assert!(matches!(decode_snapshot(&bad), Err(WireError::Header(_))));
        // A JSON InstallSnapshot (what an older node sends) is not mistaken for this format.
        assert!(decode_snapshot(br#"{"vote":{},"data":[1,2,3]}"#).is_err());
    }
}
