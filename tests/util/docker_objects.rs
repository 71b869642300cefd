//! What the Docker Engine still holds for a cluster, asked directly (not through faultline's
//! own listing): shared by the integration tests that must leave nothing behind.

/// Asks the engine directly (not through faultline's own listing) for anything of `name`.
pub fn assert_nothing_left(name: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        let filter = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("io.faultline.cluster={name}")],
        )]);
        let containers = docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        assert!(containers.is_empty(), "containers left: {containers:?}");
        let networks = docker
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::new()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        assert!(networks.is_empty(), "networks left: {networks:?}");
        let volumes = docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::new()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap()
            .volumes
            .unwrap_or_default();
        assert!(volumes.is_empty(), "volumes left: {volumes:?}");
        assert!(docker
            .inspect_network(&format!("faultline-{name}"), None)
            .await
            .is_err());
    });
}
