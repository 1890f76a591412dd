"""The ``laserjnd`` command line. Each command lives in its own ``*_cmd.py`` module.

Every error a user can cause ends in one line on stderr and exit code 2: usage errors (typer's
own exceptions, through its public ``TyperException``), :class:`~laserjnd.errors.JNDError` and
operating-system errors such as a full disk or a file name that is too long.
"""

from __future__ import annotations

import sys

import typer

from ..errors import JNDError, os_error_line
from .common import command_settings, configure_output
from .prepare_cmd import prepare_command

USAGE_ERROR = 2

app = typer.Typer(
    name="laserjnd",
    help="JND prediction for video and image compression (LASeR-JND, MTJND).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: descriptions wrap, option names never do
    context_settings={"max_content_width": 100},
)
app.command("prepare", **command_settings())(prepare_command)


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
        ("precision_cmd", "check_precision_command", "check-precision"),
        ("demo_cmd", "demo_command", "demo"),
    ]:
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as e:
            if e.name == f"{__package__}.{module}":
                continue
            raise
        app.command(name, **command_settings())(getattr(mod, func))


_register_optional()


def run_app(application, argv: list[str] | None = None, prog_name: str | None = None) -> int:
    """Run a typer app; every user-caused failure becomes one ``error: ...`` line and exit code 2."""
    configure_output(0)  # quiet until a command's -v says otherwise
    try:
        code = application(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except JNDError as e:
        return _fail(str(e))
    except typer.TyperException as e:  # usage errors: unknown option, missing or malformed value, ...
        return _usage_error(e)
    except MemoryError:
        return _fail("out of memory (try a smaller --batch-size or smaller inputs)")
    except OSError as e:  # disk full, name too long, permission denied, ...
        return _fail(os_error_line(e))
    return code if isinstance(code, int) else 0  # non-standalone click returns typer.Exit's code


def _usage_error(e: typer.TyperException) -> int:
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError":  # bare `laserjnd`: the help is the answer
        print(e.format_message(), file=sys.stderr)
        return USAGE_ERROR
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    code = getattr(e, "exit_code", USAGE_ERROR)
    message = " ".join(e.format_message().split()).replace("Value error, ", "")  # typer's coercion prefix
    _fail(f"{where}{message}{hint}")
    return code if code else USAGE_ERROR


def _fail(line: str) -> int:
    print(f"error: {line}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, prog_name="laserjnd")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def run_single(command) -> None:
    """``python -m laserjnd.cli.X_cmd ...``: one command without the full CLI (tests, DDP children)."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    single.command(**command_settings())(command)
    sys.exit(run_app(single))


if __name__ == "__main__":
    sys.exit(main())
