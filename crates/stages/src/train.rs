//! Train body: broadcast the coreset weights to the rows trained on, train
//! the final classifier on the weighted loss, and evaluate it.
//!
//! Inputs: prepare labels and splits, embed `features` [N, D], reweight
//! `indices` [M'] and `coreset_weights` [M'] (and its learner and meta-net
//! for `broadcast = "meta-net"`). Outputs: `indices` u32 [T] ascending (all
//! training rows, or the reweighted coreset rows for `on = "coreset"`),
//! `weights` f32 [T], the classifier parameters (`learner.*`),
//! `test_predictions` u32 [test rows, ascending] and `epoch_losses` f32.
//! The summary contains the metrics.

use cwerm_config::{Broadcast, Stage, TrainOn};
use cwerm_learners::{Learner, MetaNet, load_learner};
use cwerm_store::Tensor;
use cwerm_train::broadcast::{BroadcastInput, BroadcastWeights, MetaNetWeights, Rule, broadcast};
use cwerm_train::erm::{ErmInput, predict, train_weighted};
use cwerm_train::neighbors::SearchConfig;

use crate::context::{StageContext, StageOutput};
use crate::convert::{named_candle_tensors, to_candle, to_store};
use crate::error::StageError;
use crate::train_metrics::{Evaluation, evaluate};
use crate::upstream::{Features, PreparedLabels};

/// Version of the train object layout.
pub const FORMAT_VERSION: u32 = 2;

/// Rows per chunk when the meta-net rule computes per-row losses.
const LOSS_CHUNK: usize = 4096;

/// Trains and evaluates the final classifier.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let prepared = PreparedLabels::read(context)?;
    let features = Features::read(context, prepared.rows())?;
    let reweight = context.object(Stage::Reweight)?;
    let sources = reweight.tensor("indices")?.to_u32()?;
    let source_weights = reweight.tensor("coreset_weights")?.to_f32()?;

    let config = &context.pipeline.train;
    let targets = match config.on {
        TrainOn::All => prepared.rows_of_split(cwerm_data::SPLIT_TRAIN),
        TrainOn::Coreset => sources.clone(),
    };
    let candle_features = to_candle(
        Stage::Train,
        features.values.clone(),
        &[prepared.rows(), features.dim],
    )?;
    let spread = spread_weights(
        context,
        &prepared,
        &features,
        &candle_features,
        &targets,
        &sources,
        &source_weights,
    )?;
    require_some_weight(context, &spread.weights)?;

    let test_rows = prepared.rows_of_split(cwerm_data::SPLIT_TEST);
    let test_features = select_rows(&candle_features, &test_rows)?;
    let input = ErmInput {
        features: &candle_features,
        labels: &prepared.labels,
        rows: &targets,
        weights: &spread.weights,
        classes: prepared.num_classes,
    };
    let trained = train_weighted(
        &input,
        Some(&test_features),
        config,
        context.seed.unwrap_or(0),
    )
    .map_err(|error| StageError::algorithm(Stage::Train, error))?;
    warn_if_loss_rose(&trained.epoch_losses);
    let test_predictions = trained.test_predictions.unwrap_or_default();
    let meta_rows = prepared.rows_of_split(cwerm_data::SPLIT_META);
    let meta_predictions = predict(
        trained.learner.as_ref(),
        &select_rows(&candle_features, &meta_rows)?,
    )
    .map_err(|error| StageError::algorithm(Stage::Train, error))?;

    let evaluation = Evaluation {
        prepared: &prepared,
        targets: &targets,
        spread: &spread,
        test_rows: &test_rows,
        test_predictions: &test_predictions,
        meta_rows: &meta_rows,
        meta_predictions: &meta_predictions,
        epoch_losses: &trained.epoch_losses,
        broadcast: config.broadcast,
    };
    let summary =
        evaluate(&evaluation).map_err(|error| StageError::algorithm(Stage::Train, error))?;

    let mut tensors = vec![
        Tensor::from_u32("indices", vec![targets.len()], &targets)?,
        Tensor::from_f32("weights", vec![targets.len()], &spread.weights)?,
        Tensor::from_u32(
            "test_predictions",
            vec![test_predictions.len()],
            &test_predictions,
        )?,
    ];
    let losses: Vec<f32> = trained
        .epoch_losses
        .iter()
        .map(|loss| *loss as f32)
        .collect();
    tensors.push(Tensor::from_f32(
        "epoch_losses",
        vec![losses.len()],
        &losses,
    )?);
    let parameters = trained
        .learner
        .named_tensors()
        .map_err(|error| StageError::algorithm(Stage::Train, error))?;
    for (name, tensor) in &parameters {
        tensors.push(to_store(Stage::Train, name, tensor)?);
    }
    Ok(StageOutput { tensors, summary })
}

/// Gives every target row a weight: its own learned weight when it has one,
/// else the value of the `train.broadcast` rule.
fn spread_weights(
    context: &StageContext<'_>,
    prepared: &PreparedLabels,
    features: &Features,
    candle_features: &candle_core::Tensor,
    targets: &[u32],
    sources: &[u32],
    source_weights: &[f32],
) -> Result<BroadcastWeights, StageError> {
    let config = &context.pipeline.train;
    let input = BroadcastInput {
        features: &features.values,
        dim: features.dim,
        labels: &prepared.labels,
        targets,
        sources,
        source_weights,
    };

    let meta_net = if config.broadcast == Broadcast::MetaNet {
        Some(meta_net_row_weights(
            context,
            prepared,
            candle_features,
            targets,
        )?)
    } else {
        None
    };
    let rule = Rule::from_config(config, meta_net.as_deref().map(MetaNetWeights::PerRow))
        .map_err(|error| StageError::algorithm(Stage::Train, error))?;
    let spread = broadcast(&input, rule, &SearchConfig::default())
        .map_err(|error| StageError::algorithm(Stage::Train, error))?;
    if spread.fallback_rows > 0 {
        tracing::warn!(
            "train: {} rows of labels {:?} have no reweighted row of their label and took the nearest row's weight",
            spread.fallback_rows,
            spread.fallback_labels
        );
    }
    Ok(spread)
}

/// Applies the learned meta-net to each target row's loss under the learner
/// that reweight trained. Returns one weight per prepare row `[N]`, where rows
/// that are not targets get 0 and are never read.
fn meta_net_row_weights(
    context: &StageContext<'_>,
    prepared: &PreparedLabels,
    features: &candle_core::Tensor,
    targets: &[u32],
) -> Result<Vec<f32>, StageError> {
    let reweight = context.object(Stage::Reweight)?;
    let algorithm =
        |error: cwerm_learners::LearnerError| StageError::algorithm(Stage::Train, error);
    let learner_tensors = named_candle_tensors(Stage::Train, reweight, "learner.")?;
    let meta_net_tensors = named_candle_tensors(Stage::Train, reweight, "meta_net.")?;
    if meta_net_tensors.is_empty() {
        return Err(context.invalid_input(
            "`broadcast = \"meta-net\"` needs a meta-net, but the reweight object has none \
             (`reweight.method = \"uniform\"`); choose another broadcast rule",
        ));
    }
    let learner: Box<dyn Learner> = load_learner(&learner_tensors).map_err(algorithm)?;
    let meta_net = MetaNet::from_named(&meta_net_tensors).map_err(algorithm)?;

    let mut weights = vec![0.0f32; prepared.rows()];
    for chunk in targets.chunks(LOSS_CHUNK) {
        let rows = select_rows(features, chunk)?;
        let labels: Vec<u32> = chunk
            .iter()
            .map(|&row| prepared.labels[row as usize])
            .collect();
        let labels = candle_core::Tensor::new(labels.as_slice(), &candle_core::Device::Cpu)
            .map_err(|error| StageError::algorithm(Stage::Train, error))?;
        let losses = learner
            .per_example_losses(&rows, &labels)
            .map_err(algorithm)?;
        let chunk_weights = meta_net
            .weights(&losses.detach())
            .and_then(|weights| Ok(weights.to_vec1::<f32>()?))
            .map_err(algorithm)?;
        for (&row, weight) in chunk.iter().zip(chunk_weights) {
            weights[row as usize] = weight;
        }
    }
    Ok(weights)
}

/// Warns when the last epoch's loss is above the first one's, the usual sign
/// of a learning rate too large for the features.
fn warn_if_loss_rose(epoch_losses: &[f64]) {
    if let (Some(first), Some(last)) = (epoch_losses.first(), epoch_losses.last())
        && last > first
    {
        tracing::warn!(
            "train: the training loss rose from {first:.4} in the first epoch to {last:.4} in the \
             last; lower `train.lr`"
        );
    }
}

/// Rejects weights that are all zero, which would train nothing.
fn require_some_weight(context: &StageContext<'_>, weights: &[f32]) -> Result<(), StageError> {
    if weights.iter().any(|&weight| weight > 0.0) {
        return Ok(());
    }
    let reweight = context.object(Stage::Reweight)?;
    Err(context.invalid_input(format!(
        "every training weight is 0 (the meta-net in reweight object {} collapsed); set \
         `train.broadcast = \"constant\"` or raise `reweight.steps`",
        reweight.path().display()
    )))
}

/// Rows `rows` of `features` `[N, D]` as a new tensor `[rows, D]`.
fn select_rows(
    features: &candle_core::Tensor,
    rows: &[u32],
) -> Result<candle_core::Tensor, StageError> {
    let index = candle_core::Tensor::new(rows, features.device())
        .and_then(|index| features.index_select(&index, 0))
        .map_err(|error| StageError::algorithm(Stage::Train, error))?;
    Ok(index)
}
