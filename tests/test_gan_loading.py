"""Generator models load tiny checkpoints saved in the published layouts through the real
loaders, and reject wrong files with clear errors."""

from __future__ import annotations

import argparse
import pickle

import pytest
import torch

import pixengine
from pixengine_plugins.gan.checkpoints import read_checkpoint
from pixengine_plugins.gan.models import StyleGAN2Model, StyleGAN2Options, VQGANModel, VQGANOptions

from gan_fixtures import TINY_STYLEGAN2, TINY_VQGAN, make_ctx, save_stylegan2_checkpoint, save_vqgan_checkpoint, tiny_stylegan2, tiny_vqgan


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test looks at the user's cache or tries the network."""
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")


def load_vqgan(path) -> VQGANModel:
    return VQGANModel(VQGANOptions(path=str(path)), make_ctx())


def load_stylegan2(path) -> StyleGAN2Model:
    return StyleGAN2Model(StyleGAN2Options(path=str(path)), make_ctx())


def test_vqgan_lightning_checkpoint_round_trip(tmp_path):
    net = tiny_vqgan(seed=3)
    path = save_vqgan_checkpoint(tmp_path / "last.ckpt", net)
    with pytest.raises(pickle.UnpicklingError, match="ModelCheckpoint"):  # what the loader works around
        torch.load(path, weights_only=True)
    model = load_vqgan(path)
    assert model.config == TINY_VQGAN
    assert model.factor == 4
    assert not any(p.requires_grad for p in model.parameters())
    z = torch.randn(1, TINY_VQGAN.embed_dim, 3, 5)
    with torch.no_grad():
        assert torch.equal(model.decode(z), net.decode(z))
        image = torch.rand(1, 3, 12, 20)
        assert torch.equal(model.encode(image), net.encode(image * 2 - 1))
    assert torch.equal(model.codebook, net.quantize.embedding.weight)


def test_vqgan_plain_state_dict_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    net = tiny_vqgan(seed=4)
    torch.save(net.state_dict(), tmp_path / "vqgan.pt")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "vqgan.safetensors"))
    z = torch.randn(1, TINY_VQGAN.embed_dim, 2, 2)
    for name in ("vqgan.pt", "vqgan.safetensors"):
        with torch.no_grad():
            assert torch.equal(load_vqgan(tmp_path / name).decode(z), net.decode(z))


def test_stylegan2_converted_checkpoint_round_trip(tmp_path):
    net = tiny_stylegan2(seed=5)
    path = save_stylegan2_checkpoint(tmp_path / "g.pt", net)
    model = load_stylegan2(path)
    assert model.config == TINY_STYLEGAN2
    saved = torch.load(path, weights_only=True)["latent_avg"]
    assert torch.equal(model.latent_avg, saved.reshape(1, -1))
    w = model.mapping(torch.randn(2, TINY_STYLEGAN2.style_dim))
    with torch.no_grad():
        assert torch.equal(model.synthesis(w), net.synthesis(w))
        assert torch.equal(model.net.noises.noise_4, net.noises.noise_4)


def test_stylegan2_training_checkpoint_with_args_and_no_latent_avg(tmp_path):
    net = tiny_stylegan2(seed=6)
    path = save_stylegan2_checkpoint(tmp_path / "010000.pt", net, training=True)
    assert isinstance(read_checkpoint(path)["args"], argparse.Namespace)
    model = load_stylegan2(path)
    # The mean latent is computed from mapped samples: the same on every load.
    assert model.latent_avg.shape == (1, TINY_STYLEGAN2.style_dim)
    assert torch.equal(model.latent_avg, load_stylegan2(path).latent_avg)
    mapped = net.mapping(torch.randn(4096, TINY_STYLEGAN2.style_dim)).mean(0, keepdim=True)
    assert torch.allclose(model.latent_avg, mapped, atol=0.1)


def test_stylegan2_checkpoint_without_derived_buffers_loads(tmp_path):
    net = tiny_stylegan2()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("kernel")}
    model = load_stylegan2(save_stylegan2_checkpoint(tmp_path / "g.pt", net, state=state))
    assert torch.equal(model.net.convs[0].conv.blur.kernel, net.convs[0].conv.blur.kernel)


def test_missing_unexpected_and_mismatched_keys_are_listed(tmp_path):
    state = tiny_vqgan().state_dict()
    del state["decoder.mid.attn_1.q.bias"]
    state["decoder.extra.weight"] = torch.zeros(1)
    state["decoder.mid.block_1.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    path = save_vqgan_checkpoint(tmp_path / "bad.ckpt", state=state)
    with pytest.raises(pixengine.ConfigError) as info:
        load_vqgan(path)
    message = str(info.value)
    assert info.value.key == "path"
    assert "1 missing: decoder.mid.attn_1.q.bias" in message
    assert "1 unexpected: decoder.extra.weight" in message
    assert "1 mismatched: decoder.mid.block_1.conv1.weight (file (64, 64, 1, 1), network (64, 64, 3, 3))" in message
    assert "loss." not in message  # the training loss's keys are ignored, not reported


def test_many_missing_keys_are_counted_not_all_listed(tmp_path):
    state = {k: v for k, v in tiny_stylegan2().state_dict().items() if not k.startswith(("convs.1.", "to_rgbs.0."))}
    with pytest.raises(pixengine.ConfigError, match=r"9 missing: convs\.1\.\S+, .* and 4 more"):
        load_stylegan2(save_stylegan2_checkpoint(tmp_path / "g.pt", state=state))


def test_a_file_of_another_architecture_is_named_as_such(tmp_path):
    torch.save({"g_ema": tiny_stylegan2().state_dict()}, tmp_path / "stylegan.ckpt")
    with pytest.raises(pixengine.ConfigError, match="not a taming-transformers VQGAN checkpoint: it has no 'encoder.conv_in.weight'"):
        load_vqgan(tmp_path / "stylegan.ckpt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(pixengine.ConfigError, match="has no 'g_ema' generator"):
        load_stylegan2(tmp_path / "other.pt")


def test_a_pickle_needing_unknown_code_is_refused_with_advice(tmp_path):
    torch.save({"state_dict": {}, "hparams": argparse.ArgumentParser}, tmp_path / "odd.ckpt")
    with pytest.raises(pixengine.ConfigError) as info:
        load_vqgan(tmp_path / "odd.ckpt")
    assert "argparse.ArgumentParser" in str(info.value)
    assert "weights_only=False" in str(info.value)  # the conversion recipe
    assert "which pixengine does not allow while loading (loading runs no code from the file)" in str(info.value)
    assert info.value.key == "path"  # blamed on the model's path option
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(pixengine.ConfigError, match="cannot read weights from") as info:
        load_vqgan(tmp_path / "broken.safetensors")
    assert info.value.key == "path"


def test_missing_weights_say_where_to_get_them(tmp_path):
    with pytest.raises(pixengine.WeightsNotFoundError) as info:
        VQGANModel(VQGANOptions(), make_ctx())
    text = str(info.value)
    assert "vqgan_imagenet_f16_16384" in text and "heibox.uni-heidelberg.de" in text
    assert "PIXENGINE_OFFLINE" in text
    with pytest.raises(pixengine.WeightsNotFoundError, match="1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"):
        StyleGAN2Model(StyleGAN2Options(), make_ctx())
    with pytest.raises(pixengine.WeightsNotFoundError, match="no such file"):
        load_vqgan(tmp_path / "nope.ckpt")


def test_catalog_shows_cached_files_and_they_are_used(tmp_path):
    assert all(entry.local_path is None for entry in VQGANModel.catalog())
    cached = tmp_path / "cache" / "vqgan" / "vqgan_imagenet_f16_1024.ckpt"
    cached.parent.mkdir(parents=True)
    save_vqgan_checkpoint(cached)
    entries = {e.name: e for e in VQGANModel.catalog()}
    assert entries["vqgan_imagenet_f16_1024"].local_path == str(cached)
    assert entries["vqgan_imagenet_f16_16384"].local_path is None
    model = VQGANModel(VQGANOptions(checkpoint="vqgan_imagenet_f16_1024"), make_ctx())
    assert model.path == cached
    with pytest.raises(pixengine.PixengineError, match="Google Drive"):
        StyleGAN2Model.fetch("stylegan2-ffhq-config-f")


def test_models_list_cli_shows_the_generators(tmp_path, capsys):
    from pixengine.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "vqgan_imagenet_f16_16384" in out and "stylegan2-ffhq-config-f" in out
