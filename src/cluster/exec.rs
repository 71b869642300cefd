//! `docker exec` through the API: run a command in a node's container and collect its output.
//! This works for any user allowed to use Docker, unlike `nsenter` from the host.

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bollard::Docker;
use futures::StreamExt;

/// What a command printed and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` in `container` and waits for it to finish.
pub async fn run(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<Output, bollard::errors::Error> {
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        )
        .await?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    {
        while let Some(chunk) = output.next().await {
            match chunk? {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
    }
    // The output stream closes as the process exits; the engine may record the exit code a
    // moment later, so poll for it with a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let inspect = docker.inspect_exec(&exec.id).await?;
        if inspect.running != Some(true) || tokio::time::Instant::now() >= deadline {
            return Ok(Output {
                exit_code: inspect.exit_code.unwrap_or(-1),
                stdout,
                stderr,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
