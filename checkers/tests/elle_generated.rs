//! Generated list-append histories: strictly serializable ones (serial application inside
//! overlapping intervals) never report an anomaly; a planted anomaly is always found.

use checkers::elle::gen::{ListAppendGen, Plant};
use checkers::elle::{self, Options};
use checkers::parse::parse_auto;
use checkers::Validity;
use proptest::prelude::*;

fn config(seed: u64, txns: usize, keys: usize, procs: usize) -> ListAppendGen {
    ListAppendGen {
        seed,
        txns,
        keys,
        procs,
        max_writes_per_key: 8,
        info_rate: 0.05,
        fail_rate: 0.03,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn strictly_serializable_histories_have_no_anomaly(
        seed in any::<u64>(), txns in 1usize..300, keys in 1usize..6, procs in 1usize..8,
    ) {
        let h = parse_auto(&config(seed, txns, keys, procs).jsonl()).unwrap();
        let r = elle::check_history(&h, &Options::default()).unwrap();
        prop_assert_eq!(r.valid, Validity::Valid, "{:#?}", r);
        prop_assert!(r.counts.is_empty(), "{:#?}", r.counts);
    }

    #[test]
    fn a_planted_anomaly_is_always_found(
        seed in any::<u64>(), txns in 1usize..300, keys in 1usize..6, procs in 1usize..8,
        which in 0usize..4, at in 0.0f64..1.0,
    ) {
        let plant = [Plant::G0, Plant::G1c, Plant::GSingle, Plant::G2][which];
        let mut g = config(seed, txns, keys, procs);
        g.plant = vec![(plant, at)];
        let h = parse_auto(&g.jsonl()).unwrap();
        let r = elle::check_history(&h, &Options::default()).unwrap();
        prop_assert_eq!(r.valid, Validity::Invalid, "{:#?}", r);
        prop_assert_eq!(
            r.counts.keys().cloned().collect::<Vec<_>>(),
            vec![plant.anomaly().to_string()],
            "{:#?}", r
        );
        let a = &r.anomalies[0];
        prop_assert_eq!(a.txns.len(), 2);
    }
}

/// A random history of list-append or rw-register transactions: random keys, values, read
/// results and outcomes, so most are full of anomalies.
fn random_history(seed: u64, n: usize, register: bool) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::new();
    let mut open: Vec<(u64, String)> = Vec::new();
    let mut next_value = 0;
    for _ in 0..n {
        let process = rng.gen_range(0..4u64);
        if let Some(at) = open.iter().position(|(p, _)| *p == process) {
            let (_, ops) = open.swap_remove(at);
            let kind = ["ok", "ok", "fail", "info"][rng.gen_range(0..4)];
            let done = ops.replace(
                "nil",
                &if register {
                    rng.gen_range(0..4).to_string()
                } else {
                    let len = rng.gen_range(0..4);
                    let items: Vec<String> =
                        (0..len).map(|_| rng.gen_range(1..6).to_string()).collect();
                    format!("[{}]", items.join(" "))
                },
            );
            out.push_str(&format!(
                "{{:process {process}, :type :{kind}, :f :txn, :value {done}}}\n"
            ));
            continue;
        }
        let ops: Vec<String> = (0..rng.gen_range(1..4))
            .map(|_| {
                let key = ["x", "y", "z"][rng.gen_range(0..3)];
                if rng.gen_bool(0.5) {
                    format!("[:r :{key} nil]")
                } else {
                    next_value += 1;
                    let f = if register { "w" } else { "append" };
                    format!("[:{f} :{key} {next_value}]")
                }
            })
            .collect();
        let ops = format!("[{}]", ops.join(" "));
        out.push_str(&format!(
            "{{:process {process}, :type :invoke, :f :txn, :value {ops}}}\n"
        ));
        open.push((process, ops));
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the history, the checker answers (no panic), and its verdicts respect the
    /// models' order: a history valid under a model is valid under every weaker one.
    #[test]
    fn verdicts_are_monotone_in_the_model(seed in any::<u64>(), n in 1usize..40, register in any::<bool>()) {
        let src = random_history(seed, n, register);
        let h = parse_auto(&src).unwrap();
        let chains: [&[&str]; 3] = [
            &["strict-serializable", "serializable", "snapshot-isolation", "read-committed", "read-uncommitted"],
            &["strict-serializable", "strong-session-serializable", "serializable", "repeatable-read", "read-committed"],
            &["strong-snapshot-isolation", "strong-session-snapshot-isolation", "snapshot-isolation", "consistent-view", "cursor-stability"],
        ];
        for chain in chains {
            let verdicts: Vec<Validity> = chain
                .iter()
                .map(|m| match elle::check_history(&h, &Options::model(m)) {
                    Ok(r) => r.valid,
                    // A value appended or written twice is bad input, for every model alike.
                    Err(_) => Validity::Unknown,
                })
                .collect();
            for w in verdicts.windows(2) {
                prop_assert!(w[0] >= w[1] || w[0] == Validity::Unknown, "{:?} over {:?}", verdicts, chain);
            }
        }
    }
}
