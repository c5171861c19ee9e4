"""Out-of-distribution checks and calibration of the shipped demo model, on generated and real nights.

Generated nights (``sleepfm_engine.synthetic``, plain full montage) are cut three ways by seed:
``fit`` nights give the training statistics (:class:`sleepfm_engine.ood.TrainingStatistics`),
``validation`` nights the temperature (:class:`sleepfm_engine.ood.Calibration`), and
``held-out`` nights are only scored. Every night goes through the path a user's does: EDF →
channel map → preprocessing → the demo base on the CPU → the demo staging head.

Printed:

- held-out generated nights flagged (the target is at most 5 %) and their share of marked epochs;
- expected calibration error of the held-out nights' 30-s epochs before and after temperature
  scaling;
- DREAMS excerpt 3 (a real recording; the target is flagged) scored on the statistics alone,
  i.e. without the synthetic-only note that flags any real recording with the demo model;
- review by confidence (``ScoringSession.set_ood`` with the night's ``OODResult``, the
  application's path): epochs offered on the held-out generated nights (few is the target),
  and on excerpt 3 against the epochs where the demo model and the human scorer disagree (the
  target: at most twice as many offered, covering at least 80 % of them), with how many of the
  first k epochs of the queue disagree;
- the same on DREAMS excerpts 1, 2 and 4 where their text files are present (one EEG channel
  each, written into ``--work`` as EDF; never used to design the rule).

``--write-demo`` stores the statistics, the temperature and ``synthetic_only`` in the demo
model's ``metadata.json`` (both model folders get ``synthetic_only``).

Run: ``python benchmarks/bench_ood.py [--work DIR] [--hours 2] [--write-demo]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parent.parent / "resources" / "models" / "demo"
DREAMS = Path("/work/shared/data/dreams")


def _night_file(work: Path, seed: int, hours: float) -> Path:
    """A generated night, written once into ``work`` and reused."""
    from sleepfm_engine.synthetic import make_night, write_night

    path = work / f"gen_seed{seed}_{hours:g}h.edf"
    if not path.is_file():
        write_night(make_night(hours=hours, seed=seed), path)
    return path


def _dreams_text_edf(txt: Path, work: Path) -> Path:
    """A DREAMS excerpt's text file (``[label]`` then one µV sample per line, 30 min) as an
    EDF in ``work``, written once."""
    import datetime as dt

    import edfio

    path = work / f"dreams_{txt.stem}.edf"
    if not path.is_file():
        lines = txt.read_text().split()
        x = np.array(lines[1:], dtype=np.float64)
        rate = len(x) / 1800.0
        if rate != int(rate):
            raise ValueError(f"{txt}: {len(x)} samples are not a whole rate over 30 min")
        sig = edfio.EdfSignal(x, int(rate), label=f"EEG {lines[0].strip('[]')}", physical_dimension="uV",
                              physical_range=(float(np.floor(x.min())) - 1, float(np.ceil(x.max())) + 1))
        edfio.Edf([sig], starttime=dt.time(23, 0), data_record_duration=1.0).write(path)
    return path


def _review_on(name: str, path: Path, hypnogram: Path, release, device, work: Path, stats, temperature):
    """Review by confidence on a scored real recording: offered, disagreeing, covered."""
    from sleepfm_engine.formats import read_hypnogram
    from sleepfm_engine.hypnogram import Hypnogram
    from sleepfm_engine.inference.staging import epoch_probabilities
    from sleepfm_engine.ood import softmax
    from sleepfm_engine.scoring import ScoringSession

    tokens, logits = _outputs(release, path, device, work)
    result = stats.score(tokens, logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # 5-s epochs merged into 30-s ones: said below for excerpt 3
        manual = read_hypnogram(hypnogram).resample(30)
    probs = epoch_probabilities(softmax(logits, temperature).astype(np.float32))
    auto = Hypnogram(probs.argmax(axis=1), probabilities=probs, automatic=True)
    n = min(auto.n_epochs, manual.n_epochs)
    session = ScoringSession(n, manual=manual, auto=auto, autosave=False)
    session.set_ood(result)
    offered, disagree = session.review_mask("uncertain"), session.review_mask("disagree")
    print(f"  {name} ({', '.join(sorted(tokens))}; {'flagged' if result.flagged else 'not flagged'}): "
          f"{int(offered.sum())} of {n} epochs offered, {int(disagree.sum())} disagree with the manual "
          f"scoring, {int((offered & disagree).sum())} of them covered")


def _outputs(release, path: Path, device, cache: Path):
    """Token embeddings per modality and the staging head's raw token logits of one recording,
    kept in ``cache`` (keyed by the demo models' config hashes) for the next run."""
    from sleepfm_engine.analysis import analyse_night
    from sleepfm_engine.inference.staging import token_probabilities

    key = release.info["base"].config_hash[:8] + release.info["staging"].config_hash[:8]
    kept = cache / f"{path.stem}.{key}.npz"
    if kept.is_file():
        with np.load(kept) as data:
            return {k[4:]: data[k] for k in data.files if k.startswith("tok_")}, data["logits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # channel notes of real recordings; not measured here
        emb = analyse_night(None, release, device=device, products=("embed",), recording=path).embeddings
    _, logits = token_probabilities(emb, release, device=device, return_logits=True)
    np.savez(kept, logits=logits, **{f"tok_{m}": t for m, t in emb.tokens.items()})
    return emb.tokens, logits


def _epoch_labels(hyp) -> np.ndarray:
    """Stage codes W..R of a generated night's 30-s epochs, -1 for anything else."""
    codes = np.asarray(hyp.stages, dtype=np.int64)
    return np.where((codes >= 0) & (codes <= 4), codes, -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_ood"), help="where generated nights are kept")
    ap.add_argument("--hours", type=float, default=2.0, help="length of each generated night")
    ap.add_argument("--fit", type=int, default=8, help="generated nights the statistics are fitted on")
    ap.add_argument("--validation", type=int, default=4, help="generated nights the temperature is fitted on")
    ap.add_argument("--held-out", type=int, default=20, help="generated nights only scored")
    ap.add_argument("--write-demo", action="store_true",
                    help="store the statistics and temperature in the demo model's metadata.json")
    args = ap.parse_args()

    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import select_device
    from sleepfm_engine.formats import read_hypnogram
    from sleepfm_engine.hypnogram import Hypnogram
    from sleepfm_engine.inference.staging import epoch_probabilities
    from sleepfm_engine.ood import (CALIBRATION_KEY, OOD_KEY, SYNTHETIC_ONLY_KEY, Calibration,
                                    TrainingStatistics, epoch_predictions, expected_calibration_error,
                                    softmax, update_metadata)
    from sleepfm_engine.scoring import ScoringSession
    from sleepfm_engine.synthetic.edf import hypnogram_sidecar

    args.work.mkdir(parents=True, exist_ok=True)
    device = select_device("cpu")
    release = load_release(DEMO, device=device, kinds=["base", "staging"])
    print(f"machine: {platform.node()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"demo model on the CPU; generated nights of {args.hours:g} h")
    seeds = {"fit": range(1000, 1000 + args.fit),
             "validation": range(2000, 2000 + args.validation),
             "held-out": range(3000, 3000 + args.held_out)}
    nights: dict[str, list] = {}
    t0 = time.perf_counter()
    for part, part_seeds in seeds.items():
        nights[part] = []
        for seed in part_seeds:
            path = _night_file(args.work, seed, args.hours)
            tokens, logits = _outputs(release, path, device, args.work)
            labels = _epoch_labels(read_hypnogram(hypnogram_sidecar(path)))
            nights[part].append((tokens, logits, labels))
    print(f"{sum(len(v) for v in nights.values())} generated nights embedded and staged (or read back) "
          f"in {time.perf_counter() - t0:.0f} s")

    stats = TrainingStatistics.fit([t for t, _, _ in nights["fit"]], [lg for _, lg, _ in nights["fit"]],
                                   source=f"{args.fit} generated nights of {args.hours:g} h (seeds "
                                          f"{seeds['fit'].start}-{seeds['fit'].stop - 1}), demo base on the CPU")
    calibration = Calibration.fit([(lg, lb) for _, lg, lb in nights["validation"]])
    print(f"temperature {calibration.temperature:.3f} (validation ECE {calibration.ece_before:.4f} -> "
          f"{calibration.ece_after:.4f}, {calibration.n_epochs} epochs)")

    held = [stats.score(t, lg) for t, lg, _ in nights["held-out"]]
    flagged = sum(r.flagged for r in held)
    fractions = [r.fraction for r in held]
    print(f"held-out generated nights flagged: {flagged} of {len(held)} ({100 * flagged / len(held):.0f} %, "
          f"target <= 5 %); marked epochs per night: median {100 * np.median(fractions):.1f} %, "
          f"max {100 * max(fractions):.1f} %")
    offered = []
    for (_, lg, _), r in zip(nights["held-out"], held):
        probs = epoch_probabilities(softmax(lg, calibration.temperature).astype(np.float32))
        session = ScoringSession(len(probs), auto=Hypnogram(probs.argmax(axis=1), probabilities=probs,
                                                            automatic=True), autosave=False)
        session.set_ood(r)
        offered.append(session.review_count("uncertain") / len(probs))
    print(f"review by confidence on held-out generated nights: epochs offered per night median "
          f"{100 * np.median(offered):.1f} %, max {100 * max(offered):.1f} %")
    pairs = [(lg, lb) for _, lg, lb in nights["held-out"]]
    before, labels = epoch_predictions(pairs, 1.0)
    after, _ = epoch_predictions(pairs, calibration.temperature)
    print(f"held-out ECE (30-s epochs, {int(np.sum(labels >= 0))}): before {expected_calibration_error(before, labels):.4f}, "
          f"after temperature scaling {expected_calibration_error(after, labels):.4f}")

    excerpt = DREAMS / "excerpt3.edf"
    if excerpt.is_file():
        tokens, logits = _outputs(release, excerpt, device, args.work)
        result = stats.score(tokens, logits)
        print(f"DREAMS excerpt 3: {'FLAGGED' if result.flagged else 'not flagged'} (target flagged); "
              + "; ".join(result.reasons()))
        manual = read_hypnogram(DREAMS / "Hypnogram_excerpt3.txt").resample(30)
        probs = epoch_probabilities(softmax(logits, calibration.temperature).astype(np.float32))
        auto = Hypnogram(probs.argmax(axis=1), probabilities=probs, automatic=True)
        n = min(auto.n_epochs, manual.n_epochs)
        for name, ood in (("without the OOD check", None), ("with the OOD check", result)):
            session = ScoringSession(n, manual=manual, auto=auto, autosave=False)
            session.set_ood(ood)
            offered = session.review_mask("uncertain")
            disagree = session.review_mask("disagree")
            covered = int((offered & disagree).sum())
            print(f"  review by confidence {name}: {int(offered.sum())} epochs offered, "
                  f"{int(disagree.sum())} disagree with the manual scoring, {covered} of them covered "
                  f"({100 * covered / max(int(disagree.sum()), 1):.0f} %)")
        queue = [session.next_review_epoch(0, "lowest") for _ in range(int(offered.sum()))]
        hits = np.cumsum([bool(disagree[e]) for e in queue])
        print("  queue ('lowest' mode) disagreeing among its first "
              + ", ".join(f"{k}: {hits[k - 1]}" for k in (10, 20, 30, len(queue)) if k <= len(queue)))
    else:
        print(f"DREAMS excerpt 3 not found at {excerpt}")
    others = [k for k in (1, 2, 4) if (DREAMS / f"excerpt{k}.txt").is_file()]
    if others:
        print("review by confidence on the other DREAMS excerpts (one EEG channel each):")
    for k in others:
        _review_on(f"excerpt {k}", _dreams_text_edf(DREAMS / f"excerpt{k}.txt", args.work),
                   DREAMS / f"Hypnogram_excerpt{k}.txt", release, device, args.work, stats,
                   calibration.temperature)

    if args.write_demo:
        update_metadata(DEMO / "model_sleep_staging", **{OOD_KEY: stats.to_dict(),
                                                         CALIBRATION_KEY: calibration.to_dict(),
                                                         SYNTHETIC_ONLY_KEY: True})
        update_metadata(DEMO / "model_base", **{SYNTHETIC_ONLY_KEY: True})
        print(f"written into {DEMO}/model_sleep_staging/metadata.json and model_base/metadata.json")


if __name__ == "__main__":
    main()
