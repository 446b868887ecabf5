"""The plain networks: shapes, normalization switches, initialisation schemes, the char-RNN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lit_modules.nets import CharEnsemble, CharRNN, LeNet, SmallCNN, initialize
from lit_modules.nets.char_rnn import NgramConv
from lit_modules.nets.init import InitScheme
from lit_modules.nets.ngram_bag import NgramBag, hashed_ngrams
from lit_modules.nets.norm import norm1d, norm2d


@pytest.mark.parametrize("norm", ["batch", "layer", "instance", "group", "none"])
def test_image_nets_output_logits_for_every_norm(norm: str) -> None:
    x = torch.randn(2, 3, 32, 32)
    assert LeNet(5, norm=norm, dropout=0.5)(x).shape == (2, 5)
    assert SmallCNN(3, widths=(8, 16), norm=norm)(x).shape == (2, 3)


def test_lenet_with_batchnorm_has_norm_layers_and_takes_other_sizes() -> None:
    net = LeNet(2, norm="batch")
    assert sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules()) == 4
    assert net(torch.randn(2, 3, 48, 48)).shape == (2, 2)


def test_char_ensemble_averages_its_members_probabilities() -> None:
    torch.manual_seed(0)
    net = CharEnsemble(vocab_size=6, num_classes=3, ngram_bag_dim=8, hidden_size=8, embedding_dim=4).eval()
    tokens, lengths = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2])
    rnn, bag = net.member_logits(tokens, lengths)
    expected = (rnn.softmax(-1) + bag.softmax(-1)) / 2
    torch.testing.assert_close(net(tokens, lengths).softmax(-1), expected)
    alone = CharEnsemble(vocab_size=6, num_classes=3, hidden_size=8).eval()
    assert alone.bag is None and torch.equal(alone(tokens, lengths), alone.rnn(tokens, lengths))


def test_unknown_norm_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown normalization 'batchy'"):
        norm2d("batchy", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown normalization"):
        norm1d("x", 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "scheme",
    ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal", "uniform", "constant",
     "orthogonal", "course"],
)  # fmt: skip
def test_init_schemes_rewrite_weights_and_zero_biases(scheme: InitScheme) -> None:
    torch.manual_seed(0)
    net = LeNet(2)
    before = net.features[0].weight.clone()
    initialize(net, scheme)
    assert not torch.equal(before, net.features[0].weight)
    assert all(m.bias.abs().sum() == 0 for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    if scheme == "constant":
        assert torch.all(net.classifier[-1].weight == 0.01)
    with pytest.raises(ValueError, match="Unknown init scheme"):
        initialize(net, "zeros")  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("embedding_dim", [None, 8])
@pytest.mark.parametrize("conv_channels", [0, 5])
def test_char_rnn_ignores_padding(cell: str, embedding_dim: int | None, conv_channels: int) -> None:
    torch.manual_seed(0)
    net = CharRNN(
        10,
        4,
        cell=cell,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        embedding_dim=embedding_dim,
        conv_channels=conv_channels,
    )
    net.eval()
    tokens = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    lengths = torch.tensor([3, 2])
    longer = torch.cat([tokens, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    assert net(tokens, lengths).shape == (2, 4)
    assert torch.allclose(net(tokens, lengths), net(longer, lengths), atol=1e-6)


@pytest.mark.parametrize("embedding_dim", [None, 8])
def test_ngram_conv_pools_each_width_over_the_letters_only(embedding_dim: int | None) -> None:
    torch.manual_seed(0)
    branch = NgramConv(10, embedding_dim, channels=3, widths=(2, 3))
    with torch.no_grad():
        for conv in branch.convs:
            conv.bias.fill_(5.0)  # padding positions would win every max if they were not masked
    tokens = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    features = branch(tokens)
    assert features.shape == (2, branch.out_features) == (2, 6)
    assert torch.allclose(features[1], branch(tokens[1:, :1])[0])
    assert torch.allclose(features[0], branch(tokens[:1, :3])[0])


def test_hashed_ngrams_mark_the_ends_and_skip_the_padding() -> None:
    tokens = torch.tensor([[1, 2, 3], [2, 3, 0]])  # "abc" and "bc" over the letters 1-3 (vocab_size 4)
    ids = hashed_ngrams(tokens, torch.tensor([3, 2]), vocab_size=4, max_n=2, buckets=1000)
    unigrams, bigrams = ids[:, :5], ids[:, 5:]  # 3 letters + 2 markers; then 4 windows of two
    marker = unigrams[0, 0]
    assert unigrams[0].tolist() == [marker, *unigrams[0, 1:4].tolist(), marker]
    assert unigrams[1].tolist() == [marker, unigrams[0, 2], unigrams[0, 3], marker, 1000]
    assert bigrams[1, 1] == bigrams[0, 2]  # "bc" inside "abc" and in "bc" alike
    assert bigrams[1, 2] == bigrams[0, 3]  # "c>" ends both names
    assert bigrams[1, 3] == 1000  # the window "> pad" is not an n-gram
    assert len(set(unigrams[0].tolist())) == 4


def test_ngram_bag_ignores_padding() -> None:
    torch.manual_seed(0)
    bag = NgramBag(vocab_size=10, num_classes=3, embedding_dim=4, max_n=3, buckets=50).eval()
    tokens = torch.tensor([[3, 4, 5, 0], [1, 2, 0, 0]])
    lengths = torch.tensor([3, 2])
    longer = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    assert bag(tokens, lengths).shape == (2, 3)
    torch.testing.assert_close(bag(tokens, lengths), bag(longer, lengths))
    torch.testing.assert_close(bag(tokens, lengths)[1], bag(tokens[1:, :2], lengths[1:])[0])
