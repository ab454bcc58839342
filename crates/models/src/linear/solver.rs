//! liblinear's dual coordinate descent solvers, on a [`CsrMatrix`] with an optional constant
//! intercept feature.
//!
//! Both solvers minimise an L2-regularised primal over `w` (the intercept weight included)
//!
//! ```text
//!     min_w  ½‖w‖² + Σᵢ Cᵢ · loss(yᵢ wᵀxᵢ)
//! ```
//!
//! through its dual, one variable at a time, keeping `w = Σᵢ yᵢ αᵢ xᵢ` up to date so that each
//! step costs one sparse row (one dot product and one update):
//!
//! - [`solve_svm`]: Hsieh et al. (ICML 2008), "A dual coordinate descent method for large-scale
//!   linear SVM", liblinear's `solve_l2r_l1l2_svc` (solvers 1 and 3). The dual is a box-constrained
//!   quadratic; each coordinate step is exact (a clipped Newton step), and *shrinking* drops
//!   variables that sit on a bound with a gradient pushing further out, until the end.
//! - [`solve_logistic`]: Yu, Huang & Lin (Machine Learning 2011), "Dual coordinate descent methods
//!   for logistic regression and maximum entropy models", liblinear's `solve_l2r_lr_dual`
//!   (solver 7). Each sub-problem is a one-variable convex function with log barriers, solved by
//!   a few safeguarded Newton steps.
//!
//! Stopping rule (liblinear's, with `tol` as its `eps`): for the SVM, the spread of the
//! *projected* gradient over one pass, `max PG − min PG ≤ tol` (the projected gradient is zero at
//! the optimum, so this bounds the KKT violation); for logistic regression, the largest
//! sub-problem gradient magnitude of a pass `≤ tol`. Every pass visits the variables in a fresh
//! permutation drawn from a seeded generator, so a fit is reproducible bit for bit.

use vigie_data::prefetch::prefetch;
use vigie_data::text::CsrMatrix;

use crate::random::SplitMix64;

/// The training rows as the solvers read them: `x`'s rows, with its columns renumbered by
/// decreasing frequency (ties by column).
///
/// Every step reads and writes the weights of one row's columns, a scattered access into a
/// vector of a few MiB (char n-gram vocabularies). Renumbered, the weights that most rows touch
/// share cache lines at the front of the vector and stay in the core's L2, instead of each
/// sharing its line with rarely-read neighbours. Only the labels change: every row keeps its
/// values in the same order, so sums, and so the solution, are bit for bit those of `x`.
#[derive(Clone)]
pub(crate) struct SolverMatrix {
    n_cols: usize,
    indptr: Vec<usize>,
    /// Renumbered columns; not increasing within a row.
    indices: Vec<u32>,
    data: Vec<f32>,
    /// `original[new]`: the column of `x` behind renumbered column `new`.
    original: Vec<u32>,
}

impl SolverMatrix {
    /// Takes `x` apart (no copy of its values) and renumbers its columns.
    pub(crate) fn new(x: CsrMatrix) -> Self {
        let (_, n_cols, indptr, mut indices, data) = x.into_parts();
        let mut frequency = vec![0u32; n_cols];
        for &column in &indices {
            frequency[column as usize] += 1;
        }
        let mut original: Vec<u32> = (0..n_cols as u32).collect();
        original.sort_by_key(|&column| (std::cmp::Reverse(frequency[column as usize]), column));
        let mut renumbered = vec![0u32; n_cols];
        for (new, &old) in original.iter().enumerate() {
            renumbered[old as usize] = new as u32;
        }
        for column in &mut indices {
            *column = renumbered[*column as usize];
        }
        SolverMatrix {
            n_cols,
            indptr,
            indices,
            data,
            original,
        }
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub(crate) fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Renumbered columns and values of row `row`.
    #[inline]
    pub(crate) fn row(&self, row: usize) -> (&[u32], &[f32]) {
        let (start, end) = (self.indptr[row], self.indptr[row + 1]);
        (&self.indices[start..end], &self.data[start..end])
    }

    /// Appends the rows of `more` (same columns as the `x` this was made from), renumbered
    /// like the others: a refit's new rows after the rows a first solve saw.
    pub(crate) fn append_rows(&mut self, more: &CsrMatrix) {
        let mut renumbered = vec![0u32; self.n_cols];
        for (new, &old) in self.original.iter().enumerate() {
            renumbered[old as usize] = new as u32;
        }
        for (columns, values) in more.rows() {
            self.indices
                .extend(columns.iter().map(|&column| renumbered[column as usize]));
            self.data.extend_from_slice(values);
            self.indptr.push(self.indices.len());
        }
    }

    fn rows(&self) -> impl Iterator<Item = (&[u32], &[f32])> + '_ {
        (0..self.n_rows()).map(|row| self.row(row))
    }

    /// Weights indexed by renumbered column, back in `x`'s column order.
    fn restore_order(&self, renumbered_weights: &[f64]) -> Vec<f64> {
        let mut weights = vec![0.0; self.n_cols];
        for (&old, &weight) in self.original.iter().zip(renumbered_weights) {
            weights[old as usize] = weight;
        }
        weights
    }
}

/// A binary problem: rows of `x` with targets `y` in {−1, +1}, per-class box bounds, and the
/// value of the constant intercept feature appended to every row (0: no intercept).
pub(crate) struct Problem<'a> {
    pub x: &'a SolverMatrix,
    /// +1 (malicious) or −1 (benign), one per row.
    pub y: &'a [f64],
    /// C of the benign and malicious class (C times the class weight).
    pub c_negative: f64,
    pub c_positive: f64,
    /// liblinear's `bias`: every row gets this extra constant feature, whose weight is
    /// regularised like the others.
    pub intercept_feature: f64,
}

/// Rows are visited in random order over a matrix larger than the caches: each step asks for
/// the storage of the row this many steps ahead, so that it is in cache when its turn comes,
/// and for the offsets and per-row values of the row twice as far ahead (reading a row's
/// offsets is what locates its storage).
const PREFETCH_AHEAD: usize = 4;

/// The cache lines of one row: a line holds 16 `u32` columns or 16 `f32` values.
const VALUES_PER_LINE: usize = 16;

impl Problem<'_> {
    /// For step `k` of a pass over `order`: prefetches the row [`PREFETCH_AHEAD`] steps ahead
    /// and the offsets and per-row values (`per_row`) of the one twice as far.
    #[inline(always)]
    fn prefetch_for_step(&self, order: &[usize], k: usize, per_row: impl Fn(usize)) {
        if let Some(&further) = order.get(k + 2 * PREFETCH_AHEAD) {
            prefetch(&self.x.indptr[further]);
            prefetch(&self.y[further]);
            per_row(further);
        }
        if let Some(&ahead) = order.get(k + PREFETCH_AHEAD) {
            let (indices, values) = self.x.row(ahead);
            for line in indices.chunks(VALUES_PER_LINE) {
                prefetch(&line[0]);
            }
            for line in values.chunks(VALUES_PER_LINE) {
                prefetch(&line[0]);
            }
        }
    }

    fn class_c(&self, i: usize) -> f64 {
        if self.y[i] > 0.0 {
            self.c_positive
        } else {
            self.c_negative
        }
    }

    /// ‖xᵢ‖² including the intercept feature, in f64.
    fn squared_norms(&self) -> Vec<f64> {
        let bias_sq = self.intercept_feature * self.intercept_feature;
        self.x
            .rows()
            .map(|(_, values)| {
                values
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>()
                    + bias_sq
            })
            .collect()
    }
}

/// Solver limits and the seed of the visit order.
pub(crate) struct SolverOptions {
    pub tol: f64,
    pub max_iter: usize,
    pub seed: u64,
    /// Dual variables to start from, one per row of the first rows (a refit's warm start:
    /// the rows a previous solve saw, then new rows starting cold). Empty: a cold start.
    pub warm_start: Vec<f64>,
}

/// Weights found by a solver.
pub(crate) struct Solution {
    /// One per column of `x`.
    pub weights: Vec<f64>,
    /// The dual variables, one per row (what a refit starts from).
    pub dual: Vec<f64>,
    /// Weight of the intercept feature (the intercept is this times the feature value).
    pub intercept_weight: f64,
    /// Outer passes run.
    pub iterations: usize,
    /// Whether the stopping rule was met before `max_iter`.
    pub converged: bool,
    /// The stopping quantity at the last pass.
    pub violation: f64,
}

/// Called after every outer pass with `(pass, dual objective, stopping quantity)`.
pub(crate) type PassCallback<'a> = dyn FnMut(usize, f64, f64) + 'a;

/// Primal weights `w` (plus the intercept weight), updated in place along the dual.
struct Primal {
    w: Vec<f64>,
    w_bias: f64,
    intercept_feature: f64,
}

impl Primal {
    fn new(n_cols: usize, intercept_feature: f64) -> Self {
        Primal {
            w: vec![0.0; n_cols],
            w_bias: 0.0,
            intercept_feature,
        }
    }

    #[inline]
    fn dot(&self, (indices, values): (&[u32], &[f32])) -> f64 {
        let mut sum = self.w_bias * self.intercept_feature;
        for (&column, &value) in indices.iter().zip(values) {
            sum += self.w[column as usize] * f64::from(value);
        }
        sum
    }

    /// `w += step · xᵢ`.
    #[inline]
    fn add(&mut self, step: f64, (indices, values): (&[u32], &[f32])) {
        for (&column, &value) in indices.iter().zip(values) {
            self.w[column as usize] += step * f64::from(value);
        }
        self.w_bias += step * self.intercept_feature;
    }

    fn squared_norm(&self) -> f64 {
        self.w.iter().map(|w| w * w).sum::<f64>() + self.w_bias * self.w_bias
    }

    fn into_solution(
        self,
        x: &SolverMatrix,
        dual: Vec<f64>,
        iterations: usize,
        converged: bool,
        violation: f64,
    ) -> Solution {
        Solution {
            weights: x.restore_order(&self.w),
            dual,
            intercept_weight: self.w_bias,
            iterations,
            converged,
            violation,
        }
    }
}

/// Which hinge the SVM squares or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SvmLossKind {
    /// max(0, 1 − y wᵀx)²: dual box [0, ∞) with a diagonal 1/(2C) added to Q.
    SquaredHinge,
    /// max(0, 1 − y wᵀx): dual box [0, C].
    Hinge,
}

/// Dual coordinate descent for the L2-regularised L2-loss or L1-loss SVM, with shrinking.
///
/// Dual: `min_α ½ αᵀ(Q + D)α − eᵀα` over `0 ≤ αᵢ ≤ Uᵢ`, with `Qᵢⱼ = yᵢyⱼ xᵢᵀxⱼ`;
/// squared hinge: `Dᵢᵢ = 1/(2Cᵢ)`, `Uᵢ = ∞`; hinge: `D = 0`, `Uᵢ = Cᵢ`.
pub(crate) fn solve_svm(
    problem: &Problem<'_>,
    loss: SvmLossKind,
    options: &SolverOptions,
    on_pass: &mut PassCallback<'_>,
) -> Solution {
    let n_rows = problem.x.n_rows();
    let (diagonal, upper_bound): (Vec<f64>, Vec<f64>) = (0..n_rows)
        .map(|i| {
            let c = problem.class_c(i);
            match loss {
                SvmLossKind::SquaredHinge => (0.5 / c, f64::INFINITY),
                SvmLossKind::Hinge => (0.0, c),
            }
        })
        .unzip();
    // Qᵢᵢ + Dᵢᵢ: the curvature of coordinate i, which makes each step exact.
    let q_diagonal: Vec<f64> = problem
        .squared_norms()
        .iter()
        .zip(&diagonal)
        .map(|(norm, d)| norm + d)
        .collect();

    let mut primal = Primal::new(problem.x.n_cols(), problem.intercept_feature);
    let mut alpha = vec![0.0f64; n_rows];
    for (i, &warm) in options.warm_start.iter().enumerate().take(n_rows) {
        alpha[i] = warm.clamp(0.0, upper_bound[i]);
        if alpha[i] != 0.0 {
            primal.add(problem.y[i] * alpha[i], problem.x.row(i));
        }
    }
    let mut index: Vec<usize> = (0..n_rows).collect();
    let mut active_size = n_rows;
    let mut rng = SplitMix64::new(options.seed);
    // Bounds of the projected gradient at the previous pass, for shrinking.
    let mut pg_max_old = f64::INFINITY;
    let mut pg_min_old = f64::NEG_INFINITY;
    let mut iteration = 0;
    let mut violation = f64::INFINITY;
    let mut converged = false;

    while iteration < options.max_iter {
        let mut pg_max_new = f64::NEG_INFINITY;
        let mut pg_min_new = f64::INFINITY;
        rng.shuffle(&mut index[..active_size]);

        let mut s = 0;
        while s < active_size {
            let i = index[s];
            problem.prefetch_for_step(&index[..active_size], s, |row| {
                prefetch(&alpha[row]);
                prefetch(&q_diagonal[row]);
                prefetch(&diagonal[row]);
                prefetch(&upper_bound[row]);
            });
            let row = problem.x.row(i);
            let yi = problem.y[i];
            let upper = upper_bound[i];
            // Gradient of the dual in αᵢ: yᵢ wᵀxᵢ − 1 + Dᵢᵢ αᵢ.
            let gradient = yi * primal.dot(row) - 1.0 + alpha[i] * diagonal[i];

            // Projected gradient; a variable at a bound whose gradient points outside by more
            // than last pass's extreme is unlikely to move again: shrink it (liblinear's rule).
            let projected = if alpha[i] == 0.0 {
                if gradient > pg_max_old {
                    active_size -= 1;
                    index.swap(s, active_size);
                    continue;
                }
                gradient.min(0.0)
            } else if alpha[i] == upper {
                if gradient < pg_min_old {
                    active_size -= 1;
                    index.swap(s, active_size);
                    continue;
                }
                gradient.max(0.0)
            } else {
                gradient
            };
            pg_max_new = pg_max_new.max(projected);
            pg_min_new = pg_min_new.min(projected);

            if projected.abs() > 1e-12 {
                // Exact minimisation along αᵢ, clipped to the box.
                let alpha_old = alpha[i];
                alpha[i] = (alpha[i] - gradient / q_diagonal[i]).clamp(0.0, upper);
                let delta = (alpha[i] - alpha_old) * yi;
                primal.add(delta, row);
            }
            s += 1;
        }
        iteration += 1;
        violation = pg_max_new - pg_min_new;
        on_pass(
            iteration,
            svm_dual_objective(&primal, &alpha, &diagonal),
            violation,
        );

        if violation <= options.tol {
            if active_size == n_rows {
                converged = true;
                break;
            }
            // Converged on the shrunk problem: check again on every variable before stopping.
            active_size = n_rows;
            pg_max_old = f64::INFINITY;
            pg_min_old = f64::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max_new <= 0.0 {
            f64::INFINITY
        } else {
            pg_max_new
        };
        pg_min_old = if pg_min_new >= 0.0 {
            f64::NEG_INFINITY
        } else {
            pg_min_new
        };
    }
    primal.into_solution(problem.x, alpha, iteration, converged, violation)
}

/// `½ wᵀw + ½ Σ Dᵢᵢ αᵢ² − Σ αᵢ` (what liblinear prints as "Objective value").
fn svm_dual_objective(primal: &Primal, alpha: &[f64], diagonal: &[f64]) -> f64 {
    let alpha_terms: f64 = alpha
        .iter()
        .zip(diagonal)
        .map(|(a, d)| a * (a * d - 2.0))
        .sum();
    0.5 * (primal.squared_norm() + alpha_terms)
}

/// Newton steps allowed per sub-problem (liblinear's `max_inner_iter`).
const MAX_INNER_ITERATIONS: usize = 100;

/// Dual coordinate descent for L2-regularised logistic regression.
///
/// Dual: `min_α ½ αᵀQα + Σᵢ [αᵢ ln αᵢ + (Cᵢ − αᵢ) ln(Cᵢ − αᵢ)]` over `0 < αᵢ < Cᵢ`. liblinear
/// keeps each αᵢ as a pair `(αᵢ, Cᵢ − αᵢ)` so that the one nearer to its bound is the one
/// updated, which keeps the logarithms accurate near 0 and C.
pub(crate) fn solve_logistic(
    problem: &Problem<'_>,
    options: &SolverOptions,
    on_pass: &mut PassCallback<'_>,
) -> Solution {
    let n_rows = problem.x.n_rows();
    let squared_norms = problem.squared_norms();
    // alpha[2i] = αᵢ, alpha[2i + 1] = Cᵢ − αᵢ; start strictly inside the box (liblinear's start).
    let mut alpha = vec![0.0f64; 2 * n_rows];
    let mut primal = Primal::new(problem.x.n_cols(), problem.intercept_feature);
    for i in 0..n_rows {
        let c = problem.class_c(i);
        let start = (0.001 * c).min(1e-8);
        // A warm start stays strictly inside the box too (the logarithms need it).
        alpha[2 * i] = options
            .warm_start
            .get(i)
            .map_or(start, |&warm| warm.clamp(start, c - start));
        alpha[2 * i + 1] = c - alpha[2 * i];
        primal.add(problem.y[i] * alpha[2 * i], problem.x.row(i));
    }
    // Each row's term of the dual objective, updated with its αᵢ: summing them after a pass
    // costs no logarithm (recomputing them all cost three per row and pass).
    let (c_ln_c_negative, c_ln_c_positive) = (
        problem.c_negative * problem.c_negative.ln(),
        problem.c_positive * problem.c_positive.ln(),
    );
    let c_ln_c = |i: usize| {
        if problem.y[i] > 0.0 {
            c_ln_c_positive
        } else {
            c_ln_c_negative
        }
    };
    let mut entropy: Vec<f64> = (0..n_rows)
        .map(|i| entropy_term(alpha[2 * i], alpha[2 * i + 1], c_ln_c(i)))
        .collect();
    // ln(z / (C − z)) at z = alpha[v], kept from the last step that computed it (NaN: not
    // known): a row whose variables did not move since starts its next sub-problem without a
    // logarithm, with the same bits.
    let mut log_ratio = vec![f64::NAN; 2 * n_rows];
    // The sub-problems are solved loosely at first, then more tightly once few Newton steps
    // are needed (liblinear's adaptive inner tolerance).
    let mut inner_tol = 1e-2;
    let inner_tol_min = options.tol.min(1e-8);
    let mut index: Vec<usize> = (0..n_rows).collect();
    let mut rng = SplitMix64::new(options.seed);
    let mut iteration = 0;
    let mut violation = f64::INFINITY;
    let mut converged = false;

    while iteration < options.max_iter {
        rng.shuffle(&mut index);
        let mut newton_steps = 0usize;
        let mut largest_gradient = 0.0f64;
        for (k, &i) in index.iter().enumerate() {
            problem.prefetch_for_step(&index, k, |row| {
                prefetch(&squared_norms[row]);
                prefetch(&alpha[2 * row]);
                prefetch(&log_ratio[2 * row]);
                prefetch(&entropy[row]);
            });
            let row = problem.x.row(i);
            let yi = problem.y[i];
            let c = problem.class_c(i);
            let a = squared_norms[i];
            let b = yi * primal.dot(row);

            // Minimise g(z) = z ln z + (C − z) ln(C − z) + ½a(z − α)² + sign·b(z − α) over
            // whichever of (αᵢ, C − αᵢ) lies nearer its bound at the optimum.
            let (first, second, sign) = if 0.5 * a * (alpha[2 * i + 1] - alpha[2 * i]) + b < 0.0 {
                (2 * i + 1, 2 * i, -1.0)
            } else {
                (2 * i, 2 * i + 1, 1.0)
            };
            let alpha_old = alpha[first];
            let mut z = alpha_old;
            let mut ratio = if c - z < 0.5 * c {
                z *= 0.1;
                (z / (c - z)).ln()
            } else if log_ratio[first].is_nan() {
                let ratio = (z / (c - z)).ln();
                log_ratio[first] = ratio;
                ratio
            } else {
                log_ratio[first]
            };
            let mut gradient = a * (z - alpha_old) + sign * b + ratio;
            largest_gradient = largest_gradient.max(gradient.abs());

            // Newton's method on g; a step leaving (0, C) is replaced by shrinking z towards 0.
            let mut inner = 0;
            while inner <= MAX_INNER_ITERATIONS {
                if gradient.abs() < inner_tol {
                    break;
                }
                let curvature = a + c / (c - z) / z;
                let candidate = z - gradient / curvature;
                z = if candidate <= 0.0 { z * 0.1 } else { candidate };
                ratio = (z / (c - z)).ln();
                gradient = a * (z - alpha_old) + sign * b + ratio;
                newton_steps += 1;
                inner += 1;
            }
            if inner > 0 {
                alpha[first] = z;
                alpha[second] = c - z;
                log_ratio[first] = ratio;
                log_ratio[second] = f64::NAN;
                entropy[i] = entropy_term(alpha[2 * i], alpha[2 * i + 1], c_ln_c(i));
                primal.add(sign * (z - alpha_old) * yi, row);
            }
        }
        iteration += 1;
        violation = largest_gradient;
        on_pass(
            iteration,
            0.5 * primal.squared_norm() + entropy.iter().sum::<f64>(),
            violation,
        );
        if violation < options.tol {
            converged = true;
            break;
        }
        if newton_steps <= n_rows / 10 {
            inner_tol = inner_tol_min.max(0.1 * inner_tol);
        }
    }
    let dual = (0..n_rows).map(|i| alpha[2 * i]).collect();
    primal.into_solution(problem.x, dual, iteration, converged, violation)
}

/// Row `i`'s term `αᵢ ln αᵢ + (Cᵢ − αᵢ) ln(Cᵢ − αᵢ) − Cᵢ ln Cᵢ` (given `Cᵢ ln Cᵢ`) of the logistic dual objective
/// `½ wᵀw + Σᵢ termᵢ`, liblinear's objective value (the negative of the primal at the optimum).
#[inline]
fn entropy_term(alpha: f64, complement: f64, c_ln_c: f64) -> f64 {
    alpha * alpha.ln() + complement * complement.ln() - c_ln_c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_rows_are_renumbered_like_the_first_ones() {
        let x = CsrMatrix::from_parts(2, 3, vec![0, 2, 3], vec![0, 2, 2], vec![1.0, 2.0, 3.0])
            .expect("a valid matrix");
        let more = CsrMatrix::from_parts(2, 3, vec![0, 1, 3], vec![1, 0, 2], vec![4.0, 5.0, 6.0])
            .expect("a valid matrix");
        let mut solver_matrix = SolverMatrix::new(x);
        solver_matrix.append_rows(&more);
        assert_eq!(solver_matrix.n_rows(), 4);
        for row in 0..2 {
            assert_row_maps_back(&solver_matrix, 2 + row, more.row(row));
        }
    }

    /// Row `row` of `solver_matrix` holds `x_row`'s values in the same order (so the solvers'
    /// sums do not change), and its renumbered columns map back to `x_row`'s.
    fn assert_row_maps_back(solver_matrix: &SolverMatrix, row: usize, x_row: (&[u32], &[f32])) {
        let (columns, values) = x_row;
        let (renumbered, solver_values) = solver_matrix.row(row);
        assert_eq!(values, solver_values);
        let back: Vec<u32> = renumbered
            .iter()
            .map(|&new| solver_matrix.original[new as usize])
            .collect();
        assert_eq!(back, columns);
    }

    #[test]
    fn columns_are_renumbered_by_frequency_and_weights_come_back_in_order() {
        // Column 3 is in every row, column 1 in two, columns 0 and 2 in one (a tie: by column).
        let x = CsrMatrix::from_parts(
            3,
            4,
            vec![0, 3, 5, 7],
            vec![0, 1, 3, 1, 3, 2, 3],
            vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
        )
        .expect("a valid matrix");
        let solver_matrix = SolverMatrix::new(x.clone());
        assert_eq!(solver_matrix.n_rows(), 3);
        assert_eq!(solver_matrix.n_cols(), 4);
        assert_eq!(solver_matrix.original, [3, 1, 0, 2]);
        for row in 0..3 {
            assert_row_maps_back(&solver_matrix, row, x.row(row));
        }
        assert_eq!(solver_matrix.row(0).0, [2, 1, 0]);
        // Weight of renumbered column k is 10 k: column 3 (renumbered 0) gets 0, and so on.
        assert_eq!(
            solver_matrix.restore_order(&[0.0, 10.0, 20.0, 30.0]),
            [20.0, 10.0, 30.0, 0.0]
        );
    }
}
