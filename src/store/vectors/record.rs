//! Vector records: the segment a vector is in (0: pending) and its little-endian f32 values.

#[allow(unused_imports)]
use super::*;

/// Encodes a vector record: the segment it is in (0: pending) and the values.
pub(crate) fn encode_record(segment: u64, v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 * v.len());
    out.extend_from_slice(&segment.to_be_bytes());
    out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    out
}

/// The segment number of a vector record.
pub(crate) fn record_segment(record: &[u8]) -> Result<u64> {
    record
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(corrupt)
}

/// The values of a vector record.
pub(crate) fn record_vector(record: &[u8]) -> Result<Vec<f32>> {
    decode_f32s(record.get(8..).ok_or_else(corrupt)?)
}

/// Little-endian f32 bytes → values.
pub(crate) fn decode_f32s(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(corrupt());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(super) fn encode_f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn corrupt() -> Error {
    Error::storage("corrupt vector record")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let r = encode_record(7, &[1.0, -2.5]);
        assert_eq!(record_segment(&r).unwrap(), 7);
        assert_eq!(record_vector(&r).unwrap(), vec![1.0, -2.5]);
        assert!(record_segment(&[1, 2]).is_err());
        assert!(decode_f32s(&[1, 2, 3]).is_err());
    }
}
