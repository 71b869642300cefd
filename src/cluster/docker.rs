//! The connection to the Docker Engine, and the error shapes every other module matches on.

use anyhow::Context;
use bollard::errors::Error as DockerError;
use bollard::Docker;

/// Connects to the local engine (DOCKER_HOST or the default socket) and negotiates the API
/// version: the engine may be older than bollard's default (20.10 speaks 1.41) and refuses
/// requests for newer versions.
pub async fn connect() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_defaults().context(
        "no Docker daemon to talk to: install and start Docker Engine \
         (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at it",
    )?;
    docker.negotiate_version().await.context(
        "could not reach the Docker daemon; start it (e.g. `sudo systemctl start docker`) \
         and make sure your user may use it (the `docker` group)",
    )
}

/// The HTTP status of an error the engine answered with, if it answered.
pub fn status_of(err: &DockerError) -> Option<u16> {
    match err {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub fn is_not_found(err: &DockerError) -> bool {
    status_of(err) == Some(404)
}

/// 409: already exists, already in the requested state, or paused.
pub fn is_conflict(err: &DockerError) -> bool {
    status_of(err) == Some(409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_from_server_errors_only() {
        let e = DockerError::DockerResponseServerError {
            status_code: 404,
            message: "no such container".into(),
        };
        assert!(is_not_found(&e));
        assert!(!is_conflict(&e));
        let other = DockerError::RequestTimeoutError;
        assert_eq!(status_of(&other), None);
    }
}
