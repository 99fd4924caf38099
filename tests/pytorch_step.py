"""Checks libgan's GAN step against PyTorch's: loads the initial checkpoint
that trainer_reference wrote into the same models (load_state_dict,
strict=True), runs the PyTorch DCGAN tutorial's training step on the same
batches and noise, and compares every step's losses, D(x) and D(G(z)), and
after steps 1 and 3 every tensor of the checkpoints: weights, batch-norm
running statistics and counters, and both Adam states. Exits 77 (ctest's
skip) without torch.

usage: python3 pytorch_step.py DIR MODEL BATCH"""
import os
import sys

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError:
    print("pytorch_step: torch is not installed (Debian: python3-torch); skipped")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "apps"))
sys.path.insert(0, here)
from pytorch_load import read_safetensors  # noqa: E402
from pytorch_models import models  # noqa: E402

# "Float tolerance", measured rather than guessed: PyTorch runs the steps
# twice, in float32 and in float64. libgan (float32) passes where it is at
# most FLOAT_FACTOR times as far from the float64 result as PyTorch's own
# float32 run is, plus a small floor: ATOL + RTOL |want| for the statistics
# (or the model's NORM_FLOOR where higher), NORM_FLOOR relative to the norm for tensors (for running
# means, relative to the running standard deviations: a mean near zero is a
# sum with much cancellation). Norms, since a rounding difference can flip a
# LeakyReLU input in D and move single gradient elements by their full
# size. dcgan64's floor is higher for the CPU backend's
# Winograd convolutions, which round about 1e-5 relative per product: D's
# first gradients, sums with much cancellation, then differ from float64 by
# up to 1e-3 (PyTorch's direct ones by 2e-6).
#
# Such flips are not smooth: at init, dcgan64's D sees some LeakyReLU
# inputs within 2.5e-6 of their spread from zero, and which side of the kink
# a float32 run lands on decides G's whole gradient to about 1% (and, through
# Adam's first step, the sign of the smallest entries' updates). Whether
# PyTorch's own float32 run flips them depends on its kernels, so it cannot
# set that tolerance. Instead, float64 also runs with G's output multiplied
# by (1 + PERTURB n), n standard normal, for PERTURBED_RUNS seeds: rounding
# of a float32 generator's size, moving those inputs to either side. libgan
# must match one of these float64 runs, plain or perturbed, within the
# tolerance above (measured against the plain run), at every step.
PERTURB = 1e-6
PERTURBED_RUNS = 3
FLOAT_FACTOR = 3.0
ATOL, RTOL = 2e-5, 2e-4
NORM_FLOOR = {"gan": 1e-4, "dcgan": 1e-4, "dcgan64": 3e-3}
LR = 2e-4
STEPS = (1, 2, 3)
SAVED = (1, 3)


def load_raw(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape))


def train(folder, name, batch, dtype, perturb_seed=None):
    """The PyTorch DCGAN tutorial's steps from libgan's initial checkpoint;
    returns each step's statistics, the checkpoint-named tensors after the
    SAVED steps (as float64), and the models. With perturb_seed, G's output
    is perturbed as PERTURB says."""
    torch.manual_seed(0)
    noise = torch.Generator().manual_seed(perturb_seed) if perturb_seed is not None else None
    g, d, z_shape = models(name)
    _, start = read_safetensors(os.path.join(folder, "step0.safetensors"))
    for prefix, net in (("generator.", g), ("discriminator.", d)):
        net.load_state_dict({k[len(prefix):]: v for k, v in start.items() if k.startswith(prefix)}, strict=True)
    g.to(dtype).train()
    d.to(dtype).train()
    # the tutorial's recipe: BCE on D's logits, Adam (2e-4, (0.5, 0.999)) for each network
    criterion = nn.BCEWithLogitsLoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=LR, betas=(0.5, 0.999), eps=1e-8)
    opt_d = torch.optim.Adam(d.parameters(), lr=LR, betas=(0.5, 0.999), eps=1e-8)
    size = 64 if name == "dcgan64" else 28
    stats, states = [], {}
    for step in STEPS:
        real = load_raw(os.path.join(folder, f"real_{step}.f32"), (batch, 1, size, size)).to(dtype)
        z = load_raw(os.path.join(folder, f"z_{step}.f32"), (batch,) + z_shape).to(dtype)
        ones, zeros = torch.ones(batch, dtype=dtype), torch.zeros(batch, dtype=dtype)
        d.zero_grad()
        out = d(real).view(-1)
        err_real = criterion(out, ones)
        err_real.backward()
        d_x = torch.sigmoid(out).mean().item()
        fake = g(z)
        if noise is not None:
            fake = fake * (1 + PERTURB * torch.randn(fake.shape, generator=noise, dtype=dtype))
        out = d(fake.detach()).view(-1)
        err_fake = criterion(out, zeros)
        err_fake.backward()
        d_g_z1 = torch.sigmoid(out).mean().item()
        opt_d.step()
        g.zero_grad()
        out = d(fake).view(-1)
        err_g = criterion(out, ones)
        err_g.backward()
        d_g_z2 = torch.sigmoid(out).mean().item()
        opt_g.step()
        stats.append([(err_real + err_fake).item(), err_g.item(), d_x, d_g_z1, d_g_z2])
        if step in SAVED:
            states[step] = named_state(g, d, opt_g, opt_d)
    return stats, states, g, d


def named_state(g, d, opt_g, opt_d):
    """PyTorch's tensors under the names of libgan's checkpoint, as float64."""
    want = {}
    for prefix, opt_prefix, net, opt in (("generator.", "optimizer_g.", g, opt_g),
                                         ("discriminator.", "optimizer_d.", d, opt_d)):
        for k, v in net.state_dict().items():
            want[prefix + k] = v.detach().clone().double() if v.is_floating_point() else v.clone()
        for k, p in net.named_parameters():
            state = opt.state[p]
            want[opt_prefix + k + ".exp_avg"] = state["exp_avg"].clone().double()
            want[opt_prefix + k + ".exp_avg_sq"] = state["exp_avg_sq"].clone().double()
            want[opt_prefix + "step"] = torch.tensor(int(state["step"]))
    return want


def degenerate_biases(net, prefix):
    """Biases of convolutions that a batch norm follows, and the running
    means of those batch norms. The batch norm takes the mean out, so the
    biases' true gradient is zero and every implementation's is rounding
    noise, which Adam scales up to a step of lr in either direction; the
    running means carry the biases."""
    biases, means, layers = set(), set(), list(net)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer.bias is not None and \
                isinstance(layers[i + 1], nn.BatchNorm2d):
            biases.add(f"{prefix}{i}.bias")
            means.add(f"{prefix}{i + 1}.running_mean")
    return biases, means


def main():
    folder, name, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(2)
    stats32, states32, g, d = train(folder, name, batch, torch.float32)
    stats64, states64, _, _ = train(folder, name, batch, torch.float64)
    noise, shifted = (a | b for a, b in zip(degenerate_biases(g, "generator."), degenerate_biases(d, "discriminator.")))
    with open(os.path.join(folder, "stats.txt")) as f:
        libgan = [[float(x) for x in line.split()] for line in f]
    results = []
    for seed in [None] + list(range(PERTURBED_RUNS)):
        if seed is None:
            label, stats, states = "float64", stats64, states64
        else:
            label = f"float64 with G(z) perturbed (seed {seed})"
            stats, states, _, _ = train(folder, name, batch, torch.float64, perturb_seed=seed)
        lines, failures = [], 0
        for step in STEPS:
            failures += compare_stats(name, step, libgan[step - 1], stats[step - 1], stats64[step - 1],
                                      stats32[step - 1], lines)
        for step in SAVED:
            failures += compare_checkpoint(folder, name, step, states32[step], states[step], states64[step],
                                           noise, shifted, lines)
        results.append((failures, label, lines))
        if not failures:
            break
    failures, label, lines = min(results, key=lambda r: r[0])
    print(f"pytorch_step: {name}: against PyTorch {label}")
    print("\n".join(lines))
    return failures


def compare_stats(name, step, got, want, plain, own, lines):
    """Losses, D(x) and D(G(z)) of one step against want; the tolerance is
    measured between own (float32) and plain (float64)."""
    rtol = max(RTOL, NORM_FLOOR[name])
    worst = max(abs(a - b) / (ATOL + rtol * abs(b) + FLOAT_FACTOR * abs(c - p))
                for a, b, c, p in zip(got, want, own, plain))
    lines.append(f"pytorch_step: {name} step {step}: loss_D libgan {got[0]:.6f}, PyTorch {own[0]:.6f} (float64 "
                 f"{want[0]:.6f}); loss_G {got[1]:.6f}, {own[1]:.6f} ({want[1]:.6f}); worst ratio to tolerance "
                 f"{worst:.2f}")
    if not worst <= 1:
        lines.append(f"pytorch_step: FAIL: {name} step {step}: statistics {got}, PyTorch float64 {want}")
        return 1
    return 0


def compare_checkpoint(folder, name, step, own, want, plain, noise, shifted, lines):
    """libgan's checkpoint after step against want; each tensor's tolerance
    is measured between own (float32) and plain (float64)."""
    meta, got = read_safetensors(os.path.join(folder, f"step{step}.safetensors"))
    if set(got) != set(want):
        lines.append(f"pytorch_step: FAIL: tensor names differ: {sorted(set(got) ^ set(want))}")
        return 1
    failures = 0
    if meta.get("global_step") != str(step):
        lines.append(f"pytorch_step: FAIL: global_step {meta.get('global_step')} after step {step}")
        failures += 1
    worst = {"tensors": 0.0, "noise": 0.0}
    for key, w in want.items():
        a = got[key].double() if got[key].is_floating_point() else got[key]
        if a.shape != w.shape:
            lines.append(f"pytorch_step: FAIL: {key} shape {tuple(a.shape)} against {tuple(w.shape)}")
            failures += 1
            continue
        module_key = key.replace("optimizer_g.", "generator.").replace("optimizer_d.", "discriminator.")
        module_key = module_key.rsplit(".exp_avg", 1)[0]
        if not w.is_floating_point():  # counters: step, num_batches_tracked
            kind, ratio = "tensors", 0.0 if torch.equal(a, w) else float("inf")
        elif module_key in noise and key.startswith("optimizer"):
            continue  # Adam's moments of rounding noise
        elif key in noise or key in shifted:
            # anywhere Adam's steps of at most lr each can take them apart
            kind, ratio = "noise", ((a - w).abs().max() / (ATOL + RTOL * w.abs().max() + 2 * LR * step)).item()
        else:
            scale = want[key[:-4] + "var"].sqrt().norm() if key.endswith("running_mean") else w.norm()
            allowed = NORM_FLOOR[name] * scale + FLOAT_FACTOR * (own[key] - plain[key]).norm()
            kind, ratio = "tensors", ((a - w).norm() / (allowed + 1e-30)).item()
        worst[kind] = max(worst[kind], ratio)
        if not ratio <= 1:
            lines.append(f"pytorch_step: FAIL: {name} step {step}: {key} differs (ratio to tolerance {ratio:.2f})")
            failures += 1
    lines.append(f"pytorch_step: {name} after step {step}: {len(want)} tensors; worst ratio to tolerance "
                 f"{worst['tensors']:.3f}, biases before batch norm {worst['noise']:.3f}")
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
