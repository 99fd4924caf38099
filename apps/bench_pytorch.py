"""Trains the apps' models in PyTorch and in libgan on the same machine, on
random data, one D step and one G step per batch as the PyTorch DCGAN
tutorial does, and prints images/s of both and their ratio. PyTorch runs at
1 and 2 threads (or --torch-threads); each side's best of two runs is taken.
The sides take turns, each PyTorch run in a process of its own, so that its
thread pools do not spin on the cores while libgan runs. With --mnist, it
also times the training program itself, train_mnist on MNIST, in its steady
state (the time of a long run minus that of a short one, so loading the data
and writing the checkpoint cancel out), and prints that against PyTorch and
against gan_bench's rate. With --avx2 PyTorch keeps to AVX2 (oneDNN's
ONEDNN_MAX_CPU_ISA, OpenBLAS's Haswell kernels): against a libgan built with
-DGAN_CC_HAS_AVX512F=OFF, both sides then have the FMA rate of two 256-bit
units a core, which is what a Zen 4 core has, AVX-512 or not.

usage: python3 apps/bench_pytorch.py [--bench build/apps/gan_bench] [--models gan,dcgan,dcgan64]
                                     [--mnist data/mnist [--train-mnist build/apps/train_mnist]] [--avx2]"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("bench_pytorch: PyTorch is not installed (Debian: apt-get install python3-torch)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_models import models, weights_init  # noqa: E402

# timed steps per model: about 2 s of PyTorch each (the slow 64x64 model gets fewer),
# and 2 to 6 s of libgan, so that a moment's noise on a shared machine weighs little
STEPS = {"gan": 120, "dcgan": 12, "dcgan64": 3}
LIBGAN_STEPS = {"gan": 500, "dcgan": 50, "dcgan64": 4}
# train_mnist's steady state: the steps of the short and the long run, both
# within the first epoch (468 steps of 128 MNIST images), as the work at an
# epoch's end (checkpoint, sample grid, GIF frame) is no part of a step
TRAIN_STEPS = {"gan": (20, 460), "dcgan": (10, 70), "dcgan64": (2, 8)}
# each side's best of this many runs, as the machine may be shared
REPEATS = 2


def torch_images_per_s(name, threads, batch, steps, warmup=2):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g, d, z_shape = models(name)
    g.apply(weights_init)
    d.apply(weights_init)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = nn.BCEWithLogitsLoss()
    size = 64 if name == "dcgan64" else 28
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    start = None
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        real = torch.rand(batch, 1, size, size) * 2 - 1
        z = torch.randn(batch, *z_shape)
        od.zero_grad()
        loss(d(real), ones).backward()
        fake = g(z)
        loss(d(fake.detach()), zeros).backward()
        od.step()
        og.zero_grad()
        loss(d(fake), ones).backward()
        og.step()
    return batch * steps / (time.perf_counter() - start)


def libgan_run(bench, name, batch, steps):
    """gan_bench's images/s, threads and GEMM micro-kernel"""
    out = subprocess.run([bench, "train", "--model", name, "--batch", str(batch), "--steps", str(steps),
                          "--no-profile"], check=True, capture_output=True, text=True).stdout
    match = re.search(r"RESULT model=\S+ backend=(\S+) threads=(\d+) .*images_per_s=([\d.]+)", out)
    if not match:
        sys.exit(f"bench_pytorch: no RESULT line from {bench}:\n{out}")
    kernel = re.search(r"CPU GEMM micro-kernel: (\S+)", out)
    return float(match.group(3)), int(match.group(2)), kernel.group(1) if kernel else "none"


def train_mnist_images_per_s(program, data, name, batch):
    """train_mnist's images/s between a short and a long run of the same
    settings (no scoring, no TensorBoard file), each into a fresh folder"""
    def seconds(steps):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run = subprocess.run([program, "--model", name, "--data", data, "--batch", str(batch), "--max-steps",
                                  str(steps), "--no-eval", "--no-tensorboard", "--out", os.path.join(out, "run")],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"bench_pytorch: {program} failed:\n{run.stderr}")
            return time.perf_counter() - start
    short, long = TRAIN_STEPS[name]
    elapsed = seconds(long) - seconds(short)
    if elapsed <= 0:
        sys.exit(f"bench_pytorch: {long} steps of {name} took no longer than {short}: the machine is too busy to time")
    return batch * (long - short) / elapsed


def blas_in_use():
    """The BLAS library PyTorch has loaded: Debian's reference BLAS makes it
    several times slower than with OpenBLAS (apt-get install libopenblas0-openmp)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    return ", ".join(paths) or "unknown"


def cpu_model():
    """The CPU's name and, on x86, its family and model numbers (which tell
    Zen 3 from Zen 4 where a virtual machine names only "AMD EPYC")."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def torch_in_child(name, threads, batch):
    """torch_images_per_s in a process of its own, so that its thread pools
    end with it instead of spinning on the cores while libgan runs"""
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-run", f"{name}:{threads}",
                          "--batch", str(batch)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"bench_pytorch: the PyTorch run of {name} on {threads} thread(s) failed:\n{run.stderr}")
    return float(run.stdout.split()[-1])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=os.path.join(here, "..", "build", "apps", "gan_bench"))
    parser.add_argument("--models", default="gan,dcgan,dcgan64")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--torch-threads", default="1,2")
    parser.add_argument("--mnist", help="MNIST's IDX files: also time train_mnist on them")
    parser.add_argument("--train-mnist", default=os.path.join(here, "..", "build", "apps", "train_mnist"))
    parser.add_argument("--avx2", action="store_true", help="PyTorch keeps to AVX2 (see above)")
    parser.add_argument("--torch-run", help=argparse.SUPPRESS)  # MODEL:THREADS, one PyTorch run (internal)
    args = parser.parse_args()
    if args.torch_run:
        name, threads = args.torch_run.split(":")
        print(torch_images_per_s(name, int(threads), args.batch, STEPS[name]))
        return
    names = args.models.split(",")
    if args.avx2:  # read as the PyTorch runs' processes start
        os.environ.update(ONEDNN_MAX_CPU_ISA="AVX2", OPENBLAS_CORETYPE="Haswell")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; "
          f"PyTorch {torch.__version__}, batch {args.batch}")
    blas = blas_in_use()
    print(f"PyTorch's BLAS: {blas}")
    if "/blas/" in blas:
        print("warning: that is the reference BLAS; install libopenblas0-openmp for a fair comparison")
    print(f"{'model':8} {'PyTorch img/s':>22} {'libgan img/s':>20} {'ratio':>7}"
          + (f" {'train_mnist img/s':>18} {'ratio':>7} {'of gan_bench':>12}" if args.mnist else ""), flush=True)
    # the sides take turns, each PyTorch run in a process of its own, so
    # that the machine's changes of speed from minute to minute fall on
    # all of them alike; each side's best run counts
    torch_threads = [int(x) for x in args.torch_threads.split(",")]
    kernels = set()
    for name in names:
        best, best_threads, ours, trained = 0.0, 0, (0.0, 0), 0.0
        for _ in range(REPEATS):
            rate, threads, kernel = libgan_run(args.bench, name, args.batch, LIBGAN_STEPS[name])
            ours, kernels = max(ours, (rate, threads)), kernels | {kernel}
            if args.mnist:
                trained = max(trained, train_mnist_images_per_s(args.train_mnist, args.mnist, name, args.batch))
            for t in torch_threads:
                rate = torch_in_child(name, t, args.batch)
                if rate > best:
                    best, best_threads = rate, t
        rate, threads = ours
        line = f"{name:8} {best:12.1f} ({best_threads} thr) {rate:10.1f} ({threads} thr) {rate / best:6.2f}x"
        if args.mnist:
            line += f" {trained:18.1f} {trained / best:6.2f}x {100 * trained / rate:11.1f}%"
        print(line, flush=True)
    print(f"libgan's GEMM micro-kernel: {', '.join(sorted(kernels))}; PyTorch: "
          + ("AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell)" if args.avx2 else "its own choice"))


if __name__ == "__main__":
    main()
