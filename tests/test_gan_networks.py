"""The generator networks and their ops: StyleGAN2's ops against their definitions, the
quantiser, and the published key layouts the loaders must match."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pixengine_plugins.gan import ops, stylegan2, vqgan


def upfirdn2d_by_definition(x, kernel, up, down, pad):
    """Zero-insert, pad, true convolution per channel, decimate: written the slow, obvious way."""
    b, c, h, w = x.shape
    up_x = torch.zeros(b, c, h * up, w * up)
    up_x[:, :, ::up, ::up] = x
    p0, p1 = pad
    padded = F.pad(up_x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        padded = padded[:, :, max(-p0, 0) : padded.shape[2] - max(-p1, 0), max(-p0, 0) : padded.shape[3] - max(-p1, 0)]
    kh, kw = kernel.shape
    out_h, out_w = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    out = torch.zeros(b, c, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i : i + kh, j : j + kw]
            out[:, :, i, j] = (window * torch.flip(kernel, (0, 1))).sum((-1, -2))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (2, 2)), (2, 1, (1, 1)), (1, 1, (-1, 0))])
def test_upfirdn2d_matches_its_definition(up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6)
    kernel = torch.rand(4, 3)  # asymmetric, so a missing flip would show
    expected = upfirdn2d_by_definition(x, kernel, up, down, pad)
    got = ops.upfirdn2d(x, kernel, up=up, down=down, pad=pad)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)


def test_blur_upsample_doubles_size_and_keeps_a_constant_image():
    up = stylegan2.Upsample()
    x = torch.full((1, 2, 6, 6), 0.7)
    y = up(x)
    assert y.shape == (1, 2, 12, 12)
    # Away from the zero-padded border a constant stays constant: the kernel's gain of 4
    # compensates the inserted zeros.
    assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 0.7), atol=1e-6)


def test_fused_leaky_relu():
    x = torch.tensor([[-1.0, 2.0]]).view(1, 2, 1, 1)
    bias = torch.tensor([0.5, -1.0])
    y = ops.fused_leaky_relu(x, bias)
    assert torch.allclose(y.flatten(), torch.tensor([-0.5 * 0.2, 1.0]) * math.sqrt(2))


def modulated_conv_by_definition(conv: stylegan2.ModulatedConv2d, x, style):
    """StyleGAN2's modulated convolution with an explicit weight per sample (the paper's
    equations 1-3), one sample at a time."""
    outs = []
    for b in range(x.shape[0]):
        s = conv.modulation(style[b : b + 1])[0]  # (in,)
        w = conv.weight[0] * conv.scale * s.view(1, -1, 1, 1)  # (out, in, k, k)
        if conv.demodulate:
            w = w / torch.sqrt(w.pow(2).sum((1, 2, 3), keepdim=True) + 1e-8)
        xb = x[b : b + 1]
        if conv.upsample:
            out = conv.blur(F.conv_transpose2d(xb, w.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(xb, w, padding=conv.padding)
        outs.append(out)
    return torch.cat(outs)


@pytest.mark.parametrize("upsample,demodulate,kernel", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_modulated_conv_equals_per_sample_weights(upsample, demodulate, kernel):
    torch.manual_seed(0)
    conv = stylegan2.ModulatedConv2d(4, 5, kernel, style_dim=6, demodulate=demodulate, upsample=upsample)
    x, style = torch.randn(3, 4, 6, 6), torch.randn(3, 6)
    got = conv(x, style)
    assert got.shape == (3, 5, 12 if upsample else 6, 12 if upsample else 6)
    assert torch.allclose(got, modulated_conv_by_definition(conv, x, style), atol=1e-5)


def test_clamp_with_grad_passes_gradients_that_move_values_back_into_range():
    x = torch.tensor([-0.5, 0.5, 1.5], requires_grad=True)
    y = ops.clamp_with_grad(x, 0.0, 1.0)
    assert torch.equal(y, torch.tensor([0.0, 0.5, 1.0]))
    # Loss gradient +1 everywhere: descent lowers x. Allowed where that does not push further
    # out (the in-range and the above-range values), blocked below the range.
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0]))


def test_fit_to_crops_a_cell_margin_and_covers_otherwise():
    image = torch.rand(1, 3, 36, 40)
    cropped = ops.fit_to(image, 38, 33, crop_margin=3)
    assert torch.equal(cropped, image[..., 1:34, 1:39])
    covered = ops.fit_to(torch.rand(1, 3, 16, 16), 24, 12)
    assert covered.shape == (1, 3, 12, 24)


# -- VQGAN ------------------------------------------------------------------------------------


def test_quantizer_picks_the_nearest_code_with_a_straight_through_gradient():
    torch.manual_seed(0)
    q = vqgan.VectorQuantizer(10, 4)
    z = torch.randn(2, 4, 3, 5, requires_grad=True)
    snapped = q(z)
    codes = q.embedding.weight
    flat = z.detach().movedim(1, -1).reshape(-1, 4)
    nearest = torch.cdist(flat, codes).argmin(1)
    assert torch.equal(q.indices(z).flatten(), nearest)
    assert torch.allclose(snapped.detach().movedim(1, -1).reshape(-1, 4), codes[nearest].detach())
    weights = torch.randn_like(z)
    (snapped * weights).sum().backward()
    assert torch.allclose(z.grad, weights)  # identity gradient: straight through


def test_vqgan_decoder_and_encoder_shapes():
    cfg = vqgan.VQGANConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), z_channels=4, embed_dim=3, n_embed=8)
    net = vqgan.VQGAN(cfg).eval()
    with torch.no_grad():
        z = net.encode(torch.rand(1, 3, 16, 24) * 2 - 1)
        assert z.shape == (1, 3, 8, 12)
        assert net.decode(z).shape == (1, 3, 16, 24)


# Facts of the published checkpoints' layouts, read from the public reference code
# (taming-transformers' Encoder/Decoder with the ImageNet f16 config; rosinality's Generator
# with size 1024, style_dim 512, n_mlp 8, channel_multiplier 2). Built on the meta device.

PUBLISHED_VQGAN_SHAPES = {
    "encoder.conv_in.weight": (128, 3, 3, 3),
    "encoder.down.2.block.0.nin_shortcut.weight": (256, 128, 1, 1),
    "encoder.down.3.downsample.conv.weight": (256, 256, 3, 3),
    "encoder.down.4.attn.1.proj_out.weight": (512, 512, 1, 1),
    "encoder.conv_out.weight": (256, 512, 3, 3),
    "decoder.conv_in.weight": (512, 256, 3, 3),
    "decoder.up.4.attn.2.q.weight": (512, 512, 1, 1),
    "decoder.up.3.block.0.nin_shortcut.weight": (256, 512, 1, 1),
    "decoder.up.1.upsample.conv.weight": (128, 128, 3, 3),
    "decoder.conv_out.weight": (3, 128, 3, 3),
    "quant_conv.weight": (256, 256, 1, 1),
    "post_quant_conv.weight": (256, 256, 1, 1),
    "quantize.embedding.weight": (16384, 256),
}

PUBLISHED_STYLEGAN2_SHAPES = {
    "style.8.weight": (512, 512),
    "input.input": (1, 512, 4, 4),
    "conv1.conv.weight": (1, 512, 512, 3, 3),
    "conv1.activate.bias": (512,),
    "to_rgb1.bias": (1, 3, 1, 1),
    "convs.0.conv.blur.kernel": (4, 4),
    "convs.0.conv.modulation.weight": (512, 512),
    "convs.8.conv.weight": (1, 256, 512, 3, 3),
    "convs.15.conv.weight": (1, 32, 32, 3, 3),
    "to_rgbs.7.conv.weight": (1, 3, 32, 1, 1),
    "to_rgbs.0.upsample.kernel": (4, 4),
    "noises.noise_0": (1, 1, 4, 4),
    "noises.noise_16": (1, 1, 1024, 1024),
}


def test_published_vqgan_layout():
    cfg = vqgan.VQGANConfig.from_taming(ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16],
                                        resolution=256, z_channels=256, embed_dim=256, n_embed=16384)
    assert cfg == vqgan.VQGANConfig() and cfg.factor == 16
    with torch.device("meta"):
        state = vqgan.VQGAN(cfg).state_dict()
    assert len([k for k in state if k.startswith(("encoder.", "decoder."))]) == 338
    for key, shape in PUBLISHED_VQGAN_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert {k.split(".attn.")[0] for k in state if ".attn." in k} == {"encoder.down.4", "decoder.up.4"}
    assert vqgan.config_from_state_dict(state) == cfg


def test_published_stylegan2_channels_at_every_resolution():
    assert stylegan2.published_channels(1024) == (512, 512, 512, 512, 512, 256, 128, 64, 32)
    assert stylegan2.published_channels(256, channel_multiplier=1) == (512, 512, 512, 512, 256, 128, 64)
    assert stylegan2.published_channels(1024, channel_multiplier=1)[-3:] == (64, 32, 16)


def test_published_stylegan2_layout():
    cfg = stylegan2.StyleGAN2Config()
    assert cfg.n_latent == 18 and cfg.num_layers == 17
    with torch.device("meta"):
        state = stylegan2.Generator(cfg).state_dict()
    assert len(state) == 171
    for key, shape in PUBLISHED_STYLEGAN2_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert stylegan2.config_from_state_dict(state) == cfg


def test_stylegan2_mapping_and_synthesis_shapes():
    cfg = stylegan2.StyleGAN2Config(size=16, style_dim=8, n_mlp=2, channels=(8, 8, 4))
    torch.manual_seed(0)
    net = stylegan2.Generator(cfg).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    w = net.mapping(torch.randn(2, 8))
    assert w.shape == (2, 8)
    image = net.synthesis(w[:, None].expand(-1, cfg.n_latent, -1))
    assert image.shape == (2, 3, 16, 16)
    # W and the same W repeated for every layer are the same image; fixed noise repeats.
    assert torch.allclose(net.synthesis(w), image)
    assert not torch.allclose(net.synthesis(w, noise="random"), net.synthesis(w, noise="random"))


def test_noise_injection_adds_the_noise_scaled_by_its_learned_weight():
    inject = stylegan2.NoiseInjection()
    x, noise = torch.rand(1, 2, 3, 3), torch.randn(1, 1, 3, 3)
    assert torch.equal(inject(x, noise), x)  # a fresh layer adds nothing (weight 0, as published)
    with torch.no_grad():
        inject.weight.fill_(0.5)
    assert torch.allclose(inject(x, noise), x + 0.5 * noise)


def test_a_latent_mixture_is_the_softmax_weighted_sum_of_its_rows():
    from pixengine_plugins.gan.latents import LatentBank

    basis = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # column 0: half each; column 1: 3/4 and 1/4
    mixed = LatentBank(basis, logits)()
    assert torch.allclose(mixed, torch.tensor([[2.0, 0.75 * 2.0 + 0.25 * -4.0]]))
    assert torch.equal(LatentBank(basis[:1])(), basis[:1])
