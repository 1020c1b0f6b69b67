//! Which build of the program this process runs: the linker's GNU build-id
//! note (a hash of the linked binary), read from our own memory image.
//!
//! Supervisor and worker compare it at the handshake. A worker tells the
//! supervisor's build where to jump by an offset into the binary, which is
//! meaningful only in the very same build; a binary rebuilt or replaced on
//! disk gives another id, and a clear error instead of undefined behaviour.

use std::sync::OnceLock;

/// This process's build id: the GNU build-id note when the linker wrote one,
/// else the device, inode, size and modification time of the executable
/// (workers are started from `/proc/self/exe`, the very same file).
pub fn build_id() -> &'static [u8] {
    static ID: OnceLock<Vec<u8>> = OnceLock::new();
    ID.get_or_init(|| gnu_build_id().unwrap_or_else(file_identity))
}

/// The build id as hex, for messages.
pub fn build_id_hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_identity() -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self/exe") {
        Ok(m) => [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        Err(_) => b"unknown".to_vec(),
    }
}

const NT_GNU_BUILD_ID: u32 = 3;

/// Walks the main program's PT_NOTE segments for the GNU build-id.
fn gnu_build_id() -> Option<Vec<u8>> {
    let mut found: Option<Vec<u8>> = None;
    // SAFETY: dl_iterate_phdr calls back with valid program headers of each
    // loaded object; the first is the main program. We only read within the
    // note segments' stated sizes.
    unsafe {
        libc::dl_iterate_phdr(Some(first_object), (&mut found as *mut Option<Vec<u8>>).cast());
    }
    found
}

unsafe extern "C" fn first_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: called by dl_iterate_phdr with a valid `info` and our `data`.
    let (info, found) = unsafe { (&*info, &mut *data.cast::<Option<Vec<u8>>>()) };
    for i in 0..usize::from(info.dlpi_phnum) {
        // SAFETY: dlpi_phdr points at dlpi_phnum headers.
        let header = unsafe { &*info.dlpi_phdr.add(i) };
        if header.p_type != libc::PT_NOTE {
            continue;
        }
        let start = (info.dlpi_addr + header.p_vaddr) as *const u8;
        // SAFETY: a PT_NOTE segment is loaded and readable for p_memsz bytes.
        let notes = unsafe { std::slice::from_raw_parts(start, header.p_memsz as usize) };
        if let Some(id) = find_build_id(notes) {
            *found = Some(id);
            break;
        }
    }
    1 // the main program only
}

/// Parses ELF notes (`namesz, descsz, type, name, desc`, 4-byte aligned).
fn find_build_id(mut notes: &[u8]) -> Option<Vec<u8>> {
    let word = |b: &[u8], at: usize| b.get(at..at + 4).map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    let align = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (word(notes, 0)? as usize, word(notes, 4)? as usize, word(notes, 8)?);
        let name = notes.get(12..12 + namesz)?;
        let desc_at = 12 + align(namesz);
        let desc = notes.get(desc_at..desc_at + descsz)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.to_vec());
        }
        notes = notes.get(desc_at + align(descsz)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_has_a_build_id() {
        assert!(build_id().len() >= 8, "{:?}", build_id());
        assert_eq!(build_id(), build_id());
    }

    #[test]
    fn notes_are_parsed_past_other_notes() {
        let mut notes = Vec::new();
        for (name, kind, desc) in [(&b"ABI\0"[..], 1u32, &[1u8, 2, 3][..]), (b"GNU\0", 3, &[9, 8, 7, 6])] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
            notes.resize((notes.len() + 3) & !3, 0);
        }
        assert_eq!(find_build_id(&notes), Some(vec![9, 8, 7, 6]));
    }
}
