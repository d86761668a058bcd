//! The part of the zip format that `torch.save` writes: a central directory (zip64 when large)
//! listing stored (uncompressed) entries; deflated entries are inflated up to their declared
//! size. Every offset and length is checked against the file, so a malformed archive is an
//! error, never a panic or an allocation larger than the file.

use std::collections::BTreeMap;
use std::io::Read;

/// Names of the archive's entries and their contents.
pub type Entries = BTreeMap<String, Vec<u8>>;

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

fn usize_of(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// Whether `bytes` starts like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Reads every entry of the archive `bytes`.
pub fn read(bytes: &[u8]) -> Result<Entries, String> {
    let truncated = || "truncated or malformed zip archive".to_string();
    // End of central directory: the last signature within the final 64 KiB + 22 bytes.
    let start = bytes.len().saturating_sub(65_535 + 22);
    let eocd = (start..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(EOCD as u64))
        .ok_or("no zip end-of-central-directory record")?;
    let mut count = u16_at(bytes, eocd + 10).ok_or_else(truncated)?;
    let mut cd_offset = u32_at(bytes, eocd + 16).ok_or_else(truncated)?;
    if count == 0xffff || cd_offset == 0xffff_ffff {
        let locator = eocd.checked_sub(20).ok_or_else(truncated)?;
        if u32_at(bytes, locator) != Some(ZIP64_LOCATOR as u64) {
            return Err("zip64 archive without its locator".into());
        }
        let at = usize_of(u64_at(bytes, locator + 8).ok_or_else(truncated)?).ok_or_else(truncated)?;
        if u32_at(bytes, at) != Some(ZIP64_EOCD as u64) {
            return Err("zip64 end-of-central-directory record not found".into());
        }
        count = u64_at(bytes, at + 32).ok_or_else(truncated)?;
        cd_offset = u64_at(bytes, at + 48).ok_or_else(truncated)?;
    }
    // Each central entry takes at least 46 bytes: a larger count cannot be honest.
    if count > (bytes.len() / 46) as u64 {
        return Err(format!("zip directory claims {count} entries, more than the file can hold"));
    }
    let mut entries = Entries::new();
    let mut at = usize_of(cd_offset).ok_or_else(truncated)?;
    for _ in 0..count {
        if u32_at(bytes, at) != Some(CENTRAL as u64) {
            return Err("malformed zip central directory".into());
        }
        let field = |off: usize| u32_at(bytes, at + off).ok_or_else(truncated);
        let method = u16_at(bytes, at + 10).ok_or_else(truncated)?;
        let (mut compressed, mut size, mut local) = (field(20)?, field(24)?, field(42)?);
        let name_len = usize_of(u16_at(bytes, at + 28).ok_or_else(truncated)?).ok_or_else(truncated)?;
        let extra_len = usize_of(u16_at(bytes, at + 30).ok_or_else(truncated)?).ok_or_else(truncated)?;
        let comment_len = usize_of(u16_at(bytes, at + 32).ok_or_else(truncated)?).ok_or_else(truncated)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| "zip entry name is not UTF-8".to_string())?;
        let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(truncated)?;
        zip64_sizes(extra, &mut size, &mut compressed, &mut local)?;
        at += 46 + name_len + extra_len + comment_len;

        let local = usize_of(local).ok_or_else(truncated)?;
        if u32_at(bytes, local) != Some(LOCAL as u64) {
            return Err(format!("zip entry '{name}': local header not found"));
        }
        let skip = 30
            + usize_of(u16_at(bytes, local + 26).ok_or_else(truncated)?).ok_or_else(truncated)?
            + usize_of(u16_at(bytes, local + 28).ok_or_else(truncated)?).ok_or_else(truncated)?;
        let data_start = local.checked_add(skip).ok_or_else(truncated)?;
        let data = usize_of(compressed)
            .and_then(|c| bytes.get(data_start..data_start.checked_add(c)?))
            .ok_or_else(|| format!("zip entry '{name}' runs past the end of the file"))?;
        let contents = match method {
            0 if compressed == size => data.to_vec(),
            0 => return Err(format!("zip entry '{name}': stored with two different sizes")),
            8 => inflate(&name, data, size)?,
            other => return Err(format!("zip entry '{name}': compression method {other} is not supported")),
        };
        entries.insert(name, contents);
    }
    Ok(entries)
}

/// Applies a zip64 extended-information field (id 1) to the sizes and offset saturated at 2^32 − 1.
fn zip64_sizes(mut extra: &[u8], size: &mut u64, compressed: &mut u64, local: &mut u64) -> Result<(), String> {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0).unwrap_or(0), u16_at(extra, 2).unwrap_or(0) as usize);
        let body = extra.get(4..4 + len).ok_or("malformed zip extra field")?;
        if id == 1 {
            let mut at = 0;
            for field in [size, compressed, local] {
                if *field == 0xffff_ffff {
                    *field = u64_at(body, at).ok_or("malformed zip64 extra field")?;
                    at += 8;
                }
            }
            return Ok(());
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// Inflates a deflated entry, refusing to produce more than its declared `size`.
fn inflate(name: &str, data: &[u8], size: u64) -> Result<Vec<u8>, String> {
    let limit = size.min(data.len() as u64 * 1032); // deflate's maximal ratio is ~1032:1
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zip entry '{name}': {e}"))?;
    if out.len() as u64 != size {
        return Err(format!("zip entry '{name}': inflates to {} bytes, its header says {size}", out.len()));
    }
    Ok(out)
}

/// Alignment of each entry's data, as `torch.save` pads it (so `torch.load(mmap=True)` works).
const ALIGN: usize = 64;

/// An archive of `entries` (name, contents), stored uncompressed in the given order, each
/// entry's data aligned to 64 bytes by padding its local header's extra field (id "FB", as
/// `torch.save` does). Not zip64: an archive of 4 GiB or more is an error.
pub fn write(entries: &[(String, &[u8])]) -> Result<Vec<u8>, String> {
    let too_large = || "archive of 4 GiB or more (zip64 is not written)".to_string();
    let u32_of = |v: usize| u32::try_from(v).map_err(|_| too_large());
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32_of(out.len())?;
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let header_end = out.len() + 30 + name.len() + 4;
        let extra = 4 + (ALIGN - header_end % ALIGN) % ALIGN;
        // Fields shared by the local and the central header: version needed 2.0, no flags,
        // stored, no time/date, crc, compressed and uncompressed size, name and extra length.
        let mut common = Vec::with_capacity(26);
        common.extend(20u16.to_le_bytes());
        common.extend([0u8; 8]);
        common.extend(crc.sum().to_le_bytes());
        common.extend(u32_of(data.len())?.to_le_bytes());
        common.extend(u32_of(data.len())?.to_le_bytes());
        common.extend(u16::try_from(name.len()).map_err(|_| format!("entry name '{name}' too long"))?.to_le_bytes());
        out.extend(LOCAL.to_le_bytes());
        out.extend(&common);
        out.extend((extra as u16).to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(b"FB");
        out.extend(((extra - 4) as u16).to_le_bytes());
        out.resize(out.len() + extra - 4, b'Z');
        out.extend_from_slice(data);
        central.extend(CENTRAL.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        central.extend(&common);
        // No extra field or comment, disk 0, no attributes, then the local header's offset.
        central.extend([0u8; 12]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let count = u16::try_from(entries.len()).map_err(|_| "more than 65535 entries (zip64 is not written)".to_string())?;
    let (cd_size, cd_offset) = (u32_of(central.len())?, u32_of(out.len())?);
    out.extend(central);
    out.extend(EOCD.to_le_bytes());
    out.extend([0u8; 4]); // this disk, the central directory's disk
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend([0u8; 2]); // comment length
    u32_of(out.len())?;
    Ok(out)
}
