//! Helpers shared by the fuzz targets of `fuzz_targets/`: reading the shared corpora's
//! RTP captures (classic pcap) as seeds in place, and cutting one input into the chunks a
//! TCP read would deliver. Test code: it may index and unwrap.

/// The UDP payloads of a classic pcap file (Ethernet or Linux cooked capture, IPv4 or
/// IPv6, no IP fragments), each with its capture time in microseconds. `None` when
/// `data` does not start with a pcap header: the target then reads it otherwise.
pub fn udp_payloads(data: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let magic = data.get(..4)?;
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return None,
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let link = u32_at(20)?;
    let mut out = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(frac), Some(incl)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) {
        let start = at + 16;
        let Some(frame) = data.get(start..start.saturating_add(incl as usize)) else { break };
        at = start + frame.len();
        let frac = if nanos { u64::from(frac) / 1000 } else { u64::from(frac) };
        let micros = u64::from(sec) * 1_000_000 + frac;
        if let Some(payload) = udp_of_frame(link, frame) {
            out.push((micros, payload));
        }
    }
    Some(out)
}

/// The UDP payload of one link-layer frame, if it is one.
fn udp_of_frame(link: u32, frame: &[u8]) -> Option<&[u8]> {
    let (ethertype, ip) = match link {
        1 => (u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]), frame.get(14..)?),
        113 => (u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]), frame.get(16..)?),
        _ => return None,
    };
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            (*ip.get(9)?, ip.get(ihl..)?)
        }
        0x86dd => (*ip.get(6)?, ip.get(40..)?),
        _ => return None,
    };
    if proto != 17 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
    l4.get(8..len.max(8)).or_else(|| l4.get(8..))
}

/// Lengths (each at least 1) that cut `len` bytes into the pieces of successive reads,
/// taken from `data` itself so the fuzzer steers the cuts as it steers the bytes.
pub fn read_sizes(data: &[u8], len: usize, largest: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = len;
    let mut i = 0;
    while left > 0 {
        let b = data.get(i % data.len().max(1)).copied().unwrap_or(0);
        let step = (usize::from(b) * 7 + i) % largest.max(1) + 1;
        let step = step.min(left);
        sizes.push(step);
        left -= step;
        i += 1;
    }
    sizes
}
