//! Compressed sparse row matrices, the output of the vectorisers.

use super::error::TextError;

/// A row-major sparse matrix of `f32`, laid out like scipy's `csr_matrix`:
/// row `i` holds columns `indices[indptr[i]..indptr[i + 1]]` with values
/// `data[indptr[i]..indptr[i + 1]]`. Column indices are strictly increasing
/// within each row and below `n_cols`; the constructors enforce it.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl CsrMatrix {
    /// A matrix with no rows yet and `n_cols` columns.
    pub fn new(n_cols: usize) -> Self {
        Self::with_capacity(n_cols, 0, 0)
    }

    /// Like [`CsrMatrix::new`], reserving room for `rows` rows and `nnz`
    /// stored values.
    pub fn with_capacity(n_cols: usize, rows: usize, nnz: usize) -> Self {
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0);
        Self {
            n_cols,
            indptr,
            indices: Vec::with_capacity(nnz),
            data: Vec::with_capacity(nnz),
        }
    }

    /// Appends the rows of `other` (same columns), which were built by the same constructors.
    pub(crate) fn append_rows(&mut self, other: CsrMatrix) {
        debug_assert_eq!(self.n_cols, other.n_cols);
        let offset = self.indices.len();
        self.indptr
            .extend(other.indptr.iter().skip(1).map(|&end| end + offset));
        self.indices.extend(other.indices);
        self.data.extend(other.data);
    }

    /// Builds a matrix from scipy-style parts, checking every invariant.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self, TextError> {
        if indptr.len() != n_rows + 1 {
            return Err(TextError::InvalidSparseMatrix(
                "indptr must have n_rows + 1 entries",
            ));
        }
        if indptr.first() != Some(&0) || indptr.last() != Some(&indices.len()) {
            return Err(TextError::InvalidSparseMatrix(
                "indptr must run from 0 to nnz",
            ));
        }
        if indices.len() != data.len() {
            return Err(TextError::InvalidSparseMatrix(
                "indices and data differ in length",
            ));
        }
        for bounds in indptr.windows(2) {
            let (start, end) = (bounds[0], bounds[1]);
            if start > end {
                return Err(TextError::InvalidSparseMatrix("indptr must not decrease"));
            }
            check_row_indices(&indices[start..end], n_cols)?;
        }
        Ok(Self {
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// The parts `(n_rows, n_cols, indptr, indices, data)`.
    pub fn into_parts(self) -> (usize, usize, Vec<usize>, Vec<u32>, Vec<f32>) {
        (
            self.n_rows(),
            self.n_cols,
            self.indptr,
            self.indices,
            self.data,
        )
    }

    /// Appends a row, checking that `indices` are strictly increasing and
    /// below `n_cols` and as many as `data`.
    pub fn push_row(&mut self, indices: &[u32], data: &[f32]) -> Result<(), TextError> {
        if indices.len() != data.len() {
            return Err(TextError::InvalidSparseMatrix(
                "indices and data differ in length",
            ));
        }
        check_row_indices(indices, self.n_cols)?;
        self.indices.extend_from_slice(indices);
        self.data.extend_from_slice(data);
        self.indptr.push(self.indices.len());
        Ok(())
    }

    /// Appends values straight to the storage; the caller then closes the
    /// row with [`CsrMatrix::finish_row`]. For vectorisers that write rows
    /// in place and guarantee the invariants themselves.
    pub(crate) fn row_buffers(&mut self) -> (&mut Vec<u32>, &mut Vec<f32>) {
        (&mut self.indices, &mut self.data)
    }

    /// Ends the row written through [`CsrMatrix::row_buffers`].
    pub(crate) fn finish_row(&mut self) {
        debug_assert_eq!(self.indices.len(), self.data.len());
        debug_assert!(
            check_row_indices(
                &self.indices[self.indptr[self.indptr.len() - 1]..],
                self.n_cols
            )
            .is_ok()
        );
        self.indptr.push(self.indices.len());
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored values.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `row`.
    ///
    /// # Panics
    /// If `row >= self.n_rows()`.
    pub fn row(&self, row: usize) -> (&[u32], &[f32]) {
        let (start, end) = (self.indptr[row], self.indptr[row + 1]);
        (&self.indices[start..end], &self.data[start..end])
    }

    /// Iterates over `(indices, values)` of every row in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = (&[u32], &[f32])> + '_ {
        (0..self.n_rows()).map(|row| self.row(row))
    }

    /// The value at `(row, col)`, 0 where nothing is stored.
    ///
    /// # Panics
    /// If `row >= self.n_rows()`.
    pub fn get(&self, row: usize, col: usize) -> f32 {
        let (indices, data) = self.row(row);
        u32::try_from(col)
            .ok()
            .and_then(|col| indices.binary_search(&col).ok())
            .map_or(0.0, |position| data[position])
    }

    /// Row pointers: `n_rows + 1` offsets into `indices` and `data`.
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column index of every stored value.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Every stored value.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

fn check_row_indices(indices: &[u32], n_cols: usize) -> Result<(), TextError> {
    if indices.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(TextError::InvalidSparseMatrix(
            "column indices must increase strictly within a row",
        ));
    }
    if indices.last().is_some_and(|&last| last as usize >= n_cols) {
        return Err(TextError::InvalidSparseMatrix("column index out of range"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_rows_and_read_back() {
        let mut matrix = CsrMatrix::new(4);
        matrix.push_row(&[0, 3], &[1.0, 2.0]).expect("valid row");
        matrix.push_row(&[], &[]).expect("empty row");
        matrix.push_row(&[2], &[5.0]).expect("valid row");
        assert_eq!(matrix.n_rows(), 3);
        assert_eq!(matrix.nnz(), 3);
        assert_eq!(matrix.indptr(), [0, 2, 2, 3]);
        assert_eq!(matrix.row(0), (&[0, 3][..], &[1.0, 2.0][..]));
        assert_eq!(matrix.row(1).0.len(), 0);
        assert_eq!(matrix.get(0, 3), 2.0);
        assert_eq!(matrix.get(0, 1), 0.0);
        assert_eq!(matrix.get(2, usize::MAX), 0.0);
        assert_eq!(matrix.rows().count(), 3);
    }

    #[test]
    fn invalid_rows_are_rejected() {
        let mut matrix = CsrMatrix::new(3);
        assert!(matrix.push_row(&[1, 1], &[1.0, 1.0]).is_err());
        assert!(matrix.push_row(&[2, 1], &[1.0, 1.0]).is_err());
        assert!(matrix.push_row(&[3], &[1.0]).is_err());
        assert!(matrix.push_row(&[0], &[]).is_err());
        assert_eq!(matrix.n_rows(), 0, "failed pushes leave no row");
    }

    #[test]
    fn from_parts_checks_invariants_and_round_trips() {
        let matrix = CsrMatrix::from_parts(2, 3, vec![0, 1, 3], vec![2, 0, 1], vec![1.0, 2.0, 3.0])
            .expect("valid");
        let parts = matrix.clone().into_parts();
        assert_eq!(
            parts,
            (2, 3, vec![0, 1, 3], vec![2, 0, 1], vec![1.0, 2.0, 3.0])
        );
        assert!(CsrMatrix::from_parts(2, 3, vec![0, 3], vec![0, 1, 2], vec![0.0; 3]).is_err());
        assert!(CsrMatrix::from_parts(1, 3, vec![1, 1], vec![0], vec![0.0]).is_err());
        assert!(CsrMatrix::from_parts(1, 3, vec![0, 2], vec![0], vec![0.0]).is_err());
        assert!(CsrMatrix::from_parts(3, 3, vec![0, 2, 1, 2], vec![0, 1], vec![0.0; 2]).is_err());
        assert!(CsrMatrix::from_parts(1, 2, vec![0, 1], vec![2], vec![0.0]).is_err());
    }
}
