//! The internal listener from a test's side: `/metrics` samples and the `/ready` answer.

use crate::server::Sextant;

impl Sextant {
    /// The `/metrics` text of the internal listener.
    pub async fn metrics_text(&self) -> String {
        let url = format!("{}/metrics", self.internal_url());
        let resp = self
            .client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status(), 200, "GET {url}");
        resp.text().await.expect("metrics body")
    }

    /// The sum of every sample of `name` whose labels include all of `labels` (0 when there
    /// is none).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_sum(&self.metrics_text().await, name, labels)
    }

    /// `/ready`: status code and body.
    pub async fn ready(&self) -> (u16, String) {
        let url = format!("{}/ready", self.internal_url());
        let resp = self
            .client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

/// Sum the samples of `name` in Prometheus text `text` whose labels include `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if let Some(inner) = rest.strip_prefix('{') {
            let Some(end) = inner.find('}') else { continue };
            (&inner[..end], inner[end + 1..].trim())
        } else if rest.starts_with(' ') {
            ("", rest.trim())
        } else {
            continue; // another metric whose name starts with `name`
        };
        let has_all = labels
            .iter()
            .all(|(k, v)| label_text.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if !has_all {
            continue;
        }
        let value = value.split_whitespace().next().unwrap_or_default();
        sum += value
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("bad sample value in {line:?}: {e}"));
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::metric_sum;

    #[test]
    fn samples_are_summed_by_name_and_labels() {
        let text = "# HELP x\nsextant_a_total{result=\"ok\",t=\"1\"} 2\n\
                    sextant_a_total{result=\"error\"} 5\nsextant_a_total_other 9\n\
                    sextant_b 1.5\n";
        assert_eq!(metric_sum(text, "sextant_a_total", &[]), 7.0);
        assert_eq!(
            metric_sum(text, "sextant_a_total", &[("result", "ok")]),
            2.0
        );
        assert_eq!(metric_sum(text, "sextant_b", &[]), 1.5);
        assert_eq!(metric_sum(text, "sextant_c", &[]), 0.0);
    }
}
