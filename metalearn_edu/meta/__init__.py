"""Meta-learning from scratch: one inner loop, MAML/FOMAML, Reptile, baselines and evaluation.

Parameters are plain ``dict[str, Tensor]`` passed to `torch.func.functional_call`;
the model is never mutated except by an outer (optimiser or Reptile) step.

* `inner_loop`: `adapt` (the trajectory [θ, φ₁, …, φ_K] every algorithm uses), the divergence
  rule, inner learning rates (`learnable_inner_lrs`, Meta-SGD) and `select_params`.
* `losses`: the loss functions the inner loop takes (`functional_loss`, `TextClassifierLoss`),
  and the one text feature path (`EncoderFeatures`) shared with ProtoNet.
* `outer_loop`: `run_outer_loop`, `MetaHistory`: steps, budgets, progress bars, histories.
* `maml`: `maml_step`, `meta_train` (MAML and first-order MAML).
* `reptile`: `reptile_step`, `reptile_train`.
* `baselines`: `finetune`, `multitask_pretrain`, `ProtoNet`.
* `evaluation`: `evaluate_adaptation` (adaptation curves with 95% CIs).
* `sinusoid`: Finn et al.'s sine regressor and the file format of the shipped networks.
* `text`: the held-out text task suites, the test protocol (`evaluate_text_adaptation`)
  and the bag-of-words baseline.
* `objective`: `SMLMTObjective`, the meta-loss term of hybrid MLM + SMLMT pretraining.
* `in_context`: black-box meta-learners (a set encoder over `model.py`'s blocks reads the support
  set and predicts the query) and the induction-head tools of chapter 9.
* `line_tasks`: chapter 4's two-dimensional tasks, with the closed-form points where joint
  training, Reptile and MAML converge.
"""

from .baselines import ProtoNet, finetune, multitask_pretrain, protonet_train
from .evaluation import AdaptationCurve, evaluate_adaptation
from .inner_loop import InnerLoopDivergedError, Trajectory, adapt, has_diverged, learnable_inner_lrs, select_params
from .losses import (
    EPISODE_HEAD_NAMES,
    ClassificationLoss,
    EncoderFeatures,
    FunctionalLoss,
    RegressionLoss,
    TextClassifierLoss,
    functional_loss,
    pool_features,
    prototypes,
    squared_distances,
)
from .maml import maml_step, meta_train
from .objective import SMLMTObjective
from .outer_loop import MetaHistory, run_outer_loop
from .reptile import reptile_step, reptile_train
from .sinusoid import load_sinusoid_models, save_sinusoid_model, sinusoid_mlp

__all__ = [
    "EPISODE_HEAD_NAMES", "AdaptationCurve", "ClassificationLoss", "EncoderFeatures", "FunctionalLoss",
    "InnerLoopDivergedError", "MetaHistory", "ProtoNet", "RegressionLoss", "SMLMTObjective", "TextClassifierLoss",
    "Trajectory", "adapt", "evaluate_adaptation", "finetune", "functional_loss", "has_diverged",
    "learnable_inner_lrs", "load_sinusoid_models", "maml_step", "meta_train", "multitask_pretrain", "pool_features",
    "protonet_train", "prototypes", "reptile_step", "reptile_train", "run_outer_loop", "save_sinusoid_model",
    "select_params", "sinusoid_mlp", "squared_distances",
]
