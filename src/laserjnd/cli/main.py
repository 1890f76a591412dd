"""The ``laserjnd`` command line. Each command lives in its own ``*_cmd.py`` module."""

from __future__ import annotations

import sys

import typer

from ..errors import JNDError
from .prepare_cmd import prepare_command

app = typer.Typer(
    name="laserjnd",
    help="JND prediction for video and image compression (LASeR-JND, MTJND).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("prepare")(prepare_command)


def _register_optional() -> None:
    """Commands whose modules land separately; a missing one must not break the others."""
    import importlib

    for module, func, name in [
        ("models_cmd", "models_command", "models"),
        ("train_cmd", "train_command", "train"),
        ("test_cmd", "test_command", "test"),
        ("predict_cmd", "predict_command", "predict"),
        ("interop_cmd", "import_keras_command", "import-keras"),
        ("interop_cmd", "export_command", "export"),
        ("demo_cmd", "demo_command", "demo"),
    ]:
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as e:
            if e.name == f"{__package__}.{module}":
                continue
            raise
        app.command(name)(getattr(mod, func))


_register_optional()


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except JNDError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return 0




def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def run_single(command) -> None:
    """``python -m laserjnd.cli.X_cmd ...``: one command without the full CLI (tests, DDP children)."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(command)
    try:
        single(standalone_mode=False)
    except JNDError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
