//! Read/write/cas on independent keys. Writes are unique per key, so the linearizability
//! checker can take its fast paths (a read's value names the one write that produced it).

use std::collections::HashMap;

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::op::{unique_value, value_from_wire, Completion, Op, Request, Response, PER_PROCESS};
use crate::workload::{key_name, ProcessGen};
use crate::Error;

/// Settings of the register workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// Independent keys (1 = a single register).
    pub keys: u32,
    /// Relative weights of reads, writes and compare-and-sets.
    pub read: u32,
    pub write: u32,
    pub cas: u32,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        RegisterConfig {
            keys: 3,
            read: 2,
            write: 2,
            cas: 1,
        }
    }
}

impl RegisterConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.keys == 0 {
            return Err(Error::TooSmall {
                field: "keys",
                min: 1,
                got: 0,
            });
        }
        if self.read + self.write + self.cas == 0 {
            return Err(Error::NoWeight("read/write/cas"));
        }
        Ok(())
    }
}

/// A final or plain read of `key`.
pub fn read(key: String) -> Op {
    Op {
        f: "read".into(),
        key: Some(key.clone()),
        value: Value::Null,
        request: Request::Read { key },
    }
}

pub struct RegisterGen {
    config: RegisterConfig,
    process: u64,
    rng: ChaCha8Rng,
    weights: WeightedIndex<u32>,
    written: u64,
    /// The last value this process saw per key: a cas from it has a fair chance to succeed.
    last_seen: HashMap<String, Value>,
}

impl RegisterGen {
    pub fn new(config: RegisterConfig, process: u64, rng: ChaCha8Rng) -> RegisterGen {
        // validate() rejected all-zero weights; an invalid config only reads.
        let weights = WeightedIndex::new([config.read, config.write, config.cas])
            .unwrap_or_else(|_| WeightedIndex::new([1, 0, 0]).expect("one non-zero weight"));
        RegisterGen {
            config,
            process,
            rng,
            weights,
            written: 0,
            last_seen: HashMap::new(),
        }
    }

    fn fresh(&mut self) -> Option<u64> {
        if self.written >= PER_PROCESS {
            return None;
        }
        self.written += 1;
        Some(unique_value(self.process, self.written))
    }
}

impl ProcessGen for RegisterGen {
    fn next_op(&mut self) -> Op {
        let key = key_name(self.rng.gen_range(0..self.config.keys));
        let which = self.weights.sample(&mut self.rng);
        let Some(v) = (if which == 0 { None } else { self.fresh() }) else {
            return read(key);
        };
        if which == 1 {
            return Op {
                f: "write".into(),
                key: Some(key.clone()),
                value: json!(v),
                request: Request::Write {
                    key,
                    value: v.to_string(),
                },
            };
        }
        let from = self.last_seen.get(&key).cloned().unwrap_or(Value::Null);
        let from_wire = match &from {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        Op {
            f: "cas".into(),
            key: Some(key.clone()),
            value: json!([from, v]),
            request: Request::Cas {
                key,
                from: from_wire,
                to: v.to_string(),
            },
        }
    }

    fn complete(&mut self, op: &Op, response: Response) -> Completion {
        let key = op.key.clone().unwrap_or_default();
        match (&op.request, response) {
            (Request::Read { .. }, Response::Ok(body)) => match body.get("value") {
                Some(v) => {
                    let v = value_from_wire(v);
                    self.last_seen.insert(key, v.clone());
                    Completion::ok(v)
                }
                // A 2xx we cannot read may still have been a real read: unknown, never ok.
                None => Completion::info(op, format!("read reply without a value: {body}")),
            },
            (Request::Write { .. }, Response::Ok(_)) => {
                self.last_seen.insert(key, op.value.clone());
                Completion::ok(op.value.clone())
            }
            (Request::Cas { .. }, Response::Ok(_)) => {
                self.last_seen.insert(key, op.value[1].clone());
                Completion::ok(op.value.clone())
            }
            (_, other) => Completion::from_response(op, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::EventType;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn gen(process: u64) -> RegisterGen {
        RegisterGen::new(
            RegisterConfig::default(),
            process,
            ChaCha8Rng::seed_from_u64(process),
        )
    }

    #[test]
    fn written_values_are_unique_across_processes() {
        let mut seen = HashSet::new();
        for p in 0..4 {
            let mut g = gen(p);
            for _ in 0..500 {
                let op = g.next_op();
                let v = match op.f.as_str() {
                    "write" => op.value.clone(),
                    "cas" => op.value[1].clone(),
                    _ => continue,
                };
                assert!(seen.insert((op.key.clone(), v.clone())), "{v} twice");
            }
        }
        assert!(seen.len() > 1000);
    }

    #[test]
    fn all_three_kinds_appear() {
        let mut g = gen(1);
        let fs: HashSet<String> = (0..200).map(|_| g.next_op().f).collect();
        assert_eq!(fs.len(), 3, "{fs:?}");
    }

    #[test]
    fn responses_map_to_outcomes() {
        let mut g = gen(1);
        let r = read("k0".into());
        let done = g.complete(&r, Response::Ok(json!({"value": "1000001"})));
        assert_eq!(done, Completion::ok(json!(1000001)));
        let absent = g.complete(&r, Response::Ok(json!({"value": null})));
        assert_eq!(absent, Completion::ok(Value::Null));
        let garbled = g.complete(&r, Response::Ok(json!({"nope": 1})));
        assert_eq!(garbled.kind, EventType::Info);

        let cas = Op {
            f: "cas".into(),
            key: Some("k0".into()),
            value: json!([null, 7]),
            request: Request::Cas {
                key: "k0".into(),
                from: None,
                to: "7".into(),
            },
        };
        let fail = g.complete(
            &cas,
            Response::Fail {
                status: Some(409),
                error: "cas mismatch".into(),
            },
        );
        assert_eq!(fail.kind, EventType::Fail);
        assert_eq!(fail.value, json!([null, 7]));
        let info = g.complete(
            &cas,
            Response::Info {
                error: "timeout".into(),
            },
        );
        assert_eq!(info.kind, EventType::Info);
        assert_eq!(
            g.complete(&cas, Response::Ok(json!({"ok": true}))).kind,
            EventType::Ok
        );
    }

    #[test]
    fn cas_starts_from_the_last_value_seen() {
        let mut g = gen(2);
        g.last_seen.insert("k0".into(), json!(5));
        g.config.keys = 1;
        let cas = (0..100)
            .map(|_| g.next_op())
            .find(|o| o.f == "cas")
            .expect("a cas in 100 ops");
        assert_eq!(cas.value[0], json!(5));
        assert!(matches!(cas.request, Request::Cas { from: Some(ref f), .. } if f == "5"));
    }

    #[test]
    fn zero_keys_or_weights_are_rejected() {
        let c = RegisterConfig {
            keys: 0,
            ..RegisterConfig::default()
        };
        assert!(c.validate().is_err());
        let c = RegisterConfig {
            read: 0,
            write: 0,
            cas: 0,
            ..RegisterConfig::default()
        };
        assert_eq!(c.validate(), Err(Error::NoWeight("read/write/cas")));
    }
}
