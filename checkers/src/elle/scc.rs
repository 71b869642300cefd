//! Strongly connected components (Tarjan's algorithm, iterative: a history of a million
//! transactions would overflow the stack of a recursive one).

use super::graph::{Graph, Kinds};
use super::limits::{Budget, Stop};

/// Nodes of a subgraph numbered 0.. for the searches' arrays, reused from one subgraph to the
/// next: `local[v]` is `v`'s number in the current subgraph, or `NONE`.
pub struct Scratch {
    local: Vec<u32>,
}

pub const NONE: u32 = u32::MAX;

impl Scratch {
    pub fn new(nodes: usize) -> Scratch {
        Scratch {
            local: vec![NONE; nodes],
        }
    }

    /// Numbers `nodes`, runs `f`, and clears the numbers again.
    pub fn with<T>(&mut self, nodes: &[u32], f: impl FnOnce(&[u32]) -> T) -> T {
        for (i, &v) in nodes.iter().enumerate() {
            self.local[v as usize] = i as u32;
        }
        let r = f(&self.local);
        for &v in nodes {
            self.local[v as usize] = NONE;
        }
        r
    }
}

/// The components of more than one node of the subgraph on `nodes` (all nodes when `None`)
/// with the edges of `mask`. `local` numbers the subgraph's nodes (see [`Scratch`]); for the
/// whole graph it is ignored.
pub fn sccs(
    g: &Graph,
    mask: Kinds,
    nodes: Option<&[u32]>,
    local: &[u32],
    budget: &Budget,
) -> Result<Vec<Vec<u32>>, Stop> {
    let n = nodes.map_or(g.nodes(), <[u32]>::len);
    let node = |i: usize| nodes.map_or(i as u32, |ns| ns[i]);
    let index_of = |v: u32| -> u32 {
        match nodes {
            None => v,
            Some(_) => local[v as usize],
        }
    };
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    // The depth-first path: (local node, the position in its out-edges to look at next).
    let mut path: Vec<(u32, usize)> = Vec::new();
    let mut next_index = 0u32;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        budget.check()?;
        path.push((root as u32, g.range(node(root)).start));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root as u32);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = path.last_mut() {
            // The next out-edge of v within the subgraph, if any.
            let mut advanced = false;
            let end = g.range(node(v as usize)).end;
            while *pos < end {
                let (t, k) = g.edge_at(*pos);
                *pos += 1;
                if k & mask == 0 {
                    continue;
                }
                let w = index_of(t);
                if w == NONE {
                    continue;
                }
                let w_us = w as usize;
                if index[w_us] == NONE {
                    index[w_us] = next_index;
                    low[w_us] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w_us] = true;
                    path.push((w, g.range(t).start));
                    advanced = true;
                    break;
                } else if on_stack[w_us] {
                    low[v as usize] = low[v as usize].min(index[w_us]);
                }
            }
            if advanced {
                continue;
            }
            // v is done: close its component if it is a root, and report its low to its parent.
            path.pop();
            let vu = v as usize;
            if low[vu] == index[vu] {
                let comp = pop_component(&mut stack, &mut on_stack, v);
                if comp.len() > 1 {
                    out.push(comp.into_iter().map(|w| node(w as usize)).collect());
                }
            }
            if let Some(&(parent, _)) = path.last() {
                let p = parent as usize;
                low[p] = low[p].min(low[vu]);
            }
        }
    }
    Ok(out)
}

/// Pops the component whose root is `v` off Tarjan's stack (local numbers).
fn pop_component(stack: &mut Vec<u32>, on_stack: &mut [bool], v: u32) -> Vec<u32> {
    let mut comp = Vec::new();
    while let Some(w) = stack.pop() {
        on_stack[w as usize] = false;
        comp.push(w);
        if w == v {
            break;
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::super::graph::{Builder, RW, WW};
    use super::*;

    #[test]
    fn finds_components_and_respects_the_mask_and_the_subset() {
        // 0 -ww-> 1 -ww-> 2 -rw-> 0, 3 -ww-> 4 -ww-> 3, 5 alone.
        let mut b = Builder::new(6);
        b.edge(0, 1, WW);
        b.edge(1, 2, WW);
        b.edge(2, 0, RW);
        b.edge(3, 4, WW);
        b.edge(4, 3, WW);
        let g = b.build();
        let budget = Budget::unlimited();
        let mut all = sccs(&g, WW | RW, None, &[], &budget).unwrap();
        all.iter_mut().for_each(|c| c.sort());
        all.sort();
        assert_eq!(all, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(sccs(&g, WW, None, &[], &budget).unwrap().len(), 1);
        let mut s = Scratch::new(6);
        let sub = s.with(&[0, 1, 3, 4], |local| {
            sccs(&g, WW | RW, Some(&[0, 1, 3, 4]), local, &budget).unwrap()
        });
        assert_eq!(sub.len(), 1, "{sub:?}");
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 300_000u32;
        let mut b = Builder::new(n);
        for i in 0..n {
            b.edge(i, (i + 1) % n, WW);
        }
        let g = b.build();
        let c = sccs(&g, WW, None, &[], &Budget::unlimited()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), n as usize);
    }
}
