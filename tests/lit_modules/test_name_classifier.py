"""NameClassifier: post-hoc logit adjustment (outside training only) and the two-member ensemble."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lit_modules import NameClassifier
from lit_modules.nets import CharEnsemble, CharRNN


def classifier(ngram_bag_dim: int = 0, **kwargs) -> NameClassifier:
    torch.manual_seed(0)
    net = CharEnsemble(vocab_size=5, num_classes=2, ngram_bag_dim=ngram_bag_dim, hidden_size=4)
    return NameClassifier(net=net, class_names=["common", "rare"], **kwargs)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([[1, 2, 3], [4, 1, 0]]), torch.tensor([3, 2])


def test_logit_adjustment_adds_the_scaled_log_prior_ratio_outside_training_only() -> None:
    plain, adjusted = classifier(), classifier(class_counts=[90, 10], logit_adjustment=0.5)
    adjusted.load_state_dict(plain.state_dict())
    for model in (plain, adjusted):
        model.train()
    torch.testing.assert_close(adjusted(batch()), plain(batch()))
    for model in (plain, adjusted):
        model.eval()
    shift = adjusted(batch()) - plain(batch())
    # Only the difference between classes decides: the rare class gains 0.5 * log(90 / 10).
    torch.testing.assert_close(shift[:, 1] - shift[:, 0], torch.full((2,), 0.5 * math.log(9)))


def test_full_adjustment_turns_a_tie_weighted_by_the_prior_into_the_rare_class() -> None:
    model = classifier(class_counts=[90, 10], logit_adjustment=1.0).eval()
    with torch.no_grad():
        model.net.rnn.head.weight.zero_()
        model.net.rnn.head.bias.copy_(torch.tensor([math.log(8.0), 0.0]))  # common is 8x as likely ...
        assert model(batch()).argmax(1).tolist() == [1, 1]  # ... but rare by more than 9x: rare wins
        model.logit_offsets.zero_()
        assert model(batch()).argmax(1).tolist() == [0, 0]


def test_logit_adjustment_without_class_counts_names_the_link() -> None:
    with pytest.raises(ValueError, match="logit_adjustment needs class_counts"):
        classifier(logit_adjustment=0.5)


def test_ensemble_predicts_the_mean_of_its_members_probabilities() -> None:
    model = classifier(ngram_bag_dim=6).eval()
    rnn, bag = model.member_logits(batch())
    mean = (rnn.softmax(dim=1) + bag.softmax(dim=1)) / 2
    torch.testing.assert_close(model(batch()).softmax(dim=1), mean)
    assert not torch.allclose(rnn.softmax(dim=1), mean)  # the bag does change the prediction


def test_each_member_trains_on_its_own_loss() -> None:
    model = classifier(ngram_bag_dim=6).train()
    targets = torch.tensor([0, 1])
    _, loss = model.logits_and_loss(batch(), targets)
    rnn, bag = model.member_logits(batch())
    # Not the loss of the averaged prediction, which would let one member lean on the other.
    torch.testing.assert_close(loss, (F.cross_entropy(rnn, targets) + F.cross_entropy(bag, targets)) / 2)
    loss.backward()
    assert model.net.rnn.head.weight.grad.abs().sum() > 0
    assert model.net.bag.head.weight.grad.abs().sum() > 0


def test_without_the_bag_the_rnn_alone_decides() -> None:
    model = classifier().eval()
    assert model.net.bag is None
    torch.testing.assert_close(model(batch()), model.net.rnn(*batch()))


def test_a_plain_rnn_is_a_one_member_network() -> None:
    torch.manual_seed(0)
    model = NameClassifier(net=CharRNN(vocab_size=5, num_classes=2, hidden_size=4), class_names=["a", "b"])
    (logits,) = model.member_logits(batch())
    torch.testing.assert_close(model.logits_and_loss(batch(), torch.tensor([0, 1]))[0], logits)
