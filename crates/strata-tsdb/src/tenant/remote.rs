//! Remote-write queues' progress through the tenant's WAL, kept in
//! `remote-write/<queue>` (one `segment offset sample` line per shard),
//! and the hold it puts on WAL truncation: segments a queue has not sent
//! yet stay until it has.

use super::TenantDb;
use crate::TsdbError;
use std::collections::HashMap;
use std::path::Path;
use strata_model::{LogPosition, QueueProgress};

pub(crate) const PROGRESS_DIR: &str = "remote-write";

fn valid_queue_name(queue: &str) -> Result<(), TsdbError> {
    if queue.is_empty()
        || queue.len() > 200
        || !queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || queue.starts_with('.')
    {
        return Err(TsdbError::BadInput(format!(
            "remote-write queue id {queue:?} is not a plain file name"
        )));
    }
    Ok(())
}

fn parse_progress(text: &str) -> Option<QueueProgress> {
    let mut shards = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_ascii_whitespace().map(|w| w.parse::<u64>().ok());
        let (Some(Some(segment)), Some(Some(offset)), Some(Some(sample)), None) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return None;
        };
        shards.push(LogPosition {
            segment,
            offset,
            sample: u32::try_from(sample).ok()?,
        });
    }
    (!shards.is_empty()).then_some(QueueProgress { shards })
}

/// Every queue's saved progress in a tenant dir; unreadable files are
/// reported and ignored (the queue then starts from the log's end).
pub(crate) fn load_all(dir: &Path) -> Result<HashMap<String, QueueProgress>, TsdbError> {
    let mut out = HashMap::new();
    for (name, path) in crate::wal::dir_entries(&dir.join(PROGRESS_DIR))? {
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        match std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| parse_progress(&t))
        {
            Some(p) => {
                out.insert(name, p);
            }
            None => {
                tracing::error!(file = %path.display(), "unreadable remote-write progress: that queue starts from the end of the WAL")
            }
        }
    }
    Ok(out)
}

impl TenantDb {
    pub fn queue_progress(&self, queue: &str) -> Result<Option<QueueProgress>, TsdbError> {
        valid_queue_name(queue)?;
        Ok(self.remote_progress.lock().get(queue).cloned())
    }

    pub fn save_queue_progress(
        &self,
        queue: &str,
        progress: &QueueProgress,
    ) -> Result<(), TsdbError> {
        valid_queue_name(queue)?;
        let dir = self.dir.join(PROGRESS_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut text = String::new();
        for p in &progress.shards {
            text.push_str(&format!("{} {} {}\n", p.segment, p.offset, p.sample));
        }
        let tmp = dir.join(format!("{queue}.tmp"));
        std::fs::write(&tmp, text)?;
        // A rename replaces the file whole; without an fsync a power cut may
        // bring back older progress, which resends (never loses) samples.
        std::fs::rename(&tmp, dir.join(queue))?;
        self.remote_progress
            .lock()
            .insert(queue.to_string(), progress.clone());
        Ok(())
    }

    pub fn retain_queues(&self, queues: &[String]) -> Result<(), TsdbError> {
        let mut progress = self.remote_progress.lock();
        let gone: Vec<String> = progress
            .keys()
            .filter(|k| !queues.contains(k))
            .cloned()
            .collect();
        for q in gone {
            progress.remove(&q);
            match std::fs::remove_file(self.dir.join(PROGRESS_DIR).join(&q)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(queue = %q, "remote-write queue removed: its hold on the WAL is released");
        }
        Ok(())
    }

    /// The oldest WAL segment some queue still reads samples from.
    pub(crate) fn held_segment(&self) -> Option<u64> {
        self.remote_progress
            .lock()
            .values()
            .filter_map(|p| p.oldest())
            .map(|p| p.segment)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_garbage_is_refused() {
        let p = parse_progress("3 100 0\n4 8 17\n").unwrap_or_default();
        assert_eq!(p.shards.len(), 2);
        assert_eq!(
            p.oldest(),
            Some(LogPosition {
                segment: 3,
                offset: 100,
                sample: 0
            })
        );
        assert!(parse_progress("3 100\n").is_none());
        assert!(parse_progress("3 100 x\n").is_none());
        assert!(parse_progress("").is_none());
        assert!(valid_queue_name("../x").is_err());
        assert!(valid_queue_name("remote-0_ab12").is_ok());
    }
}
