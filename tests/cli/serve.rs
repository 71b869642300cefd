//! `faultline serve` against hostile or careless clients: requests for another host name (DNS
//! rebinding) are refused, clients that never finish their headers are dropped, Ctrl-C and
//! SIGTERM stop it at once whatever its connections do, and files are streamed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `faultline serve` on a free port, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", root.to_str().unwrap(), "--port", &port.to_string()])
            .env("FAULTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(server.addr()).is_err() {
            assert!(Instant::now() < deadline, "serve never listened");
            std::thread::sleep(Duration::from_millis(50)); // poll
        }
        server
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// One request with this `Host`; the status code and the body.
    fn get(&self, host: &str, path: &str) -> (u16, Vec<u8>) {
        let mut s = self.connect();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        s.read_to_end(&mut response).unwrap();
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = String::from_utf8_lossy(&response[..end]).into_owned();
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (code, response[end + 4..].to_vec())
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling a child we spawned and have not reaped.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) },
            0
        );
    }

    /// The exit status, if the process ends within `limit`.
    fn exits_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10)); // poll
        }
    }

    /// The process's peak resident memory so far, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn results_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("smoke/1")).unwrap();
    std::fs::write(dir.path().join("smoke/1/report.html"), "<p>the report</p>").unwrap();
    dir
}

/// A page on another site whose name was pointed at 127.0.0.1 (DNS rebinding) sends its own
/// name in `Host`: refused. The loopback names, with or without the port, are served.
#[test]
fn only_requests_for_a_loopback_host_are_served() {
    let dir = results_root();
    let server = Server::start(dir.path());
    let port = server.port;
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        "127.0.0.1.evil.example".to_string(),
        "localhost.evil.example".to_string(),
        format!("10.0.0.1:{port}"),
    ] {
        let (code, body) = server.get(&host, "/smoke/1/report.html");
        assert!(code == 421 || code == 403, "Host {host}: {code}");
        assert!(
            !String::from_utf8_lossy(&body).contains("the report"),
            "Host {host} read the report"
        );
    }
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (code, body) = server.get(&host, "/smoke/1/report.html");
        assert_eq!(code, 200, "Host {host}");
        assert_eq!(body, b"<p>the report</p>", "Host {host}");
    }
}

/// A client that connects and sends nothing, or sends its headers a byte at a time, is dropped
/// after the header timeout (a few seconds), not held open for ever.
#[test]
fn clients_that_never_finish_their_headers_are_dropped() {
    let dir = results_root();
    let server = Server::start(dir.path());
    let started = Instant::now();
    // Both read until the server closes the connection; the trickler keeps sending meanwhile.
    let idle = server.connect();
    let idle = std::thread::spawn(move || closed_by_server(idle));
    let mut trickle = server.connect();
    let reader = trickle.try_clone().unwrap();
    let trickler = std::thread::spawn(move || closed_by_server(reader));
    trickle
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    while !trickler.is_finished() && started.elapsed() < Duration::from_secs(15) {
        if trickle.write_all(b"X").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200)); // the client's pace, until the server drops it or the deadline
    }
    for (who, handle) in [("idle", idle), ("trickling", trickler)] {
        let closed_after = handle.join().unwrap();
        assert!(
            closed_after.is_some_and(|t| t < Duration::from_secs(12)),
            "the {who} client was not dropped (read until {closed_after:?})"
        );
    }
}

/// Reads until the server closes the connection: how long that took, or `None` if the read
/// timed out first.
fn closed_by_server(mut s: TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => {
                return Some(started.elapsed())
            }
            Err(_) => return None,
        }
    }
}

/// Ctrl-C and SIGTERM end the server within about a second, exit 0, even with many
/// connections open that are idle or half way through their headers.
#[test]
fn sigint_and_sigterm_stop_serve_at_once_despite_open_connections() {
    for (name, sig) in [("SIGINT", libc::SIGINT), ("SIGTERM", libc::SIGTERM)] {
        let dir = results_root();
        let mut server = Server::start(dir.path());
        let mut open = Vec::new();
        for i in 0..200 {
            let mut s = server.connect();
            if i % 2 == 1 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .unwrap();
            }
            open.push(s);
        }
        // Accepted in order: once a later connection is answered, all of these were accepted.
        assert_eq!(server.get("127.0.0.1", "/smoke/1/report.html").0, 200);
        server.signal(sig);
        let status = server.exits_within(Duration::from_secs(2));
        assert!(
            status.is_some(),
            "serve was still running 2 s after {name} with {} connections open",
            open.len()
        );
        assert_eq!(status.unwrap().code(), Some(0), "{name}: {status:?}");
    }
}

/// A file is sent in chunks: serving 50 MB raises the server's peak memory by far less than
/// the file (it read the whole file into memory per request).
#[test]
fn large_files_are_streamed_not_read_into_memory() {
    const SIZE: usize = 50 << 20;
    let dir = results_root();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut f = std::fs::File::create(dir.path().join("smoke/1/history.jsonl")).unwrap();
    for _ in 0..SIZE / chunk.len() {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let server = Server::start(dir.path());
    // The baseline: the server up and having answered a request.
    assert_eq!(server.get("127.0.0.1", "/").0, 200);
    let before = server.peak_rss_kib();
    let (code, body) = server.get("127.0.0.1", "/smoke/1/history.jsonl");
    assert_eq!(code, 200);
    assert_eq!(body.len(), SIZE);
    let grew_mib = server.peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        grew_mib < 16,
        "serving a 50 MiB file raised the peak memory by {grew_mib} MiB"
    );
}
