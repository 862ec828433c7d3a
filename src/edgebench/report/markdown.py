"""report.md: the lab's tables, reproduced from results.json alone."""

from __future__ import annotations

FRAMEWORK_TITLES = {"tensorflow": "TensorFlow", "pytorch": "PyTorch", "jax": "JAX"}


def title(fw: str) -> str:
    return FRAMEWORK_TITLES.get(fw, fw)


def _f(v, fmt: str, missing: str = "-") -> str:
    return missing if v is None else format(v, fmt)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _mib(b) -> str:
    return "-" if b is None else f"{b / 2**20:.0f}"


def table1_rows(r: dict) -> list[list[str]]:
    rows = []
    for t in r.get("trainings", []):
        if t["status"] == "ok":
            rows.append([title(t["framework"]), f"{t['train_time_s']:.2f}", f"{t['test_accuracy']:.4f}"])
        else:
            rows.append([title(t["framework"]), "-", f"- ({t['status']})"])
    return rows


def render(r: dict) -> str:
    cfg = r.get("config", {})
    out = ["# edgebench report", ""]
    if not cfg:
        return "\n".join(out + ["(no results yet)"])
    opt = cfg["optimizer"]
    ds = r.get("dataset", {})
    hidden = " -> ".join(str(h) + " ReLU" for h in cfg["model"]["hidden"])
    out += [
        f"Run status: **{r.get('status')}** · created {r.get('created_at')} · edgebench {r.get('edgebench_version')}",
        "",
        f"Network {cfg['model']['input_size']} -> {hidden} -> {cfg['model']['num_classes']} logits "
        f"({r['model']['parameter_count']:,} parameters), {opt['name'].capitalize()} "
        f"(lr {opt['learning_rate']:g}), batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
        f"dataset {ds.get('name')} ({ds.get('train_samples')} train / {ds.get('test_samples')} test), "
        f"{cfg['threads']} threads, seed {cfg['seed']}.",
        "",
        "## Table 1: training",
        "",
        _table(["Framework", "Training Time (s)", "Test Accuracy"], table1_rows(r)),
        "",
    ]
    trainings = r.get("trainings", [])
    ok = [t for t in trainings if t["status"] == "ok"]
    if ok:
        out += ["Details (training time is one run; see *How this was measured*):", ""]
        out.append(_table(
            ["Framework", "Test loss", "Peak RSS (MiB)", "First epoch (s)", "Later epochs, mean (s)"],
            [[title(t["framework"]), f"{t['test_loss']:.4f}", _mib(t.get("peak_rss_bytes")),
              f"{t['epochs'][0]['time_s']:.2f}",
              _f(sum(e["time_s"] for e in t["epochs"][1:]) / (len(t["epochs"]) - 1)
                 if len(t["epochs"]) > 1 else None, ".2f")] for t in ok]))
        out += ["", "Per-epoch history (training loss and accuracy are running figures over the epoch):", ""]
        rows = []
        for t in ok:
            for e in t["epochs"]:
                rows.append([title(t["framework"]), e["epoch"], f"{e['loss']:.4f}", f"{e['accuracy']:.4f}",
                             f"{e['time_s']:.2f}"])
        out += [_table(["Framework", "Epoch", "Loss", "Accuracy", "Time (s)"], rows), ""]
    missing = [t for t in trainings if t["status"] != "ok"]
    for t in missing:
        out.append(f"- **{title(t['framework'])} {t['status']}**: {t.get('error')}")
    if missing:
        out.append("")

    arts = r.get("artifacts", [])
    out += ["## Exports", ""]
    if arts:
        out.append(_table(
            ["Framework", "Format", "Precision", "File", "Size (bytes)", "Size (KB)", "Status"],
            [[title(a["framework"]), a["format"], a["precision"], f"`{a['file']}`",
              _f(a.get("size_bytes"), ","), _f(a["size_bytes"] / 1000 if a.get("size_bytes") else None, ".1f"),
              a["status"]] for a in arts]))
        out += ["", "## Verification on the real runtime", "",
                "Each export runs on its own runtime over every test image and is compared with the "
                "logits of the framework that produced it.", ""]
        rows = []
        for a in arts:
            if a["status"] == "ok" and "top1_agreement" in a:
                tol = a["tolerance"]
                rows.append([f"{title(a['framework'])} -> {a['format']} {a['precision']}",
                             f"{a['runtime']} {a.get('runtime_version', '')}", f"{a['test_accuracy']:.4f}",
                             f"{a['accuracy_change'] * 100:+.2f}",
                             f"{a['top1_agreement'] * 100:.2f}% ({a['disagreements']} differ)",
                             f"{a['max_abs_diff']:.2e}",
                             f"<= {tol['max_abs_diff']:g}, >= {tol['min_agreement'] * 100:g}%",
                             "yes" if a["within_tolerance"] else "**NO**"])
        if rows:
            out.append(_table(["Artifact", "Runtime", "Accuracy", "Change (pt)", "Top-1 agreement",
                               "Max abs logit diff", "Tolerance", "Within"], rows))
        for a in arts:
            if a["status"] != "ok":
                out.append(f"- **{a['framework']} -> {a['format']} {a['precision']} {a['status']}**: {a.get('error')}")
        out.append("")
    else:
        out += ["No exports.", ""]

    fair = r.get("fairness", {})
    env = r.get("environment", {})
    pk = env.get("packages", {})
    out += ["## How this was measured", ""]
    if fair:
        out += [
            f"- **Same initial weights**: {fair['initial_weights']['scheme']}, made once in NumPy from seed "
            f"{fair['initial_weights']['seed']} (`{fair['initial_weights']['file']}`, SHA-256 "
            f"`{fair['initial_weights']['sha256'][:16]}...`) and loaded into every framework.",
            f"- **Same batches**: {fair['batch_order']['note']} (`{fair['batch_order']['file']}`, "
            f"shape {fair['batch_order']['shape']}).",
            f"- **Same optimizer**: {opt['name']} lr={opt['learning_rate']:g}, beta1={opt['beta1']:g}, "
            f"beta2={opt['beta2']:g}, epsilon={opt['epsilon']:g}, set explicitly in both frameworks. "
            + (fair["optimizer"]["epsilon_note"] if opt["name"] == "adam" else ""),
            f"- **Same loss**: {fair['loss']}; {fair['dtype']} everywhere.",
            f"- **Same threads**: {fair['threads']['count']} ({fair['threads']['how']}).",
            f"- **Isolation**: {fair['isolation']}; peak RSS is each child's own maximum.",
            f"- **Training time**: {fair['train_time']}. A single run: compare frameworks as a ratio "
            "within this run, not against figures from another day or machine.",
            f"- **Evaluation**: {fair['evaluation']}.",
            f"- **Dataset**: {ds.get('name')} from `{ds.get('source')}`, {ds.get('scaling')}; SHA-256 "
            + ("verified against the bundled SHA256SUMS." if ds.get("checksum_verified") else "recorded (no reference sums).")
        ]
    if env:
        out += [
            f"- **Machine**: {env.get('cpu_model')}, {env.get('usable_cores')} usable cores, "
            f"{_f(env.get('memory_bytes') and env['memory_bytes'] / 2**30, '.0f')} GiB; {env.get('platform')}; "
            f"Python {env.get('python')}.",
            "- **Packages**: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + ".",
        ]
    if r.get("wall_time_s") is not None:
        out.append(f"- **End-to-end wall time** of this run: {r['wall_time_s']:.1f} s.")
    return "\n".join(out) + "\n"
