//! Training rows grouped by request (multiple-instance learning): with `pool_fields`, each
//! request (a bag) gives one row per field and scores as its highest-scored field; without it,
//! each request is a bag of one row. Between fits, [`Bags::witnesses`] keeps of each malicious
//! request its rows on the malicious side of the margin and the one the model finds most
//! malicious (as mi-SVM imputes instance labels): the others are ordinary fields.

use std::cell::RefCell;
use std::ops::Range;

use vigie_data::Label;
use vigie_data::request::{RequestScratch, field_texts};

use crate::model::TrainObserver;

/// The rows of each request.
pub(super) struct Bags<'t> {
    texts: &'t [&'t str],
    labels: &'t [Label],
    /// With `pool_fields`, every request's field texts in order; `None`: rows are the texts.
    fields: Option<Vec<String>>,
    /// The rows of each request.
    rows: Vec<Range<usize>>,
}

/// What [`Bags::witnesses`] keeps.
pub(super) struct Witnesses {
    /// One flag per row.
    pub keep: Vec<bool>,
    pub malicious_kept: usize,
}

impl<'t> Bags<'t> {
    pub fn new(texts: &'t [&'t str], labels: &'t [Label], pool_fields: bool) -> Self {
        if !pool_fields {
            return Bags {
                texts,
                labels,
                fields: None,
                rows: (0..texts.len()).map(|i| i..i + 1).collect(),
            };
        }
        let mut fields = Vec::new();
        let mut rows = Vec::with_capacity(texts.len());
        let mut scratch = RequestScratch::default();
        let mut one = Vec::new();
        for text in texts {
            field_texts(text, &mut scratch, &mut one);
            let start = fields.len();
            fields.append(&mut one);
            rows.push(start..fields.len());
        }
        Bags {
            texts,
            labels,
            fields: Some(fields),
            rows,
        }
    }

    /// The text of every row, in order.
    pub fn row_texts(&self) -> Vec<&str> {
        match &self.fields {
            Some(fields) => fields.iter().map(String::as_str).collect(),
            None => self.texts.to_vec(),
        }
    }

    /// Each row's target: its request's label, +1 malicious, −1 benign.
    pub fn row_targets(&self) -> Vec<f64> {
        let mut targets = vec![0.0; self.rows.last().map_or(0, |r| r.end)];
        for (rows, label) in self.rows.iter().zip(self.labels) {
            targets[rows.clone()].fill(if label.is_malicious() { 1.0 } else { -1.0 });
        }
        targets
    }

    /// Every benign request's rows; of each malicious request (`margins`: one per row), its rows
    /// with a margin >= 0 and its highest-margin row, or none of them with `drop_unfitted` when
    /// even that row's margin is negative.
    pub fn witnesses(&self, margins: &[f64], drop_unfitted: bool) -> Witnesses {
        let mut keep = vec![true; margins.len()];
        let mut malicious_kept = 0;
        for (rows, label) in self.rows.iter().zip(self.labels) {
            if !label.is_malicious() || rows.is_empty() {
                continue;
            }
            for row in rows.clone() {
                keep[row] = margins[row] >= 0.0;
            }
            let witness = rows
                .clone()
                .max_by(|&a, &b| margins[a].total_cmp(&margins[b]).then(b.cmp(&a)))
                .unwrap_or(rows.start);
            if !(drop_unfitted && margins[witness] < 0.0) {
                keep[witness] = true;
                malicious_kept += 1;
            }
        }
        Witnesses {
            keep,
            malicious_kept,
        }
    }
}

/// Forwards a fit's progress with its passes numbered after the previous fits' (`fit 2` starts
/// where `fit 1` ended): the rounds' solver curves read as one, one point per step.
pub(super) struct ContinuedEpochs<'o> {
    inner: &'o mut dyn TrainObserver,
    offset: u64,
    last: u64,
}

impl<'o> ContinuedEpochs<'o> {
    pub fn new(inner: &'o mut dyn TrainObserver) -> Self {
        ContinuedEpochs {
            inner,
            offset: 0,
            last: 0,
        }
    }

    /// The next fit's passes come after every pass seen so far.
    pub fn next_fit(&mut self) {
        self.offset = self.last;
    }
}

impl TrainObserver for ContinuedEpochs<'_> {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.inner.phase(name, total);
    }

    fn advance(&mut self, units: u64) {
        self.inner.advance(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        self.last = self.last.max(self.offset + step);
        self.inner.epoch(self.offset + step, metrics);
    }

    fn note(&mut self, message: &str) {
        self.inner.note(message);
    }

    fn stop_requested(&mut self) -> Option<String> {
        self.inner.stop_requested()
    }
}

thread_local! {
    static FIELDS: RefCell<(RequestScratch, Vec<String>)> =
        RefCell::new((RequestScratch::default(), Vec::new()));
}

/// Calls `score` with each field text of `text` (see [`field_texts`]), on buffers kept per
/// thread.
pub(super) fn for_each_field_text(text: &str, mut score: impl FnMut(&str)) {
    FIELDS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (scratch, fields) = &mut *guard;
        field_texts(text, scratch, fields);
        for field in fields.iter() {
            score(field);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malicious_request_keeps_its_witness_and_its_fields_on_the_malicious_side() {
        let texts = ["/a?x=1", "/b?id=7&q=' or 1=1--"];
        let labels = [Label::Benign, Label::Malicious];
        let bags = Bags::new(&texts, &labels, true);
        // Path, name, value and the value as the rules read it; a plain name gives no terms
        // but is a row.
        let rows = bags.row_texts();
        assert_eq!(rows.len(), 4 + 7, "{rows:?}");
        assert!(rows[9].ends_with("v' or 1=1--"), "{rows:?}");
        assert_eq!(
            bags.row_targets(),
            [[-1.0; 4].as_slice(), &[1.0; 7]].concat()
        );
        // The payload's value (2.0) is the witness; the rules' row (0.4) is on the malicious
        // side too and stays; the path, names and the id (negative) are ordinary and leave.
        let margins = [0.5, 0.1, 0.2, 0.3, -0.3, -0.5, -0.2, -0.2, -0.5, 2.0, 0.4];
        let witnesses = bags.witnesses(&margins, false);
        let kept: Vec<usize> = (0..rows.len()).filter(|&i| witnesses.keep[i]).collect();
        assert_eq!(kept, [0, 1, 2, 3, 9, 10]);
        assert_eq!(witnesses.malicious_kept, 1);
        // Nothing on the malicious side: the best row alone, or nothing with drop_unfitted.
        let unfitted = [0.5, 0.1, 0.2, 0.3, -0.3, -0.5, -0.2, -0.2, -0.5, -0.1, -0.4];
        let best_only = bags.witnesses(&unfitted, false);
        assert_eq!(
            (0..11).filter(|&i| best_only.keep[i]).collect::<Vec<_>>(),
            [0, 1, 2, 3, 9]
        );
        let dropped = bags.witnesses(&unfitted, true);
        assert_eq!(
            (0..11).filter(|&i| dropped.keep[i]).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(dropped.malicious_kept, 0);
    }

    #[derive(Default)]
    struct Steps(Vec<u64>);

    impl TrainObserver for Steps {
        fn epoch(&mut self, step: u64, _metrics: &[(&str, f64)]) {
            self.0.push(step);
        }
    }

    #[test]
    fn each_fit_continues_the_previous_fits_steps() {
        let mut steps = Steps::default();
        let mut continued = ContinuedEpochs::new(&mut steps);
        for pass in 1..=3 {
            continued.epoch(pass, &[]);
        }
        continued.next_fit();
        for pass in 1..=2 {
            continued.epoch(pass, &[]);
        }
        assert_eq!(steps.0, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn without_pooling_each_request_is_its_own_row() {
        let texts = ["/a?x=1", "<script>"];
        let labels = [Label::Benign, Label::Malicious];
        let bags = Bags::new(&texts, &labels, false);
        assert_eq!(bags.row_texts(), texts);
        assert_eq!(bags.witnesses(&[0.3, -1.0], true).keep, [true, false]);
    }
}
