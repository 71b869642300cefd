//! Client processes: each worker runs one process at a time, invoking its workload's operations
//! against its node and recording invoke and completion. A process whose operation ended `info`
//! is retired (it may still be "in flight") and a fresh process id takes its place, as in Jepsen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use checkers::history::{EventType, Process};
use tokio::sync::watch;
use workloads::{Completion, Op, Response, Workload};

use super::live::Live;
use super::recorder::Recorder;
use crate::cluster::client::Client;

/// A definite refusal because the cluster cannot serve now (node down, no leader), as opposed
/// to a refusal of the operation itself (a cas mismatch).
fn is_unavailable(error: &str) -> bool {
    is_unreachable(error) || error.starts_with("HTTP 503")
}

/// Pause after a refused connection (or a node with no leader) before the next operation.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(20);

/// Connection-level failures (nothing sent) are marked by the client with this prefix.
fn is_unreachable(error: &str) -> bool {
    error.starts_with(crate::cluster::client::UNREACHABLE)
}

/// What every worker shares.
#[derive(Clone)]
pub struct Workers<C> {
    pub client: C,
    pub recorder: Recorder,
    pub live: Arc<Live>,
    pub workload: Arc<Workload>,
    pub nodes: Arc<Vec<SocketAddr>>,
    pub concurrency: u32,
    /// Total ops/s over all workers; 0 = unlimited.
    pub rate: u32,
    pub ops_limit: Option<u64>,
}

impl<C: Client> Workers<C> {
    /// Runs worker `w` until `stop` or the op limit; returns the last process id it used.
    pub async fn run(self, w: u32, mut stop: watch::Receiver<bool>) -> u64 {
        let step = u64::from(self.concurrency);
        let mut process = u64::from(w);
        let mut gen = self.workload.process(process);
        let pace = (self.rate > 0)
            .then(|| Duration::from_secs_f64(f64::from(self.concurrency) / f64::from(self.rate)));
        let mut next = tokio::time::Instant::now();
        Live::bump(&self.live.processes);
        loop {
            if *stop.borrow() {
                break;
            }
            let n = self
                .live
                .ops
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.ops_limit.is_some_and(|limit| n >= limit) {
                break;
            }
            if let Some(pace) = pace {
                next += pace;
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            let op = gen.next_op();
            let addr = self.nodes[(process % self.nodes.len() as u64) as usize];
            let done = self
                .invoke(process, addr, &op, |resp| gen.complete(&op, resp))
                .await;
            // A client whose answers come back without waiting (a fast refusal) must still let
            // the timer and the nemesis run.
            tokio::task::coop::consume_budget().await;
            if done.kind == EventType::Fail && done.error.as_deref().is_some_and(is_unavailable) {
                // Its node is down or knows no leader: retrying at full speed would only flood
                // the history with refusals until the election ends.
                tokio::select! {
                    _ = tokio::time::sleep(UNREACHABLE_BACKOFF) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            if done.kind == EventType::Info {
                process += step;
                gen = self.workload.process(process);
                Live::bump(&self.live.processes);
            }
        }
        process
    }

    /// Records the invoke, sends the request, records the completion.
    pub async fn invoke(
        &self,
        process: u64,
        addr: SocketAddr,
        op: &Op,
        complete: impl FnOnce(Response) -> Completion,
    ) -> Completion {
        let p = Process::Client(process);
        self.recorder.record(
            p,
            EventType::Invoke,
            &op.f,
            op.key.clone(),
            op.value.clone(),
            None,
        );
        let response = self.client.call(addr, &op.request).await;
        let done = complete(response);
        self.recorder.record(
            p,
            done.kind,
            &op.f,
            op.key.clone(),
            done.value.clone(),
            done.error.clone(),
        );
        match done.kind {
            EventType::Ok => Live::bump(&self.live.ok),
            EventType::Fail => Live::bump(&self.live.fail),
            _ => Live::bump(&self.live.info),
        }
        done
    }

    /// The final reads: each until it succeeds or `deadline`, a new process per attempt, going
    /// round the nodes (a node that cannot answer does not block the read).
    pub async fn final_reads(
        &self,
        first_process: u64,
        deadline: tokio::time::Instant,
    ) -> (u64, Vec<String>) {
        let mut process = first_process;
        let mut missing = Vec::new();
        for op in self.workload.final_ops() {
            let mut attempt = 0usize;
            loop {
                let addr = self.nodes[attempt % self.nodes.len()];
                let mut gen = self.workload.process(process);
                let done = self
                    .invoke(process, addr, &op, |r| gen.complete(&op, r))
                    .await;
                process += 1;
                attempt += 1;
                if done.kind == EventType::Ok {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    missing.push(format!(
                        "{} {}: {}",
                        op.f,
                        op.key.clone().unwrap_or_default(),
                        done.error.unwrap_or_default()
                    ));
                    break;
                }
                // Back off a little so an election can finish between attempts.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        (process, missing)
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn refusals_of_the_cluster_back_off_refusals_of_the_op_do_not() {
        assert!(is_unavailable(&format!(
            "{}: 10.77.0.11:7000: connection refused",
            crate::cluster::client::UNREACHABLE
        )));
        assert!(is_unavailable(
            "HTTP 503: node 1: no leader known; nothing was proposed"
        ));
        assert!(!is_unavailable("HTTP 409: cas mismatch"));
        assert!(!is_unavailable("HTTP 400: malformed body"));
    }
}
