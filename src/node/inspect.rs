//! `faultline node inspect DATA_DIR`: what a node persisted, read without changing anything.
//! The operator's first look after a crash. Exits 0 when the log is clean, 2 when it ends in a
//! torn record that the next start will truncate, 1 when it is corrupt beyond that.

use std::path::PathBuf;

use clap::Args;

use super::fsutil::read_json;
use super::log::{disk, segment};
use super::snapshot;
use super::types::{LogId, Vote};
use crate::exit::{bad_input, Validity};

/// Exit status: 0 clean, 2 torn tail (recoverable), 1 corrupt (the node would refuse to start).
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The node's --data-dir.
    pub data_dir: PathBuf,
    /// How many entries to print from each end of the log.
    #[arg(long, default_value_t = 3)]
    pub entries: usize,
}

pub fn run(args: InspectArgs) -> anyhow::Result<Validity> {
    let dir = &args.data_dir;
    if !dir.is_dir() {
        return Err(bad_input(format!("{} is not a directory", dir.display())));
    }
    let vote: Option<Vote> = read_json(&dir.join("vote.json"))?;
    let committed: Option<Option<LogId>> = read_json(&dir.join("committed.json"))?;
    let purged: Option<LogId> = read_json(&disk::purged_path(dir))?;
    println!("data dir:   {}", dir.display());
    println!(
        "vote:       {}",
        vote.map_or("none".into(), |v| v.to_string())
    );
    println!(
        "committed:  {}",
        committed.flatten().map_or("none".into(), |c| c.to_string())
    );
    println!(
        "purged:     {}",
        purged.map_or("none".into(), |p| p.to_string())
    );
    match snapshot::load(dir)? {
        Some(s) => println!(
            "snapshot:   id {} last {} membership {:?} ({} registers, {} lists)",
            s.meta.snapshot_id,
            s.meta.last_log_id.map_or("none".into(), |l| l.to_string()),
            s.meta.last_membership.membership(),
            s.data.registers.len(),
            s.data.lists.len()
        ),
        None => println!("snapshot:   none"),
    }
    let segs = disk::segments_for_inspect(dir)?;
    println!("segments:   {}", segs.len());
    let mut all = Vec::new();
    let mut verdict = Validity::Valid;
    for (i, seg) in segs.iter().enumerate() {
        let scan = segment::scan(&seg.path)?;
        let is_last = i + 1 == segs.len();
        verdict = verdict.worst(match (&scan.bad_tail, is_last) {
            (None, _) => Validity::Valid,
            (Some(_), true) => Validity::Unknown,
            (Some(_), false) => Validity::Invalid,
        });
        if let Err(e) = segment::check_sequence(seg, &scan.records) {
            println!("  CORRUPT: {e:#}");
            verdict = verdict.worst(Validity::Invalid);
        }
        let first = scan.records.first().map(|r| r.entry.log_id);
        let last = scan.records.last().map(|r| r.entry.log_id);
        println!(
            "  {}  {} records, {} bytes, first {} last {}{}",
            seg.path.display(),
            scan.records.len(),
            scan.file_len,
            first.map_or("-".into(), |l| l.to_string()),
            last.map_or("-".into(), |l| l.to_string()),
            scan.bad_tail
                .as_ref()
                .map(|w| if is_last {
                    format!(
                        "  BAD TAIL at offset {}: {w} (truncated on next start)",
                        scan.good_len
                    )
                } else {
                    format!(
                        "  CORRUPT at offset {}: {w} (not the last segment: the node will refuse to start)",
                        scan.good_len
                    )
                })
                .unwrap_or_default()
        );
        all.extend(scan.records.into_iter().map(|r| r.entry));
    }
    let live: Vec<_> = all
        .into_iter()
        .filter(|e| purged.is_none_or(|p| e.log_id.index > p.index))
        .collect();
    if let Some(w) = live
        .windows(2)
        .find(|w| w[1].log_id.index != w[0].log_id.index + 1)
    {
        println!(
            "  CORRUPT: the log jumps from {} to {}",
            w[0].log_id, w[1].log_id
        );
        verdict = verdict.worst(Validity::Invalid);
    }
    match (live.first(), live.last()) {
        (Some(f), Some(l)) => println!(
            "log:        [{}, {}] ({} entries)",
            f.log_id,
            l.log_id,
            live.len()
        ),
        _ => println!("log:        empty"),
    }
    let n = args.entries;
    let show = |e: &super::types::Entry| {
        println!(
            "  {}: {}",
            e.log_id,
            serde_json::to_string(&e.payload).unwrap_or_default()
        )
    };
    if live.len() <= 2 * n {
        live.iter().for_each(show);
    } else {
        live[..n].iter().for_each(show);
        println!("  ... {} more ...", live.len() - 2 * n);
        live[live.len() - n..].iter().for_each(show);
    }
    println!(
        "verdict:    {}",
        match verdict {
            Validity::Valid => "clean",
            Validity::Unknown => "torn tail (recoverable: the next start truncates it)",
            Validity::Invalid => "corrupt (the node will refuse to start)",
        }
    );
    Ok(verdict)
}
