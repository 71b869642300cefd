//! Raft RPCs to peers over plain HTTP. Every call has a deadline, and every transport failure
//! becomes `Unreachable`, so a dead, paused or partitioned peer costs a timeout and a back-off,
//! never a hang. So does a peer that answers but refuses the RPC (a non-2xx status): it would
//! refuse the same retry, and openraft resends without a pause on any other error.

use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{NodeId, TypeConfig};
use super::wire;

/// One connection pool per peer address (reqwest pools per host inside one client).
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
}

impl Network {
    pub fn new() -> anyhow::Result<Network> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| anyhow::anyhow!("building the raft HTTP client: {e}"))?;
        Ok(Network { client })
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    client: reqwest::Client,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            client: self.client.clone(),
        }
    }
}

type RpcResult<Resp, E> = Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    fn post(&self, path: &str, option: &RPCOption) -> (String, reqwest::RequestBuilder) {
        let url = format!("http://{}/raft/{path}", self.addr);
        let request = self.client.post(&url).timeout(option.hard_ttl());
        (url, request)
    }

    /// A JSON RPC: the request as JSON in, openraft's `Result` as JSON out.
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let (url, request) = self.post(path, option);
        self.exchange(&url, request.json(req)).await
    }

    /// Sends `request` and reads the answer: transport failures and refusals are `Unreachable`,
    /// an error openraft returned on the peer is a `RemoteError`.
    async fn exchange<Resp, E>(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let resp = request
            .send()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        if !resp.status().is_success() {
            return Err(RPCError::Unreachable(refused(url, resp).await));
        }
        let res: Result<Resp, RaftError<NodeId, E>> = resp
            .json()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// A peer's refusal (413 for a body over its limit, 400 for one it cannot read), as
/// `Unreachable` so that openraft backs off (`backoff()`) instead of retrying at full speed.
async fn refused(url: &str, resp: reqwest::Response) -> Unreachable {
    const SHOWN: usize = 200;
    let status = resp.status();
    let mut why = resp.text().await.unwrap_or_default();
    if let Some((cut, _)) = why.char_indices().nth(SHOWN) {
        why.truncate(cut);
    }
    tracing::debug!(target: "faultline::node", %url, %status, %why, "peer refused a raft RPC");
    Unreachable::new(&std::io::Error::other(format!(
        "{url} refused the RPC: {status} {why}"
    )))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // Not JSON: the chunk goes as raw bytes (see `wire`).
        let body =
            wire::encode_snapshot(rpc).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let (url, request) = self.post("snapshot", &option);
        let request = request
            .header(reqwest::header::CONTENT_TYPE, wire::SNAPSHOT_CONTENT_TYPE)
            .body(body);
        self.exchange(&url, request).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }

    /// Retry an unreachable or refusing peer soon, but not at once: a restarted node should
    /// rejoin within a heartbeat or two, and a refusing one is not hammered (reported as any
    /// other error, a refused AppendEntries was resent ~30 times a second).
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;

    /// A peer whose every Raft route answers `status`.
    async fn refusing_peer(status: StatusCode) -> String {
        let app = axum::Router::new().route(
            "/raft/{rpc}",
            post(move || async move { (status, "length limit exceeded") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_refused_append_is_unreachable_so_the_leader_backs_off() {
        let addr = refusing_peer(StatusCode::PAYLOAD_TOO_LARGE).await;
        let mut peer = Network::new()
            .unwrap()
            .new_client(2, &BasicNode::new(addr))
            .await;
        let rpc = AppendEntriesRequest {
            vote: openraft::Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: vec![],
        };
        let err = peer
            .append_entries(rpc, RPCOption::new(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
        assert!(err.to_string().contains("413"), "{err}");
    }
}
