"""`citeqa distil STEP`: teacher fine-tuning and distillation into the reader, as steps run on a lent GPU machine.

The steps and the order they run in are in lab/distil_device.sh. The GPU machine has torch, transformers,
numpy, safetensors, scikit-learn and typer but not the service (api/ is not carried there), so this app
lives in lab: api/lab_commands.py mounts it as `citeqa distil`, and the device script runs it as
`python -m lab.distil_commands STEP ...`. The training examples are built beforehand (the `examples`
step, where citeqa is installed) and carried as a file.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Distil a fine-tuned teacher into the reader, step by step (lab/distil_device.sh).",
                  no_args_is_help=True, pretty_exceptions_enable=False)

# The options teacher and student share (their values are recorded as report.json's settings).
Features = Annotated[str, typer.Option(help="the folder `prepare` wrote")]
Packed = Annotated[str | None, typer.Option(help="folder of pack()ed part-*.safetensors weights")]
TrainExamples = Annotated[int, typer.Option(help="train on examples [0, N) only")]
Report = Annotated[list[str] | None, typer.Option(help="gold set to report (a prepare file stem; repeatable)")]
Budget = Annotated[float, typer.Option(help="seconds the schedule must fit")]


class Who(StrEnum):
    both = "both"
    teacher = "teacher"
    student = "student"


@app.callback()
def _log() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


@app.command("examples")
def examples_step(
    data: Annotated[Path, typer.Option(help="SQuAD training file (squad-train-v1.1.json.gz)")],
    out: Annotated[Path, typer.Option(help="an .xz file")],
    negative_ratio: float = 0.1, retrieved_negative_ratio: float = 0.5, answer_removed_ratio: float = 0.3,
    entity_swapped_ratio: float = 0.3, seed: int = 13,
) -> None:
    """The training order as one file (phase 4's: the defaults)."""
    from lab.examples import write_examples
    from lab.negatives import NegativeMix

    mix = NegativeMix(sibling=negative_ratio, retrieved=retrieved_negative_ratio,
                      answer_removed=answer_removed_ratio, entity_swapped=entity_swapped_ratio)
    write_examples(data, mix, seed, out)


@app.command("prepare")
def prepare_step(
    examples: Annotated[Path, typer.Option(help="the `examples` step's file")],
    teacher_tokenizer: Annotated[str, typer.Option(help="the teacher's tokenizer folder")],
    student_tokenizer: Annotated[str, typer.Option(help="the reader's tokenizer folder")],
    out: Annotated[Path, typer.Option(help="the features folder")],
    eval_files: Annotated[list[Path] | None, typer.Option("--eval", help="SQuAD gold set (repeatable)")] = None,
    teacher_length: int = 384, student_length: int = 256, stride: int = 128,
    who: Who = Who.both,
) -> None:
    """Tokenise the training examples and the gold-paragraph sets for the teacher and the student."""
    from lab.distil_features import prepare

    prepare(examples, eval_files or [], teacher_tokenizer, student_tokenizer, teacher_length, student_length,
            stride, who.value, out)


@app.command("pack")
def pack_step(
    source: Annotated[Path, typer.Option(help="a model.safetensors")],
    out: Annotated[Path, typer.Option()],
    parts: int = 1,
    reader: Annotated[bool, typer.Option("--reader", help="keep every tensor fp16 but the reader's frozen "
                                                          "word embeddings")] = False,
) -> None:
    """Split weights into int8-row parts small enough for a device call."""
    from lab.packing import pack_model

    pack_model(source, out, parts, reader)


@app.command("splice")
def splice_step(
    parts: Annotated[list[Path], typer.Option(help="a student-N.safetensors (repeatable)")],
    base: Annotated[Path, typer.Option()],
    out: Annotated[Path, typer.Option()],
) -> None:
    """A reader folder from the student's parts and the base's frozen embeddings."""
    from lab.student import splice

    splice(parts, base, out)


@app.command("teacher")
def teacher_step(
    features: Features, train_examples: TrainExamples,
    out: Annotated[str, typer.Option()],
    model: Annotated[str, typer.Option(help="folder with the teacher's config and tokenizer")],
    packed: Packed = None, report: Report = None, batch_size: int = 32, learning_rate: float = 3e-5,
    epochs: float = 1.0, budget: Budget = 1e9, seed: int = 13, temperature: float = 2.0, k: int = 10,
) -> None:
    """Fine-tune the teacher, write its character targets (targets.npz) and its figures."""
    from lab.teacher import TeacherSettings, teacher

    teacher(TeacherSettings(features=features, packed=packed, train_examples=train_examples, report=report or [],
                            batch_size=batch_size, learning_rate=learning_rate, epochs=epochs, budget=budget,
                            seed=seed, out=out, model=model, temperature=temperature, k=k))


@app.command("student")
def student_step(
    features: Features, train_examples: TrainExamples,
    out: Annotated[str, typer.Option()],
    init: Annotated[str, typer.Option(help="the reader folder (config, tokenizer, weights)")],
    targets: Annotated[str, typer.Option(help="the teacher step's targets.npz")],
    packed: Packed = None, report: Report = None, batch_size: int = 32, learning_rate: float = 3e-5,
    epochs: float = 1.0, budget: Budget = 1e9, seed: int = 13,
    alpha: Annotated[float, typer.Option(help="weight of the distillation loss")] = 0.5,
) -> None:
    """Distil the teacher's targets into the reader, mixed with the hard labels; report; save its weights."""
    from lab.student import StudentSettings, student

    student(StudentSettings(features=features, packed=packed, train_examples=train_examples, report=report or [],
                            batch_size=batch_size, learning_rate=learning_rate, epochs=epochs, budget=budget,
                            seed=seed, out=out, init=init, targets=targets, alpha=alpha))


if __name__ == "__main__":
    app()
