//! `kind: http`: any image whose nodes answer HTTP, described in the campaign and known to
//! faultline by nothing else. The campaign gives the image, each node's command line as a
//! template (its id, name, address, port, data directory and the peer list), the client port,
//! the data directory to keep on the node's volume, a leader request (and where in its JSON
//! answer the leader's id or name is), and for each operation of the register and set workloads
//! the request to send and how to read the answer: which status codes mean ok, certainly failed or absent, and where
//! the value is. Any other answer is `info`, as for every system.
//!
//! - [`template`]: `{placeholder}` templates, checked at validation and filled per node and
//!   per operation;
//! - [`client`]: [`client::HttpSystemClient`], the workload client and leader probe.

pub mod client;
pub mod template;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The system as the campaign describes it, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// The image the nodes run; with `build`, the tag the build gets.
    pub image: String,
    /// A directory with a Dockerfile (absolute), built through the Docker API before each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<std::path::PathBuf>,
    /// Replaces the image's entrypoint when given.
    pub entrypoint: Option<Vec<String>>,
    /// Each node's command (template: see [`template::NODE`]).
    pub command: Vec<String>,
    /// One member of `{peers}` (template: see [`template::PEER`]).
    pub peer: String,
    pub peer_separator: String,
    /// The port clients (and this harness) reach each node on.
    pub port: u16,
    /// Where the node's volume is mounted: what survives a kill.
    pub data_dir: String,
    /// Extra environment, `NAME=value`.
    pub env: Vec<String>,
    /// What marks a panic or fatal error in a node's log; Rust's and Go's when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crash_markers: Vec<String>,
    pub leader: LeaderSpec,
    pub operations: Operations,
}

/// How to ask a node whom it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderSpec {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    /// Where the leader is in the JSON answer: a dotted path (`leader`, `leaderInfo.leader`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Whether that field holds the leader's node `id` (the default) or `name` (`n<i>`).
    #[serde(default)]
    pub names: LeaderNames,
    /// Or where the node says its own role (a dotted path, e.g. `state`)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// ...and the value of that role that means it leads (e.g. `StateLeader`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leads: Option<String>,
    /// Where the node's term is, when it says (a dotted path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaderNames {
    #[default]
    Id,
    Name,
}

/// The workloads' operations: `read`, `write` and `cas` for the register workload, `add` and
/// `read_set` for the set workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<OpSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<OpSpec>,
    /// A compare-and-set from a value to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<OpSpec>,
    /// A compare-and-set that succeeds only when the key is absent; without it, `cas` is sent
    /// with `{from}` empty (or null where it is a whole JSON string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_absent: Option<OpSpec>,
    /// Adds the unique element `{value}` to the set `{key}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<OpSpec>,
    /// Reads the whole set `{key}`: `value` names where the JSON answer holds its elements (an
    /// array; `null` or an `absent` status is the empty set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_set: Option<OpSpec>,
}

impl Operations {
    /// What the workload `kind` needs described, as `(field, what it is for)`, that is not.
    pub fn missing_for(&self, kind: &str) -> Vec<(&'static str, &'static str)> {
        let needs: &[(&str, bool, &str)] = match kind {
            "register" => &[
                (
                    "read",
                    self.read.is_some(),
                    "the register workload reads a key",
                ),
                (
                    "write",
                    self.write.is_some(),
                    "the register workload writes a key",
                ),
            ],
            "set" => &[
                (
                    "add",
                    self.add.is_some(),
                    "the set workload adds elements to a set",
                ),
                (
                    "read_set",
                    self.read_set.is_some(),
                    "the set workload reads a whole set",
                ),
            ],
            _ => &[],
        };
        needs
            .iter()
            .filter(|(_, given, _)| !given)
            .map(|(field, _, why)| (*field, *why))
            .collect()
    }
}

/// One request and how to read its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    #[serde(default = "get")]
    pub method: String,
    /// Path and query, with `{key}` etc. URL-encoded in.
    pub path: String,
    /// A JSON body; string leaves are templates (a leaf that is exactly `"{from}"` becomes null
    /// for a cas from absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// A form-encoded body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<BTreeMap<String, String>>,
    /// A raw text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Status codes that mean the operation happened.
    pub ok: Vec<u16>,
    /// Status codes that mean it certainly did not (a compare that did not match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail: Vec<u16>,
    /// Status codes that mean the key is absent (a read of nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<u16>,
    /// Where a read's value is in the JSON answer (a dotted path); the whole answer's text when
    /// not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn get() -> String {
    "GET".into()
}

impl HttpSpec {
    /// The nodes' image: built from `build` when the campaign gives a directory (Docker's layer
    /// cache makes an unchanged one quick), else `image` as it is in the local Docker.
    pub async fn ensure_image(&self, docker: &bollard::Docker) -> anyhow::Result<String> {
        use crate::cluster::image;
        if let Some(dir) = &self.build {
            tracing::info!(target: "faultline::system", tag = %self.image, dir = %dir.display(), "building the system's image");
            let context = image::tar_dir(dir)?;
            // `ARG BASE` in the Dockerfile gets faultline's local Debian base.
            image::build_context(docker, &self.image, image::LOCAL_BASE, "http", context)
                .await
                .map_err(|(e, last_lines)| {
                    e.context(format!(
                        "building system.build {} as {}; its last lines:\n{}",
                        dir.display(),
                        self.image,
                        last_lines.join("\n")
                    ))
                })?;
            return Ok(self.image.clone());
        }
        match docker.inspect_image(&self.image).await {
            Ok(_) => Ok(self.image.clone()),
            Err(e) => anyhow::bail!(
                "system.image {} is not in the local Docker ({e}); build or pull it first, \
                 or give system.build, a directory with its Dockerfile",
                self.image
            ),
        }
    }

    /// `node`'s command line: the template filled in with its id, name, address, the port,
    /// the data directory, the cluster's name and the peer list.
    pub fn node_command(
        &self,
        cluster: &str,
        node: &crate::cluster::NodeInfo,
        nodes: &[crate::cluster::NodeInfo],
    ) -> Vec<String> {
        let fill = |n: &crate::cluster::NodeInfo| {
            BTreeMap::from([
                ("id", n.id.to_string()),
                ("name", n.name.clone()),
                ("ip", n.addr.ip().to_string()),
                ("port", self.port.to_string()),
            ])
        };
        let peers = nodes
            .iter()
            .map(|n| template::render(&self.peer, &fill(n), str::to_string))
            .collect::<Vec<_>>()
            .join(&self.peer_separator);
        let mut values = fill(node);
        values.insert("data_dir", self.data_dir.clone());
        values.insert("peers", peers);
        values.insert("cluster", cluster.to_string());
        self.command
            .iter()
            .map(|arg| template::render(arg, &values, str::to_string))
            .collect()
    }
}

/// A problem with the system section: the field (below `system.`) and what is wrong.
pub type Problem = (String, String);

impl HttpSpec {
    /// Checks every template and status mapping, collecting each problem with its field.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |field: String, r: Result<(), String>| {
            if let Err(e) = r {
                problems.push((field, e));
            }
        };
        for (i, arg) in self.command.iter().enumerate() {
            add(
                format!("command[{i}]"),
                template::check(arg, template::NODE),
            );
        }
        add("peer".into(), template::check(&self.peer, template::PEER));
        if self.port == 0 {
            add(
                "port".into(),
                Err("must be a port number, 1 to 65535".into()),
            );
        }
        if !self.data_dir.starts_with('/') {
            add(
                "data_dir".into(),
                Err(format!("{:?} is not an absolute path", self.data_dir)),
            );
        }
        add(
            "leader.path".into(),
            template::check(&self.leader.path, &[]),
        );
        let l = &self.leader;
        if l.field.is_none() && (l.role.is_none() || l.leads.is_none()) {
            add(
                "leader".into(),
                Err(
                    "say where the leader is: `field` (its id or name), or `role` and `leads` \
                     (the node's own role, and the value that means it leads)"
                        .into(),
                ),
            );
        }
        let ops = &self.operations;
        for (name, op) in [
            ("read", ops.read.as_ref()),
            ("write", ops.write.as_ref()),
            ("cas", ops.cas.as_ref()),
            ("cas_absent", ops.cas_absent.as_ref()),
            ("add", ops.add.as_ref()),
            ("read_set", ops.read_set.as_ref()),
        ] {
            if let Some(op) = op {
                for (field, r) in op.check() {
                    add(format!("operations.{name}.{field}"), Err(r));
                }
            }
        }
        problems
    }
}

impl OpSpec {
    fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let allowed = template::OPERATION;
        let mut texts = vec![("path".to_string(), self.path.clone())];
        texts.extend(self.body.iter().map(|b| ("body".to_string(), b.clone())));
        for (k, v) in self.form.iter().flatten() {
            texts.push((format!("form.{k}"), v.clone()));
        }
        if let Some(json) = &self.json {
            json_strings(json, "json", &mut texts);
        }
        for (field, text) in texts {
            if let Err(e) = template::check(&text, allowed) {
                problems.push((field, e));
            }
        }
        let bodies = [
            self.json.is_some(),
            self.form.is_some(),
            self.body.is_some(),
        ];
        if bodies.iter().filter(|b| **b).count() > 1 {
            problems.push((
                "json".into(),
                "give at most one of json, form and body".into(),
            ));
        }
        if self.ok.is_empty() {
            problems.push(("ok".into(), "name the status codes that mean ok".into()));
        }
        let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
        for (list, codes) in [
            ("ok", &self.ok),
            ("fail", &self.fail),
            ("absent", &self.absent),
        ] {
            for &code in codes {
                if !(100..=599).contains(&code) {
                    problems.push((list.into(), format!("{code} is not an HTTP status code")));
                } else if let Some(first) = seen.insert(code, list) {
                    problems.push((
                        list.into(),
                        format!("status {code} is mapped twice: in {first} and in {list}"),
                    ));
                }
            }
        }
        problems
    }
}

/// Every string leaf of a JSON template, with its field path.
fn json_strings(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_strings(x, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                json_strings(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}
