//! The `system:` section checked: what is tested, and what it can run (planted bugs live in
//! faultline's own node; only that node runs as local processes); a `kind: http` system's
//! fields, templates, status mappings and build directory.

use std::path::{Path, PathBuf};

use super::campaign::Campaign;
use super::validate::{campaign_name, Overrides, Problems};
use crate::system::SystemSpec;

/// `system.build`: a directory holding a Dockerfile, relative to the campaign file; its
/// absolute path.
fn build_dir(p: &mut Problems, dir: &Path) -> Option<PathBuf> {
    let base = p.path().parent().unwrap_or(Path::new("."));
    let dir = base.join(dir);
    let dir = match std::fs::canonicalize(&dir) {
        Ok(dir) if dir.is_dir() => dir,
        Ok(_) => {
            p.add(
                "system.build",
                format!("{} is not a directory", dir.display()),
            );
            return None;
        }
        Err(e) => {
            p.add("system.build", format!("{}: {e}", dir.display()));
            return None;
        }
    };
    if !dir.join("Dockerfile").is_file() {
        p.add(
            "system.build",
            format!("{} has no Dockerfile", dir.display()),
        );
        return None;
    }
    Some(dir)
}

/// The system under test, and what it can run: planted bugs live in faultline's own node, and
/// only that node runs as local processes.
pub(super) fn system(p: &mut Problems, c: &Campaign, overrides: &Overrides) -> SystemSpec {
    let section = &c.system;
    let spec = match (section.kind.as_str(), section.reads) {
        ("faultline", None) => SystemSpec::Faultline,
        ("faultline", Some(_)) => {
            p.add(
                "system.reads",
                "applies to etcd, not to faultline's own node (its reads are always linearizable)",
            );
            SystemSpec::Faultline
        }
        ("etcd", reads) => SystemSpec::Etcd {
            reads: reads.unwrap_or_default(),
        },
        ("http", _) => http_system(p, c).unwrap_or_default(),
        (other, _) => {
            p.add(
                "system.kind",
                format!(
                    "unknown system {other:?}; expected one of {}",
                    SystemSpec::KINDS.join(", ")
                ),
            );
            SystemSpec::Faultline
        }
    };
    let kind = spec.kind();
    if !c.cluster.unsafe_bugs.is_empty() && !spec.takes_planted_bugs() {
        p.add(
            "cluster.unsafe_bugs",
            format!("planted bugs exist only in faultline's own node, not in {kind}"),
        );
    }
    for (field, given) in [
        ("cluster.snapshot_every", c.cluster.snapshot_every.is_some()),
        ("cluster.snapshot_keep", c.cluster.snapshot_keep.is_some()),
    ] {
        if given && !spec.takes_planted_bugs() {
            p.add(
                field,
                format!("a setting of faultline's own node, not of {kind}"),
            );
        }
    }
    if c.workload.kind == "rw-register" && spec != SystemSpec::Faultline {
        p.add(
            "workload.kind",
            format!("rw-register runs on faultline's own node (its /txn has register micro-ops), not on {kind}"),
        );
    }
    if overrides.local && spec != SystemSpec::Faultline {
        p.add(
            "system.kind",
            format!("--local runs faultline's own node as local processes; {kind} runs in Docker (drop --local)"),
        );
    }
    spec
}

/// A `kind: http` system: the fields it needs, every template and status mapping checked, and
/// the register workload (the only one its operations describe).
fn http_system(p: &mut Problems, c: &Campaign) -> Option<SystemSpec> {
    let s = &c.system;
    let mut missing = |field: &str, what: &str| {
        p.add(
            &format!("system.{field}"),
            format!("kind: http needs {what}"),
        );
    };
    if s.image.is_none() && s.build.is_none() {
        missing(
            "image",
            "the image its nodes run, or `build`: a directory with a Dockerfile",
        );
    }
    if s.command.is_none() {
        missing("command", "each node's command line (a template)");
    }
    if s.port.is_none() {
        missing("port", "the port clients reach each node on");
    }
    if s.leader.is_none() {
        missing(
            "leader",
            "a leader request: {path, field} naming where the leader is",
        );
    }
    if s.operations.is_none() {
        missing("operations", "the register operations: read, write and cas");
    }
    if s.reads.is_some() {
        p.add(
            "system.reads",
            "applies to etcd; describe reads in operations.read",
        );
    }
    if !matches!(c.workload.kind.as_str(), "register" | "set") {
        p.add(
            "workload.kind",
            "kind: http runs the register workload (operations read, write, cas) or the set \
             workload (operations add, read_set); list-append needs multi-key transactions, \
             which one request per operation cannot describe",
        );
    }
    let build = s.build.as_ref().and_then(|dir| build_dir(p, dir));
    let image = match (&s.image, &s.build) {
        (Some(image), _) => image.clone(),
        (None, Some(_)) => format!("faultline/http-{}", campaign_name(c, p.path())),
        (None, None) => return None,
    };
    let spec = crate::system::http::HttpSpec {
        image,
        build,
        entrypoint: s.entrypoint.clone(),
        command: s.command.clone()?,
        peer: s.peer.clone().unwrap_or_else(|| "{id}={ip}:{port}".into()),
        peer_separator: s.peer_separator.clone().unwrap_or_else(|| ",".into()),
        port: s.port?,
        data_dir: s
            .data_dir
            .clone()
            .unwrap_or_else(|| crate::cluster::names::DATA_DIR.into()),
        env: s.env.clone(),
        crash_markers: s.crash_markers.clone(),
        leader: s.leader.clone()?,
        operations: s.operations.clone()?,
    };
    for (field, problem) in spec.check() {
        p.add(&format!("system.{field}"), problem);
    }
    for (field, why) in spec.operations.missing_for(&c.workload.kind) {
        p.add(
            &format!("system.operations.{field}"),
            format!("{why}: describe its request"),
        );
    }
    if c.workload.kind == "register"
        && spec.operations.cas.is_none()
        && c.workload.cas.unwrap_or(1) > 0
    {
        p.add(
            "system.operations",
            "the register workload sends cas (weight `workload.cas`): describe operations.cas, or set workload.cas: 0",
        );
    }
    Some(SystemSpec::Http(Box::new(spec)))
}
