//! Canonical JSON: object keys sorted by their UTF-8 bytes, no white space.
//!
//! The key order is enforced here rather than taken from `serde_json::Map`,
//! whose iteration order becomes insertion order when any crate in the build
//! turns on serde_json's `preserve_order` feature.

use serde_json::Value;

/// Serialises `value` with sorted object keys and no white space. Numbers and
/// strings are written as serde_json writes them (shortest round-trip floats).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push_str(&Value::String(text.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let value = json!({"b": {"z": 1, "a": [3, {"y": null, "x": true}]}, "a": "t\"x"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"t\"x","b":{"a":[3,{"x":true,"y":null}],"z":1}}"#
        );
    }

    #[test]
    fn canonical_json_writes_shortest_floats() {
        let value = json!({"rate": 0.1, "decay": 5e-4, "one": 1.0});
        assert_eq!(
            canonical_json(&value),
            r#"{"decay":0.0005,"one":1.0,"rate":0.1}"#
        );
    }
}
