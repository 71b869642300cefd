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
