//! `faultline serve [RESULTS_ROOT]`: a local page (loopback only) listing every run, newest first,
//! with links to each report — as Jepsen's `serve` does.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clap::Args;

use crate::exit::{bad_input, Validity};
use crate::report::runs::{index_page, list_runs};

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
    rt.block_on(serve(root, args.port))?;
    Ok(Validity::Valid)
}

async fn serve(root: PathBuf, port: u16) -> anyhow::Result<()> {
    // Loopback only: reports hold histories and node logs, not for the network.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let app = Router::new()
        .route("/", get(index))
        .route("/{*path}", get(file))
        .with_state(root.clone());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (is the port in use? try --port)"))?;
    println!("serving {} at http://{addr}/", root.display());
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}

async fn index(State(root): State<PathBuf>) -> Response {
    match tokio::task::spawn_blocking(move || list_runs(&root)).await {
        Ok(Ok(runs)) => Html(index_page(&runs)).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn file(State(root): State<PathBuf>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(full) = inside(&root, &path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let full = if full.is_dir() {
        full.join("report.html")
    } else {
        full
    };
    match tokio::fs::read(&full).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&full))], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
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
