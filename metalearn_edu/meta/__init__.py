"""Meta-learning from scratch: one inner loop, MAML/FOMAML, Reptile, baselines and evaluation.

Parameters are plain ``dict[str, Tensor]`` passed to `torch.func.functional_call`;
the model is never mutated except by an outer (optimiser or Reptile) step.

* `inner_loop`: `adapt` (the trajectory [θ, φ₁, …, φ_K] every algorithm uses),
  `select_params`, loss functions (`functional_loss`, `TextClassifierLoss`).
* `maml`: `maml_step`, `meta_train` (MAML and first-order MAML).
* `reptile`: `reptile_step`, `reptile_train`.
* `baselines`: `finetune`, `multitask_pretrain`, `ProtoNet`.
* `evaluation`: `evaluate_adaptation` (adaptation curves with 95% CIs).
* `text`: the held-out text task suites, the test protocol (`evaluate_text_adaptation`)
  and the bag-of-words baseline.
* `objective`: `SMLMTObjective`, the meta-loss term of hybrid MLM + SMLMT pretraining.
* `line_tasks`: chapter 4's two-dimensional tasks, with the closed-form points where joint
  training, Reptile and MAML converge.
"""

from .baselines import ProtoNet, evaluate_protonet, finetune, multitask_pretrain, protonet_train, squared_distances
from .evaluation import AdaptationCurve, evaluate_adaptation
from .inner_loop import (
    EPISODE_HEAD_NAMES,
    ClassificationLoss,
    FunctionalLoss,
    InnerLoopDivergedError,
    RegressionLoss,
    TextClassifierLoss,
    Trajectory,
    adapt,
    functional_loss,
    learnable_inner_lrs,
    pool_features,
    prototypes,
    select_params,
)
from .maml import MetaHistory, maml_step, meta_train, sinusoid_mlp
from .objective import SMLMTObjective
from .reptile import reptile_step, reptile_train

__all__ = [
    "EPISODE_HEAD_NAMES", "AdaptationCurve", "ClassificationLoss", "FunctionalLoss", "InnerLoopDivergedError",
    "MetaHistory", "ProtoNet", "RegressionLoss", "SMLMTObjective", "TextClassifierLoss", "Trajectory", "adapt",
    "evaluate_adaptation", "evaluate_protonet", "finetune", "functional_loss", "learnable_inner_lrs",
    "maml_step", "meta_train", "multitask_pretrain", "pool_features", "protonet_train", "prototypes",
    "reptile_step", "reptile_train", "select_params", "sinusoid_mlp", "squared_distances",
]
