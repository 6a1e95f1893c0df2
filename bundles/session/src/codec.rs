//! Serialization of the session's data, msgpack or JSON.

use serde_json::{Map, Value};

use crate::config::SerializationFormat;

/// The session's data: string keys, JSON-like values.
pub type SessionData = Map<String, Value>;

/// Session data could not be (de)serialized; the serializer's message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CodecError(String);

impl CodecError {
    fn new(e: impl std::fmt::Display) -> Self {
        CodecError(e.to_string())
    }
}

/// Encodes a session's data in the configured format.
pub(crate) fn encode(
    format: SerializationFormat,
    data: &SessionData,
) -> Result<Vec<u8>, CodecError> {
    // Most sessions fit: one allocation instead of growing from empty.
    let mut bytes = Vec::with_capacity(128);
    match format {
        SerializationFormat::Msgpack => {
            rmp_serde::encode::write(&mut bytes, data).map_err(CodecError::new)?
        }
        SerializationFormat::Json => {
            serde_json::to_writer(&mut bytes, data).map_err(CodecError::new)?
        }
    }
    Ok(bytes)
}

/// Decodes a session's data. Records written in the other format (after a
/// config change) are read too, so switching formats logs nobody out.
pub(crate) fn decode(format: SerializationFormat, bytes: &[u8]) -> Result<SessionData, CodecError> {
    let first = match format {
        SerializationFormat::Msgpack => rmp_serde::from_slice(bytes).map_err(CodecError::new),
        SerializationFormat::Json => serde_json::from_slice(bytes).map_err(CodecError::new),
    };
    first.or_else(|err| {
        let other = match format {
            SerializationFormat::Msgpack => serde_json::from_slice(bytes).map_err(CodecError::new),
            SerializationFormat::Json => rmp_serde::from_slice(bytes).map_err(CodecError::new),
        };
        other.map_err(|_| err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_both_formats() {
        let mut data = SessionData::new();
        data.insert("n".into(), json!(3));
        data.insert(
            "cart".into(),
            json!({"items": [1, 2, {"sku": "a"}], "total": 1.5}),
        );
        for format in [SerializationFormat::Msgpack, SerializationFormat::Json] {
            let bytes = encode(format, &data).unwrap();
            assert_eq!(decode(format, &bytes).unwrap(), data);
        }
        let json_bytes = encode(SerializationFormat::Json, &data).unwrap();
        assert_eq!(
            decode(SerializationFormat::Msgpack, &json_bytes).unwrap(),
            data
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(SerializationFormat::Msgpack, b"\xc1\xc1").is_err());
    }
}
