//! Clock faults: libfaketime is preloaded into faultline's node (the node image installs it; a
//! cluster started for clock faults preloads it through the containers' environment, see
//! `ClusterSpec::clock_faults`) and reads a control file in the container,
//! `/etc/faultline-clock`, at most once a second. Writing `+30s x1` there moves the node's wall
//! clock (as its process sees it) 30 s ahead of the host's; `+0s x1` puts it back. The monotonic
//! clock is left alone, as a real clock step (NTP, `settimeofday`) leaves it: faking it would
//! make it run backwards when a bump is undone, which no kernel does and which runtimes assert
//! against (openraft aborts a node on it; a demo run showed exactly that). The host's clock, and every other container's, is untouched. The file is written and
//! read back through Docker's archive API, which works on running, paused and stopped containers
//! alike (a stopped node comes back with its clock as the file says).
//!
//! A rate (`x1.5`) makes the clock run fast or slow. libfaketime measures it from the process's
//! start: the faked time is `start + L + rate * (now - start)` for the file's offset `L`, and a
//! rate once read stays until another is (so every line says its rate, `x1` for none). For the
//! clock to run at the rate from *now* on, without jumping by `(rate - 1)` times the node's
//! uptime, faultline writes `L = offset + (rate - 1) * (start - anchor)`, with `start` the
//! container's start time and `anchor` the harness's clock when the fault is applied; a comment
//! line above it keeps what was asked (`# faultline clock +0s x1.5 since <anchor ms>`), so the
//! file can be read back, and rewritten for the new process when a skewed node is started
//! again.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::future::try_join_all;
use futures::StreamExt;
use nemesis::fault::NodeName;
use nemesis::{ClockRate, ClockShift};

use super::faults::{DockerFaults, FaultError};
use super::NodeInfo;

/// The control file libfaketime reads (`FAKETIME_TIMESTAMP_FILE`).
pub const CONTROL_DIR: &str = "/etc";
pub const CONTROL_NAME: &str = "faultline-clock";
/// libfaketime's thread-safe build, as Debian's `libfaketime` installs it.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The environment that preloads libfaketime and points it at the control file. Without the
/// file (a fresh node) it fakes nothing.
pub fn preload_env() -> &'static [String] {
    static ENV: OnceLock<Vec<String>> = OnceLock::new();
    ENV.get_or_init(|| {
        vec![
            format!("LD_PRELOAD={LIBFAKETIME}"),
            format!("FAKETIME_TIMESTAMP_FILE={CONTROL_DIR}/{CONTROL_NAME}"),
            "FAKETIME_CACHE_DURATION=1".into(),
            // Wall clock only: see the module's comment.
            "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
        ]
    })
}

/// What a clock fault asked of one node: the shift and, with a rate, when it took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSetting {
    pub shift: ClockShift,
    /// The harness's clock (ms since the epoch) when the rate was applied; 0 without a rate.
    pub anchor_ms: u64,
}

impl ClockSetting {
    /// Real time: what a reset writes.
    pub const REAL: ClockSetting = ClockSetting {
        shift: ClockShift {
            offset_secs: 0,
            rate: None,
        },
        anchor_ms: 0,
    };

    pub fn is_real(&self) -> bool {
        self.shift.offset_secs == 0 && self.shift.rate.is_none()
    }

    /// How far ahead of real time the node's clock should be at `now_ms`, in ms.
    pub fn skew_ms_at(&self, now_ms: u64) -> f64 {
        let base = self.shift.offset_secs as f64 * 1000.0;
        match self.shift.rate {
            Some(r) => base + (r.as_f64() - 1.0) * (now_ms as f64 - self.anchor_ms as f64),
            None => base,
        }
    }

    /// The control file for a process that started at `start_ms` (ms since the epoch).
    pub fn control_file(&self, start_ms: u64) -> String {
        match self.shift.rate {
            None => format!(
                "# faultline clock {}\n{}s x1\n",
                self.shift,
                spec_offset(self.shift.offset_secs)
            ),
            Some(r) => {
                let rate = r.as_f64();
                let l = self.shift.offset_secs as f64
                    + (rate - 1.0) * (start_ms as f64 - self.anchor_ms as f64) / 1000.0;
                format!(
                    "# faultline clock {} since {}\n{l:+.3}s x{rate}\n",
                    self.shift, self.anchor_ms
                )
            }
        }
    }
}

/// `+30`, `-90`, `+0`.
fn spec_offset(offset_secs: i64) -> String {
    format!("{offset_secs:+}")
}

/// What a control file says: faultline's comment line, or (written by an older faultline) a
/// bare `+30s`. `None` for anything faultline did not write.
pub fn parse_control_file(text: &str) -> Option<ClockSetting> {
    if let Some(line) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# faultline clock "))
    {
        let mut words = line.split_whitespace();
        let offset_secs = words.next()?.strip_suffix('s')?.parse().ok()?;
        let mut setting = ClockSetting {
            shift: ClockShift {
                offset_secs,
                rate: None,
            },
            anchor_ms: 0,
        };
        while let Some(w) = words.next() {
            if let Some(r) = w.strip_prefix('x') {
                setting.shift.rate = Some(ClockRate::new(r.parse().ok()?).ok()?);
            } else if w == "since" {
                setting.anchor_ms = words.next()?.parse().ok()?;
            } else {
                return None;
            }
        }
        return Some(setting);
    }
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let offset = line.strip_suffix(" x1").unwrap_or(line);
    Some(ClockSetting {
        shift: ClockShift {
            offset_secs: offset.strip_suffix('s')?.parse().ok()?,
            rate: None,
        },
        anchor_ms: 0,
    })
}

/// `2026-12-06T16:50:01.123456789Z` (as Docker reports a container's start) in ms since the
/// epoch.
pub fn parse_docker_time(text: &str) -> Option<u64> {
    let (date, time) = text.trim().strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let frac_ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from the civil date, after Howard Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + frac_ms;
    u64::try_from(ms).ok()
}

/// The harness's clock in ms since the epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DockerFaults {
    fn clock_err(op: &'static str, node: &NodeInfo, message: String) -> FaultError {
        FaultError::Failed {
            op,
            node: node.name.clone(),
            message,
        }
    }

    /// When the node's container (so its process, and libfaketime's start) last started, in ms
    /// since the epoch.
    async fn started_ms(&self, node: &NodeInfo) -> Result<u64, String> {
        let started = self
            .cluster
            .docker()
            .inspect_container(&node.container, None)
            .await
            .map_err(|e| format!("inspecting {}: {e}", node.container))?
            .state
            .and_then(|s| s.started_at)
            .unwrap_or_default();
        parse_docker_time(&started)
            .ok_or_else(|| format!("{} reports no start time ({started:?})", node.container))
    }

    /// Writes the control file through the archive API, then reads it back.
    async fn write_clock(
        &self,
        op: &'static str,
        node: &NodeInfo,
        setting: ClockSetting,
        start_ms: Option<u64>,
    ) -> Result<(), FaultError> {
        let start_ms = match (setting.shift.rate, start_ms) {
            (Some(_), Some(ms)) => ms,
            (Some(_), None) => self
                .started_ms(node)
                .await
                .map_err(|e| Self::clock_err(op, node, e))?,
            (None, _) => 0,
        };
        let text = setting.control_file(start_ms);
        let tar = super::image::tar_of(&[(CONTROL_NAME, text.as_bytes(), 0o644)])
            .map_err(|e| Self::clock_err(op, node, format!("{e:#}")))?;
        let options = UploadToContainerOptionsBuilder::new()
            .path(CONTROL_DIR)
            .build();
        self.cluster
            .docker()
            .upload_to_container(
                &node.container,
                Some(options),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(|e| {
                Self::clock_err(
                    op,
                    node,
                    format!("writing {CONTROL_DIR}/{CONTROL_NAME}: {e}"),
                )
            })?;
        match self.read_clock(node).await {
            Ok(Some(read)) if read == setting => Ok(()),
            Ok(other) => Err(Self::clock_err(
                op,
                node,
                format!(
                    "{CONTROL_DIR}/{CONTROL_NAME} reads back {:?}, not {}",
                    other.map(|o| o.shift.to_string()),
                    setting.shift
                ),
            )),
            Err(e) => Err(Self::clock_err(op, node, e)),
        }
    }

    /// What the node's control file asks; `None` when there is none (never shifted).
    pub(super) async fn read_clock(&self, node: &NodeInfo) -> Result<Option<ClockSetting>, String> {
        let path = format!("{CONTROL_DIR}/{CONTROL_NAME}");
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&path)
            .build();
        let mut stream = self
            .cluster
            .docker()
            .download_from_container(&node.container, Some(options));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) if super::docker::is_not_found(&e) => return Ok(None),
                Err(e) => return Err(format!("reading {path} of {}: {e}", node.name)),
            }
        }
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive
            .entries()
            .map_err(|e| format!("reading {path} of {}: {e}", node.name))?;
        let Some(entry) = entries.next() else {
            return Ok(None);
        };
        let mut text = String::new();
        entry
            .and_then(|mut e| e.read_to_string(&mut text))
            .map_err(|e| format!("reading {path} of {}: {e}", node.name))?;
        parse_control_file(&text).map(Some).ok_or_else(|| {
            format!(
                "{path} of {} holds {text:?}, which faultline did not write",
                node.name
            )
        })
    }

    /// A node started again while its clock runs at a rate: libfaketime starts counting from the
    /// new process, so the file is rewritten for it (same offset, rate and anchor: the clock
    /// goes on where it would have been). `before_start` writes it for a process starting now,
    /// before the container is started, so the new process never reads the old process's file;
    /// after the start it is written again for the start Docker reports.
    pub(super) async fn reanchor_clock(
        &self,
        node: &NodeInfo,
        before_start: bool,
    ) -> Result<(), FaultError> {
        match self.read_clock(node).await {
            Ok(Some(setting)) if setting.shift.rate.is_some() => {
                let start = before_start.then(now_ms);
                self.write_clock("start", node, setting, start).await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(Self::clock_err("start", node, e)),
        }
    }

    /// Whether the node's container preloads libfaketime (it was started for clock faults).
    pub async fn clock_preloaded(&self, node: &NodeInfo) -> Result<bool, String> {
        let want = &preload_env()[0];
        let env = self
            .cluster
            .docker()
            .inspect_container(&node.container, None)
            .await
            .map_err(|e| format!("inspecting {}: {e}", node.container))?
            .config
            .and_then(|c| c.env)
            .unwrap_or_default();
        Ok(env.iter().any(|e| e == want))
    }

    pub(super) async fn bump_clocks(
        &self,
        nodes: &[NodeName],
        shift: ClockShift,
    ) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        // A node without the preload would ignore the file: refuse rather than pretend.
        for n in &nodes {
            match self.clock_preloaded(n).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Self::clock_err(
                        "clock",
                        n,
                        "the node was started without libfaketime preloaded; start the cluster \
                             with `faultline cluster up --clock-faults` (a campaign with clock \
                             faults does this itself)"
                            .to_string(),
                    ))
                }
                Err(e) => return Err(Self::clock_err("clock", n, e)),
            }
        }
        let setting = ClockSetting {
            shift,
            anchor_ms: if shift.rate.is_some() { now_ms() } else { 0 },
        };
        try_join_all(
            nodes
                .iter()
                .map(|n| self.write_clock("clock", n, setting, None)),
        )
        .await?;
        tracing::info!(target: "faultline::nemesis", cluster = %self.cluster.name(), "clock {shift} on {}", nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(","));
        Ok(())
    }

    /// Puts the clocks back (`+0s x1`) where a shift is in place; nodes never shifted are left
    /// alone.
    pub(super) async fn reset_clock_files(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| async move {
            match self.read_clock(n).await {
                Ok(None) => Ok(()),
                Ok(Some(s)) if s.is_real() => Ok(()),
                Ok(Some(_)) => {
                    self.write_clock("reset-clock", n, ClockSetting::REAL, None)
                        .await
                }
                // Something else in the file: overwrite it with the real time, verified.
                Err(_) => {
                    self.write_clock("reset-clock", n, ClockSetting::REAL, None)
                        .await
                }
            }
        }))
        .await?;
        Ok(())
    }

    /// Every shifted clock, read back from the nodes' control files; unreadable ones as messages.
    pub async fn active_clocks(&self) -> (BTreeMap<NodeName, ClockSetting>, Vec<String>) {
        let reads = self
            .cluster
            .nodes()
            .iter()
            .map(|n| async move { (n.name.clone(), self.read_clock(n).await) });
        let mut clocks = BTreeMap::new();
        let mut unreadable = Vec::new();
        for (name, read) in futures::future::join_all(reads).await {
            match read {
                Ok(Some(setting)) if !setting.is_real() => {
                    clocks.insert(name, setting);
                }
                Ok(_) => {}
                Err(e) => unreadable.push(e),
            }
        }
        (clocks, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_files_round_trip() {
        let bump = ClockSetting {
            shift: ClockShift {
                offset_secs: 30,
                rate: None,
            },
            anchor_ms: 0,
        };
        assert_eq!(bump.control_file(0), "# faultline clock +30s\n+30s x1\n");
        assert_eq!(
            ClockSetting::REAL.control_file(0),
            "# faultline clock +0s\n+0s x1\n"
        );
        for offset in [30, -90, 0, 86_400] {
            let s = ClockSetting {
                shift: ClockShift {
                    offset_secs: offset,
                    rate: None,
                },
                anchor_ms: 0,
            };
            assert_eq!(parse_control_file(&s.control_file(0)), Some(s));
        }
        // Written by an older faultline.
        assert_eq!(
            parse_control_file("-90s\n"),
            Some(ClockSetting {
                shift: ClockShift {
                    offset_secs: -90,
                    rate: None
                },
                anchor_ms: 0,
            })
        );
        assert_eq!(parse_control_file("@2020-01-01 00:00:00"), None);
        let env = preload_env();
        assert!(env[0].starts_with("LD_PRELOAD=") && env[0].ends_with("libfaketimeMT.so.1"));
        assert_eq!(env[1], "FAKETIME_TIMESTAMP_FILE=/etc/faultline-clock");
        assert!(env.contains(&"FAKETIME_DONT_FAKE_MONOTONIC=1".to_string()));
    }

    #[test]
    fn a_rate_is_anchored_at_the_harness_clock_not_the_process_start() {
        // A process that started 100 s before the fault: x1.5 from then on, without the 50 s
        // jump libfaketime would make if the file said only `+0 x1.5`.
        let skew = ClockSetting {
            shift: ClockShift {
                offset_secs: 0,
                rate: ClockRate::new(1.5).ok(),
            },
            anchor_ms: 1_000_100_000,
        };
        let file = skew.control_file(1_000_000_000);
        assert_eq!(
            file,
            "# faultline clock +0s x1.5 since 1000100000\n-50.000s x1.5\n"
        );
        assert_eq!(parse_control_file(&file), Some(skew));
        // libfaketime's clock: start + L + rate * (now - start), at the anchor and 10 s later.
        let faked = |now: f64| 1_000_000.0 - 50.0 + 1.5 * (now - 1_000_000.0);
        assert!((faked(1_000_100.0) - 1_000_100.0).abs() < 1e-6);
        assert!((faked(1_000_110.0) - 1_000_110.0 - 5.0).abs() < 1e-6);
        assert_eq!(skew.skew_ms_at(1_000_110_000), 5000.0);
        // Slow, with an offset.
        let slow = ClockSetting {
            shift: ClockShift {
                offset_secs: -5,
                rate: ClockRate::new(0.5).ok(),
            },
            anchor_ms: 2_000,
        };
        assert_eq!(slow.skew_ms_at(12_000), -10_000.0);
        assert_eq!(parse_control_file(&slow.control_file(0)), Some(slow));
    }

    #[test]
    fn docker_times_read_as_epoch_ms() {
        assert_eq!(parse_docker_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_docker_time("2026-12-06T16:50:01.123456789Z"),
            Some(1_796_575_801_123)
        );
        assert_eq!(
            parse_docker_time("2000-03-01T00:00:01.5Z"),
            Some(951_868_801_500)
        );
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_docker_time("yesterday"), None);
    }
}
