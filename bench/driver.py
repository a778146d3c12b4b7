"""Run cwerm and PyTorch side by side: parity checks first, then alternating timings.

Both sides are command-line programs with the same subcommands (bench/torch_side.py and
the cwerm-torchbench binary built from bench/cwerm-side/), reading one shared inputs
file. The driver

1. writes the inputs file (256 Fashion-MNIST training images, seeded features, labels
   and initial parameters);
2. checks parity: Lite0 features of 8 images at 64, 96 and 224 px within 1e-3
   relative, and the first Meta-Weight-Net iteration's dL_meta/dv_i within 1e-2
   relative, for the linear head and the MLP. The meta-net parameter gradient, the
   losses, the weights and the parameters after the iteration are printed for information;
3. times every figure in rounds, cwerm and PyTorch one after the other with the order
   swapped each round, each process doing one warm-up and several timed repeats; the
   figures that run on candle are also timed with CANDLE_NUM_THREADS=1;
4. prints Markdown tables: parity, medians with the ratio cwerm/PyTorch, peak memory.

Relative error of a tensor: ||a - b|| / ||b|| over the whole tensor, with b the PyTorch
value; for features the largest such error over the rows. Exit status 1 when a parity
check fails (the tables are printed all the same), 0 otherwise.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

BENCH_DIR = Path(__file__).resolve().parent
TORCH_SIDE = BENCH_DIR / "torch_side.py"

FEATURE_TOLERANCE = 1e-3
META_GRADIENT_TOLERANCE = 1e-2
PARITY_RESOLUTIONS = (64, 96, 224)
PARITY_IMAGES = 8

# cwerm with candle's element-wise kernels on one thread (CANDLE_NUM_THREADS=1) while
# matrix products keep RAYON_NUM_THREADS threads: candle 0.11 runs element-wise ops on a
# spin-waiting thread pool, which costs most of a small head's step on a busy machine.
CWERM_SERIAL = "cwerm-serial"


class Figure:
    """One timed piece of work: the subcommand, its arguments and how to print it."""

    def __init__(self, name, command, arguments, per, scale, label, uses_candle):
        self.name = name
        self.command = command
        self.arguments = arguments
        self.per = per
        # Seconds per unit of work are multiplied by `scale` for display (1e3: ms).
        self.scale = scale
        self.label = label
        # The encoder runs its own kernels, so CANDLE_NUM_THREADS changes nothing there.
        self.sides = ("cwerm", CWERM_SERIAL, "pytorch") if uses_candle else ("cwerm", "pytorch")


def figures(weights, embed_images, embed_images_224, iterations, steps):
    embed = lambda r, n: Figure(
        f"embed-{r}",
        "time-embed",
        ["--weights", weights, "--resolution", str(r), "--images", str(n), "--batch-size", "64"],
        "image",
        1e3,
        f"Lite0 features, {r} px, batch 64, resize included",
        False,
    )
    meta = lambda learner, text: Figure(
        f"mwn-{learner}",
        "time-meta-step",
        ["--learner", learner, "--iterations", str(iterations)],
        "iteration",
        1e3,
        f"one Meta-Weight-Net iteration, {text}, batch 100 + meta batch 100",
        True,
    )
    train = lambda learner, text: Figure(
        f"train-{learner}",
        "time-train",
        ["--learner", learner, "--steps", str(steps)],
        "step",
        1e3,
        f"one weighted SGD step, {text}, batch 128",
        True,
    )
    return [
        embed(64, embed_images),
        embed(96, embed_images),
        embed(224, embed_images_224),
        meta("linear", "linear 1280-10"),
        meta("mlp", "MLP 1280-256-10"),
        train("linear", "linear 1280-10"),
        train("mlp", "MLP 1280-256-10"),
    ]


class Sides:
    """Runs a subcommand on either side and returns its JSON record."""

    def __init__(self, python, cwerm, inputs, threads, log):
        self.commands = {
            "cwerm": [str(cwerm)],
            CWERM_SERIAL: [str(cwerm)],
            "pytorch": [str(python), str(TORCH_SIDE)],
        }
        self.inputs = str(inputs)
        self.threads = threads
        self.log = log
        self.env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))

    def run(self, side, command, arguments):
        argv = self.commands[side] + [command, "--inputs", self.inputs] + arguments
        if side == "pytorch":
            argv += ["--threads", str(self.threads)]
        env = dict(self.env, CANDLE_NUM_THREADS="1") if side == CWERM_SERIAL else self.env
        self.log(("CANDLE_NUM_THREADS=1 " if side == CWERM_SERIAL else "") + " ".join(argv))
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{side} failed (exit {result.returncode}): {' '.join(argv)}\n{result.stderr}")
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None


def relative_error(value, reference):
    value = value.astype(np.float64).reshape(reference.shape)
    reference = reference.astype(np.float64)
    norm = np.linalg.norm(reference)
    return float(np.linalg.norm(value - reference) / norm) if norm > 0 else float(np.linalg.norm(value))


def check_parity(sides, weights, work):
    """Return parity rows (check, error, tolerance or None when informative only)."""
    rows = []
    for resolution in PARITY_RESOLUTIONS:
        outputs = {}
        for side in ("cwerm", "pytorch"):
            out = work / f"{side}-features-{resolution}.safetensors"
            sides.run(side, "features", ["--weights", weights, "--resolution", str(resolution),
                                         "--count", str(PARITY_IMAGES), "--out", str(out)])
            outputs[side] = load_file(out)["features"]
        error = max(relative_error(a, b) for a, b in zip(outputs["cwerm"], outputs["pytorch"]))
        rows.append((f"Lite0 features, {resolution} px, {PARITY_IMAGES} images (worst row)", error, FEATURE_TOLERANCE))

    for learner in ("linear", "mlp"):
        outputs = {}
        for side in ("cwerm", "pytorch"):
            out = work / f"{side}-meta-gradient-{learner}.safetensors"
            sides.run(side, "meta-gradient", ["--learner", learner, "--out", str(out)])
            outputs[side] = load_file(out)
        cwerm, torch = outputs["cwerm"], outputs["pytorch"]
        for name in ("losses", "weights", "meta_loss"):
            rows.append((f"{learner}: {name}", relative_error(cwerm[name], torch[name]), None))
        rows.append((f"{learner}: dL_meta/dv_i", relative_error(cwerm["per_weight"], torch["per_weight"]),
                     META_GRADIENT_TOLERANCE))
        # Informative: the meta-net gradient sums dL_meta/dv_i of both signs, so
        # cancellation can enlarge their relative error.
        for name in sorted(key for key in torch if key.startswith("grad.")):
            rows.append((f"{learner}: dL_meta/d {name[5:]}", relative_error(cwerm[name], torch[name]), None))
        after = sorted(key for key in torch if key.startswith("after."))
        worst = max(after, key=lambda key: relative_error(cwerm[key], torch[key]))
        rows.append((f"{learner}: parameters after one iteration (worst: {worst[6:]})",
                     relative_error(cwerm[worst], torch[worst]), None))
    return rows


def time_figures(sides, figure_list, rounds, timing, log):
    """Return {figure name: {side: {"per_unit": [...], "vm_hwm_kib": [...]}}}."""
    results = {figure.name: {side: {"per_unit": [], "vm_hwm_kib": []} for side in figure.sides}
               for figure in figure_list}
    for round_index in range(rounds):
        log(f"round {round_index + 1} of {rounds}, {'cwerm' if round_index % 2 == 0 else 'pytorch'} first")
        for figure in figure_list:
            order = figure.sides if round_index % 2 == 0 else tuple(reversed(figure.sides))
            for side in order:
                record = sides.run(side, figure.command, figure.arguments + timing)
                slot = results[figure.name][side]
                slot["per_unit"] += [seconds / record["work"] for seconds in record["seconds"]]
                slot["vm_hwm_kib"].append(record["vm_hwm_kib"])
    return results


def machine_description():
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}"


def format_number(value):
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def markdown(parity, results, figure_list, info):
    lines = ["## Parity", "", "| check | relative error | tolerance | result |", "|---|---|---|---|"]
    for check, error, tolerance in parity:
        if tolerance is None:
            lines.append(f"| {check} | {error:.2e} | - | info |")
        else:
            lines.append(f"| {check} | {error:.2e} | {tolerance:.0e} | {'pass' if error <= tolerance else 'FAIL'} |")

    lines += ["", "## Time (medians; ratio above 1: cwerm slower)", "",
              "| figure | cwerm | PyTorch | cwerm/PyTorch | cwerm, CANDLE_NUM_THREADS=1 | its ratio |",
              "|---|---|---|---|---|---|"]
    for figure in figure_list:
        medians = {side: statistics.median(results[figure.name][side]["per_unit"]) for side in figure.sides}

        def cell(side):
            text = f"{format_number(medians[side] * figure.scale)} ms/{figure.per}"
            if figure.per == "image":
                text += f" ({1.0 / medians[side]:.0f} images/s)"
            return text

        row = [figure.label, cell("cwerm"), cell("pytorch"), f"{medians['cwerm'] / medians['pytorch']:.2f}"]
        if CWERM_SERIAL in medians:
            row += [cell(CWERM_SERIAL), f"{medians[CWERM_SERIAL] / medians['pytorch']:.2f}"]
        else:
            row += ["same as cwerm", "-"]
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Peak memory of the timing process (VmHWM, largest over rounds)", "",
              "| figure | cwerm | PyTorch | cwerm/PyTorch |", "|---|---|---|---|"]
    for figure in figure_list:
        peaks = {side: max(results[figure.name][side]["vm_hwm_kib"]) / 1024 for side in ("cwerm", "pytorch")}
        lines.append(f"| {figure.label} | {peaks['cwerm']:.0f} MiB | {peaks['pytorch']:.0f} MiB | "
                     f"{peaks['cwerm'] / peaks['pytorch']:.2f} |")

    lines += ["", "## Run", ""] + [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwerm", required=True, help="the cwerm-torchbench binary")
    parser.add_argument("--python", default=sys.executable, help="Python with torch, numpy and safetensors")
    parser.add_argument("--weights", default="data/weights/efficientnet-lite0.safetensors")
    parser.add_argument("--data", default="data/fashion-mnist", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--work", default="target/torchbench", help="folder for inputs, dumps and raw results")
    parser.add_argument("--threads", type=int, default=2, help="threads on each side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of every figure")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per process, after one warm-up")
    parser.add_argument("--embed-images", type=int, default=256, help="images per repeat at 64 and 96 px")
    parser.add_argument("--embed-images-224", type=int, default=64, help="images per repeat at 224 px")
    parser.add_argument("--iterations", type=int, default=50, help="Meta-Weight-Net iterations per repeat")
    parser.add_argument("--steps", type=int, default=200, help="weighted SGD steps per repeat")
    parser.add_argument("--parity-only", action="store_true", help="stop after the parity checks")
    parser.add_argument("--markdown", help="also write the tables to this file")
    parser.add_argument("--quiet", action="store_true", help="do not echo each command")
    args = parser.parse_args()

    log = (lambda message: None) if args.quiet else (lambda message: print(f"+ {message}", file=sys.stderr, flush=True))
    for path, fix in [(args.weights, "bash scripts/fetch-assets.sh"), (args.data, "bash scripts/fetch-data.sh"),
                      (args.cwerm, "bash bench/run.sh (it builds the binary)")]:
        if not Path(path).exists():
            raise SystemExit(f"{path} not found; run `{fix}` first")

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    inputs = work / "inputs.safetensors"
    subprocess.run([args.python, str(TORCH_SIDE), "make-inputs", "--data", args.data,
                    "--images", str(max(args.embed_images, args.embed_images_224, PARITY_IMAGES)),
                    "--out", str(inputs)], check=True)
    sides = Sides(args.python, args.cwerm, inputs, args.threads, log)

    started = time.time()
    load_before = os.getloadavg()
    parity = check_parity(sides, args.weights, work)
    failed = [check for check, error, tolerance in parity if tolerance is not None and error > tolerance]

    results = {}
    figure_list = figures(args.weights, args.embed_images, args.embed_images_224, args.iterations, args.steps)
    if not args.parity_only:
        timing = ["--warmup", "1", "--repeats", str(args.repeats)]
        results = time_figures(sides, figure_list, args.rounds, timing, log)
        (work / "results.json").write_text(json.dumps(results, indent=1))

    torch_version = subprocess.run([args.python, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "threads per side": f"{args.threads} (torch.set_num_threads, RAYON_NUM_THREADS)",
        "torch": torch_version,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset (ACTIVE)"),
        "rounds x repeats": f"{args.rounds} x {args.repeats}, one warm-up per process",
        "load average (1 min) before / after": f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}",
        "wall time": f"{time.time() - started:.0f} s",
    }
    if args.parity_only:
        table = "\n".join(f"{check}: {error:.2e}" + (f" (tolerance {tol:.0e})" if tol else "")
                          for check, error, tol in parity)
    else:
        table = markdown(parity, results, figure_list, info)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table)
    if failed:
        print(f"parity FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
