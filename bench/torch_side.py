"""The PyTorch side of the cwerm benchmark: the same work as cwerm, done the usual PyTorch way.

Three pieces of work, each on the inputs that `make-inputs` writes to one safetensors file,
so both sides read the same bytes:

1. EfficientNet-Lite0 features (Tan & Le, "EfficientNet", 2019, Lite variant) from the
   safetensors weights that cwerm converts, u8 images [N, 28, 28, 1] -> f32 features
   [N, 1280]. Preprocessing: bilinear resize with half-pixel centres and no antialiasing,
   grey copied to three channels, (x - 127) / 128. The network runs in eval mode under
   torch.no_grad with batch norm folded into the convolutions and channels-last tensors.
2. One Meta-Weight-Net iteration (Shu et al., NeurIPS 2019) on a batch of 100 features
   [100, 1280] and a meta batch of 100, with the second-order meta-gradient taken by
   torch.autograd.grad(..., create_graph=True) through the virtual SGD step.
3. Weighted training steps of the same head: SGD with momentum, batch 128, loss
   mean(w_i * l_i), cosine learning rate.

Subcommands: `make-inputs` (numpy only), `features` and `meta-gradient` (parity dumps),
`time-embed`, `time-meta-step` and `time-train` (timings). Each timing prints one JSON line
on stdout: the seconds of every repeat, the work done per repeat and VmHWM in KiB.
"""

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file as load_numpy, save_file as save_numpy

FEATURE_DIM = 1280
CLASSES = 10
BATCH_NORM_EPS = 1e-3
PIXEL_OFFSET = 127.0
PIXEL_SCALE = 128.0

# MBConv stages: (repeats, kernel, stride, expand ratio, output channels).
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM_CHANNELS = 32

# Meta-Weight-Net and final-training settings: the defaults of cwerm's [reweight] and
# [train] pipeline sections.
MWN_BATCH = 100
MWN_LR = 0.1
MWN_MOMENTUM = 0.9
MWN_WEIGHT_DECAY = 0.05
META_LR = 1e-3
META_WEIGHT_DECAY = 1e-4
META_HIDDEN = 100
MLP_HIDDEN = 256
TRAIN_BATCH = 128
TRAIN_LR = 0.1
TRAIN_MOMENTUM = 0.9
TRAIN_WEIGHT_DECAY = 5e-4
TRAIN_ROWS = 4096


def vm_hwm_kib():
    """Return the peak resident set size of this process (VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM missing from /proc/self/status")


# ---------------------------------------------------------------------------
# Inputs shared by both sides.


def read_idx_images(path, count):
    """Read the first `count` images of a gzipped IDX3 file as u8 [count, H, W, 1]."""
    with gzip.open(path, "rb") as stream:
        header = stream.read(16)
        magic, total, height, width = np.frombuffer(header, dtype=">u4")
        if magic != 0x00000803:
            raise ValueError(f"{path}: IDX magic {magic:#010x}, expected 0x00000803 (u8 images, 3 dims)")
        if count > total:
            raise ValueError(f"{path}: contains only {total} images, {count} requested")
        pixels = stream.read(count * height * width)
    return np.frombuffer(pixels, dtype=np.uint8).reshape(count, height, width, 1).copy()


def dense_init(rng, inputs, outputs):
    """Draw a dense layer like torch.nn.Linear's default: uniform in +-1/sqrt(inputs)."""
    bound = 1.0 / math.sqrt(inputs)
    weight = rng.uniform(-bound, bound, size=(outputs, inputs)).astype(np.float32)
    bias = rng.uniform(-bound, bound, size=(outputs,)).astype(np.float32)
    return weight, bias


def make_inputs(args):
    """Write the shared inputs: real images, seeded features, labels and initial parameters."""
    rng = np.random.default_rng(args.seed)
    images = read_idx_images(Path(args.data) / "train-images-idx3-ubyte.gz", args.images)

    # Features of a ReLU6 network average to non-negative values of order 1.
    def features(rows):
        return rng.uniform(0.0, 2.0, size=(rows, FEATURE_DIM)).astype(np.float32)

    def labels(rows):
        return rng.integers(0, CLASSES, size=rows).astype(np.uint32)

    tensors = {
        "images": images,
        "train_features": features(MWN_BATCH),
        "train_labels": labels(MWN_BATCH),
        "meta_features": features(MWN_BATCH),
        "meta_labels": labels(MWN_BATCH),
        "erm_features": features(TRAIN_ROWS),
        "erm_labels": labels(TRAIN_ROWS),
        "erm_weights": rng.uniform(0.05, 1.0, size=TRAIN_ROWS).astype(np.float32),
    }
    tensors["learner.w"], tensors["learner.b"] = dense_init(rng, FEATURE_DIM, CLASSES)
    tensors["learner.w1"], tensors["learner.b1"] = dense_init(rng, FEATURE_DIM, MLP_HIDDEN)
    tensors["learner.w2"], tensors["learner.b2"] = dense_init(rng, MLP_HIDDEN, CLASSES)
    tensors["meta_net.0.weight"], tensors["meta_net.0.bias"] = dense_init(rng, 1, META_HIDDEN)
    tensors["meta_net.1.weight"], tensors["meta_net.1.bias"] = dense_init(rng, META_HIDDEN, 1)
    save_numpy(tensors, args.out)


# ---------------------------------------------------------------------------
# EfficientNet-Lite0.


def import_torch(threads):
    """Import torch with `threads` intra-op threads and one inter-op thread."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    return torch


def same_padding(size, kernel, stride):
    """TensorFlow "SAME" padding along one axis as (before, after), the odd pixel after."""
    output = -(-size // stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build_lite0(torch, weights_path):
    """Build EfficientNet-Lite0 from the converted safetensors file, batch norm folded."""
    import torch.nn.functional as F
    from safetensors.torch import load_file

    state = load_file(weights_path)

    def folded(conv_key, bn_key):
        weight = state[f"{conv_key}.weight"]
        scale = state[f"{bn_key}.weight"] / torch.sqrt(state[f"{bn_key}.running_var"] + BATCH_NORM_EPS)
        shift = state[f"{bn_key}.bias"] - state[f"{bn_key}.running_mean"] * scale
        weight = (weight * scale.reshape(-1, 1, 1, 1)).contiguous(memory_format=torch.channels_last)
        return weight, shift.contiguous()

    class FoldedConv(torch.nn.Module):
        """Convolution with a folded batch norm and TF "SAME" padding."""

        def __init__(self, conv_key, bn_key, stride, groups, activation):
            super().__init__()
            weight, bias = folded(conv_key, bn_key)
            self.weight = torch.nn.Parameter(weight, requires_grad=False)
            self.bias = torch.nn.Parameter(bias, requires_grad=False)
            self.kernel = weight.shape[-1]
            self.stride = stride
            self.groups = groups
            self.activation = activation

        def forward(self, x):
            before, after = same_padding(x.shape[-1], self.kernel, self.stride)
            if before == after:
                x = F.conv2d(x, self.weight, self.bias, self.stride, before, 1, self.groups)
            else:
                # Asymmetric padding needs an explicit pad, which keeps the channels-last layout.
                x = F.pad(x, (before, after, before, after))
                x = F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)
            return F.relu6(x) if self.activation else x

    class Block(torch.nn.Module):
        """MBConv without squeeze-excitation: expand 1x1, depthwise kxk, project 1x1."""

        def __init__(self, index, inputs, expanded, outputs, stride):
            super().__init__()
            key = f"_blocks.{index}"
            self.expand = None
            if expanded != inputs:
                self.expand = FoldedConv(f"{key}._expand_conv", f"{key}._bn0", 1, 1, True)
            self.depthwise = FoldedConv(f"{key}._depthwise_conv", f"{key}._bn1", stride, expanded, True)
            self.project = FoldedConv(f"{key}._project_conv", f"{key}._bn2", 1, 1, False)
            self.residual = stride == 1 and inputs == outputs

        def forward(self, x):
            y = self.expand(x) if self.expand is not None else x
            y = self.project(self.depthwise(y))
            return y + x if self.residual else y

    class Lite0(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = FoldedConv("_conv_stem", "_bn0", 2, 1, True)
            blocks = []
            inputs = STEM_CHANNELS
            for repeats, _kernel, stride, expand, outputs in STAGES:
                for repeat in range(repeats):
                    index = len(blocks)
                    blocks.append(Block(index, inputs, inputs * expand, outputs, stride if repeat == 0 else 1))
                    inputs = outputs
            self.blocks = torch.nn.Sequential(*blocks)
            self.head = FoldedConv("_conv_head", "_bn1", 1, 1, True)

        def forward(self, x):
            x = self.head(self.blocks(self.stem(x)))
            return x.mean(dim=(2, 3))

    return Lite0().eval()


def preprocess(torch, images, resolution):
    """Resize u8 images [B, H, W, 1] to normalised channels-last input [B, 3, R, R]."""
    import torch.nn.functional as F

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False)
    x = (x - PIXEL_OFFSET) / PIXEL_SCALE
    return x.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)


def embed(torch, model, images, resolution, batch_size):
    """Map u8 images [N, H, W, 1] to features [N, 1280], `batch_size` images at a time."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = preprocess(torch, images[start : start + batch_size], resolution)
            outputs.append(model(batch))
    return torch.cat(outputs)


def features_command(args):
    torch = import_torch(args.threads)
    inputs = load_numpy(args.inputs)
    model = build_lite0(torch, args.weights)
    features = embed(torch, model, inputs["images"][: args.count], args.resolution, args.batch_size)
    save_numpy({"features": features.numpy()}, args.out)


def time_embed(args):
    torch = import_torch(args.threads)
    images = load_numpy(args.inputs)["images"]
    if args.images > len(images):
        raise SystemExit(f"--images {args.images}: the inputs file contains only {len(images)} images")
    images = images[: args.images]
    model = build_lite0(torch, args.weights)

    seconds = []
    for repeat in range(args.warmup + args.repeats):
        start = time.perf_counter()
        embed(torch, model, images, args.resolution, args.batch_size)
        if repeat >= args.warmup:
            seconds.append(time.perf_counter() - start)
    emit(args, seconds, work=len(images), unit="images")


# ---------------------------------------------------------------------------
# Meta-Weight-Net and weighted training.


def learner_parameters(torch, tensors, kind):
    """Return the learner's parameter names and leaf tensors that require gradients, in cwerm's order."""
    names = ["learner.w", "learner.b"] if kind == "linear" else ["learner.w1", "learner.b1", "learner.w2", "learner.b2"]
    return names, [torch.from_numpy(tensors[name]).clone().requires_grad_(True) for name in names]


def learner_forward(torch, params, x):
    """Compute logits [N, 10] of the linear head or the MLP 1280-256-10 with parameters `params`."""
    import torch.nn.functional as F

    if len(params) == 2:
        return F.linear(x, params[0], params[1])
    hidden = F.relu(F.linear(x, params[0], params[1]))
    return F.linear(hidden, params[2], params[3])


class MetaNet:
    """V: loss [n, 1] -> weight [n, 1] in (0, 1); dense 1 -> 100 -> 1, ReLU, sigmoid."""

    NAMES = ["meta_net.0.weight", "meta_net.0.bias", "meta_net.1.weight", "meta_net.1.bias"]

    def __init__(self, torch, tensors):
        self.torch = torch
        self.params = [torch.from_numpy(tensors[name]).clone().requires_grad_(True) for name in self.NAMES]

    def __call__(self, losses):
        import torch.nn.functional as F

        hidden = F.relu(F.linear(losses.unsqueeze(1), self.params[0], self.params[1]))
        return self.torch.sigmoid(F.linear(hidden, self.params[2], self.params[3])).squeeze(1)


class MetaWeightNet:
    """The learner, the meta-net and their optimizers (SGD with momentum, Adam)."""

    def __init__(self, torch, tensors, kind):
        self.torch = torch
        self.names, self.theta = learner_parameters(torch, tensors, kind)
        self.meta_net = MetaNet(torch, tensors)
        self.sgd = torch.optim.SGD(self.theta, lr=MWN_LR, momentum=MWN_MOMENTUM, weight_decay=MWN_WEIGHT_DECAY)
        self.adam = torch.optim.Adam(self.meta_net.params, lr=META_LR, weight_decay=META_WEIGHT_DECAY)

    def virtual_parameters(self, grads):
        """Compute theta' = theta - lr * buf', PyTorch's SGD update written out so that it stays differentiable."""
        virtual = []
        for param, grad in zip(self.theta, grads):
            direction = grad + MWN_WEIGHT_DECAY * param
            buffer = self.sgd.state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                direction = direction + MWN_MOMENTUM * buffer
            virtual.append(param - MWN_LR * direction)
        return virtual

    def meta_loss(self, x, y, x_meta, y_meta):
        """Run steps 1 to 3: losses, weights v_i, the virtual step and the meta loss at theta'."""
        import torch.nn.functional as F

        losses = F.cross_entropy(learner_forward(self.torch, self.theta, x), y, reduction="none")
        weights = self.meta_net(losses.detach())
        weighted = (losses * weights).mean()
        grads = self.torch.autograd.grad(weighted, self.theta, create_graph=True)
        virtual = self.virtual_parameters(grads)
        meta_loss = F.cross_entropy(learner_forward(self.torch, virtual, x_meta), y_meta)
        return losses, weights, meta_loss

    def step(self, x, y, x_meta, y_meta):
        """Run one whole iteration: the meta-net's Adam step, then the learner's SGD step."""
        import torch.nn.functional as F

        _, _, meta_loss = self.meta_loss(x, y, x_meta, y_meta)
        meta_grads = self.torch.autograd.grad(meta_loss, self.meta_net.params)
        for param, grad in zip(self.meta_net.params, meta_grads):
            param.grad = grad
        self.adam.step()

        losses = F.cross_entropy(learner_forward(self.torch, self.theta, x), y, reduction="none")
        with self.torch.no_grad():
            weights = self.meta_net(losses.detach())
        self.sgd.zero_grad(set_to_none=True)
        (losses * weights).mean().backward()
        self.sgd.step()
        return meta_loss


def mwn_batches(torch, tensors):
    as_long = lambda name: torch.from_numpy(tensors[name].astype(np.int64))
    return (
        torch.from_numpy(tensors["train_features"]),
        as_long("train_labels"),
        torch.from_numpy(tensors["meta_features"]),
        as_long("meta_labels"),
    )


def meta_gradient_command(args):
    """Dump the first iteration's meta-gradients and the parameters after one step."""
    torch = import_torch(args.threads)
    tensors = load_numpy(args.inputs)
    x, y, x_meta, y_meta = mwn_batches(torch, tensors)
    net = MetaWeightNet(torch, tensors, args.learner)

    losses, weights, meta_loss = net.meta_loss(x, y, x_meta, y_meta)
    grads = torch.autograd.grad(meta_loss, [weights] + net.meta_net.params)
    out = {
        "losses": losses.detach().numpy(),
        "weights": weights.detach().numpy(),
        "meta_loss": np.array([meta_loss.item()], dtype=np.float32),
        "per_weight": grads[0].numpy(),
    }
    for name, grad in zip(MetaNet.NAMES, grads[1:]):
        out[f"grad.{name}"] = grad.numpy()

    net.step(x, y, x_meta, y_meta)
    for name, param in zip(net.names + MetaNet.NAMES, net.theta + net.meta_net.params):
        out[f"after.{name}"] = param.detach().numpy().copy()
    save_numpy(out, args.out)


def time_meta_step(args):
    torch = import_torch(args.threads)
    tensors = load_numpy(args.inputs)
    x, y, x_meta, y_meta = mwn_batches(torch, tensors)
    net = MetaWeightNet(torch, tensors, args.learner)

    seconds = []
    for repeat in range(args.warmup + args.repeats):
        start = time.perf_counter()
        for _ in range(args.iterations):
            net.step(x, y, x_meta, y_meta)
        if repeat >= args.warmup:
            seconds.append(time.perf_counter() - start)
    emit(args, seconds, work=args.iterations, unit="iterations")


def time_train(args):
    """Time weighted SGD steps over shuffled batches of 128 rows with a cosine learning rate."""
    import torch.nn.functional as F

    torch = import_torch(args.threads)
    tensors = load_numpy(args.inputs)
    features = torch.from_numpy(tensors["erm_features"])
    labels = torch.from_numpy(tensors["erm_labels"].astype(np.int64))
    row_weights = torch.from_numpy(tensors["erm_weights"])
    _, theta = learner_parameters(torch, tensors, args.learner)
    sgd = torch.optim.SGD(theta, lr=TRAIN_LR, momentum=TRAIN_MOMENTUM, weight_decay=TRAIN_WEIGHT_DECAY)
    generator = torch.Generator().manual_seed(0)
    rows = len(features)
    total_steps = (args.warmup + args.repeats) * args.steps

    step = 0
    order = torch.randperm(rows, generator=generator)
    cursor = 0
    seconds = []
    for repeat in range(args.warmup + args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            if cursor + TRAIN_BATCH > rows:
                order = torch.randperm(rows, generator=generator)
                cursor = 0
            index = order[cursor : cursor + TRAIN_BATCH]
            cursor += TRAIN_BATCH

            for group in sgd.param_groups:
                group["lr"] = 0.5 * TRAIN_LR * (1.0 + math.cos(math.pi * step / total_steps))
            losses = F.cross_entropy(learner_forward(torch, theta, features[index]), labels[index], reduction="none")
            sgd.zero_grad(set_to_none=True)
            (losses * row_weights[index]).mean().backward()
            sgd.step()
            step += 1
        if repeat >= args.warmup:
            seconds.append(time.perf_counter() - start)
    emit(args, seconds, work=args.steps, unit="steps")


def emit(args, seconds, work, unit):
    record = {
        "side": "pytorch",
        "command": args.command,
        "seconds": seconds,
        "work": work,
        "unit": unit,
        "vm_hwm_kib": vm_hwm_kib(),
        "threads": args.threads,
    }
    print(json.dumps(record), flush=True)


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name, function, help_text):
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(function=function)
        if name != "make-inputs":
            command.add_argument("--inputs", required=True, help="safetensors file written by make-inputs")
            command.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
        return command

    command = add("make-inputs", make_inputs, "write the shared inputs file")
    command.add_argument("--data", required=True, help="folder with the Fashion-MNIST IDX files")
    command.add_argument("--images", type=int, default=256, help="training images to copy")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--out", required=True)

    command = add("features", features_command, "write Lite0 features of the first images")
    command.add_argument("--weights", required=True)
    command.add_argument("--resolution", type=int, required=True)
    command.add_argument("--count", type=int, default=8)
    command.add_argument("--batch-size", type=int, default=64)
    command.add_argument("--out", required=True)

    command = add("meta-gradient", meta_gradient_command, "write the first iteration's meta-gradients")
    command.add_argument("--learner", choices=["linear", "mlp"], required=True)
    command.add_argument("--out", required=True)

    for name, function, help_text in [
        ("time-embed", time_embed, "time Lite0 inference, resize included"),
        ("time-meta-step", time_meta_step, "time whole Meta-Weight-Net iterations"),
        ("time-train", time_train, "time weighted SGD steps"),
    ]:
        command = add(name, function, help_text)
        command.add_argument("--warmup", type=int, default=1, help="untimed repeats first")
        command.add_argument("--repeats", type=int, default=3, help="timed repeats")
        if name == "time-embed":
            command.add_argument("--weights", required=True)
            command.add_argument("--resolution", type=int, required=True)
            command.add_argument("--images", type=int, default=256)
            command.add_argument("--batch-size", type=int, default=64)
        else:
            command.add_argument("--learner", choices=["linear", "mlp"], required=True)
        if name == "time-meta-step":
            command.add_argument("--iterations", type=int, default=50, help="iterations per repeat")
        if name == "time-train":
            command.add_argument("--steps", type=int, default=200, help="steps per repeat")

    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    sys.exit(main())
