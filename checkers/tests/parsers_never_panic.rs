//! Random bytes, and random damage to real histories, never panic a parser or the checker:
//! they parse, or fail with a positioned error.

use checkers::parse::{self, Format};
use checkers::{check_history, Error, Limits};
use proptest::prelude::*;

const EDN: &str = "[{:type :invoke, :f :cas, :value [1 4], :process 3, :time 5}\n\
                   {:type :ok, :f :cas, :value [1 4], :process 3, :error {:a #{1}}}]\n";
const LOG: &str =
    "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\nINFO  jepsen.util - 3\t:ok\t:cas\t[1 4]\n";
const KV: &str = "{:process 0, :type :invoke, :f :put, :key \"3\", :value \"x\"}\n\
                  {:process 0, :type :ok, :f :put, :key \"3\", :value \"x\"}\n";
const JSONL: &str = "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":5}\n\
                     {\"index\":1,\"time\":2,\"process\":3,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k\",\"value\":5}\n";

fn exercise(bytes: &[u8]) {
    let limits = Limits {
        threads: 1,
        ..Limits::default()
    };
    for f in Format::ALL {
        if let Ok(h) = parse::parse(bytes, f) {
            let _ = check_history(&h, None, None, &limits);
        }
    }
    match parse::parse_auto(bytes) {
        Ok(h) => {
            let _ = check_history(&h, None, None, &limits);
        }
        Err(Error::Syntax { pos, .. } | Error::Event { pos, .. }) => {
            assert!(pos.offset <= bytes.len() && pos.line >= 1);
        }
        Err(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
    }

    #[test]
    fn damaged_histories(which in 0usize..4, cut in 0usize..400, flips in prop::collection::vec((0usize..400, any::<u8>()), 0..4)) {
        let mut b = [EDN, LOG, KV, JSONL][which].as_bytes().to_vec();
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        b.truncate(cut.min(b.len()));
        exercise(&b);
    }
}

#[test]
fn truncated_edn_names_the_position() {
    let e = parse::parse_auto(&EDN.as_bytes()[..40])
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("not closed"), "{e}");
}
