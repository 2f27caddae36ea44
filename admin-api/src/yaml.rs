//! A small YAML writer for the documents this crate produces: block mappings and sequences
//! of mappings, every string double-quoted with JSON's escapes (a JSON string is a valid YAML
//! double-quoted scalar), so no value can be mistaken for another type or break the layout.

use std::fmt::Write as _;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yaml {
    Str(String),
    Bool(bool),
    Int(i64),
    Map(Vec<(String, Yaml)>),
    Seq(Vec<Yaml>),
}

impl Yaml {
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    pub(crate) fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Yaml)>) -> Self {
        Self::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The document, starting at the top-level mapping.
    pub(crate) fn to_document(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
            other => {
                out.push_str(&inline(other).unwrap_or_default());
                out.push('\n');
            }
        }
        out
    }
}

/// A double-quoted scalar: YAML's printable characters as they are, everything else escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // A byte-order mark inside a document confuses readers: escaped.
            '\u{feff}' => out.push_str("\\ufeff"),
            ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'.. => {
                out.push(c)
            }
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A key: plain when it is an identifier, quoted otherwise.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !k.as_bytes()[0].is_ascii_digit()
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { k.to_owned() } else { quote(k) }
}

/// A scalar or an empty collection on one line; `None` for a block collection.
fn inline(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Str(s) => Some(quote(s)),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Map(m) if m.is_empty() => Some("{}".into()),
        Yaml::Seq(s) if s.is_empty() => Some("[]".into()),
        Yaml::Map(_) | Yaml::Seq(_) => None,
    }
}

fn write_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (k, v) in entries {
        let pad = " ".repeat(indent);
        match inline(v) {
            Some(text) => {
                let _ = writeln!(out, "{pad}{}: {text}", key(k));
            }
            None => {
                let _ = writeln!(out, "{pad}{}:", key(k));
                write_block(out, v, indent + 2);
            }
        }
    }
}

fn write_block(out: &mut String, v: &Yaml, indent: usize) {
    match v {
        Yaml::Map(entries) => write_map(out, entries, indent),
        Yaml::Seq(items) => {
            let pad = " ".repeat(indent);
            for item in items {
                match (item, inline(item)) {
                    (_, Some(text)) => {
                        let _ = writeln!(out, "{pad}- {text}");
                    }
                    (Yaml::Map(entries), None) => {
                        // The first entry on the dash's line, the rest aligned under it.
                        let mut nested = String::new();
                        write_map(&mut nested, entries, indent + 2);
                        let _ = write!(out, "{pad}- {}", &nested[indent + 2..]);
                    }
                    (other, None) => {
                        let _ = writeln!(out, "{pad}-");
                        write_block(out, other, indent + 2);
                    }
                }
            }
        }
        other => {
            let _ = writeln!(
                out,
                "{}{}",
                " ".repeat(indent),
                inline(other).unwrap_or_default()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_strings_survive_a_parser() {
        let awkward = [
            "plain",
            "",
            "yes",
            "no",
            "null",
            "~",
            "123",
            "1e3",
            "0x1F",
            "true",
            ": colon",
            "- dash",
            "# hash",
            "a: b",
            "quote\"s",
            "back\\slash",
            "new\nline",
            "tab\t",
            "{braces}",
            "[brackets]",
            "*alias",
            "&anchor",
            "!tag",
            "%percent",
            "@at",
            "`tick",
            "$HOME",
            "ünïcødé",
            "  spaces  ",
            "\u{7f}\u{1}\u{85}\u{feff}",
            "😀",
        ];
        let doc = Yaml::map([
            (
                "items",
                Yaml::Seq(
                    awkward
                        .iter()
                        .map(|s| Yaml::map([("v", Yaml::str(*s))]))
                        .collect(),
                ),
            ),
            ("yes", Yaml::Bool(true)),
            ("with space", Yaml::Int(-3)),
            ("empty", Yaml::Seq(vec![])),
            (
                "nested",
                Yaml::map([("a", Yaml::map([("b", Yaml::Seq(vec![Yaml::str("x")]))]))]),
            ),
        ]);
        let text = doc.to_document();
        let parsed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let items = parsed["items"].as_sequence().unwrap();
        for (item, want) in items.iter().zip(awkward) {
            assert_eq!(item["v"].as_str(), Some(want), "{text}");
        }
        assert_eq!(parsed["yes"].as_bool(), Some(true));
        assert_eq!(parsed["with space"].as_i64(), Some(-3));
        assert_eq!(parsed["empty"].as_sequence().map(Vec::len), Some(0));
        assert_eq!(parsed["nested"]["a"]["b"][0].as_str(), Some("x"));
    }
}
