//! Marking a verdict's features in the request text, for a terminal (ANSI bold red) or plain
//! text (`[[…]]`).

use crate::engine::Feature;

/// `text` with the spans of `features` marked; overlapping spans are merged.
pub fn highlight(text: &str, features: &[Feature], ansi: bool) -> String {
    let mut spans: Vec<[usize; 2]> = features
        .iter()
        .flat_map(|f| f.spans.iter().copied())
        .filter(|[start, end]| start < end && *end <= text.len())
        .filter(|[start, end]| text.is_char_boundary(*start) && text.is_char_boundary(*end))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<[usize; 2]> = Vec::new();
    for [start, end] in spans {
        match merged.last_mut() {
            Some(last) if start <= last[1] => last[1] = last[1].max(end),
            _ => merged.push([start, end]),
        }
    }
    let (open, close) = if ansi {
        ("\u{1b}[1;31m", "\u{1b}[0m")
    } else {
        ("[[", "]]")
    };
    let mut out = String::with_capacity(text.len() + merged.len() * 8);
    let mut at = 0;
    for [start, end] in merged {
        out.push_str(&text[at..start]);
        out.push_str(open);
        out.push_str(&text[start..end]);
        out.push_str(close);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(spans: &[[usize; 2]]) -> Feature {
        Feature {
            text: String::new(),
            weight: 1.0,
            spans: spans.to_vec(),
        }
    }

    #[test]
    fn overlapping_spans_merge_and_bad_ones_are_ignored() {
        let text = "id=1' or 1=1--";
        let marked = highlight(
            text,
            &[feature(&[[4, 8], [6, 10]]), feature(&[[12, 14], [13, 99]])],
            false,
        );
        assert_eq!(marked, "id=1[[' or 1]]=1[[--]]");
        assert_eq!(highlight("é", &[feature(&[[0, 1]])], false), "é");
        assert!(highlight(text, &[feature(&[[0, 2]])], true).starts_with("\u{1b}[1;31mid"));
    }
}
