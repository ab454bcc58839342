//! The Burn modules: an MLP over hashed TF-IDF rows, a text CNN and (Bi)LSTMs over token ids.
//! Each maps a [`Batch`] to one logit per example and masks the padding of token batches, so
//! that an example's logit does not depend on its batch.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, s};

use super::inputs::{Batch, TokenBatch};
use super::{CnnConfig, MlpConfig, Pooling, RnnConfig};

/// A network trained by [`super::train`]: one logit per example of a batch.
pub(crate) trait Network: Module + Sized {
    /// `[batch]` logits. A batch of the wrong kind (dense for a sequence model) cannot reach
    /// here: the encoder and the network are built from the same spec.
    fn logits(&self, batch: &Batch) -> Tensor<1>;
}

/// Linear → ReLU → Dropout, repeated, then Linear(1).
#[derive(Module, Debug)]
pub(crate) struct MlpNet {
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl MlpNet {
    pub fn new(config: &MlpConfig, n_features: usize, device: &Device) -> Self {
        let mut hidden = Vec::with_capacity(config.hidden.len());
        let mut width = n_features;
        for &units in &config.hidden {
            hidden.push(LinearConfig::new(width, units).init(device));
            width = units;
        }
        MlpNet {
            hidden,
            dropout: DropoutConfig::new(config.dropout).init(),
            output: LinearConfig::new(width, 1).init(device),
        }
    }
}

impl Network for MlpNet {
    fn logits(&self, batch: &Batch) -> Tensor<1> {
        let Batch::Dense(input) = batch else {
            unreachable!("the MLP is always fed dense rows")
        };
        let mut x = input.clone();
        for layer in &self.hidden {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        let [rows, _] = x.dims();
        self.output.forward(x).reshape([rows])
    }
}

/// Embedding → Conv1d → ReLU → masked global max pool → Dropout → Dense → ReLU → Linear(1).
#[derive(Module, Debug)]
pub(crate) struct CnnNet {
    embedding: Embedding,
    conv: Conv1d,
    dropout: Dropout,
    dense: Linear,
    output: Linear,
    kernel_size: usize,
}

impl CnnNet {
    pub fn new(config: &CnnConfig, vocabulary_size: usize, device: &Device) -> Self {
        CnnNet {
            embedding: EmbeddingConfig::new(vocabulary_size, config.embedding_dim).init(device),
            conv: Conv1dConfig::new(config.embedding_dim, config.filters, config.kernel_size)
                .init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            dense: LinearConfig::new(config.filters, config.dense).init(device),
            output: LinearConfig::new(config.dense, 1).init(device),
            kernel_size: config.kernel_size,
        }
    }
}

impl Network for CnnNet {
    fn logits(&self, batch: &Batch) -> Tensor<1> {
        let Batch::Tokens(tokens) = batch else {
            unreachable!("the CNN is always fed token ids")
        };
        let device = tokens.ids.device();
        let embedded = self.embedding.forward(tokens.ids.clone()); // [B, T, E]
        let features = relu(self.conv.forward(embedded.swap_dims(1, 2))); // [B, F, T-k+1]
        let [rows, filters, positions] = features.dims();
        // Windows that reach into the padding are left out; a text shorter than the kernel keeps
        // its one window (padded with PAD ids whatever the batch), so its score is batch-free.
        let kernel = self.kernel_size;
        let bias = tokens
            .pool_bias(
                positions,
                |length| length.saturating_sub(kernel) + 1,
                &device,
            )
            .reshape([rows, 1, positions]);
        let pooled = (features + bias).max_dim(2).reshape([rows, filters]);
        let hidden = relu(self.dense.forward(self.dropout.forward(pooled)));
        self.output.forward(hidden).reshape([rows])
    }
}

/// One LSTM direction, with the four gates in one matrix: the input projection of every time
/// step is one matmul, and each step adds one `[batch, hidden] x [hidden, 4 hidden]` matmul
/// (burn-nn's `Lstm` does eight matmuls per step and rewrites its output tensor each step).
/// Gate order in the matrices: input, forget, cell, output.
#[derive(Module, Debug)]
pub(crate) struct LstmDirection {
    input: Linear,
    recurrent: Linear,
    hidden_size: usize,
    reverse: bool,
}

impl LstmDirection {
    fn new(input_size: usize, hidden_size: usize, reverse: bool, device: &Device) -> Self {
        LstmDirection {
            input: LinearConfig::new(input_size, 4 * hidden_size).init(device),
            recurrent: LinearConfig::new(hidden_size, 4 * hidden_size)
                .with_bias(false)
                .init(device),
            hidden_size,
            reverse,
        }
    }

    /// Runs over `[B, T, E]`; returns the final hidden state `[B, H]` (for the reverse
    /// direction, the state after reading back to the first unit) and, when `keep_steps`,
    /// every step's hidden state in time order. Padding steps leave the state unchanged, so a
    /// reverse pass starts, in effect, at each sequence's last unit.
    fn forward(
        &self,
        embedded: Tensor<3>,
        tokens: &TokenBatch,
        valid: &Tensor<2>,
        keep_steps: bool,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        let [rows, time, features] = embedded.dims();
        let hidden_size = self.hidden_size;
        let projected = self
            .input
            .forward(embedded.reshape([rows * time, features]))
            .reshape([rows, time, 4 * hidden_size]);
        let device = projected.device();
        let mut hidden: Tensor<2> = Tensor::zeros([rows, hidden_size], &device);
        let mut cell: Tensor<2> = Tensor::zeros([rows, hidden_size], &device);
        // Steps before the shortest sequence's end need no masking.
        let shortest = tokens.lengths.iter().copied().min().unwrap_or(0);
        let mut steps = Vec::with_capacity(if keep_steps { time } else { 0 });
        for step in 0..time {
            let t = if self.reverse { time - 1 - step } else { step };
            let gates = projected
                .clone()
                .slice(s![.., t, ..])
                .reshape([rows, 4 * hidden_size])
                + self.recurrent.forward(hidden.clone());
            let input_gate = sigmoid(gates.clone().slice(s![.., 0..hidden_size]));
            let forget_gate = sigmoid(gates.clone().slice(s![.., hidden_size..2 * hidden_size]));
            let candidate = gates
                .clone()
                .slice(s![.., 2 * hidden_size..3 * hidden_size])
                .tanh();
            let output_gate = sigmoid(gates.slice(s![.., 3 * hidden_size..4 * hidden_size]));
            let new_cell = forget_gate * cell.clone() + input_gate * candidate;
            let new_hidden = output_gate * new_cell.clone().tanh();
            if t < shortest {
                cell = new_cell;
                hidden = new_hidden;
            } else {
                let keep = valid.clone().slice(s![.., t..t + 1]); // [B, 1]
                cell = cell.clone() + keep.clone() * (new_cell - cell);
                hidden = hidden.clone() + keep * (new_hidden - hidden);
            }
            if keep_steps {
                steps.push(hidden.clone());
            }
        }
        if self.reverse {
            steps.reverse();
        }
        (hidden, steps)
    }
}

/// Embedding → LSTM or BiLSTM → final states (or masked max pool over time) → Dropout →
/// Linear(1).
#[derive(Module, Debug)]
pub(crate) struct RnnNet {
    embedding: Embedding,
    forward: LstmDirection,
    backward: Option<LstmDirection>,
    dropout: Dropout,
    output: Linear,
    max_pool: bool,
}

impl RnnNet {
    pub fn new(
        config: &RnnConfig,
        bidirectional: bool,
        vocabulary_size: usize,
        device: &Device,
    ) -> Self {
        let directions = if bidirectional { 2 } else { 1 };
        RnnNet {
            embedding: EmbeddingConfig::new(vocabulary_size, config.embedding_dim).init(device),
            forward: LstmDirection::new(config.embedding_dim, config.hidden, false, device),
            backward: bidirectional
                .then(|| LstmDirection::new(config.embedding_dim, config.hidden, true, device)),
            dropout: DropoutConfig::new(config.dropout).init(),
            output: LinearConfig::new(directions * config.hidden, 1).init(device),
            max_pool: config.pooling == Pooling::Max,
        }
    }
}

impl Network for RnnNet {
    fn logits(&self, batch: &Batch) -> Tensor<1> {
        let Batch::Tokens(tokens) = batch else {
            unreachable!("the RNNs are always fed token ids")
        };
        let device = tokens.ids.device();
        let embedded = self.embedding.forward(tokens.ids.clone());
        let valid = tokens.valid_mask(&device);
        let mut finals = Vec::with_capacity(2);
        let mut outputs = Vec::with_capacity(2);
        for direction in std::iter::once(&self.forward).chain(&self.backward) {
            let (last, steps) = direction.forward(embedded.clone(), tokens, &valid, self.max_pool);
            finals.push(last);
            if self.max_pool {
                outputs.push(Tensor::stack::<3>(steps, 1)); // [B, T, H]
            }
        }
        let summary = if self.max_pool {
            let sequence = Tensor::cat(outputs, 2); // [B, T, directions * H]
            let [rows, time, width] = sequence.dims();
            let bias = tokens
                .pool_bias(time, |length| length, &device)
                .reshape([rows, time, 1]);
            (sequence + bias).max_dim(1).reshape([rows, width])
        } else {
            Tensor::cat(finals, 1)
        };
        let [rows, _] = summary.dims();
        self.output
            .forward(self.dropout.forward(summary))
            .reshape([rows])
    }
}
