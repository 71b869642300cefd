//! The dependency graph between transactions: nodes are transactions (and the virtual time
//! nodes of the real-time order), edges carry a set of [`Kinds`].
//!
//! Edges are collected in a list, then laid out once in compressed sparse rows (one array of
//! targets, one of kinds, one offset per node), duplicates merged: a million transactions make
//! about ten million edges, and the searches walk them many times.

use serde::Serialize;

/// A set of edge kinds, as bits.
pub type Kinds = u8;

/// Write-write: the target overwrote (appended after) the source's write.
pub const WW: Kinds = 1;
/// Write-read: the target read the source's write.
pub const WR: Kinds = 2;
/// Read-write (anti-dependency): the source read a version the target's write followed.
pub const RW: Kinds = 4;
/// Process order: the source completed ok before the same process invoked the target.
pub const PROCESS: Kinds = 8;
/// Real-time order: the source completed ok before the target was invoked.
pub const REALTIME: Kinds = 16;
/// The data dependencies.
pub const DATA: Kinds = WW | WR | RW;
pub const ALL: Kinds = DATA | PROCESS | REALTIME;

/// The one kind a cycle step is shown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Ww,
    Wr,
    Rw,
    Process,
    Realtime,
}

impl Label {
    pub fn name(self) -> &'static str {
        match self {
            Label::Ww => "ww",
            Label::Wr => "wr",
            Label::Rw => "rw",
            Label::Process => "process",
            Label::Realtime => "realtime",
        }
    }

    pub fn bit(self) -> Kinds {
        match self {
            Label::Ww => WW,
            Label::Wr => WR,
            Label::Rw => RW,
            Label::Process => PROCESS,
            Label::Realtime => REALTIME,
        }
    }

    /// How an edge with `kinds` is shown: the kind that makes the weakest claim, so a cycle is
    /// named for the least it needs (an edge both ww and rw counts as ww; both ww and
    /// real-time, as ww).
    pub fn of(kinds: Kinds) -> Option<Label> {
        [
            Label::Ww,
            Label::Wr,
            Label::Process,
            Label::Realtime,
            Label::Rw,
        ]
        .into_iter()
        .find(|l| kinds & l.bit() != 0)
    }
}

/// Edges as they are found.
#[derive(Debug, Default)]
pub struct Builder {
    edges: Vec<(u32, u32, Kinds)>,
    nodes: u32,
}

impl Builder {
    pub fn new(nodes: u32) -> Builder {
        Builder {
            edges: Vec::new(),
            nodes,
        }
    }

    /// A new node (a virtual time node), its id.
    pub fn add_node(&mut self) -> u32 {
        self.nodes += 1;
        self.nodes - 1
    }

    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// An edge; self-edges are dropped (a transaction does not depend on itself).
    pub fn edge(&mut self, from: u32, to: u32, kinds: Kinds) {
        if from != to {
            self.edges.push((from, to, kinds));
        }
    }

    /// Bytes the edges hold now.
    pub fn bytes(&self) -> usize {
        self.edges.capacity() * std::mem::size_of::<(u32, u32, Kinds)>()
    }

    /// Lays the edges out by source, merging duplicates.
    pub fn build(self) -> Graph {
        let n = self.nodes as usize;
        let mut offsets = vec![0u32; n + 1];
        for &(from, _, _) in &self.edges {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut targets = vec![0u32; self.edges.len()];
        let mut kinds = vec![0 as Kinds; self.edges.len()];
        for (from, to, k) in self.edges {
            let at = next[from as usize] as usize;
            targets[at] = to;
            kinds[at] = k;
            next[from as usize] += 1;
        }
        drop(next);
        // Merge duplicate targets of each node in place (few edges per node: sort each run).
        let mut out = 0usize;
        let mut new_offsets = vec![0u32; n + 1];
        let mut run: Vec<(u32, Kinds)> = Vec::new();
        for v in 0..n {
            let (s, e) = (offsets[v] as usize, offsets[v + 1] as usize);
            run.clear();
            run.extend((s..e).map(|i| (targets[i], kinds[i])));
            run.sort_unstable_by_key(|&(t, _)| t);
            let mut last: Option<u32> = None;
            for &(t, k) in &run {
                if last == Some(t) {
                    kinds[out - 1] |= k;
                } else {
                    targets[out] = t;
                    kinds[out] = k;
                    out += 1;
                    last = Some(t);
                }
            }
            new_offsets[v + 1] = out as u32;
        }
        targets.truncate(out);
        kinds.truncate(out);
        targets.shrink_to_fit();
        kinds.shrink_to_fit();
        Graph {
            offsets: new_offsets,
            targets,
            kinds,
        }
    }
}

/// The graph in compressed sparse rows.
#[derive(Debug, Clone)]
pub struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    kinds: Vec<Kinds>,
}

impl Graph {
    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    /// The edges out of `v` whose kinds meet `mask`: (target, kinds).
    pub fn out(&self, v: u32, mask: Kinds) -> impl Iterator<Item = (u32, Kinds)> + '_ {
        let (s, e) = (
            self.offsets[v as usize] as usize,
            self.offsets[v as usize + 1] as usize,
        );
        self.targets[s..e]
            .iter()
            .zip(&self.kinds[s..e])
            .filter(move |(_, &k)| k & mask != 0)
            .map(|(&t, &k)| (t, k))
    }

    /// The positions of `v`'s out-edges, for [`Graph::edge_at`]: a search that stops in the
    /// middle of a node's edges resumes from a position.
    pub fn range(&self, v: u32) -> std::ops::Range<usize> {
        self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize
    }

    /// The edge at a position: (target, kinds).
    pub fn edge_at(&self, i: usize) -> (u32, Kinds) {
        (self.targets[i], self.kinds[i])
    }

    /// The kinds of the edge `from → to` (0 when there is none).
    pub fn kinds(&self, from: u32, to: u32) -> Kinds {
        let (s, e) = (
            self.offsets[from as usize] as usize,
            self.offsets[from as usize + 1] as usize,
        );
        match self.targets[s..e].binary_search(&to) {
            Ok(i) => self.kinds[s + i],
            Err(_) => 0,
        }
    }

    /// Bytes the graph holds.
    pub fn bytes(&self) -> usize {
        self.offsets.len() * 4 + self.targets.len() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_edges_merge_their_kinds_and_self_edges_go() {
        let mut b = Builder::new(3);
        b.edge(0, 1, WW);
        b.edge(0, 1, RW);
        b.edge(0, 2, WR);
        b.edge(1, 1, WW);
        b.edge(2, 0, REALTIME);
        let g = b.build();
        assert_eq!(g.edges(), 3);
        assert_eq!(g.kinds(0, 1), WW | RW);
        assert_eq!(g.kinds(1, 1), 0);
        assert_eq!(g.out(0, WR).collect::<Vec<_>>(), vec![(2, WR)]);
        assert_eq!(Label::of(WW | RW), Some(Label::Ww));
        assert_eq!(Label::of(RW | REALTIME), Some(Label::Realtime));
    }
}
