"""Meta-overfitting by memorisation (Yin et al. 2020, "Meta-learning without memorization").

BBC has five topics, so every 5-way BBC episode holds the same five classes. If each topic also
keeps the same label in every episode (*fixed labels*), the tasks are not mutually exclusive: one
classifier solves all of them, and a meta-learner whose head starts from meta-learned weights
(``head_init="learned"``, the head part of θ) can store that classifier in its starting weights
and ignore the support set. If the labels are shuffled per episode, nothing fixed can be stored:
the learner has to read each support set.

Two tests tell a memoriser from a learner, on held-out articles:

* **a new label order** (`relabel`): support and query relabelled by the same random
  permutation. A learner follows the support set; a memoriser answers in the old order;
* **another episode's support set** (`swap_support`): the query of one episode with the support
  set of another whose labels are in a different order. A learner follows the wrong support and
  falls towards chance; a memoriser, which never read it, does not care.

Shapes follow `metalearn_edu.episodes.Episode`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..episodes import Episode
from ..model import BertEncoder

LABELLINGS = ("fixed", "shuffled")


def fixed_labels(episode: Episode, classes: Sequence[str]) -> Episode:
    """The episode with every class labelled by its position in `classes` (the same in every episode).

    An episode's label k means ``episode.classes[k]``; here it becomes ``classes.index(that class)``.

    Raises:
        ValueError: if the episode holds a class not in `classes`, or not all of them (the labels
            must stay 0 … N − 1).

    Example:
        >>> ep = Episode(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(2, 3), torch.tensor([1, 0]),
        ...              classes=["tech", "sport"])
        >>> fixed_labels(ep, ["sport", "tech"]).support_y.tolist()
        [1, 0]
    """
    order = list(classes)
    if sorted(map(str, episode.classes)) != sorted(map(str, order)):
        raise ValueError(f"the episode's classes {list(episode.classes)} are not the classes {order}; "
                         "fixed labels need every episode to hold exactly these classes")
    return relabel(episode, torch.tensor([order.index(str(c)) for c in episode.classes]))


def relabel(episode: Episode, permutation: Tensor) -> Episode:
    """The episode with label k renamed ``permutation[k]`` in support and query alike.

    Shapes:
        permutation: (N,), a permutation of 0 … N − 1.
    """
    n = len(episode.classes)
    if sorted(permutation.tolist()) != list(range(n)):
        raise ValueError(f"permutation={permutation.tolist()} must be a permutation of 0..{n - 1}")
    classes = [None] * n
    for old, new in enumerate(permutation.tolist()):
        classes[new] = episode.classes[old]
    return Episode(episode.support_x, permutation[episode.support_y], episode.query_x, permutation[episode.query_y],
                   episode.support_mask, episode.query_mask, classes, dict(episode.info))


def random_relabel(episode: Episode, seed: int) -> Episode:
    """`relabel` by a random permutation drawn from `seed` that is not the identity."""
    g = torch.Generator().manual_seed(seed)
    n = len(episode.classes)
    while True:
        permutation = torch.randperm(n, generator=g)
        if not torch.equal(permutation, torch.arange(n)):
            return relabel(episode, permutation)


def swap_support(episode: Episode, donor: Episode) -> Episode:
    """`episode`'s query set with `donor`'s support set (texts and labels).

    Raises:
        ValueError: if the two episodes have a different number of classes.
    """
    if len(episode.classes) != len(donor.classes):
        raise ValueError(f"the donor has {len(donor.classes)} classes, the episode {len(episode.classes)}")
    return Episode(donor.support_x, donor.support_y, episode.query_x, episode.query_y, donor.support_mask,
                   episode.query_mask, list(donor.classes), {**episode.info, "support_from": donor.info})


def with_learned_head(model: BertEncoder, n_way: int) -> BertEncoder:
    """Register a zero-initialised N-way head ``model.head`` (its weights become part of θ).

    `TextClassifierLoss(model, head_init="learned")` then reads ``head.weight`` (N, D) and
    ``head.bias`` (N,) from θ instead of building a head per episode.
    """
    head = nn.Linear(model.cfg.d_model, n_way)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.head = head
    return model
