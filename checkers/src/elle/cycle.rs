//! Cycle search: the strongly connected components of the whole graph, then, inside each, a
//! shortest cycle per anomaly, restricted to the edge kinds the anomaly allows.
//!
//! Each search is a [`Spec`]: a *special* edge kind the cycle must use, and the kinds its path
//! back may use. A G1c cycle is a wr edge `a → b` and a ww/wr path `b ⇝ a`; a G-single is an rw
//! edge and a path back without rw. Inside a component of the subgraph of the spec's kinds,
//! a special edge whose kind the path may use always closes a cycle (the search is exact and
//! one breadth-first search finds it); G-single's path may not use rw, so it is tried edge by
//! edge, within a budget, and a search that runs out says so.

use std::collections::BTreeSet;

use super::graph::{Graph, Kinds, Label, ALL, DATA, PROCESS, REALTIME, RW, WR, WW};
use super::limits::{Budget, Stop};
use super::scc::{sccs, Scratch, NONE};

/// One cycle search.
#[derive(Debug, Clone, Copy)]
struct Spec {
    special: Kinds,
    path: Kinds,
}

/// Worst first: data cycles, then with process order, then with real-time order. A search
/// is skipped in a component where an anomaly implying its target was found already.
const SPECS: &[(&str, Spec)] = &[
    ("G0", spec(WW, WW)),
    ("G1c", spec(WR, WW | WR)),
    ("G-single", spec(RW, WW | WR)),
    ("G2-item", spec(RW, DATA)),
    ("G0-process", spec(PROCESS, WW | PROCESS)),
    ("G1c-process", spec(WR, WW | WR | PROCESS)),
    ("G-single-process", spec(RW, WW | WR | PROCESS)),
    ("G2-item-process", spec(RW, DATA | PROCESS)),
    ("G0-realtime", spec(REALTIME, WW | PROCESS | REALTIME)),
    ("G1c-realtime", spec(WR, WW | WR | PROCESS | REALTIME)),
    ("G-single-realtime", spec(RW, WW | WR | PROCESS | REALTIME)),
    ("G2-item-realtime", spec(RW, ALL)),
];

const fn spec(special: Kinds, path: Kinds) -> Spec {
    Spec { special, path }
}

/// A cycle between transactions: each step `(from, to, label)`, the last `to` the first
/// `from`. Virtual time nodes are gone: a path through them is one real-time step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub anomaly: &'static str,
    pub steps: Vec<(u32, u32, Label)>,
}

/// What the search found, and what it could not finish.
#[derive(Debug, Default)]
pub struct Found {
    pub cycles: Vec<Cycle>,
    /// Per anomaly, how many components had one (more than the cycles kept).
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Searches that ran out of budget: (anomaly, why).
    pub incomplete: Vec<(&'static str, String)>,
    /// Components of more than one transaction.
    pub components: usize,
    /// Components whose searches all ran (the rest were cut short by a limit).
    pub searched: usize,
}

/// Cycles kept per anomaly (the counts go on).
const KEEP: usize = 8;

/// Searches `g`, whose first `txns` nodes are transactions (the rest virtual time nodes).
/// `Err` when a limit stopped it; what was found so far is in `found`.
pub fn search(g: &Graph, txns: u32, budget: &Budget, found: &mut Found) -> Result<(), Stop> {
    let mut comps = sccs(g, ALL, None, &[], budget)?;
    // Small components first: their cycles are cheap and the easiest to read.
    comps.sort_by_key(Vec::len);
    comps.retain(|c| c.iter().filter(|&&v| v < txns).count() > 1);
    found.components = comps.len();
    let mut scratch = Scratch::new(g.nodes());
    let mut bfs = Bfs::default();
    for comp in &comps {
        let mut here: BTreeSet<&'static str> = BTreeSet::new();
        for &(target, spec) in SPECS {
            budget.check()?;
            if super::models::prohibited_by_anomalies(&[target])
                .iter()
                .any(|a| here.contains(a))
            {
                continue;
            }
            let cycle = scratch.with(comp, |local| {
                spec_in(g, txns, spec, comp, local, budget, &mut bfs)
            })?;
            match cycle {
                // A search may meet a cycle an earlier one named (G2's may be a G-single).
                SpecResult::Found(c) if here.contains(c.anomaly) => {}
                SpecResult::Found(c) => {
                    here.insert(c.anomaly);
                    *found.counts.entry(c.anomaly).or_default() += 1;
                    if found.counts[c.anomaly] <= KEEP {
                        found.cycles.push(c);
                    }
                }
                SpecResult::None => {}
                SpecResult::Incomplete(why) => found.incomplete.push((target, why)),
            }
        }
        found.searched += 1;
    }
    Ok(())
}

enum SpecResult {
    Found(Cycle),
    None,
    Incomplete(String),
}

/// One spec inside one component (`local` numbers its nodes).
fn spec_in(
    g: &Graph,
    txns: u32,
    spec: Spec,
    comp: &[u32],
    local: &[u32],
    budget: &Budget,
    bfs: &mut Bfs,
) -> Result<SpecResult, Stop> {
    let mask = spec.special | spec.path;
    let subs = sccs(g, mask, Some(comp), local, budget)?;
    let exact = spec.special & spec.path != 0;
    for sub in &subs {
        // Numbers within the sub-component, for the breadth-first search's arrays.
        let mut in_sub = std::collections::HashMap::with_capacity(sub.len());
        for (i, &v) in sub.iter().enumerate() {
            in_sub.insert(v, i as u32);
        }
        let specials: Vec<(u32, u32)> = sub
            .iter()
            .flat_map(|&a| {
                g.out(a, spec.special)
                    .filter(|(b, _)| in_sub.contains_key(b))
                    .map(move |(b, _)| (a, b))
            })
            .collect();
        if specials.is_empty() {
            continue;
        }
        bfs.reset(sub.len());
        // The visits a search of this sub-component may make before it gives up (inexact
        // specs only: an exact one finds a cycle on its first edge).
        let allowance = (sub.len() + 1) * 64 + (1 << 20);
        let mut tried = 0usize;
        for &(a, b) in &specials {
            budget.check()?;
            tried += 1;
            if let Some(path) = bfs.path(g, spec.path, &in_sub, sub, b, a) {
                // The path runs b ⇝ a; the cycle is a, b, …, back to a.
                let mut nodes = path;
                nodes.pop();
                nodes.insert(0, a);
                let c = classify(g, txns, spec, &nodes, exact);
                return Ok(SpecResult::Found(c));
            }
            if bfs.visits > allowance {
                return Ok(SpecResult::Incomplete(format!(
                    "searched {tried} of {} candidate edges in a component of {} nodes",
                    specials.len(),
                    sub.len()
                )));
            }
        }
    }
    Ok(SpecResult::None)
}

/// Breadth-first search with arrays reused between searches (a generation count instead of
/// clearing them).
#[derive(Default)]
struct Bfs {
    seen: Vec<u32>,
    parent: Vec<u32>,
    generation: u32,
    queue: std::collections::VecDeque<u32>,
    visits: usize,
}

impl Bfs {
    fn reset(&mut self, n: usize) {
        self.seen.clear();
        self.seen.resize(n, 0);
        self.parent.clear();
        self.parent.resize(n, NONE);
        self.generation = 0;
        self.visits = 0;
    }

    /// A shortest path `from ⇝ to` over `mask` inside `sub`: its nodes from `from` to `to`.
    fn path(
        &mut self,
        g: &Graph,
        mask: Kinds,
        in_sub: &std::collections::HashMap<u32, u32>,
        sub: &[u32],
        from: u32,
        to: u32,
    ) -> Option<Vec<u32>> {
        self.generation += 1;
        let gen = self.generation;
        self.queue.clear();
        let start = in_sub[&from];
        self.seen[start as usize] = gen;
        self.parent[start as usize] = NONE;
        self.queue.push_back(start);
        let goal = in_sub[&to];
        while let Some(v) = self.queue.pop_front() {
            self.visits += 1;
            if v == goal {
                let mut out = vec![sub[v as usize]];
                let mut at = v;
                while self.parent[at as usize] != NONE {
                    at = self.parent[at as usize];
                    out.push(sub[at as usize]);
                }
                out.reverse();
                return Some(out);
            }
            for (t, _) in g.out(sub[v as usize], mask) {
                let Some(&w) = in_sub.get(&t) else { continue };
                if self.seen[w as usize] != gen {
                    self.seen[w as usize] = gen;
                    self.parent[w as usize] = v;
                    self.queue.push_back(w);
                }
            }
        }
        None
    }
}

/// Labels the cycle `nodes[0] → nodes[1] → … → nodes[0]` (the first edge the special one),
/// folds virtual nodes into real-time steps, and names the anomaly it shows.
fn classify(g: &Graph, txns: u32, spec: Spec, nodes: &[u32], exact: bool) -> Cycle {
    let n = nodes.len();
    let mut raw: Vec<(u32, u32, Label)> = (0..n)
        .map(|i| {
            let (a, b) = (nodes[i], nodes[(i + 1) % n]);
            let kinds = g.kinds(a, b) & (spec.special | spec.path);
            let label = if i == 0 && !exact {
                Label::of(spec.special)
            } else {
                Label::of(kinds)
            };
            (a, b, label.unwrap_or(Label::Realtime))
        })
        .collect();
    // Start at a transaction, then merge runs through virtual nodes.
    if let Some(first) = raw.iter().position(|&(a, _, _)| a < txns) {
        raw.rotate_left(first);
    }
    let mut steps: Vec<(u32, u32, Label)> = Vec::new();
    for (a, b, label) in raw {
        match steps.last_mut() {
            Some(last) if last.1 >= txns => {
                last.1 = b;
                last.2 = Label::Realtime;
            }
            _ => steps.push((a, b, label)),
        }
    }
    Cycle {
        anomaly: name(&steps),
        steps,
    }
}

/// The anomaly a cycle shows, from its steps' labels.
pub fn name(steps: &[(u32, u32, Label)]) -> &'static str {
    let count = |l: Label| steps.iter().filter(|s| s.2 == l).count();
    let rw = count(Label::Rw);
    let n = steps.len();
    let adjacent_rw = (0..n).any(|i| steps[i].2 == Label::Rw && steps[(i + 1) % n].2 == Label::Rw);
    let base = match rw {
        0 if count(Label::Wr) == 0 => 0,
        0 => 1,
        1 => 2,
        _ if !adjacent_rw => 3,
        _ => 4,
    };
    let variant = if count(Label::Realtime) > 0 {
        2
    } else if count(Label::Process) > 0 {
        1
    } else {
        0
    };
    const NAMES: [[&str; 3]; 5] = [
        ["G0", "G0-process", "G0-realtime"],
        ["G1c", "G1c-process", "G1c-realtime"],
        ["G-single", "G-single-process", "G-single-realtime"],
        [
            "G-nonadjacent-item",
            "G-nonadjacent-item-process",
            "G-nonadjacent-item-realtime",
        ],
        ["G2-item", "G2-item-process", "G2-item-realtime"],
    ];
    NAMES[base][variant]
}

#[cfg(test)]
mod tests {
    use super::super::graph::Builder;
    use super::*;

    fn found(b: Builder, txns: u32) -> Found {
        let g = b.build();
        let mut f = Found::default();
        search(&g, txns, &Budget::unlimited(), &mut f).unwrap();
        f
    }

    #[test]
    fn each_cycle_is_named_for_its_edges() {
        // 0 -ww-> 1 -ww-> 0: G0.
        let mut b = Builder::new(2);
        b.edge(0, 1, WW);
        b.edge(1, 0, WW);
        let f = found(b, 2);
        assert_eq!(f.cycles.len(), 1);
        assert_eq!(f.cycles[0].anomaly, "G0");

        // 0 -rw-> 1 -wr-> 0: G-single, and no G2 reported beside it.
        let mut b = Builder::new(2);
        b.edge(0, 1, RW);
        b.edge(1, 0, WR);
        let f = found(b, 2);
        let names: Vec<_> = f.cycles.iter().map(|c| c.anomaly).collect();
        assert_eq!(names, vec!["G-single"]);

        // 0 -rw-> 1 -rw-> 0: G2-item (adjacent rw edges), allowed by snapshot isolation.
        let mut b = Builder::new(2);
        b.edge(0, 1, RW);
        b.edge(1, 0, RW);
        assert_eq!(found(b, 2).cycles[0].anomaly, "G2-item");
    }

    #[test]
    fn realtime_steps_through_time_nodes_fold_into_one() {
        // 0 -rw-> 1, 1 completes before time node 2, which precedes 0's invocation.
        let mut b = Builder::new(2);
        let t = b.add_node();
        b.edge(0, 1, RW);
        b.edge(1, t, REALTIME);
        b.edge(t, 0, REALTIME);
        let f = found(b, 2);
        assert_eq!(f.cycles.len(), 1);
        let c = &f.cycles[0];
        assert_eq!(c.anomaly, "G-single-realtime");
        assert_eq!(c.steps, vec![(0, 1, Label::Rw), (1, 0, Label::Realtime)]);
    }

    #[test]
    fn g_single_needs_a_path_back_without_rw() {
        // 0 -rw-> 1 -rw-> 2 -ww-> 0 and 1 -wr-> 0: the shortest G-single is 0 -rw-> 1 -wr-> 0.
        let mut b = Builder::new(3);
        b.edge(0, 1, RW);
        b.edge(1, 2, RW);
        b.edge(2, 0, WW);
        b.edge(1, 0, WR);
        let f = found(b, 3);
        let g1 = f.cycles.iter().find(|c| c.anomaly == "G-single").unwrap();
        assert_eq!(g1.steps.len(), 2);
    }
}
