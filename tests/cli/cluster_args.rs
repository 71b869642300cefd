//! The cluster commands' argument errors: bad input exits 254 before touching Docker.

use std::process::Command;

fn faultline(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_cluster_name_is_bad_input() {
    let (code, stderr) = faultline(&["cluster", "up", "--name", "Not Valid", "--image", "x"]);
    assert_eq!(code, 254, "{stderr}");
    assert!(stderr.contains("invalid cluster name"), "{stderr}");
}

#[test]
fn partition_needs_exactly_one_shape() {
    let (code, stderr) = faultline(&["fault", "partition"]);
    assert_eq!(code, 254, "{stderr}");
    let (code, stderr) = faultline(&["fault", "partition", "--halves", "--isolate", "n1"]);
    assert_eq!(code, 254, "{stderr}");
}

#[test]
fn node_faults_need_nodes() {
    let (code, stderr) = faultline(&["fault", "kill"]);
    assert_eq!(code, 254, "{stderr}");
}

#[test]
fn logs_need_a_node_or_a_directory() {
    let (code, stderr) = faultline(&["cluster", "logs"]);
    assert_eq!(code, 254, "{stderr}");
}

#[test]
fn no_docker_daemon_exits_255_saying_what_to_do() {
    for args in [
        &["cluster", "ls"][..],
        &["image", "build"],
        &["cluster", "status"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("running faultline");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {stderr}");
        assert!(stderr.contains("start Docker Engine"), "{args:?}: {stderr}");
    }
}
