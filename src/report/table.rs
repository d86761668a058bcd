//! `runs.md`: one Markdown row per run.

use super::Run;

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Markdown cells must not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The table of `runs.md`: run, model, scheme, params, epochs, best test accuracy (epoch),
/// final test accuracy, mean training throughput.
pub fn runs_markdown(runs: &[Run]) -> String {
    let mut out = String::new();
    out.push_str(
        "| run | model | scheme | params | epochs | best test acc (epoch) | final test acc | images/s |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let (best, best_epoch) = r.best();
        let done = r.metrics.len();
        let epochs =
            if done < r.config.epochs { format!("{done}/{}", r.config.epochs) } else { done.to_string() };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2}% ({}) | {:.2}% | {:.0} |\n",
            cell(&r.name),
            cell(&r.config.model.name),
            r.scheme_label(),
            thousands(r.params),
            epochs,
            best * 100.0,
            best_epoch,
            r.final_acc() * 100.0,
            r.mean_images_per_sec(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(272474), "272,474");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
