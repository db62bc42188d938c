//! Full head chunks on disk (`<tenant>/chunks_head/`), read back through
//! mmap: the head's memory is each series' open chunk, not its whole
//! history, and a restart replays from the WAL only what is newer than a
//! series' chunks here (Prometheus' `chunks_head`, our own format:
//! docs/format-wal.md "Head chunk files").
//!
//! Until a WAL checkpoint leaves their samples out (it calls `sync` first,
//! see `TenantDb::checkpoint_wal`), every sample in these files is also in
//! the WAL, so the write path never fsyncs them and a torn or lost tail
//! only means more replay. What the files must guarantee is that what they hand back is a prefix of
//! each series' in-order samples: a chunk is written (one positional write,
//! at an offset reserved in file order) before the next chunk of the same
//! series can close, so scanning stops at the first damaged record and
//! drops everything after it, in that file and in every later file.
//!
//! Lock order: a head shard → `active` (a chunk closes under its shard's
//! lock); nothing here takes a head lock.

use crate::TsdbError;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const MAGIC: &[u8; 4] = b"STHC";
const VERSION: u8 = 1;
const FILE_HEADER: u64 = 8;
/// id, labels hash, min t, max t, last value bits, samples, encoding,
/// reserved, data length.
const RECORD_HEADER: usize = 4 + 8 + 8 + 8 + 8 + 2 + 1 + 1 + 4;
const RECORD_CRC: usize = 4;
/// Prometheus' head chunk file size; files are sparse until written.
const FILE_SIZE: u64 = 128 << 20;
/// Chunk data is a closed head chunk (120 samples): far below this.
const MAX_CHUNK_BYTES: usize = 1 << 20;
/// `strata_block::codec` column encoding.
pub(crate) const ENCODING_COLUMNS: u8 = 1;

/// A closed chunk's bytes: in memory (not written, or rewritten by a trim
/// or delete) or in a mapped head chunk file.
#[derive(Clone, Debug)]
pub(crate) enum ChunkBytes {
    Mem(Arc<[u8]>),
    Mapped {
        file: Arc<MappedFile>,
        off: u32,
        len: u32,
    },
}

/// A head chunk file, mapped for queries and open for positioned reads:
/// a head cut reads every chunk once and must not leave them all mapped
/// into this process' memory.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: memmap2::Mmap,
    file: File,
}

impl ChunkBytes {
    pub fn bytes(&self) -> &[u8] {
        match self {
            ChunkBytes::Mem(b) => b,
            ChunkBytes::Mapped { file, off, len } => {
                let (off, len) = (*off as usize, *len as usize);
                // Bounds were checked when the chunk was written or scanned.
                file.map.get(off..off + len).unwrap_or(&[])
            }
        }
    }

    /// Appends the bytes to `out` without touching the map (positioned
    /// read through the page cache).
    pub fn read_into(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            ChunkBytes::Mem(b) => out.extend_from_slice(b),
            ChunkBytes::Mapped { file, off, len } => {
                let at = out.len();
                out.resize(at + *len as usize, 0);
                file.file.read_exact_at(&mut out[at..], u64::from(*off))?;
            }
        }
        Ok(())
    }

    /// Decodes the chunk onto `out` without touching the map, through
    /// `scratch`: head cuts decode a chunk of nearly every series, and
    /// faulting those in (the kernel maps pages around each one too) left
    /// most of a chunk file counted in this process' memory. False when the
    /// chunk is unreadable or corrupt; `out` then holds what it had before.
    pub fn decode_read(&self, scratch: &mut Vec<u8>, out: &mut Vec<strata_model::Sample>) -> bool {
        let from = out.len();
        let decoded = match self {
            ChunkBytes::Mem(b) => strata_block::codec::decode(b, out),
            ChunkBytes::Mapped { .. } => {
                scratch.clear();
                if let Err(e) = self.read_into(scratch) {
                    tracing::error!(error = %e, "unreadable head chunk");
                    return false;
                }
                strata_block::codec::decode(scratch, out)
            }
        };
        if decoded.is_none() {
            out.truncate(from);
            return false;
        }
        true
    }
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

/// What a head chunk record says about its chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ChunkInfo {
    pub min_t: i64,
    pub max_t: i64,
    pub num_samples: u16,
    /// Bit pattern of the chunk's last value (duplicate detection at the
    /// next append, without decoding the chunk).
    pub last_bits: u64,
}

/// A chunk found at start-up, for the series with WAL id `id`.
pub(crate) struct LoadedChunk {
    /// The series' label hash: an id the WAL reuses for another series
    /// (possible after the series was removed) does not pick up these.
    pub labels_hash: u64,
    pub info: ChunkInfo,
    pub bytes: ChunkBytes,
}

struct ActiveFile {
    seq: u32,
    file: File,
    mapped: Arc<MappedFile>,
    /// Next free offset (reserved by `fetch_add`).
    next: AtomicU64,
    /// This file's entry in `HeadChunkFiles::max_t`.
    max_t: Arc<AtomicI64>,
}

pub(crate) struct HeadChunkFiles {
    dir: PathBuf,
    active: RwLock<Option<ActiveFile>>,
    /// Newest chunk time per file (finished and active): a file whose
    /// newest chunk is older than a head cut holds nothing the head needs.
    max_t: Mutex<BTreeMap<u32, Arc<AtomicI64>>>,
    /// Serialises starting a new file (a full file, a head cut).
    rotating: Mutex<()>,
    /// Finished files already synced.
    synced: Mutex<std::collections::BTreeSet<u32>>,
    write_errors: AtomicU64,
}

fn file_name(seq: u32) -> String {
    format!("{seq:06}")
}

fn list_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, TsdbError> {
    Ok(crate::wal::list_numbered(dir, 6)?
        .into_iter()
        .filter_map(|(n, p)| u32::try_from(n).ok().map(|n| (n, p)))
        .collect())
}

fn encode_header(id: u32, labels_hash: u64, info: &ChunkInfo, len: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&labels_hash.to_le_bytes());
    out.extend_from_slice(&info.min_t.to_le_bytes());
    out.extend_from_slice(&info.max_t.to_le_bytes());
    out.extend_from_slice(&info.last_bits.to_le_bytes());
    out.extend_from_slice(&info.num_samples.to_le_bytes());
    out.push(ENCODING_COLUMNS);
    out.push(0);
    out.extend_from_slice(&len.to_le_bytes());
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// A valid record's header fields: (id, labels hash, info, data length).
fn parse_header(h: &[u8]) -> Option<(u32, u64, ChunkInfo, usize)> {
    if h.len() < RECORD_HEADER {
        return None;
    }
    let len = le_u32(h, 40) as usize;
    if len == 0 || len > MAX_CHUNK_BYTES || h[38] != ENCODING_COLUMNS {
        return None;
    }
    let info = ChunkInfo {
        min_t: le_u64(h, 12) as i64,
        max_t: le_u64(h, 20) as i64,
        last_bits: le_u64(h, 28),
        num_samples: u16::from_le_bytes([h[36], h[37]]),
    };
    if info.min_t > info.max_t || info.num_samples == 0 {
        return None;
    }
    Some((le_u32(h, 0), le_u64(h, 4), info, len))
}

type Found = Vec<(u32, u64, ChunkInfo, std::ops::Range<usize>)>;

/// The valid records of a file from its header on: (records, newest chunk
/// time, end of the valid part).
fn scan(file: &File, len: u64) -> Result<(Found, i64, u64), TsdbError> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut r = BufReader::with_capacity(256 << 10, file);
    r.seek(SeekFrom::Start(FILE_HEADER))?;
    Ok(scan_records(r, len))
}

/// The records after the file header, read from `r` (positioned there).
fn scan_records(mut r: impl std::io::Read, len: u64) -> (Found, i64, u64) {
    let mut pos = FILE_HEADER;
    let mut found = Vec::new();
    let mut newest = i64::MIN;
    let mut rec = Vec::with_capacity(RECORD_HEADER + 4096);
    loop {
        if pos + (RECORD_HEADER + RECORD_CRC) as u64 > len {
            break;
        }
        rec.resize(RECORD_HEADER, 0);
        if r.read_exact(&mut rec).is_err() {
            break;
        }
        let Some((id, hash, info, dlen)) = parse_header(&rec) else {
            break;
        };
        let total = (RECORD_HEADER + dlen + RECORD_CRC) as u64;
        if pos + total > len {
            break;
        }
        rec.resize(RECORD_HEADER + dlen + RECORD_CRC, 0);
        if r.read_exact(&mut rec[RECORD_HEADER..]).is_err() {
            break;
        }
        let want = le_u32(&rec, RECORD_HEADER + dlen);
        if crc32c::crc32c(&rec[..RECORD_HEADER + dlen]) != want {
            break;
        }
        let start = (pos as usize) + RECORD_HEADER;
        found.push((id, hash, info, start..start + dlen));
        newest = newest.max(info.max_t);
        pos += total;
    }
    (found, newest, pos)
}

/// Fuzzing entry point: arbitrary bytes as the records of a head chunk
/// file; returns the number of valid records.
#[doc(hidden)]
pub fn fuzz_scan(bytes: &[u8]) -> usize {
    let len = FILE_HEADER + bytes.len() as u64;
    scan_records(bytes, len).0.len()
}

/// Whether anything but zeros follows `from` within the reach of writes
/// that were in flight together (a few records).
fn has_data_after(file: &File, from: u64, len: u64) -> Result<bool, TsdbError> {
    const REACH: u64 = 4 << 20;
    let end = len.min(from.saturating_add(REACH));
    let mut buf = vec![0u8; 64 << 10];
    let mut at = from;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(true);
        }
        at += n as u64;
    }
    Ok(false)
}

impl HeadChunkFiles {
    /// Scans the head chunk files of `dir`, keeping each file's valid
    /// prefix. With `writable`, a damaged tail is cut off, files after it
    /// are deleted and a fresh file is started for new chunks; read-only
    /// callers just stop at the damage. Returns the chunks by series id,
    /// oldest first, and the writer (`None` when read-only).
    pub fn open(
        dir: &Path,
        writable: bool,
    ) -> Result<(Option<HeadChunkFiles>, HashMap<u32, Vec<LoadedChunk>>), TsdbError> {
        let mut loaded: HashMap<u32, Vec<LoadedChunk>> = HashMap::new();
        let mut max_t: BTreeMap<u32, Arc<AtomicI64>> = BTreeMap::new();
        let files = list_files(dir)?;
        let mut damaged = false;
        let mut last_seq = 0;
        for (seq, path) in files {
            last_seq = last_seq.max(seq);
            if damaged {
                tracing::warn!(file = %path.display(), "dropping a head chunk file after a damaged one");
                if writable {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            let file = File::open(&path)?;
            let len = file.metadata()?.len();
            if len < FILE_HEADER {
                damaged = true;
                if writable {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            let mut header = [0u8; FILE_HEADER as usize];
            file.read_exact_at(&mut header, 0)?;
            if &header[..4] != MAGIC || header[4] != VERSION {
                tracing::error!(file = %path.display(), "not a head chunk file of a known version; ignoring it and later files");
                damaged = true;
                if writable {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            // Scanned with reads, not through the map: the scan touches
            // every page, and mapped pages would count as this process'
            // memory until evicted.
            let (found, newest, valid) = scan(&file, len)?;
            // Anything but zeros shortly after the last valid record is
            // damage: a torn write, or a write that never happened while a
            // later one (reserved after it) did.
            if has_data_after(&file, valid, len)? {
                damaged = true;
                tracing::warn!(file = %path.display(), offset = valid, "head chunk file damaged; the WAL replays what follows");
            }
            if writable && valid < len {
                OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
            }
            if found.is_empty() {
                if writable {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            let file = File::open(&path)?;
            // SAFETY: a finished head chunk file is never written again (new
            // chunks go to a new file) and has reached its final size; it is
            // only ever deleted, and unlinking keeps the mapping valid.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            if (map.len() as u64) < valid {
                return Err(TsdbError::Corruption {
                    location: path.display().to_string(),
                    reason: "head chunk file shrank while opening".into(),
                });
            }
            let mapped = Arc::new(MappedFile { map, file });
            for (id, labels_hash, info, data) in found {
                loaded.entry(id).or_default().push(LoadedChunk {
                    labels_hash,
                    info,
                    bytes: ChunkBytes::Mapped {
                        file: mapped.clone(),
                        off: data.start as u32,
                        len: (data.end - data.start) as u32,
                    },
                });
            }
            max_t.insert(seq, Arc::new(AtomicI64::new(newest)));
        }
        if !writable {
            return Ok((None, loaded));
        }
        std::fs::create_dir_all(dir)?;
        let files = HeadChunkFiles {
            dir: dir.to_path_buf(),
            active: RwLock::new(None),
            max_t: Mutex::new(max_t),
            rotating: Mutex::new(()),
            synced: Mutex::new(Default::default()),
            write_errors: AtomicU64::new(0),
        };
        files.rotate_to(last_seq + 1)?;
        Ok((Some(files), loaded))
    }

    /// Starts the file after `seq` unless another caller already moved on
    /// from `seq`.
    fn rotate_from(&self, seq: u32) -> Result<(), TsdbError> {
        let _g = self.rotating.lock();
        if self.active.read().as_ref().is_some_and(|f| f.seq == seq) {
            self.rotate_to(seq + 1)?;
        }
        Ok(())
    }

    /// Starts file `seq` as the active one.
    fn rotate_to(&self, seq: u32) -> Result<(), TsdbError> {
        let path = self.dir.join(file_name(seq));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut header = Vec::with_capacity(FILE_HEADER as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&[VERSION, 0, 0, 0]);
        file.write_all_at(&header, 0)?;
        file.set_len(FILE_SIZE)?;
        // SAFETY: this process only writes the file with positional writes
        // to offsets it reserved and has not handed out; a chunk is read
        // through the map only after its write returned, and the kernel's
        // page cache keeps the map coherent with those writes.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let mapped = Arc::new(MappedFile {
            map,
            file: file.try_clone()?,
        });
        let max_t = Arc::new(AtomicI64::new(i64::MIN));
        self.max_t.lock().insert(seq, max_t.clone());
        let old = self.active.write().replace(ActiveFile {
            seq,
            file,
            mapped,
            next: AtomicU64::new(FILE_HEADER),
            max_t,
        });
        if let Some(old) = old {
            self.finish(old);
        }
        Ok(())
    }

    /// Cuts a finished file to its written length.
    fn finish(&self, f: ActiveFile) {
        let end = f.next.load(Ordering::Acquire).min(FILE_SIZE);
        if let Err(e) = f.file.set_len(end) {
            tracing::warn!(error = %e, seq = f.seq, "could not trim a head chunk file");
        }
    }

    /// Writes one closed chunk of series `id`; `None` when it could not be
    /// written (the caller keeps the chunk in memory; the WAL has it).
    pub fn write(
        &self,
        id: u32,
        labels_hash: u64,
        info: &ChunkInfo,
        data: &[u8],
    ) -> Option<ChunkBytes> {
        if data.is_empty() || data.len() > MAX_CHUNK_BYTES {
            return None;
        }
        let mut rec = Vec::with_capacity(RECORD_HEADER + data.len() + RECORD_CRC);
        encode_header(id, labels_hash, info, data.len() as u32, &mut rec);
        rec.extend_from_slice(data);
        let crc = crc32c::crc32c(&rec);
        rec.extend_from_slice(&crc.to_le_bytes());
        let need = rec.len() as u64;
        for _ in 0..2 {
            {
                let active = self.active.read();
                let f = active.as_ref()?;
                let off = f.next.fetch_add(need, Ordering::AcqRel);
                if off + need <= FILE_SIZE {
                    if let Err(e) = f.file.write_all_at(&rec, off) {
                        self.write_error(&e);
                        return None;
                    }
                    f.max_t.fetch_max(info.max_t, Ordering::AcqRel);
                    let data_off = (off as usize + RECORD_HEADER) as u32;
                    return Some(ChunkBytes::Mapped {
                        file: f.mapped.clone(),
                        off: data_off,
                        len: data.len() as u32,
                    });
                }
            }
            // Full: the first writer to see it starts the next file.
            let seq = {
                let active = self.active.read();
                let f = active.as_ref()?;
                if f.next.load(Ordering::Acquire) <= FILE_SIZE {
                    continue;
                }
                f.seq
            };
            if let Err(e) = self.rotate_from(seq) {
                self.write_error(&e);
                return None;
            }
        }
        None
    }

    fn write_error(&self, e: &dyn std::fmt::Display) {
        if self
            .write_errors
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(10_000)
        {
            tracing::error!(error = %e, dir = %self.dir.display(), "writing a head chunk failed; keeping it in memory");
        }
    }

    /// After a head cut at `before`: deletes files holding only older
    /// chunks, and starts a new file so the current one can go at the next
    /// cut.
    pub fn truncate_before(&self, before: i64) -> Result<(), TsdbError> {
        let active_seq = {
            let a = self.active.read();
            match a.as_ref() {
                Some(f) if f.next.load(Ordering::Acquire) > FILE_HEADER => Some(f.seq),
                Some(_) => None,
                None => return Ok(()),
            }
        };
        if let Some(seq) = active_seq {
            self.rotate_from(seq)?;
        }
        let current = self.active.read().as_ref().map(|f| f.seq);
        let old: Vec<u32> = self
            .max_t
            .lock()
            .iter()
            .filter(|(seq, m)| Some(**seq) != current && m.load(Ordering::Acquire) < before)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in old {
            // Mappings held by queries stay valid after the unlink.
            match std::fs::remove_file(self.dir.join(file_name(seq))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            self.max_t.lock().remove(&seq);
            self.synced.lock().remove(&seq);
        }
        Ok(())
    }

    /// Makes every chunk written so far durable (a WAL checkpoint is about
    /// to leave their samples out). Finished files are synced once.
    pub fn sync(&self) -> Result<(), TsdbError> {
        let active = self.active.read().as_ref().map(|f| f.seq);
        let seqs: Vec<u32> = self.max_t.lock().keys().copied().collect();
        for seq in seqs {
            if Some(seq) == active {
                continue;
            }
            if self.synced.lock().contains(&seq) {
                continue;
            }
            match File::open(self.dir.join(file_name(seq))) {
                Ok(f) => f.sync_data()?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
            self.synced.lock().insert(seq);
        }
        if let Some(f) = self.active.read().as_ref() {
            f.file.sync_data()?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Trims the active file to what was written (clean shutdown).
    pub fn close(&self) {
        if let Some(f) = self.active.write().take() {
            self.finish(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn info(min_t: i64, max_t: i64) -> ChunkInfo {
        ChunkInfo {
            min_t,
            max_t,
            num_samples: 3,
            last_bits: 7,
        }
    }

    #[test]
    fn chunks_come_back_after_reopen_and_old_files_go() -> R {
        let dir = tempfile::tempdir()?;
        let d = dir.path().join("chunks_head");
        let (w, loaded) = HeadChunkFiles::open(&d, true)?;
        assert!(loaded.is_empty());
        let w = w.ok_or("no writer")?;
        let a = w
            .write(1, 11, &info(0, 10), b"first")
            .ok_or("write failed")?;
        assert_eq!(a.bytes(), b"first");
        w.truncate_before(5)?; // rotates; file 1 still needed (max 10)
        let b = w
            .write(1, 11, &info(11, 20), b"second")
            .ok_or("write failed")?;
        w.write(2, 22, &info(5, 25), b"other")
            .ok_or("write failed")?;
        assert_eq!(b.bytes(), b"second");
        drop(w);
        let (w, loaded) = HeadChunkFiles::open(&d, true)?;
        let s1 = &loaded[&1];
        assert_eq!(s1.len(), 2);
        assert_eq!(s1[0].bytes.bytes(), b"first");
        assert_eq!(s1[1].info, info(11, 20));
        assert_eq!(s1[1].labels_hash, 11);
        assert_eq!(loaded[&2][0].bytes.bytes(), b"other");
        let w = w.ok_or("no writer")?;
        w.truncate_before(15)?;
        // File 1 (newest chunk at 10) is gone; file 2 (25) stays.
        let names: Vec<u32> = list_files(&d)?.into_iter().map(|(s, _)| s).collect();
        assert!(!names.contains(&1), "{names:?}");
        assert!(names.contains(&2), "{names:?}");
        Ok(())
    }

    #[test]
    fn a_damaged_record_drops_it_and_everything_after() -> R {
        let dir = tempfile::tempdir()?;
        let d = dir.path().join("chunks_head");
        let (w, _) = HeadChunkFiles::open(&d, true)?;
        let w = w.ok_or("no writer")?;
        w.write(1, 1, &info(0, 1), b"aaaa").ok_or("write failed")?;
        w.write(1, 1, &info(2, 3), b"bbbb").ok_or("write failed")?;
        w.truncate_before(i64::MIN)?;
        w.write(1, 1, &info(4, 5), b"cccc").ok_or("write failed")?;
        drop(w);
        // Flip a byte of the second record's data in file 1.
        let f1 = d.join(file_name(1));
        let mut bytes = std::fs::read(&f1)?;
        let second = FILE_HEADER as usize + RECORD_HEADER + 4 + RECORD_CRC + RECORD_HEADER;
        bytes[second] ^= 0xff;
        std::fs::write(&f1, &bytes)?;
        let (_, loaded) = HeadChunkFiles::open(&d, true)?;
        let s = &loaded[&1];
        assert_eq!(s.len(), 1, "only the chunk before the damage survives");
        assert_eq!(s[0].bytes.bytes(), b"aaaa");
        assert!(
            !d.join(file_name(2)).exists(),
            "a file after the damage is dropped"
        );
        Ok(())
    }

    #[test]
    fn garbage_never_panics() -> R {
        let dir = tempfile::tempdir()?;
        let d = dir.path().join("chunks_head");
        std::fs::create_dir_all(&d)?;
        let mut bytes = Vec::from(&MAGIC[..]);
        bytes.extend_from_slice(&[VERSION, 0, 0, 0]);
        bytes.extend((0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        std::fs::write(d.join(file_name(1)), &bytes)?;
        std::fs::write(d.join(file_name(2)), b"ST")?;
        let (_, loaded) = HeadChunkFiles::open(&d, false)?;
        assert!(loaded.is_empty());
        let (w, loaded) = HeadChunkFiles::open(&d, true)?;
        assert!(loaded.is_empty());
        assert!(w.is_some());
        Ok(())
    }
}
