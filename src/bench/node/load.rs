//! The load of `bench node`: N clients, each one request at a time, through the system's own
//! [`Client`], the path a campaign's workload takes, so every system is measured the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use workloads::{Request, Response};

use crate::cluster::client::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Write,
    Read,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Write => "write",
            Phase::Read => "read",
        }
    }
}

/// What to drive: how many clients, over how many keys, with values of what size.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    pub keys: usize,
    pub value_bytes: usize,
}

pub struct PhaseResult {
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
    /// Requests answered fail or info: a benchmark counts only what certainly succeeded.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl PhaseResult {
    /// `system phase ops ops/s p50 p99 max errors`, one line.
    pub fn line(&self, name: &str, phase: Phase) -> String {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
            l[i] as f64 / 1000.0
        };
        let ops = l.len() as f64 / self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "{:<18} {:<6} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            name,
            phase.name(),
            l.len(),
            ops,
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.errors
        )
    }
}

/// Runs `phase` for `length`: client `c` talks to node `c mod n`, as a campaign's clients do.
pub async fn drive<C: Client>(
    client: &C,
    phase: Phase,
    endpoints: &Arc<Vec<SocketAddr>>,
    load: Load,
    length: Duration,
) -> PhaseResult {
    let start = Instant::now();
    let deadline = start + length;
    let value = "x".repeat(load.value_bytes);
    let tasks: Vec<_> = (0..load.clients)
        .map(|c| {
            let client = client.clone();
            let endpoints = endpoints.clone();
            let value = value.clone();
            tokio::spawn(async move {
                let addr = endpoints[c % endpoints.len()];
                let (mut lat, mut errors, mut first) = (Vec::new(), 0u64, None);
                let mut i = c;
                while Instant::now() < deadline {
                    let key = format!("bench-{}", i % load.keys);
                    i += 7919;
                    let request = match phase {
                        Phase::Write => Request::Write {
                            key,
                            value: value.clone(),
                        },
                        Phase::Read => Request::Read { key },
                    };
                    let t = Instant::now();
                    match client.call(addr, &request).await {
                        Response::Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                        Response::Fail { error, .. } | Response::Info { error } => {
                            errors += 1;
                            first.get_or_insert(error);
                        }
                    }
                }
                (lat, errors, first)
            })
        })
        .collect();
    let mut res = PhaseResult {
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        match t.await {
            Ok((lat, errors, first)) => {
                res.latencies_us.extend(lat);
                res.errors += errors;
                if res.first_error.is_none() {
                    res.first_error = first;
                }
            }
            Err(e) => {
                res.errors += 1;
                res.first_error
                    .get_or_insert(format!("a client task failed: {e}"));
            }
        }
    }
    res.elapsed = start.elapsed();
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reports_percentiles_of_what_succeeded() {
        let r = PhaseResult {
            elapsed: Duration::from_secs(2),
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            errors: 3,
            first_error: None,
        };
        let line = r.line("etcd", Phase::Read);
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            ["etcd", "read", "100", "50", "50.00", "99.00", "100.00", "3"]
        );
    }
}
