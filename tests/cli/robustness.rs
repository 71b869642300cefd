//! What a hostile user or a flaky host does to the command line: bugs reported in one line,
//! absurd flags refused as bad input, a broken pipe never ending a server, symbolic links never
//! followed into loops.

use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline")
}

/// A panic is one line saying it is a bug, exit 255, and no backtrace even where CI hosts set
/// `RUST_BACKTRACE=1`; `FAULTLINE_BACKTRACE=1` asks for it.
#[test]
fn a_bug_is_reported_in_one_line_with_exit_255() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("internal-panic")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("faultline hit a bug (asked to panic"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("internal-panic")
        .env("FAULTLINE_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stack backtrace"));
}

#[test]
fn absurd_durations_and_sizes_are_bad_input_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h.jsonl");
    let out = faultline(&[
        "check",
        "--time-limit",
        "10000000000000000000000000",
        h.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    for (flag, v) in [
        ("--ops", "18446744073709551615"),
        ("--procs", "9999999999"),
        ("--keys", "99999999999"),
    ] {
        let out = faultline(&["gen-history", h.to_str().unwrap(), flag, v]);
        assert_eq!(out.status.code(), Some(254), "{flag} {v}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{out:?}"
        );
    }
}

/// `check DIR` does not follow symbolic links to directories: a link to its own directory
/// neither hangs it nor checks a file twice.
#[test]
fn check_does_not_follow_directory_links() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(runs.join("a")).unwrap();
    std::fs::write(
        runs.join("a/h.jsonl"),
        "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":1}\n\
         {\"index\":1,\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k\",\"value\":1}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&runs, runs.join("a/loop")).unwrap();
    std::os::unix::fs::symlink(&runs, runs.join("self")).unwrap();
    let started = Instant::now();
    let out = faultline(&["check", runs.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("h.jsonl")).count(),
        1,
        "{stdout}"
    );
}

/// A server keeps SIGPIPE ignored: a write to a socket its peer reset must not end it
/// (regression: `main` reset SIGPIPE to its default action for every command).
#[test]
fn a_broken_pipe_does_not_end_serve() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "serve",
            dir.path().to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let up = |within: Duration| {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if TcpStream::connect(&addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50)); // poll again, before the deadline
        }
        false
    };
    assert!(up(Duration::from_secs(10)), "serve never listened");
    // SAFETY: signalling a child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGPIPE) },
        0
    );
    // Poll for an exit until the deadline: a process killed by the signal is gone at once.
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut exited = None;
    while exited.is_none() && Instant::now() < deadline {
        exited = child.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(20)); // poll
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(exited, None, "serve ended on SIGPIPE");
}

/// `check` refuses a named pipe (254, saying what it is) instead of opening it: the open blocks
/// until something writes, so a stray FIFO hung the check for ever.
#[test]
fn check_refuses_a_fifo_instead_of_blocking_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("history.jsonl");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path we own; mkfifo(3) only creates the file.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let out = faultline_within(&["check", fifo.to_str().unwrap()], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is a named pipe (FIFO)"), "{said}");
    assert!(said.contains("history.jsonl"), "{said}");

    // Found while walking a directory, it is refused the same way, not opened.
    let out = faultline_within(
        &["check", dir.path().to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(254), "{out:?}");
}

/// Runs faultline, failing the test if it has not ended within `limit` (then it is killed).
fn faultline_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .env("FAULTLINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running faultline");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline {args:?} was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20)); // poll
    }
    child.wait_with_output().unwrap()
}
