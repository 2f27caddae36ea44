//! Prometheus label names and values for generated series: attribute names become label names
//! the way Tempo does it (every character outside `[a-zA-Z0-9_]` becomes `_`, a leading digit
//! gets a `_` in front, a name that collides with an intrinsic label gets `__` in front), and
//! names and values are cut at Tempo's length limits.

use std::borrow::Cow;

/// Longest label name kept (bytes).
pub(crate) const MAX_LABEL_NAME_LEN: usize = 1024;
/// Longest label value kept (bytes).
pub(crate) const MAX_LABEL_VALUE_LEN: usize = 2048;

/// `name` as a valid Prometheus label name, avoiding `reserved` (the intrinsic labels).
pub(crate) fn sanitize_name(name: &str, reserved: &[&str]) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if reserved.contains(&out.as_str()) {
        out.insert_str(0, "__");
    }
    truncate(out, MAX_LABEL_NAME_LEN)
}

/// `value` cut at [`MAX_LABEL_VALUE_LEN`] bytes, on a character boundary.
pub(crate) fn sanitize_value(value: &str) -> String {
    cut_value(value).into_owned()
}

/// [`sanitize_value`] without a copy when the value is short enough (nearly always).
pub(crate) fn cut_value(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_LABEL_VALUE_LEN {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(truncate(value.to_owned(), MAX_LABEL_VALUE_LEN))
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_prometheus_label_names() {
        let reserved = ["service", "span_name"];
        assert_eq!(sanitize_name("http.method", &reserved), "http_method");
        assert_eq!(sanitize_name("k8s.pod-name", &reserved), "k8s_pod_name");
        assert_eq!(sanitize_name("2xx.count", &reserved), "_2xx_count");
        assert_eq!(sanitize_name("", &reserved), "_");
        assert_eq!(sanitize_name("héllo", &reserved), "h_llo");
        // Collisions with intrinsic labels get a `__` prefix.
        assert_eq!(sanitize_name("service", &reserved), "__service");
        assert_eq!(sanitize_name("span.name", &reserved), "__span_name");
        assert_eq!(sanitize_name("already_fine", &reserved), "already_fine");
    }

    #[test]
    fn long_names_and_values_are_cut_on_character_boundaries() {
        let long = "a".repeat(MAX_LABEL_NAME_LEN + 10);
        assert_eq!(sanitize_name(&long, &[]).len(), MAX_LABEL_NAME_LEN);
        let value = "é".repeat(MAX_LABEL_VALUE_LEN); // two bytes each
        let cut = sanitize_value(&value);
        assert!(cut.len() <= MAX_LABEL_VALUE_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(sanitize_value("short"), "short");
    }
}
