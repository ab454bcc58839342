//! The one interface of every text-to-sparse-row vectoriser ([`super::FittedTfidf`],
//! [`super::HashingVectorizer`]): each says how one text becomes a row, and the trait builds
//! whole matrices and single rows the same way for all of them.

use super::sparse::CsrMatrix;

/// A fitted mapping from a text to a sparse row of `n_features()` columns.
pub trait RowVectorizer {
    /// Reusable buffers for [`RowVectorizer::transform_one_into`]; keep one per thread.
    type Scratch: Default;

    /// Number of columns of every row.
    fn n_features(&self) -> usize;

    /// Appends the row of `text` to `indices` and `data` (columns increasing) without clearing
    /// them, so callers can reuse buffers or build a matrix in place.
    fn transform_one_into(
        &self,
        text: &str,
        scratch: &mut Self::Scratch,
        indices: &mut Vec<u32>,
        data: &mut Vec<f32>,
    );

    /// One row per text.
    fn transform<I>(&self, texts: I) -> CsrMatrix
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let texts = texts.into_iter();
        let mut matrix = CsrMatrix::with_capacity(self.n_features(), texts.size_hint().0, 0);
        let mut scratch = Self::Scratch::default();
        for text in texts {
            let (indices, data) = matrix.row_buffers();
            self.transform_one_into(text.as_ref(), &mut scratch, indices, data);
            matrix.finish_row();
        }
        matrix
    }

    /// The row of one text as `(column indices, values)`, indices increasing.
    fn transform_one(&self, text: &str, scratch: &mut Self::Scratch) -> (Vec<u32>, Vec<f32>) {
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        self.transform_one_into(text, scratch, &mut indices, &mut data);
        (indices, data)
    }
}
