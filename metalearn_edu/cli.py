"""Command line: ``metalearn-edu pretrain | course [run | student | export | links | nbgrader | book | hub-link]``.

    metalearn-edu pretrain --preset cpu --out runs/mlm            # train (resumes if runs/mlm has a checkpoint)
    metalearn-edu pretrain --preset gpu --steps 20000 --lr 5e-4   # a bigger run on a GPU box
    metalearn-edu pretrain --init-from mlm-micro --objective hybrid --meta-weight 0.5 --time-budget 600
                                                                   # MLM + SMLMT meta-learning, mixed
    torchrun --nproc_per_node=2 -m metalearn_edu.cli pretrain ...  # data-parallel (gloo on CPU, NCCL on GPU)
    metalearn-edu course                                           # execute every notebook headless
    metalearn-edu course student --out runs/student                # the student notebooks (exercises as stubs)
    metalearn-edu course student --check                           # ... executed: every check refuses its stub
    metalearn-edu course export --out runs/site                    # static HTML of the executed chapters
    metalearn-edu course nbgrader --out runs/nbgrader              # an nbgrader course directory
    metalearn-edu course book --out runs/book --build              # the course website (Jupyter Book)
    metalearn-edu course hub-link --hub https://hub.example.edu --chapter 3   # nbgitpuller link

Every ``pretrain`` option overrides the preset's value; ``--export DIR`` writes a
small model file that `metalearn_edu.pretrained.load_pretrained` loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (exit status 2), not the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _typed(check, **bounds):
    """An argparse ``type=`` that validates with `metalearn_edu.checks` (the message names the range)."""
    def parse(text: str):
        from .checks import check_int, check_number

        try:
            value = int(text) if check is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if check is int else 'a number'}") from None
        try:
            return check_int("value", value, **bounds) if check is int else check_number("value", value, **bounds)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("value=", "", 1)) from None
    parse.__name__ = "integer" if check is int else "number"
    return parse


POSITIVE_INT = _typed(int, minimum=1)
NON_NEGATIVE_INT = _typed(int, minimum=0)
ANY_INT = _typed(int, minimum=None)
POSITIVE = _typed(float, low=0.0, low_open=True)
NON_NEGATIVE = _typed(float, low=0.0)
PROBABILITY = _typed(float, low=0.0, high=1.0, high_open=True)
FRACTION = _typed(float, low=0.0, high=1.0)  # [0, 1]
MASK_RATE = _typed(float, low=0.0, high=1.0, low_open=True)  # (0, 1]


def _pretrain_parser(sub) -> None:
    p = sub.add_parser("pretrain", help="masked-LM pretraining on the BBC corpus (or your own text)")
    p.add_argument("--preset", default=None, help="ci | cpu | gpu (default: $METALEARN_PRESET, else by hardware)")
    p.add_argument("--out", default="runs/mlm", help="run directory: checkpoint.pt, history.json (default runs/mlm)")
    p.add_argument("--export", default=None, help="also write a loadable model file to this directory")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out has a checkpoint")
    p.add_argument("--model-size", default=None, choices=("nano", "micro", "tiny", "mini", "small", "medium"),
                   help="default: the preset's")
    p.add_argument("--post-ln", action="store_true", help="post-LN as in BERT (default: pre-LN, easier to train)")
    p.add_argument("--seq-len", type=_typed(int, minimum=8), default=None,
                   help="tokens per packed training block (≥ 8; default: the preset's)")
    p.add_argument("--max-len", type=POSITIVE_INT, default=None,
                   help="rows of the position table (default: --seq-len); larger lets a later run use longer blocks")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of an exported model (e.g. a short-block first phase)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None, help="global batch (sequences per step)")
    p.add_argument("--grad-accum", type=POSITIVE_INT, default=1)
    p.add_argument("--steps", type=POSITIVE_INT, default=None, help="optimizer steps (default: the preset's)")
    p.add_argument("--lr", type=POSITIVE, default=None, help="peak learning rate, > 0 (default: the preset's)")
    p.add_argument("--warmup-steps", type=NON_NEGATIVE_INT, default=None)
    p.add_argument("--weight-decay", type=NON_NEGATIVE, default=0.01)
    p.add_argument("--dropout", type=PROBABILITY, default=0.1)
    p.add_argument("--attn-dropout", type=PROBABILITY, default=0.0,
                   help="dropout on attention weights (default 0: it forces the slow attention path on CPU)")
    p.add_argument("--pos-init", default="normal", choices=("normal", "sinusoidal"),
                   help="normal (BERT) or sinusoidal (learned, starting from Vaswani et al.'s table)")
    p.add_argument("--mask-prob", type=MASK_RATE, default=0.15)
    p.add_argument("--whole-word", action="store_true", help="whole-word masking")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--time-budget", type=POSITIVE, default=None, help="stop after this many seconds of training")
    p.add_argument("--eval-every", type=POSITIVE_INT, default=None)
    p.add_argument("--checkpoint-every", type=POSITIVE_INT, default=250)
    p.add_argument("--eval-blocks", type=POSITIVE_INT, default=256, help="held-out blocks used for evaluation")
    p.add_argument("--tokenizer", default=None, help="tokenizer dir or 'minilm' (default: the shipped one)")
    p.add_argument("--text", default=None, help="train on a local .txt/.csv/.jsonl file or folder instead of BBC")
    p.add_argument("--corpus", default="bbc", choices=("bbc", "peoples-daily"),
                   help="the shipped corpus to train on: BBC News (English, default) or People's Daily 1998 "
                        "(Chinese; use with --tokenizer zh)")
    p.add_argument("--device", default=None, help="cpu | cuda | mps (default: best available)")
    p.add_argument("--threads", type=POSITIVE_INT, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=ANY_INT, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    m = p.add_argument_group("meta-learning objectives (--objective smlmt | hybrid)")
    m.add_argument("--objective", default="mlm", choices=("mlm", "smlmt", "hybrid"),
                   help="mlm, smlmt (first-order MAML on SMLMT tasks) or hybrid (both, mixed by --meta-weight)")
    m.add_argument("--meta-weight", type=FRACTION, default=0.5,
                   help="λ in (1 − λ)·MLM + λ·SMLMT for --objective hybrid, in [0, 1] (default 0.5)")
    m.add_argument("--n-way", type=_typed(int, minimum=2), default=5, help="words per SMLMT episode")
    m.add_argument("--k-shot", type=POSITIVE_INT, default=5, help="support sentences per word")
    m.add_argument("--meta-batch", type=POSITIVE_INT, default=4, help="SMLMT episodes per step")
    m.add_argument("--inner-lr", type=NON_NEGATIVE, default=0.05)
    m.add_argument("--inner-steps", type=NON_NEGATIVE_INT, default=3)
    m.add_argument("--second-order", action="store_true", help="full second-order MAML (slower)")


def _option(option: str, value, load, *args, **kwargs):
    """Call `load`; turn a failure into a ValueError that names the command-line option."""
    try:
        return load(*args, **kwargs)
    except (OSError, ValueError, TypeError, ModuleNotFoundError) as err:
        raise ValueError(f"{option} {value}: {err}") from err


def run_pretrain(args: argparse.Namespace) -> int:
    import torch

    from .config import get_preset
    from .data import load_tokenizer
    from .masking import MaskingVocab
    from .pretrain import pack_blocks, pretrain
    from .runtime import finish_distributed, init_distributed_from_env, pick_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rank, world, dist_device = init_distributed_from_env()
    preset = get_preset(args.preset)
    device = dist_device or _option("--device", args.device, pick_device, args.device)
    tokenizer = _option("--tokenizer", args.tokenizer, load_tokenizer, args.tokenizer)
    # 1) data: packed blocks from the training split, held-out blocks from the validation split
    splits = _corpus_splits(args)
    seq_len = args.seq_len if args.seq_len is not None else preset.seq_len
    train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, seq_len)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, seq_len)[: args.eval_blocks]
    # 2) model and run configuration
    model = _build_model(args, preset, len(tokenizer), seq_len).to(device)
    cfg = _pretrain_config(args, preset)
    meta_objective = _meta_objective(args, splits, tokenizer, model.cfg.max_len) if cfg.mix > 0 else None
    if rank == 0:
        print(f"preset {preset.name} | device {device} | world {world} | model {model.num_parameters():,} params | "
              f"{train_blocks.shape[0]} train blocks × {seq_len} tokens | {cfg.steps} steps × {cfg.batch_size}",
              flush=True)
    tokenizer_ref = args.tokenizer or "shipped"
    try:
        history = pretrain(model, train_blocks, eval_blocks, MaskingVocab.from_tokenizer(tokenizer), cfg,
                           out_dir=args.out, resume=not args.no_resume, tokenizer_ref=tokenizer_ref,
                           progress=not args.quiet, meta_objective=meta_objective)
    except FloatingPointError as err:
        raise ValueError(f"training diverged: {err} (lower --lr, now {cfg.lr:g}, or raise --warmup-steps, "
                         f"now {cfg.warmup_steps})") from err
    if rank == 0:  # 3) final report: held-out metrics and attention heads, then the optional export
        _report(args, model, tokenizer, splits, history, cfg, device, world, tokenizer_ref)
    finish_distributed()
    return 0


def _corpus_splits(args: argparse.Namespace) -> dict:
    """BBC's shipped split, People's Daily's (``--corpus peoples-daily``), or a fresh split of ``--text``."""
    from .data import bbc_splits, load_local, make_splits

    if args.corpus == "peoples-daily" and not args.text:
        from .data.chinese import peoples_daily_splits

        return peoples_daily_splits()
    if not args.text:
        return bbc_splits()
    docs = _option("--text", args.text, load_local, args.text)
    ids = make_splits(docs, seed=args.seed)
    by_id = {d.doc_id: d for d in docs}
    return {name: [by_id[i] for i in members] for name, members in ids.items()}


def _build_model(args: argparse.Namespace, preset, vocab_size: int, seq_len: int):
    """A fresh encoder of the preset's size, or ``--init-from``'s weights with this run's dropout."""
    import torch

    from .config import model_config
    from .model import BertEncoder

    torch.manual_seed(args.seed)
    if not args.init_from:
        return BertEncoder(model_config(args.model_size or preset.model_size, vocab_size=vocab_size,
                                        max_len=args.max_len or seq_len, pre_ln=not args.post_ln, dropout=args.dropout,
                                        attn_dropout=args.attn_dropout, pos_init=args.pos_init))
    from .pretrained import load_pretrained

    start, _, _ = _option("--init-from", args.init_from, load_pretrained, args.init_from, with_tokenizer=False)
    if start.cfg.vocab_size != vocab_size or start.cfg.max_len < seq_len:
        raise ValueError(f"--init-from model has vocab_size={start.cfg.vocab_size} and max_len={start.cfg.max_len}; "
                         f"this run needs vocab_size={vocab_size} and max_len >= {seq_len}")
    model = BertEncoder(start.cfg.replace(dropout=args.dropout, attn_dropout=args.attn_dropout))
    model.load_state_dict(start.state_dict())  # same weights; this run's dropout
    return model


def _pretrain_config(args: argparse.Namespace, preset):
    """The run's `PretrainConfig`: every option given on the command line, else the preset's value."""
    from .masking import MaskingConfig
    from .pretrain import PretrainConfig

    def given(value, default):
        return default if value is None else value

    return PretrainConfig(
        steps=given(args.steps, preset.cli_pretrain_steps), batch_size=given(args.batch_size, preset.batch_size),
        grad_accum=args.grad_accum, lr=given(args.lr, preset.lr),
        warmup_steps=given(args.warmup_steps, preset.warmup_steps), weight_decay=args.weight_decay,
        precision=args.precision, masking=MaskingConfig(mask_prob=args.mask_prob, whole_word=args.whole_word),
        eval_every=given(args.eval_every, preset.eval_every), checkpoint_every=args.checkpoint_every,
        time_budget_s=args.time_budget, seed=args.seed, objective=args.objective, meta_weight=args.meta_weight,
    )


def _report(args, model, tokenizer, splits, history, cfg, device, world: int, tokenizer_ref: str) -> None:
    """Print the held-out metrics and the positional heads as JSON; export the model when asked."""
    from . import analysis
    from .data import split_sentences
    from .pretrained import export_model

    metrics = history.last_eval()
    if args.corpus == "peoples-daily" and not args.text:
        from .data.chinese import peoples_daily_sentences

        sentences = [s.text for s in peoples_daily_sentences("val")][:512]
    else:
        sentences = [s for d in splits["val"] for s in split_sentences(d.text)][:512]
    stats = analysis.model_attention_stats(model, tokenizer, sentences)
    metrics.update({
        "steps": history.step[-1] if history.step else 0,
        "train_time_s": round(history.time[-1], 1) if history.time else 0.0,
        "tokens": history.tokens[-1] if history.tokens else 0,
        "prev_heads": analysis.find_heads(stats, "prev", 0.5),
        "next_heads": analysis.find_heads(stats, "next", 0.5),
        "max_prev": float(stats["prev"].max()), "max_next": float(stats["next"].max()),
        "device": str(device), "world_size": world, "seed": args.seed,
    })
    print(json.dumps(metrics, indent=2))
    if args.export:
        path = export_model(model.cpu(), args.export, tokenizer_ref=tokenizer_ref, history=history.to_dict(),
                            metrics=metrics, pretrain_config=cfg.to_dict())
        print(f"exported to {path}")


def _meta_objective(args: argparse.Namespace, splits: dict, tokenizer, max_len: int):
    """The SMLMT meta-loss term: episodes from the training split's sentences.

    On BBC the words are the course's meta-training words (held-out words stay unseen);
    on a local corpus every usable word may be picked.
    """
    from .data import split_sentences
    from .episodes import SMLMTEpisodes
    from .meta import SMLMTObjective

    if args.text:
        sentences = [s for d in splits["train"] for s in split_sentences(d.text)]
        sampler = SMLMTEpisodes(sentences, tokenizer, args.n_way, args.k_shot, args.k_shot,
                                max_len=min(48, max_len), seed=args.seed)
    else:
        from .meta.text import text_task_suites

        sampler = text_task_suites(tokenizer, args.n_way, args.k_shot, args.k_shot,
                                   smlmt_max_len=min(48, max_len)).smlmt_train
    return SMLMTObjective(sampler, meta_batch_size=args.meta_batch, inner_lr=args.inner_lr,
                          inner_steps=args.inner_steps, first_order=not args.second_order)


def run_course(args: argparse.Namespace) -> int:
    from . import course

    if args.action == "run":
        return course.run_all_notebooks(out_dir=Path(args.out or "runs/course"), preset=args.preset,
                                        timeout=args.timeout)
    if args.action == "student":
        out = Path(args.out or "runs/student")
        if args.check:
            return course.run_student_check(out, preset=args.preset or "ci", timeout=args.timeout)
        counts = course.build_student(out)
        print(f"wrote {len(counts)} student notebooks to {out} ({sum(counts.values())} exercises: "
              + ", ".join(f"{name.split('_')[0]}: {n}" for name, n in counts.items()) + ")")
        return 0
    if args.action == "export":
        out = Path(args.out or "runs/site")
        files = course.export_site(out)
        print(f"wrote {len(files)} pages to {out}; open {files[0]}")
        return 0
    if args.action == "nbgrader":
        return _nbgrader_course(args)
    if args.action == "book":
        return _book(args)
    if args.action == "hub-link":
        from .launch import hub_link

        if args.hub is None:
            raise ValueError("hub-link needs --hub URL, the JupyterHub's address (http(s)://HOST[/PREFIX])")
        print(hub_link(args.hub, args.chapter))
        return 0
    changed = course.sync_colab_links()
    settings = course.course_settings()
    print(f"Colab cells now clone {settings['repository']} ({settings['branch']}); changed: {', '.join(changed) or 'none'}"
          + ("\nre-sync the notebooks: jupytext --sync notebooks/*.py" if changed else ""))
    return 0


def _nbgrader_course(args: argparse.Namespace) -> int:
    from . import grading

    out = Path(args.out or "runs/nbgrader")
    sources = grading.select_chapters(args.chapters)
    if args.check:
        try:
            return grading.main_check(out, sources)
        except RuntimeError as err:  # nbgrader itself failed: its log is in the message
            print(f"metalearn-edu: {err}", file=sys.stderr)
            return 1
    written = grading.write_course(out, sources)
    print(f"wrote the nbgrader course {out} ({len(written)} assignments: "
          + ", ".join(f"{name}: {sum(e['points'] for e in ex)} points" for name, ex in written.items())
          + f"); next: cd {out} && nbgrader generate_assignment {next(iter(written))}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from . import site

    out = Path(args.out or "runs/book")
    pages = site.write_book(out, hub=args.hub)
    if not args.build:
        print(f"wrote the Jupyter Book source ({len(pages)} chapters) to {out}; build: jupyter-book build {out}")
        return 0
    try:
        html = site.build_book(out, jupyter_book=args.jupyter_book)
    except (RuntimeError, FileNotFoundError) as err:
        print(f"metalearn-edu: {err}", file=sys.stderr)
        return 1
    print(f"built the course website ({len(pages)} chapters): open {html / 'index.html'}")
    return 0


def _interrupt_on_signals() -> dict:
    """Make SIGTERM (and SIGINT, even in a background job) stop set-up like Ctrl-C does.

    Training itself defers these signals to the end of the current step (`pretrain`). Returns the
    previous handlers, for `main` to restore.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:  # a job started with `&` inherits SIGINT ignored; this undoes that
        signal.signal(sig, interrupt)
    return previous


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    from .pretrain import TrainingInterrupted

    parser = _Parser(prog="metalearn-edu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _pretrain_parser(sub)
    c = sub.add_parser("course", help="run every chapter, build the student notebooks, export HTML, set Colab links")
    c.add_argument("action", nargs="?", default="run",
                   choices=("run", "student", "export", "links", "nbgrader", "book", "hub-link"),
                   help="run: execute every notebook headless; student: write the student notebooks (exercises as "
                        "stubs); export: plain static HTML of the executed chapters; links: write the repository URL "
                        "of pyproject's [tool.metalearn-edu] into the Colab cells; nbgrader: write an nbgrader course "
                        "directory; book: the course website as a Jupyter Book; hub-link: print the nbgitpuller link "
                        "that opens the course on a JupyterHub (default: run)")
    c.add_argument("--out", default=None,
                   help="output folder (default runs/course, runs/student, runs/site, runs/nbgrader or runs/book)")
    c.add_argument("--chapters", default=None,
                   help="nbgrader only: chapter numbers, comma-separated, e.g. 0,4 (default: every chapter)")
    c.add_argument("--hub", default=None,
                   help="hub-link and book: the JupyterHub's address, http(s)://HOST[/PREFIX] (book: adds a "
                        "JupyterHub launch button)")
    c.add_argument("--chapter", type=NON_NEGATIVE_INT, default=None,
                   help="hub-link only: the chapter to open (default: the notebooks folder)")
    c.add_argument("--build", action="store_true", help="book only: also run jupyter-book build (needs the [site] extra)")
    c.add_argument("--jupyter-book", default="jupyter-book",
                   help="book --build: the jupyter-book command (default: the one on PATH)")
    c.add_argument("--preset", default=None, help="ci | cpu | gpu (run, and student --check: default ci)")
    c.add_argument("--timeout", type=POSITIVE_INT, default=1800, help="seconds per cell (run, student --check)")
    c.add_argument("--check", action="store_true",
                   help="student: also execute the student notebooks and check that every exercise's check "
                        "refuses its stub with a one-line message and no other cell fails (CI runs this); "
                        "nbgrader: also run nbgrader (the [grading] extra) on a solved and a stub submission and "
                        "check the gradebook: every point for the first, none for the second (CI runs this)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad option (2, already printed)
        return int(exit_.code or 0)
    previous_handlers = _interrupt_on_signals()
    try:
        if args.command == "pretrain":
            return run_pretrain(args)
        return run_course(args)
    except TrainingInterrupted as stop:
        print(f"metalearn-edu: {_one_line(stop)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("metalearn-edu: interrupted before training started; no checkpoint was saved", file=sys.stderr)
        return 130
    except (ValueError, OSError, ModuleNotFoundError) as err:
        print(f"metalearn-edu: error: {_one_line(err)}", file=sys.stderr)
        return 2
    finally:
        import signal

        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
