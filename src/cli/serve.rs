//! `faultline serve [RESULTS_ROOT]`: a local page (loopback only) listing every run, newest first,
//! with links to each report — as Jepsen's `serve` does.
//!
//! Reports hold histories and node logs, so it answers only requests addressed to a loopback
//! name (no DNS-rebinding page can read them), drops clients that do not send their headers
//! within a few seconds, streams files in chunks, and stops within a second on Ctrl-C or
//! SIGTERM whatever its connections are doing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::BytesMut;
use clap::Args;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::exit::{bad_input, Validity};
use crate::report::runs::{index_page, list_runs};

/// How long a client has to send a request's headers, counted from when the connection is
/// ready for a request (at accept, and after each response). A client that sends nothing, or
/// trickles its headers, is dropped then: it must not hold a connection and a task for ever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long responses under way may finish after Ctrl-C or SIGTERM before the server exits
/// anyway: a stop takes well under a second whatever the clients do.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// The size of the chunks a file is sent in: a report of any size costs this much memory per
/// response under way, never the whole file.
const CHUNK: usize = 64 << 10;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory `faultline test` writes runs into.
    #[arg(default_value = "results")]
    pub root: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

pub fn run(args: ServeArgs) -> anyhow::Result<Validity> {
    if !args.root.is_dir() {
        return Err(bad_input(format!(
            "{} is not a directory: give the results root of `faultline test` (its --out)",
            args.root.display()
        )));
    }
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("resolving {}", args.root.display()))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = rt.block_on(serve(root, args.port));
    // A file read or directory listing stuck in a blocking thread (a hung disk) must not hold
    // the exit: dropping the runtime would wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    served?;
    Ok(Validity::Valid)
}

async fn serve(root: PathBuf, port: u16) -> anyhow::Result<()> {
    // Watched before the port is bound, so a signal sent once the server listens is never
    // missed (nor left to its default action, which skips the shutdown).
    let mut interrupt = signal(SignalKind::interrupt()).context("watching for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("watching for SIGTERM")?;
    // Loopback only: reports hold histories and node logs, not for the network.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let app = Router::new()
        .route("/", get(index))
        .route("/{*path}", get(file))
        .layer(middleware::from_fn_with_state(port, loopback_host_only))
        .with_state(root.clone());
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (is the port in use? try --port)"))?;
    println!("serving {} at http://{addr}/", root.display());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            // Reaps finished connections, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, app.clone(), stopping.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, typically: wait for connections to end rather
                    // than spin on the error.
                    tracing::warn!(target: "faultline::serve", "accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(target: "faultline::serve", "stopping");
    let _ = stop.send(true);
    // Idle connections close at once; responses under way get a moment, then are cut off
    // (the set aborts what is left when it drops).
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// Serves one connection (HTTP/1.1, keep-alive) until the client leaves, is too slow with its
/// headers, or the server stops.
async fn connection(stream: TcpStream, app: Router, mut stopping: watch::Receiver<bool>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let stopped = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        _ = stopping.wait_for(|stop| *stop) => None,
    };
    let ended = match stopped {
        Some(ended) => ended,
        None => {
            // Finishes a response under way, closes an idle connection now.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(target: "faultline::serve", "connection ended: {e}");
    }
}

/// Answers only requests addressed to a loopback name. A page on another site can point its
/// own name at 127.0.0.1 (DNS rebinding) and then read this server as same-origin; its
/// requests still carry that name in `Host`, so they are refused.
async fn loopback_host_only(State(port): State<u16>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    // An absolute-form target (`GET http://name/ HTTP/1.1`) names the host too.
    let authority = request.uri().authority().map(|a| a.as_str());
    let ok = host.is_some_and(is_loopback_host) && authority.is_none_or(is_loopback_host);
    if ok {
        return next.run(request).await;
    }
    tracing::debug!(target: "faultline::serve", "refused a request for host {host:?}");
    let message = format!(
        "faultline serve answers only requests for 127.0.0.1, localhost or [::1]: open \
         http://127.0.0.1:{port}/\n"
    );
    (StatusCode::MISDIRECTED_REQUEST, message).into_response()
}

/// `127.0.0.1`, `localhost` or `[::1]`, each with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((name, rest)) => (name, rest),
            None => return false,
        },
        None => match host.find(':') {
            Some(i) => (&host[..i], &host[i..]),
            None => (host, ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    let name_ok = if host.starts_with('[') {
        name == "::1"
    } else {
        name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost")
    };
    name_ok && port_ok
}

async fn index(State(root): State<PathBuf>) -> Response {
    match tokio::task::spawn_blocking(move || list_runs(&root)).await {
        Ok(Ok(runs)) => Html(index_page(&runs)).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn file(State(root): State<PathBuf>, UrlPath(path): UrlPath<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let Some(full) = inside(&root, &path) else {
        return not_found();
    };
    let full = if full.is_dir() {
        full.join("report.html")
    } else {
        full
    };
    // Regular files only: opening a named pipe would wait for a writer.
    let file = match tokio::fs::metadata(&full).await {
        Ok(meta) if meta.is_file() => tokio::fs::File::open(&full).await,
        _ => return not_found(),
    };
    let Ok(file) = file else {
        return not_found();
    };
    let Ok(len) = file.metadata().await.map(|m| m.len()) else {
        return not_found();
    };
    // Sent in chunks as the client reads them: never the whole file in memory. No more than
    // the length announced, should the file grow meanwhile.
    let chunks = futures::stream::try_unfold(file.take(len), |mut reader| async move {
        let mut buf = BytesMut::with_capacity(CHUNK);
        match reader.read_buf(&mut buf).await? {
            0 => Ok::<_, std::io::Error>(None),
            _ => Ok(Some((buf.freeze(), reader))),
        }
    });
    (
        [
            (header::CONTENT_TYPE, content_type(&full).to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// The file under `root` that `path` names, or `None` if it would leave `root` (`..`, links).
fn inside(root: &Path, path: &str) -> Option<PathBuf> {
    let full = root.join(path).canonicalize().ok()?;
    full.starts_with(root).then_some(full)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost",
            "LocalHost:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example:8080",
            "127.0.0.1:",
            "127.0.0.1:80x",
            "127.0.0.1:8080:1",
            "::1",
            "[::1",
            "[::2]:8080",
            "127.0.0.2",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn paths_cannot_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("smoke/1")).unwrap();
        std::fs::write(root.join("smoke/1/report.html"), "x").unwrap();
        assert!(inside(&root, "smoke/1/report.html").is_some());
        assert!(inside(&root, "../etc/passwd").is_none());
        assert!(inside(&root, "smoke/../../").is_none());
    }
}
