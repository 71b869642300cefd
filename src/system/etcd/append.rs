//! List-append transactions on etcd, as Jepsen's etcd test runs them: etcd has no append, so a
//! transaction is a guarded read-modify-write.
//!
//! 1. Read every key the transaction touches in one read-only txn (one linearizable snapshot),
//!    noting each key's `mod_revision` (0 when absent).
//! 2. Compute the reads' results and the new lists locally, micro-op by micro-op.
//! 3. Commit in one txn guarded by `mod_revision == seen` for every touched key (read or
//!    appended), putting the new lists. The guard holds only if no key changed since the
//!    snapshot, so the transaction takes effect atomically at the commit, reads included.
//!
//! Certainty: a failed guard applied nothing (a certain failure; never retried, so nothing can
//! apply twice). A failure in step 1 sent no write, so it is certain too when the transaction
//! appends; a read-only transaction is step 1 alone and is judged like a plain read (unknown
//! when the answer was lost). Step 3 is judged like any write (see `gateway`).
//!
//! Lists are stored as JSON arrays of strings (`["1000001","2000001"]`).

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{json, Value};
use workloads::{MicroOp, Response};

use super::client::EtcdClient;
use super::gateway::{b64, first_kv, kv_text, succeeded, txn_response, uint};

/// One key as the snapshot saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Seen {
    mod_revision: u64,
    list: Option<Vec<String>>,
}

pub(super) async fn txn(client: &EtcdClient, addr: SocketAddr, ops: &[MicroOp]) -> Response {
    if ops
        .iter()
        .any(|m| matches!(m, MicroOp::Write { .. } | MicroOp::ReadRegister { .. }))
    {
        // The campaign validator refuses rw-register on etcd; nothing was sent.
        return Response::Fail {
            status: None,
            error: "the etcd adapter runs list-append transactions only".into(),
        };
    }
    let keys = touched(ops);
    let appends = ops.iter().any(|m| matches!(m, MicroOp::Append { .. }));
    let what = format!("list-append read of {}", keys.join(","));
    let snapshot = match client
        .post(addr, "/v3/kv/txn", &read_body(&keys), &what)
        .await
    {
        Ok(answer) => parse_snapshot(&answer, &keys).map_err(|e| Response::Info {
            error: format!("{addr}: {what}: {e}"),
        }),
        Err(outcome) => Err(outcome),
    };
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(outcome) if appends => return nothing_written(outcome),
        Err(outcome) => return outcome,
    };
    let (results, puts) = plan(ops, &snapshot);
    if !appends {
        return Response::Ok(json!({ "ops": results }));
    }
    let what = format!("list-append commit of {}", keys.join(","));
    let body = commit_body(&keys, &snapshot, &puts);
    match client.post(addr, "/v3/kv/txn", &body, &what).await {
        Ok(answer) if succeeded(&answer) => Response::Ok(json!({ "ops": results })),
        Ok(_) => Response::Fail {
            status: None,
            error: format!(
                "list-append guard failed: {} changed since it was read; nothing applied",
                keys.join(",")
            ),
        },
        Err(outcome) => outcome,
    }
}

/// Step 1 failed: no write was sent, so even an unknown answer is a certain failure.
fn nothing_written(outcome: Response) -> Response {
    match outcome {
        Response::Info { error } => Response::Fail {
            status: None,
            error: format!("{error} (reading before the commit; nothing was written)"),
        },
        other => other,
    }
}

/// The distinct keys of `ops`, in order of first use.
fn touched(ops: &[MicroOp]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for m in ops {
        let key = match m {
            MicroOp::Append { key, .. }
            | MicroOp::Read { key }
            | MicroOp::Write { key, .. }
            | MicroOp::ReadRegister { key } => key,
        };
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    keys
}

fn read_body(keys: &[String]) -> Value {
    let ranges: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "request_range": { "key": b64(k.as_bytes()) } }))
        .collect();
    json!({ "success": ranges })
}

fn parse_snapshot(answer: &Value, keys: &[String]) -> Result<HashMap<String, Seen>, String> {
    let mut snapshot = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let range = txn_response(answer, i, "response_range")
            .ok_or_else(|| format!("no range answer for {key} in {answer}"))?;
        let seen = match first_kv(range) {
            None => Seen::default(),
            Some(kv) => {
                let text = kv_text(kv)?;
                let list: Vec<String> = serde_json::from_str(&text)
                    .map_err(|e| format!("{key} holds {text:?}, not a list: {e}"))?;
                Seen {
                    mod_revision: uint(kv, &["mod_revision", "modRevision"]).unwrap_or(0),
                    list: Some(list),
                }
            }
        };
        snapshot.insert(key.clone(), seen);
    }
    Ok(snapshot)
}

/// The micro-ops' results in the node's wire form, and the lists to write (appended keys only).
fn plan(
    ops: &[MicroOp],
    snapshot: &HashMap<String, Seen>,
) -> (Vec<Value>, Vec<(String, Vec<String>)>) {
    let mut lists: HashMap<&str, Option<Vec<String>>> = snapshot
        .iter()
        .map(|(k, s)| (k.as_str(), s.list.clone()))
        .collect();
    let mut appended: Vec<String> = Vec::new();
    let results = ops
        .iter()
        .map(|m| match m {
            MicroOp::Append { key, value } => {
                lists
                    .entry(key.as_str())
                    .or_default()
                    .get_or_insert_with(Vec::new)
                    .push(value.clone());
                if !appended.contains(key) {
                    appended.push(key.clone());
                }
                json!(["append", key, value])
            }
            MicroOp::Read { key } => {
                json!(["r", key, lists.get(key.as_str()).cloned().flatten()])
            }
            // Refused in `txn` before anything is planned.
            MicroOp::Write { .. } | MicroOp::ReadRegister { .. } => Value::Null,
        })
        .collect();
    let puts = appended
        .into_iter()
        .map(|k| {
            let list = lists.get(k.as_str()).cloned().flatten().unwrap_or_default();
            (k, list)
        })
        .collect();
    (results, puts)
}

fn commit_body(
    keys: &[String],
    snapshot: &HashMap<String, Seen>,
    puts: &[(String, Vec<String>)],
) -> Value {
    let compare: Vec<Value> = keys
        .iter()
        .map(|k| {
            let rev = snapshot.get(k).map_or(0, |s| s.mod_revision);
            json!({
                "key": b64(k.as_bytes()), "result": "EQUAL", "target": "MOD",
                "mod_revision": rev.to_string()
            })
        })
        .collect();
    let success: Vec<Value> = puts
        .iter()
        .map(|(k, list)| {
            let text = serde_json::to_string(list).unwrap_or_default();
            json!({ "request_put": { "key": b64(k.as_bytes()), "value": b64(text.as_bytes()) } })
        })
        .collect();
    json!({ "compare": compare, "success": success })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(key: &str, value: &str) -> MicroOp {
        MicroOp::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    fn read(key: &str) -> MicroOp {
        MicroOp::Read { key: key.into() }
    }

    #[test]
    fn reads_see_the_snapshot_and_earlier_appends_of_the_same_txn() {
        let ops = vec![
            read("k1"),
            append("k1", "3"),
            read("k1"),
            read("k2"),
            append("k2", "9"),
        ];
        let snapshot = HashMap::from([
            (
                "k1".to_string(),
                Seen {
                    mod_revision: 7,
                    list: Some(vec!["1".into(), "2".into()]),
                },
            ),
            ("k2".to_string(), Seen::default()),
        ]);
        let (results, puts) = plan(&ops, &snapshot);
        assert_eq!(
            Value::Array(results),
            json!([
                ["r", "k1", ["1", "2"]],
                ["append", "k1", "3"],
                ["r", "k1", ["1", "2", "3"]],
                ["r", "k2", null],
                ["append", "k2", "9"]
            ])
        );
        assert_eq!(
            puts,
            vec![
                ("k1".to_string(), vec!["1".into(), "2".into(), "3".into()]),
                ("k2".to_string(), vec!["9".to_string()])
            ]
        );
        let body = commit_body(&touched(&ops), &snapshot, &puts);
        assert_eq!(
            body["compare"],
            json!([
                {"key": "azE=", "result": "EQUAL", "target": "MOD", "mod_revision": "7"},
                {"key": "azI=", "result": "EQUAL", "target": "MOD", "mod_revision": "0"}
            ])
        );
        assert_eq!(
            body["success"][1]["request_put"]["value"],
            json!(b64(br#"["9"]"#))
        );
    }

    #[test]
    fn the_snapshot_reads_lists_revisions_and_absence() {
        let keys = vec!["k1".to_string(), "k2".to_string()];
        assert_eq!(
            read_body(&keys),
            json!({"success": [
                {"request_range": {"key": "azE="}}, {"request_range": {"key": "azI="}}
            ]})
        );
        let answer = json!({"succeeded": true, "responses": [
            {"response_range": {"kvs": [
                {"key": "azE=", "value": b64(br#"["1","2"]"#), "mod_revision": "12"}
            ], "count": "1"}},
            {"response_range": {"header": {}}}
        ]});
        let s = parse_snapshot(&answer, &keys).unwrap();
        assert_eq!(
            s["k1"],
            Seen {
                mod_revision: 12,
                list: Some(vec!["1".into(), "2".into()])
            }
        );
        assert_eq!(s["k2"], Seen::default());
        let garbage = json!({"responses": [{"response_range": {"kvs": [{"value": b64(b"5")}]}}]});
        assert!(parse_snapshot(&garbage, &keys[..1]).is_err());
    }

    #[test]
    fn a_failed_read_before_the_commit_wrote_nothing() {
        let info = Response::Info {
            error: "timeout".into(),
        };
        assert!(
            matches!(nothing_written(info), Response::Fail { ref error, .. } if error.contains("nothing was written"))
        );
        assert_eq!(
            touched(&[read("a"), append("b", "1"), read("a")]),
            vec!["a", "b"]
        );
    }
}
